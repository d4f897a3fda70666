import XCTest
@testable import MoonEnvs

final class CanvasPNGTests: XCTestCase {
    func testFillAndPixels() {
        var c = Canvas(width: 10, height: 8, background: .table)
        c.fillRect(x: 2, y: 3, w: 4, h: 2, .red)
        XCTAssertEqual(c.image.pixel(x: 2, y: 3), .red)
        XCTAssertEqual(c.image.pixel(x: 5, y: 4), .red)
        XCTAssertEqual(c.image.pixel(x: 6, y: 4), .table)
        XCTAssertEqual(c.image.count(.red), 8)
        c.fillRect(x: -5, y: -5, w: 100, h: 1, .black)  // clipped, no crash
        c.fillRect(x: 20, y: 20, w: 3, h: 3, .black)
        XCTAssertEqual(c.image.count(.black), 0)
        c.line(x0: 0, y0: 0, x1: 9, y1: 7, .black)
        XCTAssertEqual(c.image.pixel(x: 0, y: 0), .black)
        XCTAssertEqual(c.image.pixel(x: 9, y: 7), .black)
    }

    func testRoundedRectCorners() {
        var c = Canvas(width: 20, height: 20, background: .black)
        c.fillRoundedRect(x: 0, y: 0, w: 20, h: 20, radius: 5, .white)
        XCTAssertEqual(c.image.pixel(x: 0, y: 0), .black)
        XCTAssertEqual(c.image.pixel(x: 10, y: 0), .white)
        XCTAssertEqual(c.image.pixel(x: 10, y: 10), .white)
        XCTAssertEqual(c.image.pixel(x: 19, y: 19), .black)
    }

    func testGlyphPixels() {
        // "1" at scale 1: the middle column (x = 2) is set on rows 0...6
        var c = Canvas(width: 12, height: 10, background: .white)
        let w = c.text("1", x: 1, y: 1, scale: 1, .black)
        XCTAssertEqual(w, 6)
        for row in 0..<7 { XCTAssertEqual(c.image.pixel(x: 3, y: 1 + row), .black, "row \(row)") }
        XCTAssertEqual(c.image.pixel(x: 1, y: 1), .white)
        XCTAssertEqual(c.image.count(.black), 10)  // pixels of the "1" glyph
        // scale 2 quadruples; bold adds pixels
        var c2 = Canvas(width: 20, height: 20, background: .white)
        c2.text("1", x: 0, y: 0, scale: 2, .black)
        XCTAssertEqual(c2.image.count(.black), 40)
        var c3 = Canvas(width: 20, height: 20, background: .white)
        c3.text("1", x: 0, y: 0, scale: 2, bold: true, .black)
        XCTAssertGreaterThan(c3.image.count(.black), 40)
    }

    func testFontCoverage() {
        let needed = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-*/=():,.?"
        for ch in needed.unicodeScalars {
            XCTAssertTrue(BitmapFont.hasGlyph(ch), "missing glyph \(ch)")
            XCTAssertTrue(BitmapFont.glyph(ch).contains { $0 != 0 }, "empty glyph \(ch)")
        }
        // glyphs are pairwise distinct
        var seen: [[UInt8]: Character] = [:]
        for ch in needed { let g = BitmapFont.glyph(ch.unicodeScalars.first!); XCTAssertNil(seen[g], "\(ch) duplicates \(seen[g] ?? " ")"); seen[g] = ch }
        XCTAssertEqual(Set(Suit.allCases.map { $0.symbol }).count, 4)
        XCTAssertEqual(BitmapFont.width("Target:", scale: 1), 41)
    }

    func testChwFloats() {
        var img = RGBImage(width: 2, height: 1, fill: .black)
        img.setPixel(x: 1, y: 0, RGB(255, 0, 51))
        let f = img.chwFloats()
        XCTAssertEqual(f.count, 6)
        for (a, b) in zip(f, [Float(0), 1, 0, 0, 0, 0.2]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testPNGRoundTrip() throws {
        var c = Canvas(width: 300, height: 250, background: .table)   // > 65535 bytes: several stored blocks
        c.text("Formula: (10+2)*2", x: 3, y: 5, scale: 2, .white)
        c.fillRect(x: 100, y: 100, w: 50, h: 60, RGB(1, 2, 3))
        let bytes = PNG.encode(c.image)
        XCTAssertEqual(Array(bytes[0..<8]), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let back = try PNG.decodeStored(bytes)
        XCTAssertEqual(back, c.image)
        // corrupting one pixel byte breaks the adler32 / CRC checks
        var bad = bytes
        bad[bytes.count / 2] ^= 0xFF
        XCTAssertThrowsError(try PNG.decodeStored(bad))
        // file round trip
        let path = NSTemporaryDirectory() + "/moonenvs-test.png"
        try PNG.write(c.image, to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(try PNG.decodeStored([UInt8](data)), c.image)
    }

    func testChecksums() {
        XCTAssertEqual(PNG.crc32(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(PNG.adler32(Array("Wikipedia".utf8)), 0x11E6_0398)
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
