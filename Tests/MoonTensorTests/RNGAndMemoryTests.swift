import XCTest
@testable import MoonTensor

final class RNGAndMemoryTests: XCTestCase {
    func testDeterminism() throws {
        let a = try Tensor.randn([100], generator: Generator(seed: 42)).toArray()
        let b = try Tensor.randn([100], generator: Generator(seed: 42)).toArray()
        let c = try Tensor.randn([100], generator: Generator(seed: 43)).toArray()
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        manualSeed(7)
        let d = try Tensor.rand([10]).toArray()
        let e = try Tensor.randint(0, 5, [10]).toIntArray()
        manualSeed(7)
        XCTAssertEqual(try Tensor.rand([10]).toArray(), d)
        XCTAssertEqual(try Tensor.randint(0, 5, [10]).toIntArray(), e)
        let g = Generator(seed: 1)
        let st = g.state
        let x = g.nextUInt64()
        g.state = st
        XCTAssertEqual(g.nextUInt64(), x)
    }

    func testXoshiroStreamIsTheReferenceAndSharedByGenerator() {
        // xoshiro256** seeded by four SplitMix64 outputs, first outputs from an independent Python implementation
        var x0 = Xoshiro256(seed: 0), x42 = Xoshiro256(seed: 42)
        XCTAssertEqual((0..<3).map { _ in x0.next() }, [0x99ec_5f36_cb75_f2b4, 0xbf6e_1f78_4956_452a, 0x1a5f_849d_4933_e6e0])
        XCTAssertEqual((0..<3).map { _ in x42.next() }, [0x1578_0b2e_0c2e_c716, 0x6104_d986_6d11_3a7e, 0xae17_5332_39e4_99a1])
        // Generator (tensors) and Xoshiro256 (envs) are one stream
        let g = Generator(seed: 7)
        var x = Xoshiro256(seed: 7)
        for _ in 0..<100 { XCTAssertEqual(g.nextUInt64(), x.next()) }
        for _ in 0..<100 { XCTAssertEqual(g.nextInt(-5, 12), x.int(in: -5...11)) }
        XCTAssertEqual(g.nextInt(3, 3), 3)  // an empty range gives its lower bound
        // unbiased over a span where plain multiply-high is visibly biased: with span 3·2^62 every output ≡ 0 (mod 3)
        // has two of the 2^64 inputs and the others one, so without rejection half the draws would be ≡ 0 (mod 3)
        var r = Xoshiro256(seed: 1)
        let span: UInt64 = 3 << 62
        let upper = Int.min &+ Int(bitPattern: UInt(span - 1))
        var zeros = 0
        for _ in 0..<30_000 {
            let offset = UInt64(bitPattern: Int64(r.int(in: Int.min...upper))) &- UInt64(bitPattern: Int64(Int.min))
            XCTAssertLessThan(offset, span)
            if offset % 3 == 0 { zeros += 1 }
        }
        XCTAssertEqual(Double(zeros) / 30_000, 1.0 / 3.0, accuracy: 0.02)
        var copy = r
        XCTAssertEqual(copy.next(), r.next())  // a value type: a copy forks the stream
    }

    func testDistributions() throws {
        let n = try Tensor.randn([20_000], generator: Generator(seed: 1))
        XCTAssertEqual(try n.mean().item(), 0, accuracy: 0.03)
        XCTAssertEqual(try n.std().item(), 1, accuracy: 0.03)
        let m = try Tensor.randn([20_001], mean: 3, std: 2, generator: Generator(seed: 2))
        XCTAssertEqual(try m.mean().item(), 3, accuracy: 0.06)
        let u = try Tensor.rand([20_000], generator: Generator(seed: 3)).toArray()
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(u.reduce(0, +) / 20_000, 0.5, accuracy: 0.01)
        let r = try Tensor.randint(-2, 3, [5000], generator: Generator(seed: 4)).toIntArray()
        XCTAssertEqual(Set(r), [-2, -1, 0, 1, 2])
        let p = try Tensor.randperm(10, generator: Generator(seed: 5)).toIntArray()
        XCTAssertEqual(p.sorted(), Array(0..<10))
        XCTAssertNotEqual(p, Array(0..<10))
        assertThrows("randint: argument 'high': expected high > low (3), got 3") { try Tensor.randint(3, 3, [1]) }
        assertThrows("randn: argument 'shape': expected non-negative sizes, got [-1]") { try Tensor.randn([-1]) }
    }

