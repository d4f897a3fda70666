import Foundation
import XCTest
@testable import MoonEnvs

/// An independent, deliberately simple inflate (bit by bit, canonical Huffman decoding as in zlib's puff.c) used to
/// check what `Deflate.compress` writes. It records what the stream used (block types, longest length, farthest
/// distance) so the tests can tell that the encoder really exercised those cases.
struct PuffInflater {
    struct Failure: Error { let message: String }
    let src: [UInt8]
    var pos: Int
    var bitBuf = 0, bitCnt = 0
    var out: [UInt8] = []
    var blockTypes: [Int] = []
    var maxDist = 0, maxLen = 0, len258 = 0

    init(_ src: [UInt8], from pos: Int = 0) { self.src = src; self.pos = pos }

    mutating func bit() throws -> Int {
        if bitCnt == 0 {
            guard pos < src.count else { throw Failure(message: "out of input") }
            bitBuf = Int(src[pos]); pos += 1; bitCnt = 8
        }
        let b = bitBuf & 1
        bitBuf >>= 1; bitCnt -= 1
        return b
    }

    mutating func bits(_ n: Int) throws -> Int {
        var v = 0
        for i in 0..<n { v |= try bit() << i }
        return v
    }

    struct Huffman { var count = [Int](repeating: 0, count: 16); var symbol: [Int] = [] }

    static func huffman(_ lengths: [Int]) throws -> Huffman {
        var h = Huffman()
        for l in lengths { h.count[l] += 1 }
        var left = 1
        for l in 1...15 {
            left = 2 * left - h.count[l]
            if left < 0 { throw Failure(message: "over-subscribed") }
        }
        var offs = [Int](repeating: 0, count: 16)
        for l in 1..<15 { offs[l + 1] = offs[l] + h.count[l] }
        h.symbol = [Int](repeating: 0, count: lengths.count)
        for (s, l) in lengths.enumerated() where l != 0 { h.symbol[offs[l]] = s; offs[l] += 1 }
        return h
    }

    mutating func decode(_ h: Huffman) throws -> Int {
        var code = 0, first = 0, index = 0
        for len in 1...15 {
            code |= try bit()
            let count = h.count[len]
            if code - count < first { return h.symbol[index + (code - first)] }
            index += count; first += count
            first <<= 1; code <<= 1
        }
        throw Failure(message: "bad code")
    }

    static let lbase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163,
                        195, 227, 258]
    static let lext = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let dbase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
                        3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let dext = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    mutating func codes(_ lit: Huffman, _ dist: Huffman) throws {
        while true {
            let s = try decode(lit)
            if s < 256 { out.append(UInt8(s)); continue }
            if s == 256 { return }
            let li = s - 257
            guard li < 29 else { throw Failure(message: "bad length symbol") }
            let len = Self.lbase[li] + (try bits(Self.lext[li]))
            let ds = try decode(dist)
            guard ds < 30 else { throw Failure(message: "bad distance symbol") }
            let d = Self.dbase[ds] + (try bits(Self.dext[ds]))
            guard d <= out.count, d <= 32768 else { throw Failure(message: "distance too far") }
            maxDist = max(maxDist, d); maxLen = max(maxLen, len)
            if len == 258 { len258 += 1 }
            for _ in 0..<len { out.append(out[out.count - d]) }
        }
    }

    /// Inflates the raw deflate stream; returns the index just past it.
    mutating func run() throws -> Int {
        var last = 0
        repeat {
            last = try bit()
            let type = try bits(2)
            blockTypes.append(type)
            switch type {
            case 0:
                bitBuf = 0; bitCnt = 0
                guard pos + 4 <= src.count else { throw Failure(message: "short stored header") }
                let len = Int(src[pos]) | Int(src[pos + 1]) << 8, nlen = Int(src[pos + 2]) | Int(src[pos + 3]) << 8
                guard len == ~nlen & 0xFFFF, pos + 4 + len <= src.count else { throw Failure(message: "bad stored block") }
                out += src[(pos + 4)..<(pos + 4 + len)]
                pos += 4 + len
            case 1:
                var l = [Int](repeating: 8, count: 288)
                for s in 144..<256 { l[s] = 9 }
                for s in 256..<280 { l[s] = 7 }
                try codes(try Self.huffman(l), try Self.huffman([Int](repeating: 5, count: 30)))
            case 2:
                let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
                guard nlen <= 286, ndist <= 30 else { throw Failure(message: "bad counts") }
                let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
                var cl = [Int](repeating: 0, count: 19)
                for i in 0..<ncode { cl[order[i]] = try bits(3) }
                let clh = try Self.huffman(cl)
                var lengths: [Int] = []
                while lengths.count < nlen + ndist {
                    let s = try decode(clh)
                    if s < 16 { lengths.append(s); continue }
                    var v = 0, r = 0
                    if s == 16 {
                        guard let p = lengths.last else { throw Failure(message: "repeat without length") }
                        v = p; r = 3 + (try bits(2))
                    } else if s == 17 { r = 3 + (try bits(3)) } else { r = 11 + (try bits(7)) }
                    guard lengths.count + r <= nlen + ndist else { throw Failure(message: "too many lengths") }
                    lengths += [Int](repeating: v, count: r)
                }
                guard lengths[256] > 0 else { throw Failure(message: "no end code") }
                try codes(try Self.huffman(Array(lengths[0..<nlen])), try Self.huffman(Array(lengths[nlen...])))
            default:
                throw Failure(message: "bad block type")
            }
        } while last == 0
        return pos
    }
}

