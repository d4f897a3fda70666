import XCTest
@testable import MoonTrain

final class MoonTrainSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertFalse(MoonTrainInfo.version.isEmpty) }
}