    func testMultinomial() throws {
        let probs = Tensor([0, 0.25, 0, 0.75])
        let s = try probs.multinomial(numSamples: 4000, generator: Generator(seed: 9)).toIntArray()
        XCTAssertFalse(s.contains(0)); XCTAssertFalse(s.contains(2))
        XCTAssertEqual(Double(s.filter { $0 == 3 }.count) / 4000, 0.75, accuracy: 0.03)
        let rows = try Tensor([1, 0, 0, 1], shape: [2, 2]).multinomial(generator: Generator(seed: 1))
        XCTAssertEqual(rows.shape, [2, 1])
        XCTAssertEqual(rows.toIntArray(), [0, 1])
        assertThrows("multinomial: argument #1: row 0 has zero total weight") { try Tensor([0, 0]).multinomial() }
    }

    func testAllocationHookAndLiveBytes() throws {
        // Count only this thread's allocations: other test targets may still have background work running.
        final class Counter: @unchecked Sendable { var allocated = 0, freed = 0 }
        let c = Counter()
        let me = pthread_self()
        Storage.onAllocate = { n in if pthread_equal(pthread_self(), me) != 0 { c.allocated += n } }
        Storage.onFree = { n in if pthread_equal(pthread_self(), me) != 0 { c.freed += n } }
        defer { Storage.onAllocate = nil; Storage.onFree = nil }
        let before = Storage.liveBytes
        do {
            let t = try Tensor.zeros([250_000])
            XCTAssertEqual(c.allocated, 1_000_000)
            XCTAssertEqual(Double(Tensor.liveBytes - before), 1_000_000, accuracy: 100_000)
            let v = try t.narrow(dim: 0, start: 0, length: 10)  // views allocate nothing
            XCTAssertEqual(c.allocated, 1_000_000)
            XCTAssertEqual(v.byteCount, 40)
            _ = Tensor(ints: [1, 2])
        }
        XCTAssertEqual(c.allocated, 1_000_016)
        XCTAssertEqual(c.freed, 1_000_016)
        XCTAssertEqual(Double(Storage.liveBytes), Double(before), accuracy: 100_000)
        let t = try Tensor.zeros([3])
        XCTAssertEqual(Int(bitPattern: t.storage.raw) % 64, 0, "64-byte aligned")
    }

    func testErrorMessagesNameOpArgumentExpectationAndValue() throws {
        let x = try Tensor.zeros([2, 3])
        assertThrows("tensor: argument 'shape': shape [2, 2] needs 4 elements, got 3") { try Tensor([1, 2, 3], shape: [2, 2]) }
        assertThrows("ragged nested array") { try Tensor([[1, 2], [3]]) }
        assertThrows("permute: argument 'dims': expected a permutation of 0..<2, got [0, 0]") { try x.permute([0, 0]) }
        assertThrows("transpose: argument #2: dim 2 out of range for a 2-d tensor") { try x.transpose(0, 2) }
        assertThrows("gather: argument 'index': expected a 2-d index, got shape [2]") { try x.gather(dim: 1, index: Tensor(ints: [0, 1])) }
        assertThrows("softmax: argument 'dim': dim 2 out of range for a 2-d tensor") { try x.softmax(dim: 2) }
        assertThrows("masked_fill: argument 'mask': shape [2, 1, 3] cannot be broadcast to [2, 3]") { try x.maskedFill(Tensor.zeros([2, 1, 3]), value: 0) }
        assertThrows("where: shapes [2, 3] and [4] cannot be broadcast together") { try Tensor.where(x, x, Tensor.zeros([4])) }
        assertThrows("stack: argument #2: expected shape [2, 3], got [3]") { try Tensor.stack([x, Tensor.zeros([3])]) }
        assertThrows("arange: argument 'step'") { try Tensor.arange(0, 1, step: 0) }
        assertThrows("zeros: argument 'shape': shape [1099511627776, 1099511627776] has too many elements") { try Tensor.zeros([1 << 40, 1 << 40]) }
        assertThrows("more than this machine's memory holds") { try Tensor.ones([1 << 30, 1 << 20]) }
        let e = TensorError("matmul", arg: "#2", "expected shape [4, *], got [3, 5]")
        XCTAssertEqual(e.description, "matmul: argument #2: expected shape [4, *], got [3, 5]")
    }
}