final class DeflatePNGTests: XCTestCase {
    /// Adler-32 straight from the definition (mod after every byte).
    func naiveAdler(_ d: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for x in d { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
        return b << 16 | a
    }

    func be32(_ z: [UInt8], _ i: Int) -> UInt32 {
        UInt32(z[i]) << 24 | UInt32(z[i + 1]) << 16 | UInt32(z[i + 2]) << 8 | UInt32(z[i + 3])
    }

    /// Inflates a zlib stream with the test's own inflater, checking header, Adler-32 and that nothing trails it.
    func puffZlib(_ z: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> PuffInflater {
        XCTAssertGreaterThanOrEqual(z.count, 6, file: file, line: line)
        XCTAssertEqual(z[0] & 0x0F, 8, "deflate method", file: file, line: line)
        XCTAssertEqual((Int(z[0]) << 8 | Int(z[1])) % 31, 0, "header check", file: file, line: line)
        XCTAssertEqual(z[1] & 0x20, 0, "no preset dictionary", file: file, line: line)
        var p = PuffInflater(z, from: 2)
        let end = try p.run()
        XCTAssertEqual(end + 4, z.count, "the Adler-32 ends the stream", file: file, line: line)
        XCTAssertEqual(be32(z, end), naiveAdler(p.out), "Adler-32", file: file, line: line)
        return p
    }

    /// Equality of byte arrays that reports the first difference instead of printing both arrays.
    func assertSame(_ a: [UInt8], _ b: [UInt8], _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        guard a != b else { return }
        let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        XCTFail("\(name): \(a.count) vs \(b.count) bytes, first difference at \(i)", file: file, line: line)
    }

    func randomBytes(_ n: Int, seed: UInt64, alphabet: Int = 256) -> [UInt8] {
        var r = EnvRandom(seed: seed)
        return (0..<n).map { _ in UInt8(r.int(in: 0...(alphabet - 1))) }
    }

    /// Compresses, then checks the round trip through both inflaters; returns the test inflater's record.
    @discardableResult
    func roundTrip(_ d: [UInt8], _ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> (PuffInflater, Int) {
        let z = PNG.zlibCompress(d)
        let p = try puffZlib(z, file: file, line: line)
        assertSame(p.out, d, name, file: file, line: line)
        assertSame(try PNG.zlibDecompress(z), d, name + " (library inflate)", file: file, line: line)
        // never much bigger than storing: a stored block costs 5 bytes (+1 of padding) per block of at most 32768
        // tokens (so at least 32 KiB of input), plus the zlib header and trailer
        XCTAssertLessThanOrEqual(z.count, d.count + 6 * (d.count / 32768 + 2) + 6, name, file: file, line: line)
        return (p, z.count)
    }

    func testAdler32() {
        XCTAssertEqual(PNG.adler32([UInt8]()), 1)
        XCTAssertEqual(PNG.adler32(Array("Wikipedia".utf8)), 0x11E6_0398)
        for (n, seed) in [(1, 1), (5551, 2), (5552, 3), (5553, 4), (100_000, 5)] as [(Int, UInt64)] {
            let d = randomBytes(n, seed: seed)
            XCTAssertEqual(PNG.adler32(d), naiveAdler(d), "\(n)")
            XCTAssertEqual(PNG.adler32(d[...]), naiveAdler(d), "slice \(n)")  // the contiguous fast path
            XCTAssertEqual(PNG.adler32(AnySequenceWrapper(d)), naiveAdler(d), "generic \(n)")
        }
        let ff = [UInt8](repeating: 0xFF, count: 20000)  // the largest sums: the modulo must come in time
        XCTAssertEqual(PNG.adler32(ff), naiveAdler(ff))
        XCTAssertEqual(PNG.crc32(AnySequenceWrapper(Array("123456789".utf8))), 0xCBF4_3926)
    }

    func testRoundTripEdgeCases() throws {
        try roundTrip([], "empty")
        try roundTrip([42], "one byte")
        try roundTrip([1, 2], "two bytes")
        try roundTrip([7, 7, 7], "three equal bytes")
        try roundTrip([7, 7, 7, 7], "four equal bytes")
        for n in [1, 2, 3, 4, 5, 17, 100, 1000, 4099] { try roundTrip(randomBytes(n, seed: UInt64(n)), "noise \(n)") }
        // runs around the 258 maximum match length (a run of L after one literal is a match of L - 1 at distance 1)
        for l in [3, 4, 255, 256, 257, 258, 259, 260, 261, 515, 516, 517, 518, 519, 774, 775] {
            let d = [9] + [UInt8](repeating: 0, count: l) + [9, 9]
            try roundTrip(d, "run \(l)")
        }
        // periods around the window size: up to 32768 is in reach, 32769 is not
        for period in [1, 2, 3, 7, 257, 258, 259, 1000, 32767, 32768, 32769] {
            let r = randomBytes(period, seed: UInt64(period) + 100)
            var d: [UInt8] = []
            while d.count < 70000 { d += r }
            let (p, size) = try roundTrip(d, "period \(period)")
            XCTAssertLessThanOrEqual(p.maxDist, 32768)
            if period <= 32768 {
                XCTAssertEqual(p.maxDist, period, "period \(period) uses its own distance")
                XCTAssertLessThan(size, period + d.count / 20, "period \(period) compresses")
            } else {
                XCTAssertGreaterThan(size, d.count - 100, "nothing to find within the window")
            }
        }
    }

    func testLongestMatchesAndFarthestDistance() throws {
        let (zeros, zsize) = try roundTrip([UInt8](repeating: 0, count: 100_000), "zeros")
        XCTAssertEqual(zeros.maxLen, 258)
        XCTAssertGreaterThan(zeros.len258, 380)
        XCTAssertLessThan(zsize, 200)
        let r = randomBytes(32768, seed: 7)
        let (p, size) = try roundTrip(r + r + r, "random 32 KiB block three times")
        XCTAssertEqual(p.maxDist, 32768)
        XCTAssertEqual(p.maxLen, 258)
        XCTAssertLessThan(size, 32768 + 1000)
    }

    func testBlockKinds() throws {
        // noise: stored blocks (several, as each holds at most 65535 bytes)
        let (noise, _) = try roundTrip(randomBytes(200_000, seed: 11), "noise")
        XCTAssertTrue(noise.blockTypes.contains(0))
        XCTAssertGreaterThanOrEqual(noise.blockTypes.count, 4)
        // a short repetitive string: fixed codes
        let (short, _) = try roundTrip(Array("abcabcabcabcabc".utf8), "short")
        XCTAssertEqual(short.blockTypes, [1])
        // text: dynamic codes
        let text = Array((0..<2000).map { "line \($0): value \($0 * $0 % 97)\n" }.joined().utf8)
        let (tp, tsize) = try roundTrip(text, "text")
        XCTAssertEqual(tp.blockTypes, [2])
        XCTAssertLessThan(tsize, text.count / 4)
        // low-entropy data: many tokens, so several dynamic blocks with matches reaching across block boundaries
        let (low, lsize) = try roundTrip(randomBytes(400_000, seed: 12, alphabet: 3), "three symbols")
        XCTAssertGreaterThan(low.blockTypes.count, 1)
        XCTAssertTrue(low.blockTypes.allSatisfy { $0 == 2 })
        XCTAssertLessThan(lsize, 400_000 / 3)  // log2(3) bits per byte would be 79 KB
    }

    func testHuffmanLengthsAreLimitedAndComplete() {
        var fib = [1, 1]
        while fib.count < 40 { fib.append(fib[fib.count - 1] + fib[fib.count - 2]) }
        for (freq, limit) in [(fib, 15), (Array(fib.prefix(19)), 7), ([0, 0, 3], 7), ([0, 0], 7),
                              ((0..<286).map { $0 % 5 == 0 ? 0 : $0 }, 15)] {
            let l = Deflate.huffmanLengths(freq, limit: limit)
            XCTAssertEqual(l.count, freq.count)
            XCTAssertLessThanOrEqual(Int(l.max()!), limit)
            for (f, x) in zip(freq, l) where f > 0 { XCTAssertGreaterThan(x, 0) }
            // complete code: Kraft sum exactly 1
            let kraft = l.reduce(0) { $0 + ($1 > 0 ? 1 << (15 - Int($1)) : 0) }
            XCTAssertEqual(kraft, 1 << 15, "\(freq) limit \(limit): \(l)")
        }
    }

    /// Streams written by zlib itself (Python's zlib.compress), one per block type.
    func testInflateReadsZlibStreams() throws {
        let text = Array((0..<200).map { "line \($0): value \($0 * $0 % 97)\n" }.joined().utf8)
        let dynamic = """
            eNpllzmOXDEMRHOfYo4gauHi2zhwMEDDmef8Y6PF4kcxaxGSfoki66lfn39+f4yfH1+/Xn///fjx+j+WHMt7PHO83+OV43iPN+brO3AyMM87oBlYd4Zhy7uH\
            Z0DvRyIDflUIZK4bgM5510gptRuBVps3ArUZgNqVX4JczTnQG/dEAsEr5UCx3TxOKJa7z4Tkc1dNSI6bmgnJ+x5rQnLkjUDzzn2gOXIVNJ/UA81+A5Cs91gL\
            kufN4IJkv6sWJJ8sCEie96ALkv1e8IJkvYdYVRX5dUiWnFOSb3pWab6RDc37KtzQvK6eDc2Sc6A5t6ks35xuSPYrcEOyZe1DsuUcSLbcJzhyBq86wjufyV8/\
            ixWeTYc4h895lHNxjPN1nHN6gvOug+9Ghe9PJ9+xLq4D3VwrerieVLnm1Lgu1bl2Nai8bXAHmHCX2OROssXdZps70g53rSl3thl3vzk7hAW7iA92Ghd2I5/s\
            WL7I1Hyz7/lhb3Rl/3Qji3VnF/ZoRj3Yy0PY7mMyEWIxNGITVuIQd0IJTGFErnCeEbSHjEGfkSEsRUbTK2PxoWRsPrmMw+mRoZ1knGcZ3lg2osGsEAiaPSCY\
            kVYdUhQE0AqDINoDhCCscsWKtLKWYuHBwuAGkaLhBq6FW01m60cpIAYWbu5sKSR6RpQdQmazEXlAEQuDDUkeXMxTP8CYt7+a/0mhMU1Sio2CWYftVoqOilAz\
            bik+LugKRoAUIXOrImSiRHbjjRQjE0pSlDTMOow3eXASIesLvW8fTUSxElILlnme0/guRUukpnCJBBYwkeYiJi7jtIeJFDNxsQVNXH9RE0VS2EQpaXtRyQOc\
            KfVBzizeQidK/MHOjLSHoBQ80VJFTzRe8RPtWQBFE1t7wUohFIZQDIVtFERhLkVRWJD1p3dxtN7n0UyvSJqTiqSwT+//GB4szSMWTVNV0RSmXjiF9Xv7myNF\
            VGCkkArYFFOBpIJqbhX8v0weUM3I5v92RVXM0baPtW95F/SU/Q3cOiDd
            """
        let cases: [(String, [UInt8], Int)] = [
            (dynamic, text, 2),
            ("eNrLSM3JyVfIQCcBaAMIsQ==", Array("hello hello hello hello".utf8), 1),
            ("eAEBEQDu/3N0b3JlZCBibG9jayBkYXRhO80Gdw==", Array("stored block data".utf8), 0),
        ]
        for (b64, expected, type) in cases {
            let z = [UInt8](Data(base64Encoded: b64)!)
            XCTAssertEqual(try PNG.zlibDecompress(z), expected)
            let p = try puffZlib(z)
            XCTAssertEqual(p.out, expected)
            XCTAssertEqual(p.blockTypes, [type])
            // a wrong Adler-32, a truncated stream and a flipped bit in the data are all rejected
            var bad = z; bad[bad.count - 1] ^= 1
            XCTAssertThrowsError(try PNG.zlibDecompress(bad))
            XCTAssertThrowsError(try PNG.zlibDecompress(Array(z.dropLast(5))))
            var flipped = z; flipped[z.count / 2] ^= 0x10
            XCTAssertThrowsError(try PNG.zlibDecompress(flipped))
            XCTAssertThrowsError(try PNG.zlibDecompress(z, maxOutput: expected.count - 1))
        }
    }

    // MARK: - PNG

    struct ParsedPNG { var width = 0, height = 0; var idat: [UInt8] = []; var types: [String] = [] }

    func parsePNG(_ b: [UInt8]) -> ParsedPNG {
        var r = ParsedPNG()
        XCTAssertEqual(Array(b[0..<8]), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var p = 8
        while p + 12 <= b.count {
            let len = Int(be32(b, p))
            let type = String(decoding: b[(p + 4)..<(p + 8)], as: UTF8.self)
            XCTAssertEqual(be32(b, p + 8 + len), PNG.crc32(Array(b[(p + 4)..<(p + 8 + len)])), "CRC of \(type)")
            if type == "IHDR" {
                r.width = Int(be32(b, p + 8)); r.height = Int(be32(b, p + 12))
                XCTAssertEqual(Array(b[(p + 16)..<(p + 21)]), [8, 2, 0, 0, 0])
            }
            if type == "IDAT" { r.idat += b[(p + 8)..<(p + 8 + len)] }
            r.types.append(type)
            p += 12 + len
        }
        XCTAssertEqual(p, b.count)
        return r
    }

    /// Undoes the five PNG filters (the test's own version).
    func unfilter(_ raw: [UInt8], w: Int, h: Int) throws -> [UInt8] {
        let s = w * 3
        XCTAssertEqual(raw.count, (s + 1) * h)
        var px = [UInt8](repeating: 0, count: s * h)
        for y in 0..<h {
            let f = raw[y * (s + 1)]
            for x in 0..<s {
                let a = x >= 3 ? Int(px[y * s + x - 3]) : 0
                let b = y > 0 ? Int(px[(y - 1) * s + x]) : 0
                let c = x >= 3 && y > 0 ? Int(px[(y - 1) * s + x - 3]) : 0
                var pred = 0
                switch f {
                case 0: pred = 0
                case 1: pred = a
                case 2: pred = b
                case 3: pred = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw PuffInflater.Failure(message: "filter \(f)")
                }
                px[y * s + x] = UInt8((Int(raw[y * (s + 1) + 1 + x]) + pred) & 0xFF)
            }
        }
        return px
    }

    /// Encodes, then checks both the library's decoder and the test's own chunk parser, inflater and unfilter.
    @discardableResult
    func checkPNG(_ img: RGBImage, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> (bytes: Int, filters: Set<UInt8>) {
        let bytes = PNG.encode(img)
        let back = try PNG.decode(bytes)
        XCTAssertEqual(back.width, img.width, file: file, line: line)
        XCTAssertEqual(back.height, img.height, file: file, line: line)
        assertSame(back.pixels, img.pixels, name + " (PNG.decode)", file: file, line: line)
        XCTAssertTrue(try PNG.decodeStored(bytes) == img, name, file: file, line: line)
        let parsed = parsePNG(bytes)
        XCTAssertEqual(parsed.types, ["IHDR", "IDAT", "IEND"], file: file, line: line)
        XCTAssertEqual(parsed.width, img.width, file: file, line: line)
        XCTAssertEqual(parsed.height, img.height, file: file, line: line)
        let raw = try puffZlib(parsed.idat, file: file, line: line).out
        assertSame(raw, PNG.filteredScanlines(img), name + " (scanlines)", file: file, line: line)
        assertSame(try unfilter(raw, w: img.width, h: img.height), img.pixels, name + " (test unfilter)", file: file, line: line)
        let s = img.width * 3 + 1
        return (bytes.count, Set((0..<img.height).map { raw[$0 * s] }))
    }

    func noiseImage(_ w: Int, _ h: Int, seed: UInt64) -> RGBImage {
        RGBImage(width: w, height: h, pixels: randomBytes(w * h * 3, seed: seed))
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

    func testPNGRoundTrips() throws {
        try checkPNG(RGBImage(width: 1, height: 1, fill: RGB(1, 2, 3)), "1x1")
        try checkPNG(noiseImage(1, 1, seed: 1), "1x1 noise")
        try checkPNG(noiseImage(2, 1, seed: 2), "2x1")
        try checkPNG(noiseImage(1, 2, seed: 3), "1x2")
        try checkPNG(noiseImage(7, 5, seed: 4), "7x5")
        try checkPNG(noiseImage(641, 3, seed: 5), "641x3")
        try checkPNG(noiseImage(100, 80, seed: 6), "100x80 noise")
        var grad = RGBImage(width: 33, height: 17)
        for y in 0..<17 { for x in 0..<33 { grad.setPixel(x: x, y: y, RGB(UInt8(x * 7), UInt8(y * 13), UInt8((x * y) & 0xFF))) } }
        let (_, gf) = try checkPNG(grad, "gradient")
        XCTAssertTrue(gf.contains { $0 != 0 }, "a gradient is filtered")
        // the old output format (stored blocks, filter 0) still reads back
        let img = noiseImage(30, 20, seed: 8)
        var raw: [UInt8] = []
        for y in 0..<20 { raw.append(0); raw += img.pixels[(y * 90)..<((y + 1) * 90)] }
        var ihdr = PNG.be32(30) + PNG.be32(20)
        ihdr += [8, 2, 0, 0, 0]
        let old = PNG.signature + PNG.chunk("IHDR", ihdr) + PNG.chunk("IDAT", PNG.zlibStored(raw)) + PNG.chunk("IEND", [])
        XCTAssertEqual(try PNG.decodeStored(old), img)
        // a bad filter type is rejected
        raw[91] = 5
        let badFilter = PNG.signature + PNG.chunk("IHDR", ihdr) + PNG.chunk("IDAT", PNG.zlibCompress(raw)) + PNG.chunk("IEND", [])
        XCTAssertThrowsError(try PNG.decode(badFilter))
    }

    func testFilterChoice() throws {
        // every row the same: row 0 None or Sub, the rest Up (all zeros)
        var rows = RGBImage(width: 50, height: 10)
        for x in 0..<50 { for y in 0..<10 { rows.setPixel(x: x, y: y, RGB(UInt8(x * 5), 200, UInt8(255 - x))) } }
        let f = PNG.filteredScanlines(rows)
        for y in 1..<10 {
            XCTAssertEqual(f[y * 151], 2)
            XCTAssertTrue(f[(y * 151 + 1)..<((y + 1) * 151)].allSatisfy { $0 == 0 })
        }
        // one row of a ramp: Sub makes it constant (Paeth ties with it there, and the lower type wins)
        var ramp = RGBImage(width: 64, height: 1)
        for x in 0..<64 { let v = UInt8(3 * x); ramp.setPixel(x: x, y: 0, RGB(v, v, v)) }
        XCTAssertEqual(PNG.filteredScanlines(ramp)[0], 1)
        try checkPNG(rows, "rows")
        try checkPNG(ramp, "ramp")
        // in general: each row's filter has the smallest sum of |signed residual| of the five
        var mixed = noiseImage(40, 30, seed: 10)
        for y in 0..<30 { for x in 0..<40 where (x / 8 + y / 5) % 2 == 0 {
            mixed.setPixel(x: x, y: y, RGB(UInt8(x * 6), UInt8(y * 8), UInt8((x + y) * 3))) } }
        let fm = PNG.filteredScanlines(mixed)
        let s = 40 * 3
        var used = Set<UInt8>()
        for y in 0..<30 {
            let row = Array(mixed.pixels[(y * s)..<((y + 1) * s)])
            let up = y > 0 ? Array(mixed.pixels[((y - 1) * s)..<(y * s)]) : [UInt8](repeating: 0, count: s)
            let sums = (0..<5).map { f in residuals(f, row, up).reduce(0) { $0 + min(Int($1), 256 - Int($1)) } }
            let chosen = Int(fm[y * (s + 1)])
            used.insert(UInt8(chosen))
            XCTAssertEqual(sums[chosen], sums.min()!, "row \(y): \(sums)")
            XCTAssertEqual(Array(fm[(y * (s + 1) + 1)..<((y + 1) * (s + 1))]), residuals(chosen, row, up))
        }
        XCTAssertGreaterThan(used.count, 1)
    }

    /// A row filtered with PNG filter `f` (3 bytes per pixel).
    func residuals(_ f: Int, _ row: [UInt8], _ up: [UInt8]) -> [UInt8] {
        (0..<row.count).map { x in
            let a = x >= 3 ? Int(row[x - 3]) : 0, b = Int(up[x]), c = x >= 3 ? Int(up[x - 3]) : 0
            let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
            let pred = [0, a, b, (a + b) / 2, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f]
            return UInt8((Int(row[x]) - pred) & 0xFF)
        }
    }

    func testCompressedSizes() throws {
        let white = RGBImage(width: 640, height: 400, fill: .white)
        let (wsize, _) = try checkPNG(white, "white 640x400")
        XCTAssertLessThan(wsize, 3000)  // was 768,523 with stored blocks
        let (psize, _) = try checkPNG(Self.plotLikeImage(), "plot")
        XCTAssertLessThan(psize, 30_000)  // about 10 KB
        let noise = noiseImage(200, 100, seed: 9)
        let (nsize, _) = try checkPNG(noise, "noise")
        XCTAssertLessThan(nsize, 200 * 100 * 3 + 100 + 100)  // stored fallback: never much above the raw size
    }

    /// A corrupted IDAT whose chunk CRC was fixed up still fails (inflate error or Adler-32 mismatch).
    func testCorruptedIDATIsRejected() throws {
        let bytes = PNG.encode(Self.plotLikeImage())
        let parsed = parsePNG(bytes)
        for k in [10, parsed.idat.count / 3, parsed.idat.count / 2, parsed.idat.count - 6] {
            var idat = parsed.idat
            idat[k] ^= 0x24
            var ihdr = PNG.be32(640) + PNG.be32(400)
            ihdr += [8, 2, 0, 0, 0]
            let png = PNG.signature + PNG.chunk("IHDR", ihdr) + PNG.chunk("IDAT", idat) + PNG.chunk("IEND", [])
            XCTAssertThrowsError(try PNG.decode(png), "byte \(k)")
        }
        var truncated = bytes
        truncated.removeLast(20)
        XCTAssertThrowsError(try PNG.decode(truncated))
    }
}

/// A collection without contiguous storage, to exercise the generic checksum paths.
struct AnySequenceWrapper: Collection {
    let base: [UInt8]
    init(_ b: [UInt8]) { base = b }
    var startIndex: Int { base.startIndex }
    var endIndex: Int { base.endIndex }
    func index(after i: Int) -> Int { i + 1 }
    subscript(i: Int) -> UInt8 { base[i] }
}
