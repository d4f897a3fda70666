import XCTest
@testable import MoonImage

/// PNG files through libpng: round trips are pixel-exact, the output is 8-bit RGB and compressed, bad bytes throw.
final class PNGTests: XCTestCase {
    /// Deterministic noise (a 64-bit LCG), so the tests need no RNG from another layer.
    func noiseImage(_ w: Int, _ h: Int, seed: UInt64) -> RGBImage {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        let px = (0..<(w * h * 3)).map { _ -> UInt8 in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: s >> 56)
        }
        return RGBImage(width: w, height: h, pixels: px)
    }

    /// A chart like Plot's: white background, grid, axes, labels and three coloured curves.
    static func plotLikeImage() -> RGBImage {
        var c = Canvas(width: 640, height: 400, background: .white)
        _ = c.text("success_rate  (runA)", x: 200, y: 8, scale: 2, RGB(30, 30, 30))
        for k in 0..<6 { c.fillRect(x: 60, y: 40 + k * 60, w: 560, h: 1, RGB(228, 228, 228)) }
        for k in 0..<8 { c.fillRect(x: 60 + k * 80, y: 40, w: 1, h: 320, RGB(228, 228, 228)) }
        c.strokeRect(x: 60, y: 40, w: 560, h: 320, RGB(60, 60, 60))
        for k in 0..<6 { _ = c.text(String(format: "%.2f", Double(k) * 0.2), x: 20, y: 356 - k * 60, scale: 1, RGB(30, 30, 30)) }
        for k in 0..<8 { _ = c.text("\(k * 100)", x: 55 + k * 80, y: 370, scale: 1, RGB(30, 30, 30)) }
        _ = c.text("update", x: 310, y: 385, scale: 1, RGB(30, 30, 30))
        for (s, col) in [RGB(31, 119, 180), RGB(255, 127, 14), RGB(44, 160, 44)].enumerated() {
            var px = 60, py = 350
            for i in 1...100 {
                let x = 60 + i * 560 / 100
                let y = 350 - Int(300 * (1 - exp(-Double(i) / Double(20 + 15 * s)))) + Int(10 * sin(Double(i * (s + 1))))
                c.line(x0: px, y0: py, x1: x, y1: y, thickness: 2, col)
                px = x; py = y
            }
        }
        return c.image
    }

    func be32(_ b: [UInt8], _ i: Int) -> Int {
        Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
    }

    /// The chunk types of a PNG, in order, after checking the signature and that the chunks tile the file.
    func chunkTypes(_ b: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [String] {
        XCTAssertEqual(Array(b[0..<8]), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], file: file, line: line)
        var p = 8, types: [String] = []
        while p + 12 <= b.count {
            types.append(String(decoding: b[(p + 4)..<(p + 8)], as: UTF8.self))
            p += 12 + be32(b, p)
        }
        XCTAssertEqual(p, b.count, "chunks tile the file", file: file, line: line)
        return types
    }

    /// Encodes, checks the header says 8-bit RGB non-interlaced, decodes and compares every pixel; returns the size.
    @discardableResult
    func checkPNG(_ img: RGBImage, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let bytes = try PNG.encode(img)
        let types = chunkTypes(bytes, file: file, line: line)
        XCTAssertEqual(types.first, "IHDR", name, file: file, line: line)
        XCTAssertEqual(types.last, "IEND", name, file: file, line: line)
        XCTAssertTrue(types.contains("IDAT"), name, file: file, line: line)
        XCTAssertEqual(be32(bytes, 16), img.width, name, file: file, line: line)
        XCTAssertEqual(be32(bytes, 20), img.height, name, file: file, line: line)
        XCTAssertEqual(Array(bytes[24..<29]), [8, 2, 0, 0, 0], "8-bit RGB, deflate, no interlace: \(name)", file: file, line: line)
        let back = try PNG.decode(bytes)
        XCTAssertEqual(back.width, img.width, name, file: file, line: line)
        XCTAssertEqual(back.height, img.height, name, file: file, line: line)
        XCTAssertTrue(back.pixels == img.pixels, "pixels differ: \(name)", file: file, line: line)
        return bytes.count
    }

    func testRoundTrips() throws {
        try checkPNG(RGBImage(width: 1, height: 1, fill: RGB(1, 2, 3)), "1x1")
        try checkPNG(noiseImage(1, 1, seed: 1), "1x1 noise")
        try checkPNG(noiseImage(2, 1, seed: 2), "2x1")
        try checkPNG(noiseImage(1, 2, seed: 3), "1x2")
        try checkPNG(noiseImage(7, 5, seed: 4), "7x5")
        try checkPNG(noiseImage(641, 3, seed: 5), "641x3")
        try checkPNG(noiseImage(100, 80, seed: 6), "100x80 noise")
        var grad = RGBImage(width: 33, height: 17)
        for y in 0..<17 { for x in 0..<33 { grad.setPixel(x: x, y: y, RGB(UInt8(x * 7), UInt8(y * 13), UInt8((x * y) & 0xFF))) } }
        try checkPNG(grad, "gradient")
        var c = Canvas(width: 300, height: 250, background: .table)
        c.text("Formula: (10+2)*2", x: 3, y: 5, scale: 2, .white)
        c.fillRect(x: 100, y: 100, w: 50, h: 60, RGB(1, 2, 3))
        try checkPNG(c.image, "canvas 300x250")
        try checkPNG(Self.plotLikeImage(), "plot")
    }

    func testCompressedSizes() throws {
        let wsize = try checkPNG(RGBImage(width: 640, height: 400, fill: .white), "white 640x400")
        XCTAssertLessThan(wsize, 3000)  // 768,000 bytes raw
        let psize = try checkPNG(Self.plotLikeImage(), "plot")
        XCTAssertLessThan(psize, 30_000)
        let nsize = try checkPNG(noiseImage(200, 100, seed: 9), "noise")
        XCTAssertLessThan(nsize, 200 * 100 * 3 + 1000)  // incompressible: never much above the raw size
    }

    func testEncodeRefusesEmptyImages() {
        XCTAssertThrowsError(try PNG.encode(RGBImage(width: 0, height: 0))) { e in
            XCTAssertTrue("\(e)".contains("at least one pixel"), "\(e)")
        }
        XCTAssertThrowsError(try PNG.encode(RGBImage(width: 5, height: 0)))
    }

    func testBadBytesAreRejected() throws {
        let bytes = try PNG.encode(Self.plotLikeImage())
        XCTAssertThrowsError(try PNG.decode([]))
        XCTAssertThrowsError(try PNG.decode(Array("not a png at all, not even close".utf8)))
        var sig = bytes
        sig[1] ^= 0xFF
        XCTAssertThrowsError(try PNG.decode(sig), "bad signature")
        // a flipped byte in a critical chunk (IHDR, IDAT) fails its CRC (libpng only warns about ancillary ones)
        var p = 8, idat = 0..<0
        while p + 12 <= bytes.count {
            let len = be32(bytes, p)
            if String(decoding: bytes[(p + 4)..<(p + 8)], as: UTF8.self) == "IDAT" { idat = (p + 8)..<(p + 8 + len); break }
            p += 12 + len
        }
        XCTAssertGreaterThan(idat.count, 100)
        for k in [20, idat.lowerBound + 2, idat.lowerBound + idat.count / 3, idat.lowerBound + idat.count / 2, idat.upperBound - 3] {
            var bad = bytes
            bad[k] ^= 0x24
            XCTAssertThrowsError(try PNG.decode(bad), "byte \(k) flipped (chunk CRC)")
        }
        XCTAssertThrowsError(try PNG.decode(Array(bytes.prefix(bytes.count - 20))), "truncated")
        XCTAssertThrowsError(try PNG.decode(Array(bytes.prefix(100))), "truncated in IDAT")
    }

    func testForgedHugeHeaderIsRejected() throws {
        // a valid 1x1 file whose IHDR claims 100000 x 100000 (CRC fixed up by re-encoding is not possible without
        // zlib, so take libpng's complaint either way: it must throw, not allocate 30 GB)
        var bytes = try PNG.encode(RGBImage(width: 1, height: 1))
        for i in 16..<24 { bytes[i] = 0 }
        bytes[17] = 0x01; bytes[18] = 0x86; bytes[19] = 0xA0
        bytes[21] = 0x01; bytes[22] = 0x86; bytes[23] = 0xA0
        XCTAssertThrowsError(try PNG.decode(bytes))
    }

    func testWriteFiles() throws {
        let img = noiseImage(30, 20, seed: 8)
        let path = NSTemporaryDirectory() + "/moonimage-test-\(getpid()).png"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try PNG.write(img, to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(try PNG.decode([UInt8](data)), img)
        XCTAssertThrowsError(try PNG.write(img, to: "/nonexistent-dir-moonlab/x.png")) { e in
            XCTAssertTrue("\(e)".hasPrefix("PNG.write: cannot write /nonexistent-dir-moonlab/x.png"), "\(e)")
        }
    }
}
