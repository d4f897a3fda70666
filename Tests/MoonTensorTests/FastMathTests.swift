import XCTest
import Foundation
@testable import MoonTensor

final class FastMathTests: XCTestCase {
    func testErfAndTanhAccuracy() {
        var erfErr = 0.0, tanhRel = 0.0
        var x: Float = -9
        while x < 9 {
            erfErr = Swift.max(erfErr, Swift.abs(Double(fastErf(x)) - Foundation.erf(Double(x))))
            let t = Foundation.tanh(Double(x))
            if t != 0 { tanhRel = Swift.max(tanhRel, Swift.abs(Double(fastTanh(x)) - t) / Swift.abs(t)) }
            x += 0.000731
        }
        XCTAssertLessThan(erfErr, 5e-7)
        XCTAssertLessThan(tanhRel, 5e-7)
        XCTAssertEqual(fastTanh(1e-6), 1e-6)
        XCTAssertEqual(fastErf(.infinity), 1, accuracy: 1e-7)
        XCTAssertEqual(fastErf(-.infinity), -1, accuracy: 1e-7)
        XCTAssertEqual(fastTanh(.infinity), 1, accuracy: 1e-6)
        XCTAssertTrue(fastErf(.nan).isNaN)
        XCTAssertTrue(fastTanh(.nan).isNaN)
    }

    func testGeluMatchesDoublePrecisionReference() {
        let xs: [Float] = [-6, -3, -1.5, -0.3, 0, 0.2, 1, 2.5, 7]
        let y = Tensor(xs).gelu().toArray()
        for (x, v) in zip(xs, y) {
            let ref = 0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))
            XCTAssertEqual(Double(v), ref, accuracy: 1e-6, "gelu(\(x))")
        }
    }
}
