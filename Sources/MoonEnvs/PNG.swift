import Foundation

/// A PNG writer (8-bit RGB, filter 0, zlib stream of stored deflate blocks, CRC-32 and Adler-32)
/// and a reader for the files it writes (stored blocks only), used to verify round trips.
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func crc32<C: Collection>(_ bytes: C, initial: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        var c = ~initial
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    public static func adler32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
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

    /// Encode an image as PNG bytes.
    public static func encode(_ image: RGBImage) -> [UInt8] {
        let w = image.width, h = image.height
        var raw = [UInt8](); raw.reserveCapacity((w * 3 + 1) * h)
        for y in 0..<h {
            raw.append(0)
            raw.append(contentsOf: image.pixels[(y * w * 3)..<((y + 1) * w * 3)])
        }
        var ihdr = be32(UInt32(w)) + be32(UInt32(h))
        ihdr += [8, 2, 0, 0, 0]  // 8-bit, truecolour, deflate, filter method 0, no interlace
        return signature + chunk("IHDR", ihdr) + chunk("IDAT", zlibStored(raw)) + chunk("IEND", [])
    }

    /// Write an image to a PNG file.
    public static func write(_ image: RGBImage, to path: String) throws {
        let data = Data(encode(image))
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw EnvError.badData("PNG.write: cannot write \(path): \(error)")
        }
    }

    /// Decode a PNG written by `encode` (8-bit RGB, stored deflate blocks, filter 0, no interlace),
    /// checking the signature, every chunk CRC, the zlib header, block lengths and the Adler-32.
    public static func decodeStored(_ bytes: [UInt8]) throws -> RGBImage {
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
            guard crc == crc32(Array(bytes[(p + 4)..<(p + 8 + len)])) else { throw fail("CRC mismatch in \(type)") }
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
        guard idat.count >= 6, (UInt16(idat[0]) << 8 | UInt16(idat[1])) % 31 == 0, idat[0] & 0x0F == 8 else {
            throw fail("bad zlib header")
        }
        var q = 2
        var raw: [UInt8] = []
        while true {
            guard q + 5 <= idat.count else { throw fail("truncated deflate stream") }
            let hdr = idat[q]
            guard (hdr >> 1) & 3 == 0 else { throw fail("only stored deflate blocks supported") }
            let n = Int(idat[q + 1]) | Int(idat[q + 2]) << 8
            let nn = Int(idat[q + 3]) | Int(idat[q + 4]) << 8
            guard n == (~nn & 0xFFFF) else { throw fail("stored block LEN/NLEN mismatch") }
            q += 5
            guard q + n <= idat.count else { throw fail("truncated stored block") }
            raw += idat[q..<(q + n)]
            q += n
            if hdr & 1 == 1 { break }
        }
        guard q + 4 <= idat.count else { throw fail("missing adler32") }
        let ad = (UInt32(idat[q]) << 24) | (UInt32(idat[q + 1]) << 16) | (UInt32(idat[q + 2]) << 8) | UInt32(idat[q + 3])
        guard ad == adler32(raw) else { throw fail("adler32 mismatch") }
        guard raw.count == (w * 3 + 1) * h else { throw fail("bad image data size") }
        var px = [UInt8](); px.reserveCapacity(w * h * 3)
        for y in 0..<h {
            let o = y * (w * 3 + 1)
            guard raw[o] == 0 else { throw fail("only filter type 0 supported") }
            px += raw[(o + 1)..<(o + 1 + w * 3)]
        }
        return RGBImage(width: w, height: h, pixels: px)
    }
}
