import XCTest
@testable import MoonTensor

final class ViewTests: XCTestCase {
    let m = try! Tensor([0, 1, 2, 3, 4, 5], shape: [2, 3])

    func testCreationAndReadBack() throws {
        XCTAssertEqual(m.shape, [2, 3])
        XCTAssertEqual(m.strides, [3, 1])
        XCTAssertTrue(m.isContiguous)
        XCTAssertEqual(try m.value(at: [1, -1]), 5)
        let n = try Tensor([[1, 2], [3, 4], [5, 6]])
        XCTAssertEqual(n.shape, [3, 2])
        XCTAssertEqual(n.toArray(), [1, 2, 3, 4, 5, 6])
        let c = try Tensor([[[1, 2]], [[3, 4]]])
        XCTAssertEqual(c.shape, [2, 1, 2])
        XCTAssertEqual(try Tensor(Float(3.5)).item(), 3.5)
        XCTAssertEqual(Tensor(Float(3.5)).shape, [])
        XCTAssertEqual(try Tensor.zeros([2, 2]).toArray(), [0, 0, 0, 0])
        XCTAssertEqual(try Tensor.ones([3]).toArray(), [1, 1, 1])
        XCTAssertEqual(try Tensor.full([2], value: 7).toArray(), [7, 7])
        XCTAssertEqual(try Tensor.arange(0, 5, step: 2).toArray(), [0, 2, 4])
        XCTAssertEqual(try Tensor.arange(4).toIntArray(), [0, 1, 2, 3])
        XCTAssertEqual(try Tensor.arange(4).dtype, .int64)
        assertClose(try Tensor.linspace(0, 1, count: 5).toArray(), [0, 0.25, 0.5, 0.75, 1])
        XCTAssertEqual(try Tensor.eye(2, 3).toArray(), [1, 0, 0, 0, 1, 0])
        XCTAssertEqual(try Tensor(ints: [3, -1], shape: [2]).toIntArray(), [3, -1])
    }

    func testTransposePermuteContiguous() throws {
        let t = try m.transpose(0, 1)
        XCTAssertEqual(t.shape, [3, 2])
        XCTAssertEqual(t.strides, [1, 3])
        XCTAssertFalse(t.isContiguous)
        XCTAssertTrue(t.storage === m.storage)
        XCTAssertEqual(t.toArray(), [0, 3, 1, 4, 2, 5])
        let c = t.contiguous()
        XCTAssertTrue(c.isContiguous)
        XCTAssertFalse(c.storage === m.storage)
        XCTAssertEqual(c.toArray(), [0, 3, 1, 4, 2, 5])
        let x = try Tensor(Array(0..<24).map(Float.init), shape: [2, 3, 4])
        let p = try x.permute([2, 0, 1])
        XCTAssertEqual(p.shape, [4, 2, 3])
        XCTAssertEqual(try p.value(at: [3, 1, 2]), try x.value(at: [1, 2, 3]))
        XCTAssertEqual(try x.permute([-1, 0, 1]).shape, [4, 2, 3])
    }

    func testReshapeAndView() throws {
        let r = try m.reshape([3, -1])
        XCTAssertEqual(r.shape, [3, 2])
        XCTAssertTrue(r.storage === m.storage)  // a view when contiguous
        XCTAssertEqual(try m.view([-1]).shape, [6])
        let t = try m.t()
        let tr = try t.reshape([6])
        XCTAssertEqual(tr.toArray(), [0, 3, 1, 4, 2, 5])
        XCTAssertFalse(tr.storage === m.storage)  // non-contiguous reshape copies
        assertThrows("not contiguous") { try t.view([6]) }
        assertThrows("reshape: argument 'shape': shape [4, -1] is invalid for a tensor of 6 elements") { try self.m.reshape([4, -1]) }
        assertThrows("only one dimension can be -1") { try self.m.reshape([-1, -1]) }
        XCTAssertEqual(try m.flatten().shape, [6])
        XCTAssertEqual(try m.unsqueeze(dim: 0).shape, [1, 2, 3])
        XCTAssertEqual(try m.unsqueeze(dim: -1).shape, [2, 3, 1])
        XCTAssertEqual(try m.unsqueeze(dim: 1).squeeze(dim: 1).shape, [2, 3])
        XCTAssertEqual(try m.squeeze(dim: 0).shape, [2, 3])  // size 2: unchanged
        XCTAssertEqual(try Tensor.zeros([1, 3, 1]).squeeze().shape, [3])
    }

