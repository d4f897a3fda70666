import XCTest
@testable import MoonEnvs

final class MoonEnvsSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertFalse(MoonEnvsInfo.version.isEmpty) }
}
