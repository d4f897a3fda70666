import XCTest
@testable import MoonImage

final class CanvasTests: XCTestCase {
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
        XCTAssertEqual(BitmapFont.width("Target:", scale: 1), 41)
    }

    func testChwFloats() {
        var img = RGBImage(width: 2, height: 1, fill: .black)
        img.setPixel(x: 1, y: 0, RGB(255, 0, 51))
        let f = img.chwFloats()
        XCTAssertEqual(f.count, 6)
        for (a, b) in zip(f, [Float(0), 1, 0, 0, 0, 0.2]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }
}
