import MoonTensor
import XCTest
@testable import MoonDist

/// Gradient buckets and the world of one process (no mpirun: MPI is never initialised). The collectives across
/// processes are tested under mpirun by tests/dist/run.sh.
final class BucketsTests: XCTestCase {
    func testFlattenAndUnflattenRoundTrip() throws {
        let a = try Tensor([1, 2, 3, 4], shape: [2, 2]), b = try Tensor([5, 6, 7], shape: [3])
        let flat = try Dist.flatten([a, b], extra: [9])
        XCTAssertEqual(flat.shape, [8])
        XCTAssertEqual(flat.withUnsafeFloats { Array($0) }, [1, 2, 3, 4, 5, 6, 7, 9])
        let c = try Tensor.zeros([2, 2]), d = try Tensor.zeros([3])
        let rest = try Dist.unflatten(flat, into: [c, d])
        XCTAssertEqual(rest, [9])
        XCTAssertEqual(c.withUnsafeFloats { Array($0) }, [1, 2, 3, 4])
        XCTAssertEqual(d.withUnsafeFloats { Array($0) }, [5, 6, 7])
    }

    func testGradientsMissingOnesCountAsZerosAndAreCreated() throws {
        let a = try Tensor([1, 2], shape: [2]).setRequiresGrad()
        let b = try Tensor([3], shape: [1]).setRequiresGrad()
        try (a * 3).sum().backward()
        XCTAssertNil(b.grad)
        let flat = try Dist.flatten([a, b], gradients: true)
        XCTAssertEqual(flat.withUnsafeFloats { Array($0) }, [3, 3, 0])
        try Dist.unflatten(try Tensor([1, 2, 4], shape: [3]), into: [a, b], gradients: true)
        XCTAssertEqual(a.grad?.withUnsafeFloats { Array($0) }, [1, 2])
        XCTAssertEqual(b.grad?.withUnsafeFloats { Array($0) }, [4])
        // parameters that require grad are written outside autograd
        try Dist.unflatten(try Tensor([7, 8, 9], shape: [3]), into: [a, b])
        XCTAssertEqual(a.withUnsafeFloats { Array($0) }, [7, 8])
    }

    func testBadBucketsAreErrors() throws {
        XCTAssertThrowsError(try Dist.flatten([try Tensor.zeros([2], dtype: .int64)]))
        XCTAssertThrowsError(try Dist.unflatten(try Tensor.zeros([2]), into: [try Tensor.zeros([3])]))
    }

    func testWorldOfOneWithoutMPI() throws {
        try XCTSkipIf(Dist.isLaunched, "running under mpirun")
        XCTAssertEqual(try Dist.rank(), 0)
        XCTAssertEqual(try Dist.size(), 1)
        XCTAssertFalse(Dist.isInitialized)
        let t = try Tensor([1, -2], shape: [2])
        try Dist.allreduce(t, op: .mean)
        try Dist.broadcast(t, root: 0)
        XCTAssertEqual(t.withUnsafeFloats { Array($0) }, [1, -2])
        XCTAssertThrowsError(try Dist.broadcast(t, root: 1))
        XCTAssertEqual(try Dist.allgather(bytes: [1, 2]), [[1, 2]])
        try Dist.barrier()
        XCTAssertFalse(Dist.isInitialized, "a world of one never initialises MPI")
    }
}
