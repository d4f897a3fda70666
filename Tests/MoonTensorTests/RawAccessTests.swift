import XCTest
@testable import MoonTensor

final class RawAccessTests: XCTestCase {
    func testBytesRoundTrip() throws {
        let src: [Float] = [1.5, -2, 3, 4]
        let t = try src.withUnsafeBytes { try Tensor(bytes: $0, shape: [2, 2]) }
        XCTAssertEqual(t.toArray(), src)
        let back: [Float] = try t.t().withUnsafeBytes { raw in Array(raw.bindMemory(to: Float.self)) }
        XCTAssertEqual(back, [1.5, 3, -2, 4])
        let ids: [Int64] = [7, 8, 9]
        let it = try ids.withUnsafeBytes { try Tensor(bytes: $0, shape: [3], dtype: .int64) }
        XCTAssertEqual(it.toIntArray(), [7, 8, 9])
        assertThrows("tensor: argument 'bytes': shape [3] of float32 needs 12 bytes, got 16") {
            try src.withUnsafeBytes { try Tensor(bytes: $0, shape: [3]) }
        }
        XCTAssertEqual(Tensor(ints: [1, 2]).withUnsafeFloats { Array($0) }, [1, 2])
    }

    func testMutableFloats() throws {
        let t = try Tensor.zeros([3])
        try t.withUnsafeMutableFloats { buf in for i in 0..<buf.count { buf[i] = Float(i) } }
        XCTAssertEqual(t.toArray(), [0, 1, 2])
        XCTAssertEqual(t.storage.version, 1)
        let p = try param([1, 2], [2])
        assertThrows("write: a leaf tensor that requires grad") { try p.withUnsafeMutableFloats { _ in } }
        try Tensor.noGrad { try p.withUnsafeMutableFloats { $0[0] = 5 } }
        XCTAssertEqual(p.toArray(), [5, 2])
        assertThrows("write: the tensor is not contiguous") { try Tensor.zeros([2, 2]).t().withUnsafeMutableFloats { _ in } }
    }
}
