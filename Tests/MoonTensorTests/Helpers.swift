import XCTest
@testable import MoonTensor

/// A leaf float tensor that requires grad.
func param(_ data: [Float], _ shape: [Int]) throws -> Tensor {
    try Tensor(data, shape: shape).setRequiresGrad()
}

/// Deterministic "random" values in [lo, hi) for tests.
func vals(_ n: Int, seed: UInt64 = 1, lo: Float = -1, hi: Float = 1) -> [Float] {
    let g = Generator(seed: seed)
    return (0..<n).map { _ in lo + (hi - lo) * g.nextFloat() }
}

func assertClose(_ a: [Float], _ b: [Float], tol: Float = 1e-5, _ msg: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "count mismatch \(msg)", file: file, line: line)
    for (i, (x, y)) in zip(a, b).enumerated() where !(Swift.abs(x - y) <= tol * Swift.max(1, Swift.abs(y))) {
        XCTFail("element \(i): \(x) vs \(y) \(msg)", file: file, line: line)
        return
    }
}

func assertThrows(_ expectedSubstring: String, file: StaticString = #filePath, line: UInt = #line,
                  _ body: () throws -> Any) {
    do {
        _ = try body()
        XCTFail("expected an error containing '\(expectedSubstring)'", file: file, line: line)
    } catch let e as TensorError {
        XCTAssertTrue(e.message.contains(expectedSubstring), "message '\(e.message)' lacks '\(expectedSubstring)'", file: file, line: line)
    } catch {
        XCTFail("unexpected error type \(error)", file: file, line: line)
    }
}

/// Finite-difference gradient check: compares autograd gradients of `sum(f(inputs) * w)` (fixed random w)
/// with central differences in double precision. Returns one message per mismatch (empty when all agree).
func gradCheckErrors(_ inputs: [Tensor], eps: Float = 1e-3, rtol: Float = 1e-2, atol: Float = 2e-3,
                     _ f: ([Tensor]) throws -> Tensor) throws -> (errors: [String], checked: Int) {
    for x in inputs { x.grad = nil }
    let y = try f(inputs)
    let w = try Tensor(vals(y.count, seed: 99, lo: 0.5, hi: 1.5), shape: y.shape)
    let loss = try y.mul(w).sum()
    try loss.backward()
    func evalLoss() throws -> Double {
        let out = try Tensor.noGrad { try f(inputs) }
        let o = out.toArray(), ww = w.toArray()
        var s = 0.0
        for i in 0..<o.count { s += Double(o[i]) * Double(ww[i]) }
        return s
    }
    var errors: [String] = []
    var checked = 0
    for (k, x) in inputs.enumerated() where x.requiresGrad {
        guard let g = x.grad else { errors.append("input \(k) got no gradient"); continue }
        if g.shape != x.shape { errors.append("input \(k): grad shape \(g.shape) vs \(x.shape)"); continue }
        let analytic = g.toArray()
        precondition(x.isContiguous)
        let p = x.storage.floats + x.offset
        for i in 0..<x.count {
            let orig = p[i]
            p[i] = orig + eps
            let lp = try evalLoss()
            p[i] = orig - eps
            let lm = try evalLoss()
            p[i] = orig
            let num = Float((lp - lm) / (2 * Double(eps)))
            let a = analytic[i]
            if !(Swift.abs(a - num) <= atol + rtol * Swift.abs(num)) {
                errors.append("input \(k) element \(i): analytic \(a) vs numeric \(num)")
            }
            checked += 1
        }
    }
    return (errors, checked)
}

/// Asserts that autograd matches finite differences for `f` at `inputs`.
func gradCheck(_ inputs: [Tensor], eps: Float = 1e-3, rtol: Float = 1e-2, atol: Float = 2e-3,
               file: StaticString = #filePath, line: UInt = #line,
               _ f: ([Tensor]) throws -> Tensor) throws {
    let (errors, checked) = try gradCheckErrors(inputs, eps: eps, rtol: rtol, atol: atol, f)
    XCTAssertGreaterThan(checked, 0, "nothing was checked", file: file, line: line)
    if let e = errors.first { XCTFail("\(errors.count) mismatches; first: \(e)", file: file, line: line) }
}
