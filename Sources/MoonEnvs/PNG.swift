import MoonTensor
import Foundation

/// A PNG writer (8-bit RGB, per-row adaptive filters, zlib stream of deflate-compressed data — see Deflate.swift —,
/// CRC-32 and Adler-32) and a reader for 8-bit RGB PNGs (any deflate blocks and filters), used to verify round trips.
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func crc32<C: Collection>(_ bytes: C, initial: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        if let r = bytes.withContiguousStorageIfAvailable({ buf in
            crcTable.withUnsafeBufferPointer { t -> UInt32 in
                var c = ~initial
                for b in buf { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
                return ~c
            }
        }) { return r }
        var c = ~initial
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    public static func adler32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        if let r = bytes.withContiguousStorageIfAvailable({ buf -> UInt32 in
            var a: UInt32 = 1, b: UInt32 = 0
            var i = 0
            while i < buf.count {
                let end = min(buf.count, i + 5552)  // the most bytes before b can overflow 32 bits
                while i < end { a &+= UInt32(buf[i]); b &+= a; i += 1 }
                a %= 65521; b %= 65521
            }
            return (b << 16) | a
        }) { return r }
        var a: UInt32 = 1, b: UInt32 = 0
        var n = 0
        for x in bytes {
            a += UInt32(x); b += a
            n += 1
            if n == 5552 { a %= 65521; b %= 65521; n = 0 }
        }
        return ((b % 65521) << 16) | (a % 65521)
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let t = Array(type.utf8)
        var out = be32(UInt32(data.count))
        out += t
        out += data
        out += be32(crc32(t + data))
        return out
    }

    /// zlib stream (no compression: stored deflate blocks).
    public static func zlibStored(_ raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        out.reserveCapacity(raw.count + raw.count / 65535 * 5 + 16)
        var i = 0
        repeat {
            let n = min(65535, raw.count - i)
            let final: UInt8 = (i + n == raw.count) ? 1 : 0
            out.append(final)
            out.append(UInt8(n & 0xFF)); out.append(UInt8(n >> 8))
            out.append(UInt8(~n & 0xFF)); out.append(UInt8((~n >> 8) & 0xFF))
            out.append(contentsOf: raw[i..<(i + n)])
            i += n
        } while i < raw.count
        out += be32(adler32(raw))
        return out
    }

    /// zlib stream of real deflate (LZ77 + fixed Huffman codes, stored blocks where those are smaller).
    public static func zlibCompress(_ raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x9C]
        out += Deflate.compress(raw)
        out += be32(adler32(raw))
        return out
    }

    /// Decompresses a zlib stream (any deflate block types), checking the header and the Adler-32.
    /// Throws when it is malformed or would decompress to more than `maxOutput` bytes.
    public static func zlibDecompress(_ z: [UInt8], maxOutput: Int = Int.max) throws -> [UInt8] {
        try zlibDecompress(z, maxOutput: maxOutput, sizeHint: 0)
    }

    static func zlibDecompress(_ z: [UInt8], maxOutput: Int, sizeHint: Int) throws -> [UInt8] {
        func fail(_ m: String) -> EnvError { .badData("zlib: " + m) }
        guard z.count >= 6, (UInt16(z[0]) << 8 | UInt16(z[1])) % 31 == 0, z[0] & 0x0F == 8, z[0] >> 4 <= 7,
              z[1] & 0x20 == 0 else { throw fail("bad zlib header") }
        let (raw, end) = try Deflate.inflate(z, from: 2, maxOutput: maxOutput, sizeHint: sizeHint)
        guard end + 4 <= z.count else { throw fail("missing adler32") }
        let ad = (UInt32(z[end]) << 24) | (UInt32(z[end + 1]) << 16) | (UInt32(z[end + 2]) << 8) | UInt32(z[end + 3])
        guard ad == adler32(raw) else { throw fail("adler32 mismatch") }
        return raw
    }

    /// The PNG scanlines of an 8-bit RGB image, each prefixed by its filter type (0 None, 1 Sub, 2 Up, 3 Average,
    /// 4 Paeth), the filter chosen per row by the usual minimum sum of absolute (signed) differences.
    public static func filteredScanlines(_ image: RGBImage) -> [UInt8] {
        let w = image.width, h = image.height, stride = w * 3
        var raw = [UInt8](repeating: 0, count: (stride + 1) * h)
        guard stride > 0, h > 0 else { return raw }
        let zeros = [UInt8](repeating: 0, count: stride)
        // the row filtered all five ways; the one with the smallest sum of |signed byte| is kept
        let cand = UnsafeMutablePointer<UInt8>.allocate(capacity: 5 * stride)
        defer { cand.deallocate() }
        image.pixels.withUnsafeBufferPointer { pbuf in
        zeros.withUnsafeBufferPointer { zbuf in
        raw.withUnsafeMutableBufferPointer { obuf in
            let px = pbuf.baseAddress!, out = obuf.baseAddress!
            let c0 = cand, c1 = cand + stride, c2 = cand + 2 * stride, c3 = cand + 3 * stride, c4 = cand + 4 * stride
            @inline(__always) func mag(_ v: UInt8) -> Int { Int(v < 128 ? v : 0 &- v) }
            @inline(__always) func paeth(_ a: Int, _ b: Int, _ c: Int) -> Int {
                let pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c)
                return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
            }
            let lead = min(3, stride)
            for y in 0..<h {
                let row = px + y * stride
                let up = y > 0 ? row - stride : zbuf.baseAddress!
                let o = out + y * (stride + 1)
                if y > 0 && memcmp(row, up, stride) == 0 {
                    // a repeat of the row above: Up gives all zeros, the minimum possible sum
                    o[0] = 2
                    (o + 1).update(repeating: 0, count: stride)
                    continue
                }
                var s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0
                for x in 0..<stride {
                    let r = Int(row[x]), b = Int(up[x])
                    let a = x >= lead ? Int(row[x - 3]) : 0, c = x >= lead ? Int(up[x - 3]) : 0
                    let f0 = UInt8(truncatingIfNeeded: r), f1 = UInt8(truncatingIfNeeded: r - a)
                    let f2 = UInt8(truncatingIfNeeded: r - b), f3 = UInt8(truncatingIfNeeded: r - (a + b) >> 1)
                    let f4 = UInt8(truncatingIfNeeded: r - paeth(a, b, c))
                    c0[x] = f0; c1[x] = f1; c2[x] = f2; c3[x] = f3; c4[x] = f4
                    s0 &+= mag(f0); s1 &+= mag(f1); s2 &+= mag(f2); s3 &+= mag(f3); s4 &+= mag(f4)
                }
                var f = 0, best = s0
                if s1 < best { f = 1; best = s1 }
                if s2 < best { f = 2; best = s2 }
                if s3 < best { f = 3; best = s3 }
                if s4 < best { f = 4; best = s4 }
                o[0] = UInt8(f)
                (o + 1).update(from: cand + f * stride, count: stride)
            }
        }}}
        return raw
    }

    /// Undoes the PNG filters of `raw` (rows of 1 + width * 3 bytes), giving the RGB pixels.
    static func unfilter(_ raw: [UInt8], width w: Int, height h: Int) throws -> [UInt8] {
        let stride = w * 3
        var px = [UInt8](repeating: 0, count: stride * h)
        for y in 0..<h {
            let o = y * (stride + 1), row = y * stride
            let f = raw[o]
            guard f <= 4 else { throw EnvError.badData("PNG.decode: bad filter type \(f) in row \(y)") }
            for x in 0..<stride {
                let a = x >= 3 ? Int(px[row + x - 3]) : 0
                let b = y > 0 ? Int(px[row - stride + x]) : 0
                let c = (x >= 3 && y > 0) ? Int(px[row - stride + x - 3]) : 0
                let p: Int
                switch f {
                case 0: p = 0
                case 1: p = a
                case 2: p = b
                case 3: p = (a + b) >> 1
                default:
                    let pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c)
                    p = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
                }
                px[row + x] = UInt8(truncatingIfNeeded: Int(raw[o + 1 + x]) + p)
            }
        }
        return px
    }

    /// Encode an image as PNG bytes (filtered scanlines, deflate-compressed).
    public static func encode(_ image: RGBImage) -> [UInt8] {
        let w = image.width, h = image.height
        var ihdr = be32(UInt32(w)) + be32(UInt32(h))
        ihdr += [8, 2, 0, 0, 0]  // 8-bit, truecolour, deflate, filter method 0, no interlace
        return signature + chunk("IHDR", ihdr) + chunk("IDAT", zlibCompress(filteredScanlines(image))) + chunk("IEND", [])
    }

    /// Write an image to a PNG file.
    public static func write(_ image: RGBImage, to path: String) throws {
        do { try AtomicFile.write(to: path, bytes: encode(image)) } catch {
            throw EnvError.badData("PNG.write: cannot write \(path): \(error)")
        }
    }

    /// Decode an 8-bit RGB non-interlaced PNG (any deflate blocks, any of the five filters), checking the signature,
    /// every chunk CRC, the zlib header and the Adler-32.
    public static func decode(_ bytes: [UInt8]) throws -> RGBImage {
        func fail(_ m: String) -> EnvError { .badData("PNG.decode: " + m) }
        func rd32(_ i: Int) -> UInt32 {
            (UInt32(bytes[i]) << 24) | (UInt32(bytes[i + 1]) << 16) | (UInt32(bytes[i + 2]) << 8) | UInt32(bytes[i + 3])
        }
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { throw fail("bad signature") }
        var p = 8
        var w = 0, h = 0
        var idat: [UInt8] = []
        var sawEnd = false
        while p + 12 <= bytes.count {
            let len = Int(rd32(p))
            guard p + 12 + len <= bytes.count else { throw fail("truncated chunk") }
            let type = String(decoding: bytes[(p + 4)..<(p + 8)], as: UTF8.self)
            let body = Array(bytes[(p + 8)..<(p + 8 + len)])
            let crc = rd32(p + 8 + len)
            guard crc == crc32(bytes[(p + 4)..<(p + 8 + len)]) else { throw fail("CRC mismatch in \(type)") }
            switch type {
            case "IHDR":
                guard len == 13 else { throw fail("bad IHDR") }
                w = Int(rd32(p + 8)); h = Int(rd32(p + 12))
                guard body[8] == 8, body[9] == 2, body[12] == 0 else { throw fail("only 8-bit RGB non-interlaced supported") }
            case "IDAT": idat += body
            case "IEND": sawEnd = true
            default: break
            }
            p += 12 + len
            if sawEnd { break }
        }
        guard sawEnd, w > 0, h > 0 else { throw fail("missing IHDR/IEND") }
        guard w <= 1 << 24, h <= 1 << 24, (w * 3 + 1).multipliedReportingOverflow(by: h).overflow == false else {
            throw fail("image too large")
        }
        let size = (w * 3 + 1) * h
        let raw: [UInt8]
        do { raw = try zlibDecompress(idat, maxOutput: size, sizeHint: size) } catch { throw fail("\(error)") }
        guard raw.count == size else { throw fail("bad image data size") }
        return RGBImage(width: w, height: h, pixels: try unfilter(raw, width: w, height: h))
    }

    /// The same as `decode` (the name predates compressed output; kept for existing callers).
    public static func decodeStored(_ bytes: [UInt8]) throws -> RGBImage { try decode(bytes) }
}
