import XCTest
@testable import MoonModels

final class MoonModelsSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertFalse(MoonModelsInfo.version.isEmpty) }
}
