import XCTest
@testable import MoonEnvs

final class RenderTests: XCTestCase {
    /// Hashes of the first frame for seed 11 at 64×64 and 300×300 (update deliberately when the drawing changes).
    static let expected: [String: UInt64] = [
        "NumberLine-64": 0xed039393ecc4c889,
        "NumberLine-300": 0x9769e3bf027bf8a5,
        "EZPoints-64": 0x9f0d5fc613261103,
        "EZPoints-300": 0xfb99b9d026e87b07,
        "Points24-64": 0xaadb127e72eca20f,
        "Points24-300": 0xd2fdb5cced00b3e,
        "Blackjack-64": 0x5b530fa094f6e148,
        "Blackjack-300": 0x88581c68d3b97c95,
    ]

    func frameHash(_ name: String, size: Int, seed: UInt64) throws -> UInt64 {
        let env = try EnvRegistry.make(name, options: ["size": .int(size)])
        return env.reset(seed: seed).image!.contentHash
    }

    func testDeterministic() throws {
        var lines: [String] = []
        for name in EnvRegistry.names {
            for size in [64, 300] {
                let a = try frameHash(name, size: size, seed: 11), b = try frameHash(name, size: size, seed: 11)
                XCTAssertEqual(a, b)
                lines.append("\"\(name)-\(size)\": 0x\(String(a, radix: 16)),")
                if let e = RenderTests.expected["\(name)-\(size)"] { XCTAssertEqual(a, e, "\(name)-\(size) frame changed") }
            }
        }
        if RenderTests.expected.isEmpty { print("frame hashes:\n" + lines.joined(separator: "\n")) }
    }

    /// Which digit string is drawn in a region: compares against every candidate rendered the same way.
    func readNumber(_ img: RGBImage, x: Int, y: Int, scale: Int, bold: Bool, candidates: ClosedRange<Int>) -> [Int] {
        var hits: [Int] = []
        for v in candidates {
            var c = Canvas(width: img.width, height: img.height, background: .white)
            let w = c.text(String(v), x: x, y: y, scale: scale, bold: bold, .black)
            var same = true
            outer: for yy in y..<min(img.height, y + 8 * scale) {
                for xx in x..<min(img.width, x + w + scale) where (img.pixel(xx, yy) == .black) != (c.image.pixel(xx, yy) == .black) {
                    same = false; break outer
                }
            }
            if same { hits.append(v) }
        }
        return hits
    }

    func testNumberLineLegibleAt64() throws {
        let env = try EnvRegistry.make("NumberLine", options: ["size": 64, "max_position": 9]) as! NumberLineEnv
        for s in 0..<10 {
            let img = env.reset(seed: UInt64(s)).image!
            XCTAssertEqual(img.width, 64)
            // compact layout: labels at y 2 and 34, numbers 9 rows below at scale 2, bold
            XCTAssertEqual(readNumber(img, x: 2, y: 2 + 9, scale: 2, bold: true, candidates: 0...9), [env.target])
            XCTAssertEqual(readNumber(img, x: 2, y: 34 + 9, scale: 2, bold: true, candidates: 0...9), [env.position])
            // only black and white, white background at the right edge
            XCTAssertEqual(img.count(.black) + img.count(.white), 64 * 64)
            XCTAssertEqual(img.count(.black, x: 60, y: 0, w: 4, h: 64), 0)
        }
    }

    func testNumberLineLegibleAt300() throws {
        let env = try EnvRegistry.make("NumberLine", options: ["size": 300]) as! NumberLineEnv
        try env.setState(current: 4, target: 1)
        let img = env.currentObservation().image!
        // "Target: " is 8 characters at scale 4 bold (advance 26) from x = 30, y = 60
        XCTAssertEqual(readNumber(img, x: 30 + 8 * 26, y: 60, scale: 4, bold: true, candidates: 0...5), [1])
        XCTAssertEqual(readNumber(img, x: 30 + 9 * 26, y: 180, scale: 4, bold: true, candidates: 0...5), [4])
        // the "T" of Target: its top bar is black
        XCTAssertEqual(img.pixel(x: 31, y: 61), .black)
        XCTAssertEqual(img.pixel(x: 5, y: 5), .white)
    }

