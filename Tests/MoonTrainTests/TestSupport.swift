import XCTest
import MoonTensor
@testable import MoonTrain

/// The deterministic inputs of scripts/make_train_references.py.
enum Ref {
    static let b = 2, t = 3, v = 5
    static var studentData: [Float] { (0..<(b * t * v)).map { Float(2 * sin(0.7 * Double($0) + 0.3)) } }
    static var teacherData: [Float] { (0..<(b * t * v)).map { Float(1.5 * cos(1.3 * Double($0))) } }
    static func student(grad: Bool = false) throws -> Tensor {
        let s = try Tensor(studentData, shape: [b, t, v])
        return grad ? try s.setRequiresGrad() : s
    }
    static func teacher() throws -> Tensor { try Tensor(teacherData, shape: [b, t, v]) }
    static func mask() throws -> Tensor { try Tensor([1, 1, 0, 1, 0, 1], shape: [b, t]) }
}

func assertClose(_ a: [Float], _ b: [Float], atol: Float = 1e-5, rtol: Float = 1e-4,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "count mismatch \(message)", file: file, line: line)
    for i in 0..<min(a.count, b.count) where !(abs(a[i] - b[i]) <= atol + rtol * abs(b[i])) {
        XCTFail("\(message) element \(i): \(a[i]) vs \(b[i])\n got \(a)\n want \(b)", file: file, line: line)
        return
    }
}

func assertClose(_ a: Float, _ b: Float, atol: Float = 1e-5, rtol: Float = 1e-4,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertClose([a], [b], atol: atol, rtol: rtol, message, file: file, line: line)
}

/// Central finite differences of a scalar function of one tensor's data, in float32.
func finiteDifference(_ data: [Float], shape: [Int], h: Float = 1e-2, _ f: (Tensor) throws -> Tensor) throws -> [Float] {
    var g = [Float](repeating: 0, count: data.count)
    for i in 0..<data.count {
        var p = data, m = data
        p[i] += h; m[i] -= h
        let fp = try Tensor.noGrad { try f(Tensor(p, shape: shape)).item() }
        let fm = try Tensor.noGrad { try f(Tensor(m, shape: shape)).item() }
        g[i] = (fp - fm) / (2 * h)
    }
    return g
}

/// Compares autograd's gradient of `f` at `data` with finite differences.
func gradCheck(_ data: [Float], shape: [Int], atol: Float = 2e-3, _ message: String = "",
               file: StaticString = #filePath, line: UInt = #line, _ f: (Tensor) throws -> Tensor) throws {
    let x = try Tensor(data, shape: shape).setRequiresGrad()
    try f(x).backward()
    let auto = try XCTUnwrap(x.grad, "no gradient \(message)", file: file, line: line).toArray()
    let num = try finiteDifference(data, shape: shape, f)
    assertClose(auto, num, atol: atol, rtol: 1e-2, "gradient " + message, file: file, line: line)
}

func assertThrowsMessage(_ expr: @autoclosure () throws -> Any, contains needle: String,
                         file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try expr()
        XCTFail("expected an error containing '\(needle)'", file: file, line: line)
    } catch {
        XCTAssertTrue("\(error)".contains(needle), "error '\(error)' does not contain '\(needle)'", file: file, line: line)
    }
}
