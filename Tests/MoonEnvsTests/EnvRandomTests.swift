import XCTest
@testable import MoonEnvs

final class EnvRandomTests: XCTestCase {
    func testSuitSymbolsDiffer() {
        XCTAssertEqual(Set(Suit.allCases.map { $0.symbol }).count, 4)
    }

    func testRandomDeterminism() {
        var a = EnvRandom(seed: 42), b = EnvRandom(seed: 42)
        for _ in 0..<100 { XCTAssertEqual(a.next(), b.next()) }
        var r = EnvRandom(seed: 1)
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<6000 { counts[r.int(in: 0...5)] += 1 }
        for c in counts { XCTAssertTrue((850...1150).contains(c), "\(counts)") }
        XCTAssertNotEqual(EnvRandom.derive(0, 0), EnvRandom.derive(0, 1))
    }
}