    func testCardsLegible() throws {
        for size in [64, 300] {
            let env = try EnvRegistry.make("Points24", options: ["size": .int(size)]) as! Points24Env
            try env.setHand([Card(rank: 10, suit: .hearts), Card(rank: 4, suit: .spades), Card(rank: 1, suit: .diamonds), Card(rank: 13, suit: .clubs)])
            let img = env.currentObservation().image!
            let L = env.layout(width: size, height: size)
            XCTAssertEqual(L.cards.count, 4)
            for (card, r) in zip(env.cards, L.cards) {
                let ink: RGB = card.suit.isRed ? .red : .black
                let other: RGB = card.suit.isRed ? .black : .red
                XCTAssertGreaterThan(img.count(ink, x: r.x, y: r.y, w: r.w, h: r.h), 15, "\(card) at \(size)")
                XCTAssertEqual(img.count(other, x: r.x + 1, y: r.y + 1, w: r.w - 2, h: r.h - 2), 0)
                XCTAssertGreaterThan(img.count(.white, x: r.x, y: r.y, w: r.w, h: r.h), r.w * r.h / 3)
                // the rank: its first glyph's top row starts within the card's top-left corner
                XCTAssertEqual(img.pixel(x: r.x + r.w / 2, y: r.y), .cardBorder)
            }
            // table colour around the cards, no white below the cards apart from the text
            XCTAssertEqual(img.pixel(x: 0, y: size / 2), .table)
            XCTAssertEqual(img.pixel(x: size - 1, y: 0), .table)
            let textTop = L.textY
            let before = img.count(.white, x: 0, y: textTop + L.lineHeight, w: size, h: size - textTop - L.lineHeight)
            XCTAssertEqual(before, 0, "formula area empty at start")
            XCTAssertGreaterThan(img.count(.white, x: 0, y: textTop, w: size, h: L.lineHeight), 20, "Formula: label")
            let after = try env.step(action: "10").observation.image!
            let lineArea = after.count(.white, x: 0, y: textTop + L.lineHeight, w: size, h: L.lineHeight)
            // "10" at the text scale: 10 + 19 glyph pixels
            XCTAssertEqual(lineArea, 29 * L.textScale * L.textScale)
        }
    }

    func testBlackjackAndEZPointsFrames() throws {
        for size in [64, 300] {
            let bj = try EnvRegistry.make("Blackjack", options: ["size": .int(size)]) as! BlackjackEnv
            try bj.setHands(player: [Card(rank: 1, suit: .hearts), Card(rank: 7, suit: .clubs)], dealer: [Card(rank: 12, suit: .spades), Card(rank: 5, suit: .hearts)])
            let img = bj.currentObservation().image!
            XCTAssertGreaterThan(img.count(.cardBack), 20)       // the hole card is face down
            XCTAssertGreaterThan(img.count(.red), 20)            // the ace of hearts
            XCTAssertEqual(img.pixel(x: size - 1, y: size - 1), .table)
            let hit = try bj.step(action: "hit").observation.image!
            XCTAssertNotEqual(hit, img)
            let ez = try EnvRegistry.make("EZPoints", options: ["size": .int(size)])
            let e = ez.reset(seed: 3).image!
            XCTAssertEqual(e.width, size)
            XCTAssertGreaterThan(e.count(.table), size * size / 4)
        }
        let rect = try EnvRegistry.make("Points24", options: ["width": 96, "height": 64]).reset(seed: 1).image!
        XCTAssertEqual(rect.width, 96); XCTAssertEqual(rect.height, 64)
    }

    func testTextMode() throws {
        let env = try EnvRegistry.make("Points24", options: ["obs_mode": "text"])
        let obs = env.reset(seed: 2)
        XCTAssertNil(obs.image)
        XCTAssertTrue(obs.prompt.hasPrefix("You are an expert 24 points card game player."))
        XCTAssertTrue(obs.prompt.contains("\nCurrent state:\nCards: "))
        XCTAssertTrue(obs.stateText.contains("Current formula: "))
    }
}
