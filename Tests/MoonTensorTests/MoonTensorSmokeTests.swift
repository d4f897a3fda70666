import XCTest
@testable import MoonTensor

final class MoonTensorSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertFalse(MoonTensorInfo.version.isEmpty) }
}
