import XCTest
import Foundation
@testable import MoonTensor

/// Environment knobs: values outside their range, or not numbers, fall back to the caller's default.
final class KnobTests: XCTestCase {
    func testIntegerAndNumberKnobsRejectWhatIsOutOfRange() {
        let name = "MOONLAB_TEST_KNOB"
        defer { unsetenv(name) }
        unsetenv(name)
        XCTAssertNil(Knob.integer(name, in: 8...4096))
        for bad in ["9223372036854775807", "99999999999999999999", "-5", "7", "abc", "1e3", "64x", "nan"] {
            setenv(name, bad, 1)
            XCTAssertNil(Knob.integer(name, in: 8...4096), bad)
        }
        setenv(name, " 64 ", 1)
        XCTAssertEqual(Knob.integer(name, in: 8...4096), 64)
        for bad in ["inf", "nan", "-1", "1e400", ""] {
            setenv(name, bad, 1)
            XCTAssertNil(Knob.number(name, in: 0.001...1e9), bad)
        }
        setenv(name, "2.5", 1)
        XCTAssertEqual(Knob.number(name, in: 0.001...1e9), 2.5)
        setenv(name, "0", 1)
        XCTAssertFalse(Knob.flag(name, defaultOn: true))
        XCTAssertFalse(Knob.flag(name, defaultOn: false))
        setenv(name, "1", 1)
        XCTAssertTrue(Knob.flag(name, defaultOn: false))
    }

    func testComputedShapesAreNotHeldToTheLuaTensorLimit() throws {
        // the limit turns a hostile request from Lua into an error; moonlab's own tensors are sized by validated configs
        let big = Allocation.limit / 4 + 1
        XCTAssertThrowsError(try Tensor.zeros([big, 8]))
        XCTAssertEqual(Tensor.zeros(computed: [3, 2]).shape, [3, 2])
        XCTAssertEqual(Tensor.full(computed: [2], value: 7).toArray(), [7, 7])
        XCTAssertEqual(Tensor.randn(computed: [5], generator: Generator(seed: 1)).toArray(),
                       try Tensor.randn([5], generator: Generator(seed: 1)).toArray())
    }
}
