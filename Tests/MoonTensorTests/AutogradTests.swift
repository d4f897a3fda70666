import XCTest
import Foundation
@testable import MoonTensor

final class AutogradTests: XCTestCase {
    func testAccumulationAndSharedInputs() throws {
        let x = try param([1, 2, 3], [3])
        try x.mul(2).sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [2, 2, 2])
        try x.mul(2).sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [4, 4, 4], "gradients accumulate")
        x.zeroGrad()
        XCTAssertNil(x.grad)
        // z = x*x + x  → dz/dx = 2x + 1 (x used twice, diamond graph)
        let z = try x.mul(x).add(x).sum()
        try z.backward()
        XCTAssertEqual(x.grad?.toArray(), [3, 5, 7])
        XCTAssertTrue(x.isLeaf)
        XCTAssertFalse(z.isLeaf)
        XCTAssertEqual(z.gradFnName, "sum")
    }

    func testGradsOfSharedTensorAreIndependentCopies() throws {
        let a = try param([1, 2], [2]), b = try param([3, 4], [2])
        try a.add(b).sum().backward()
        XCTAssertFalse(a.grad!.storage === b.grad!.storage)
        try Tensor.noGrad { try a.grad!.mul_(10) }
        XCTAssertEqual(b.grad?.toArray(), [1, 1])
    }

    func testBroadcastAndViewGradients() throws {
        let x = try param([1, 2, 3], [3]), y = try param([1, 1, 1, 2, 2, 2], [2, 3])
        try x.add(y).sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [2, 2, 2])
        XCTAssertEqual(y.grad?.toArray(), [1, 1, 1, 1, 1, 1])
        let m = try param(Array(repeating: 1, count: 6), [2, 3])
        try m.narrow(dim: 1, start: 1, length: 2).sum().backward()
        XCTAssertEqual(m.grad?.toArray(), [0, 1, 1, 0, 1, 1])
        m.zeroGrad()
        try m.t().select(dim: 0, index: 2).mul(Tensor([5, 7])).sum().backward()
        XCTAssertEqual(m.grad?.toArray(), [0, 0, 5, 0, 0, 7])
    }

    func testBackwardErrorsAndExplicitGradient() throws {
        let x = try param([1, 2], [2])
        let y = x.mul(3)
        assertThrows("backward: a gradient can be implicitly created only for a one-element output, got shape [2]") { try y.backward() }
        assertThrows("backward: argument 'gradient': expected shape [2], got [3]") { try y.backward(gradient: Tensor([1, 1, 1])) }
        try y.backward(gradient: Tensor([1, 10]))
        XCTAssertEqual(x.grad?.toArray(), [3, 30])
        assertThrows("backward: the tensor does not require grad") { try Tensor([1]).sum().backward() }
        assertThrows("requires_grad: only float32 tensors can require gradients, got int64") { try Tensor(ints: [1]).setRequiresGrad() }
    }

    func testNoGradAndDetach() throws {
        let x = try param([1, 2], [2])
        let y = Tensor.noGrad { x.mul(2) }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(GradMode.isEnabled)
        let d = x.detach()
        XCTAssertFalse(d.requiresGrad)
        XCTAssertTrue(d.storage === x.storage)
        let z = try x.mul(d).sum()
        try z.backward()
        XCTAssertEqual(x.grad?.toArray(), [1, 2], "no gradient flows through the detached factor")
        // Thread-local: disabling on this thread leaves another thread enabled.
        final class Box: @unchecked Sendable { var value = false }
        let other = Box()
        Tensor.noGrad {
            let done = DispatchSemaphore(value: 0)
            let t = Thread { other.value = GradMode.isEnabled; done.signal() }
            t.start(); done.wait()
            XCTAssertFalse(GradMode.isEnabled)
        }
        XCTAssertTrue(other.value)
    }

    func testGraphIsFreedUnlessRetained() throws {
        let x = try param([1, 2], [2])
        let h = x.exp()
        let loss = h.sum()
        try loss.backward()
        assertThrows("backward: the graph through 'sum' was already freed") { try loss.backward() }
        XCTAssertEqual(h.gradFnName, "exp")
        let l2 = try x.mul(x).sum()
        try l2.backward(retainGraph: true)
        try l2.backward()
        XCTAssertEqual(x.grad?.toArray().map { $0 }, [2.7182817 + 4, 7.389056 + 8].map { Float($0) })
        // Released graphs drop the intermediates they held (net bytes allocated on this thread).
        final class Net: @unchecked Sendable { var bytes = 0 }
        let net = Net()
        let me = pthread_self()
        Storage.onAllocate = { n in if pthread_equal(pthread_self(), me) != 0 { net.bytes += n } }
        Storage.onFree = { n in if pthread_equal(pthread_self(), me) != 0 { net.bytes -= n } }
        defer { Storage.onAllocate = nil; Storage.onFree = nil }
        let big = try x.expand([100_000, 2]).mul(2).sum()
        XCTAssertGreaterThanOrEqual(net.bytes, 800_000, "the graph holds the [100000, 2] product")
        try big.backward()
        XCTAssertLessThan(net.bytes, 1000, "backward released it (only the scalar and the grad remain)")
    }

    func testRetainGrad() throws {
        let x = try param([1, 2], [2])
        let h = x.mul(3)
        h.retainGrad()
        try h.mul(h).sum().backward()
        XCTAssertEqual(h.grad?.toArray(), [6, 12])
        XCTAssertEqual(x.grad?.toArray(), [18, 36])
    }

    func testInPlaceSafety() throws {
        let w = try param([1, 2], [2])
        assertThrows("add_: a leaf tensor that requires grad cannot be modified in place") { try w.add_(1) }
        assertThrows("mul_: a leaf tensor") { try w.mul_(Tensor([1, 1])) }
        assertThrows("copy_: a leaf tensor") { try w.copy_(Tensor([0, 0])) }
        assertThrows("fill_: a leaf tensor") { try w.fill_(0) }
        assertThrows("zero_: a leaf tensor") { try w.zero_() }
        try Tensor.noGrad { try w.add_(1) }
        XCTAssertEqual(w.toArray(), [2, 3])
        let h = w.mul(2)
        assertThrows("add_: in-place modification of a tensor that is part of the autograd graph") { try h.add_(1) }
        let buf = try Tensor.zeros([2])
        assertThrows("copy_: argument #1: the source requires grad") { try buf.copy_(w) }
        assertThrows("cannot write in place to an expanded tensor") { try Tensor([1]).expand([3]).fill_(2) }

        // Version counter: a saved tensor modified after recording makes backward fail.
        let y = w.exp()
        try Tensor.noGrad { try y.add_(1) }
        assertThrows("backward: a tensor needed to compute the gradient of 'exp' was modified by an in-place operation") { try y.sum().backward() }
        let a = Tensor([1, 2])
        let out = try w.mul(a)
        try a.mul_(2)
        assertThrows("gradient of 'mul' was modified") { try out.sum().backward() }
        // A modification of an unrelated tensor is fine.
        let ok = try w.mul(Tensor([1, 1]))
        try Tensor([5]).add_(1)
        try ok.sum().backward()
    }

    func testInPlaceValues() throws {
        let t = try Tensor([1, 2, 3, 4], shape: [2, 2])
        try t.add_(Tensor([10, 20]))
        XCTAssertEqual(t.toArray(), [11, 22, 13, 24])
        try t.mul_(2)
        XCTAssertEqual(t.toArray(), [22, 44, 26, 48])
        try t.sub_(Tensor([[2, 4], [6, 8]]))
        XCTAssertEqual(t.toArray(), [20, 40, 20, 40])
        try t.t().copy_(Tensor([[1, 2], [3, 4]]))
        XCTAssertEqual(t.toArray(), [1, 3, 2, 4])
        try t.add_(Tensor([1, 1, 1, 1], shape: [2, 2]), alpha: -0.5)
        XCTAssertEqual(t.toArray(), [0.5, 2.5, 1.5, 3.5])
        try t.zero_()
        XCTAssertEqual(t.toArray(), [0, 0, 0, 0])
        XCTAssertEqual(t.storage.version, 6)
        assertThrows("add_: argument #1: shape [3] cannot be broadcast to [2, 2]") { try t.add_(Tensor([1, 2, 3])) }
        let ints = Tensor(ints: [1, 2])
        try ints.fill_(7)
        XCTAssertEqual(ints.toIntArray(), [7, 7])
        try ints.copy_(Tensor([3.9, 4]))
        XCTAssertEqual(ints.toIntArray(), [3, 4])
    }

    func testDeepChainDoesNotOverflow() throws {
        let x = try param([1], [1])
        var y = x
        for _ in 0..<20_000 { y = y.add(0) }
        try y.sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [1])
        y = x  // releasing the 20k-node graph must not recurse
        // The same on a dispatch worker thread (small stack).
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var z = x.mul(1)
            for _ in 0..<20_000 { z = z.add(0) }
            z = x
            _ = z
            done.signal()
        }
        done.wait()
    }
}

final class SavedTensorTests: XCTestCase {
    func testOpsThatDoNotReadInputsTolerateLaterInPlaceChanges() throws {
        let w = try param([1, 2], [2])
        let c = Tensor([3, 4])
        let h = try w.add(c).mul(2).sub(c).neg()
        try c.add_(100)  // add/sub/scalar-mul/neg backward do not read c
        try h.sum().backward()
        XCTAssertEqual(w.grad?.toArray(), [-2, -2])
        let idx = Tensor(ints: [1, 0])
        let s = try w.indexSelect(dim: 0, index: idx)
        try idx.fill_(0)
        assertThrows("gradient of 'index_select' was modified") { try s.sum().backward() }
    }
}
