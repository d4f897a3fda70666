import CPNG
import Foundation
import MoonTensor

/// Why an image could not be encoded, decoded or written.
public enum ImageError: Error, CustomStringConvertible, Equatable {
    case png(String)

    public var description: String {
        switch self {
        case .png(let m): return m
        }
    }
}

/// PNG files through the system's libpng (its simplified `png_image` API, which catches libpng's errors inside libpng,
/// so nothing longjmps through Swift). Writes 8-bit RGB with libpng's default filters and zlib compression; reads any
/// PNG libpng reads (grey, palette, alpha, 16-bit are converted to 8-bit RGB).
public enum PNG {
    /// The most pixels `decode` accepts (a 16384 × 16384 image), so a forged header cannot ask for gigabytes.
    public static let maxPixels = 1 << 28

    /// The message libpng left in `image` after a failure.
    static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// A `png_image` describing `image` for the write calls.
    static func header(_ image: RGBImage) -> png_image {
        var p = png_image()
        p.version = png_uint_32(PNG_IMAGE_VERSION)
        p.width = png_uint_32(image.width)
        p.height = png_uint_32(image.height)
        p.format = png_uint_32(PNG_FORMAT_FLAG_COLOR)  // PNG_FORMAT_RGB: 8-bit R, G, B
        return p
    }

    /// The PNG bytes of an image. Throws for an empty image (PNG has no 0-pixel images) or one libpng refuses.
    public static func encode(_ image: RGBImage) throws -> [UInt8] {
        guard image.width > 0, image.height > 0 else {
            throw ImageError.png("PNG.encode: a PNG needs at least one pixel (got \(image.width)x\(image.height))")
        }
        guard image.width <= Int(Int32.max) / 3, image.height <= Int(Int32.max) else {
            throw ImageError.png("PNG.encode: image too large (\(image.width)x\(image.height))")
        }
        var size = 0
        var p = header(image)
        // the first call measures, the second writes
        let measured = image.pixels.withUnsafeBytes { px in
            png_image_write_to_memory(&p, nil, &size, 0, px.baseAddress, 0, nil)
        }
        guard measured != 0, size > 0 else { throw ImageError.png("PNG.encode: " + message(&p)) }
        var out = [UInt8](repeating: 0, count: size)
        var q = header(image)
        let written = out.withUnsafeMutableBytes { o in
            image.pixels.withUnsafeBytes { px in
                png_image_write_to_memory(&q, o.baseAddress, &size, 0, px.baseAddress, 0, nil)
            }
        }
        guard written != 0 else { throw ImageError.png("PNG.encode: " + message(&q)) }
        return Array(out.prefix(size))
    }

    /// Writes an image to a PNG file (atomically: a reader sees the old file or the whole new one).
    public static func write(_ image: RGBImage, to path: String) throws {
        let bytes = try encode(image)
        do { try AtomicFile.write(to: path, bytes: bytes) } catch {
            throw ImageError.png("PNG.write: cannot write \(path): \(error)")
        }
    }

    /// Decodes PNG bytes to 8-bit RGB. Throws on anything libpng rejects (bad signature, chunk CRC, zlib stream,
    /// truncation) and on images over `maxPixels`.
    public static func decode(_ bytes: [UInt8]) throws -> RGBImage {
        var p = png_image()
        p.version = png_uint_32(PNG_IMAGE_VERSION)
        let begun = bytes.withUnsafeBytes { b in png_image_begin_read_from_memory(&p, b.baseAddress, b.count) }
        guard begun != 0 else { throw ImageError.png("PNG.decode: " + message(&p)) }
        let w = Int(p.width), h = Int(p.height)
        guard w > 0, h > 0, w <= maxPixels / h else {
            png_image_free(&p)
            throw ImageError.png("PNG.decode: image too large (\(w)x\(h))")
        }
        p.format = png_uint_32(PNG_FORMAT_FLAG_COLOR)
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        let done = pixels.withUnsafeMutableBytes { px in png_image_finish_read(&p, nil, px.baseAddress, 0, nil) }
        guard done != 0 else {
            png_image_free(&p)
            throw ImageError.png("PNG.decode: " + message(&p))
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    /// The same as `decode` (the name predates compressed output).
    @available(*, deprecated, renamed: "decode")
    public static func decodeStored(_ bytes: [UInt8]) throws -> RGBImage { try decode(bytes) }
}