    func testNarrowSelectSlice() throws {
        let n = try m.narrow(dim: 1, start: 1, length: 2)
        XCTAssertEqual(n.toArray(), [1, 2, 4, 5])
        XCTAssertTrue(n.storage === m.storage)
        XCTAssertEqual(try m.narrow(dim: 1, start: -1, length: 1).toArray(), [2, 5])
        XCTAssertEqual(try m.select(dim: 0, index: -1).toArray(), [3, 4, 5])
        XCTAssertEqual(try m.select(dim: 1, index: 1).toArray(), [1, 4])
        let v = try Tensor(Array(0..<10).map(Float.init))
        XCTAssertEqual(try v.slice(dim: 0, start: 2, end: 8, step: 3).toArray(), [2, 5])
        XCTAssertEqual(try v.slice(dim: 0, start: -3).toArray(), [7, 8, 9])
        XCTAssertEqual(try v.slice(dim: 0, end: -8).toArray(), [0, 1])
        XCTAssertEqual(try v.slice(dim: 0, start: 20).count, 0)
        assertThrows("narrow: argument 'length'") { try self.m.narrow(dim: 1, start: 2, length: 2) }
        assertThrows("select: argument 'index': index 2 out of range for dim 0 of size 2") { try self.m.select(dim: 0, index: 2) }
        // Writes through a view reach the base.
        let base = try Tensor.zeros([2, 3])
        try base.narrow(dim: 1, start: 1, length: 1).fill_(9)
        XCTAssertEqual(base.toArray(), [0, 9, 0, 0, 9, 0])
        XCTAssertEqual(base.storage.version, 1)
    }

    func testExpandAndBroadcast() throws {
        let col = try Tensor([1, 2], shape: [2, 1])
        let e = try col.expand([2, 3])
        XCTAssertEqual(e.strides, [1, 0])
        XCTAssertEqual(e.toArray(), [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(try col.expand([4, -1, 3]).shape, [4, 2, 3])
        assertThrows("expand: argument 'shape': the expanded size 3 must match the existing size 2 at dim 0") { try col.expand([3, 3]) }
        let row = Tensor([10, 20, 30])
        XCTAssertEqual(try (col + row).toArray(), [11, 21, 31, 12, 22, 32])
        XCTAssertEqual(try (row * col).shape, [2, 3])
        XCTAssertEqual(try (m - Tensor(Float(1))).toArray(), [-1, 0, 1, 2, 3, 4])
        XCTAssertEqual(try (m.t() + m.t()).toArray(), [0, 6, 2, 8, 4, 10])  // strided general path
        assertThrows("add: shapes [2, 3] and [2] cannot be broadcast together") { try self.m + Tensor([1, 2]) }
    }

    func testCatStackSplitChunk() throws {
        let a = try Tensor([1, 2, 3, 4], shape: [2, 2]), b = try Tensor([5, 6], shape: [2, 1])
        let c = try Tensor.cat([a, b], dim: 1)
        XCTAssertEqual(c.shape, [2, 3])
        XCTAssertEqual(c.toArray(), [1, 2, 5, 3, 4, 6])
        XCTAssertEqual(try Tensor.cat([a, a], dim: 0).toArray(), [1, 2, 3, 4, 1, 2, 3, 4])
        let s = try Tensor.stack([Tensor([1, 2]), Tensor([3, 4])], dim: 1)
        XCTAssertEqual(s.shape, [2, 2])
        XCTAssertEqual(s.toArray(), [1, 3, 2, 4])
        assertThrows("cat: argument #2: expected shape [2, *], got [3, 1]") { try Tensor.cat([a, Tensor.zeros([3, 1])], dim: 1) }
        assertThrows("cat: argument #2: expected dtype float32, got int64") { try Tensor.cat([Tensor([1]), Tensor(ints: [1])]) }
        let v = try Tensor(Array(0..<7).map(Float.init))
        let parts = try v.split(size: 3)
        XCTAssertEqual(parts.map { $0.toArray() }, [[0, 1, 2], [3, 4, 5], [6]])
        XCTAssertEqual(try v.split(sizes: [2, 5]).map(\.count), [2, 5])
        assertThrows("split: argument 'sizes'") { try v.split(sizes: [2, 2]) }
        XCTAssertEqual(try v.chunk(3).map(\.count), [3, 3, 1])
        let ints = try Tensor.cat([Tensor(ints: [1, 2]), Tensor(ints: [3])])
        XCTAssertEqual(ints.dtype, .int64)
        XCTAssertEqual(ints.toIntArray(), [1, 2, 3])
    }

    func testIndexOps() throws {
        XCTAssertEqual(try m.indexSelect(dim: 1, index: Tensor(ints: [2, 0])).toArray(), [2, 0, 5, 3])
        XCTAssertEqual(try m.indexSelect(dim: 0, index: Tensor(ints: [1, 1])).toArray(), [3, 4, 5, 3, 4, 5])
        assertThrows("index_select: argument 'index': index 3 out of range for a dim of size 3") {
            try self.m.indexSelect(dim: 1, index: Tensor(ints: [3]))
        }
        assertThrows("expected an int64 tensor, got float32") { try self.m.indexSelect(dim: 1, index: Tensor([0])) }
        let gi = try Tensor(ints: [2, 0, 1, 1], shape: [2, 2])
        XCTAssertEqual(try m.gather(dim: 1, index: gi).toArray(), [2, 0, 4, 4])
        let g0 = try Tensor(ints: [1, 0, 1], shape: [1, 3])
        XCTAssertEqual(try m.gather(dim: 0, index: g0).toArray(), [3, 1, 5])
        let sa = try Tensor.zeros([2, 3]).scatterAdd(dim: 1, index: gi, src: Tensor([1, 2, 3, 4], shape: [2, 2]))
        XCTAssertEqual(sa.toArray(), [2, 0, 1, 0, 7, 0])
        let mf = try m.maskedFill(Tensor([1, 0, 1]), value: -1)
        XCTAssertEqual(mf.toArray(), [-1, 1, -1, -1, 4, -1])
        let w = try Tensor.where(m.gt(2), m, Tensor(Float(100)))
        XCTAssertEqual(w.toArray(), [100, 100, 100, 3, 4, 5])
        let ids = try Tensor(ints: [5, 0, 7], shape: [3]).maskedFill(Tensor([0, 1, 0]), value: 9)
        XCTAssertEqual(ids.toIntArray(), [5, 9, 7])
        XCTAssertEqual(ids.dtype, .int64)
    }

    func testDescription() throws {
        XCTAssertEqual(m.description, "tensor([[0., 1., 2.],\n        [3., 4., 5.]], shape=[2, 3], dtype=float32)")
        XCTAssertEqual(Tensor(Float(0.5)).description, "tensor(0.5, shape=[], dtype=float32)")
        XCTAssertEqual(Tensor(ints: [1, 2]).description, "tensor([1, 2], shape=[2], dtype=int64)")
        let big = try Tensor.arange(0, 2000).description
        XCTAssertTrue(big.hasPrefix("tensor([0., 1., 2., ..., 1997., 1998., 1999.]"), big)
    }

    func testFlipAndFullLike() throws {
        XCTAssertEqual(try m.flip(dim: 1).toArray(), [2, 1, 0, 5, 4, 3])
        XCTAssertEqual(try m.flip(dim: 0).toArray(), [3, 4, 5, 0, 1, 2])
        XCTAssertEqual(try Tensor(ints: [1, 2, 3]).flip(dim: 0).toIntArray(), [3, 2, 1])
        XCTAssertEqual(Tensor.full(like: m, value: 2).toArray(), [2, 2, 2, 2, 2, 2])
        XCTAssertEqual(try Tensor.where(Tensor([1, 0]), 7, Tensor([1, 2])).toArray(), [7, 2])
    }

    func testIntArithmeticAndConversion() throws {
        let a = Tensor(ints: [1, 2, 3])
        XCTAssertEqual(try a.add(Tensor(ints: [10, 20, 30])).toIntArray(), [11, 22, 33])
        XCTAssertEqual(try a.add(Tensor(ints: [10, 20, 30])).dtype, .int64)
        XCTAssertEqual(a.add(1).toIntArray(), [2, 3, 4])
        XCTAssertEqual(a.add(1).dtype, .int64)
        XCTAssertEqual(try a.mul(Tensor([0.5, 0.5, 0.5])).toArray(), [0.5, 1, 1.5])  // promotes to float
        XCTAssertEqual(Tensor([1.7, -1.7]).long().toIntArray(), [1, -1])
        XCTAssertEqual(a.eq(2).toArray(), [0, 1, 0])
        assertThrows("item: expected a tensor with one element, got shape [3]") { try a.float().item() }
    }
}
