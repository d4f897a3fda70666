/// RGB images and a small raster canvas drawing straight into the byte buffer.

public struct RGB: Equatable, Hashable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    /// From 0xRRGGBB.
    public init(hex: UInt32) { self.init(UInt8((hex >> 16) & 0xFF), UInt8((hex >> 8) & 0xFF), UInt8(hex & 0xFF)) }
    public static let white = RGB(255, 255, 255)
    public static let black = RGB(0, 0, 0)
    /// The GymCards table green #35654d.
    public static let table = RGB(hex: 0x35654D)
    public static let red = RGB(200, 16, 32)
    public static let cardBorder = RGB(40, 40, 40)
    public static let cardBack = RGB(30, 60, 150)
    public static let cardBackPattern = RGB(200, 210, 240)
}

/// An RGB image, 8 bits per channel, interleaved, row-major (y then x).
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, fill: RGB = .white) {
        precondition(width >= 0 && height >= 0)
        self.width = width; self.height = height
        let n = width * height * 3
        if fill.r == fill.g && fill.g == fill.b {
            pixels = [UInt8](repeating: fill.r, count: n)
        } else {
            pixels = [UInt8](unsafeUninitializedCapacity: n) { p, count in
                guard let base = p.baseAddress, n > 0 else { count = 0; return }
                base[0] = fill.r; base[1] = fill.g; base[2] = fill.b
                var done = 3
                while done < n {  // doubling copies
                    let k = min(done, n - done)
                    (base + done).initialize(from: base, count: k)
                    done += k
                }
                count = n
            }
        }
    }

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: pixel count mismatch")
        self.width = width; self.height = height; self.pixels = pixels
    }

    @inline(__always) public func pixel(_ x: Int, _ y: Int) -> RGB {
        let i = (y * width + x) * 3
        return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
    }
    public func pixel(x: Int, y: Int) -> RGB { pixel(x, y) }

    public mutating func setPixel(x: Int, y: Int, _ c: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.r; pixels[i + 1] = c.g; pixels[i + 2] = c.b
    }

    /// [3, H, W] channel-major floats in 0...1 (for the vision encoder).
    public func chwFloats() -> [Float] {
        let plane = width * height
        var out = [Float](repeating: 0, count: plane * 3)
        let scale: Float = 1.0 / 255.0
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<plane {
                    dst[i] = Float(src[3 * i]) * scale
                    dst[plane + i] = Float(src[3 * i + 1]) * scale
                    dst[2 * plane + i] = Float(src[3 * i + 2]) * scale
                }
            }
        }
        return out
    }

    /// FNV-1a 64-bit hash of the size and pixels (for determinism checks).
    public var contentHash: UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ b: UInt8) { h ^= UInt64(b); h = h &* 0x100_0000_01B3 }
        for v in [width, height] { for k in 0..<4 { mix(UInt8((v >> (8 * k)) & 0xFF)) } }
        pixels.withUnsafeBufferPointer { p in for b in p { h ^= UInt64(b); h = h &* 0x100_0000_01B3 } }
        return h
    }

    /// Number of pixels with exactly colour c inside the rectangle (clipped).
    public func count(_ c: RGB, x: Int = 0, y: Int = 0, w: Int? = nil, h: Int? = nil) -> Int {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(width, x + (w ?? width)), y1 = min(height, y + (h ?? height))
        var n = 0
        if x1 <= x0 || y1 <= y0 { return 0 }
        for yy in y0..<y1 { for xx in x0..<x1 where pixel(xx, yy) == c { n += 1 } }
        return n
    }
}

/// A canvas drawing into an RGBImage. All primitives clip to the image.
public struct Canvas {
    public var image: RGBImage
    public var width: Int { image.width }
    public var height: Int { image.height }

    public init(width: Int, height: Int, background: RGB = .white) {
        image = RGBImage(width: width, height: height, fill: background)
    }

    public mutating func clear(_ c: RGB) { fillRect(x: 0, y: 0, w: width, h: height, c) }

    /// Fill the horizontal span [x0, x1) of row y.
    @inline(__always)
    mutating func span(_ y: Int, _ x0: Int, _ x1: Int, _ c: RGB) {
        guard y >= 0, y < height else { return }
        let a = max(0, x0), b = min(width, x1)
        guard a < b else { return }
        let w = width
        image.pixels.withUnsafeMutableBufferPointer { p in
            var i = (y * w + a) * 3
            let end = (y * w + b) * 3
            while i < end { p[i] = c.r; p[i + 1] = c.g; p[i + 2] = c.b; i += 3 }
        }
    }

    public mutating func fillRect(x: Int, y: Int, w: Int, h: Int, _ c: RGB) {
        let x0 = max(0, x), x1 = min(width, x + w), y0 = max(0, y), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        let W = width
        image.pixels.withUnsafeMutableBufferPointer { p in
            // first row, then copy it
            let rowStart = (y0 * W + x0) * 3
            var i = rowStart
            let rowEnd = (y0 * W + x1) * 3
            while i < rowEnd { p[i] = c.r; p[i + 1] = c.g; p[i + 2] = c.b; i += 3 }
            let n = rowEnd - rowStart
            guard let base = p.baseAddress else { return }
            var yy = y0 + 1
            while yy < y1 {
                (base + (yy * W + x0) * 3).update(from: base + rowStart, count: n)
                yy += 1
            }
        }
    }

    /// Outline of a rectangle, `t` pixels thick, inside the given bounds.
    public mutating func strokeRect(x: Int, y: Int, w: Int, h: Int, thickness t: Int = 1, _ c: RGB) {
        fillRect(x: x, y: y, w: w, h: t, c)
        fillRect(x: x, y: y + h - t, w: w, h: t, c)
        fillRect(x: x, y: y, w: t, h: h, c)
        fillRect(x: x + w - t, y: y, w: t, h: h, c)
    }

    /// Horizontal inset of row `dy` (0 = top row) of a rounded corner of radius r.
    @inline(__always) static func cornerInset(_ dy: Int, _ r: Int) -> Int {
        // distance from the corner circle centre (at r - 0.5) to the row centre
        let fy = Double(r) - Double(dy) - 0.5
        let inside = Double(r * r) - fy * fy
        let dx = inside > 0 ? inside.squareRoot() : 0
        return max(0, Int((Double(r) - dx).rounded()))
    }

    public mutating func fillRoundedRect(x: Int, y: Int, w: Int, h: Int, radius: Int, _ c: RGB) {
        let r = max(0, min(radius, min(w, h) / 2))
        if r == 0 { fillRect(x: x, y: y, w: w, h: h, c); return }
        for dy in 0..<h {
            var inset = 0
            if dy < r { inset = Canvas.cornerInset(dy, r) } else if dy >= h - r { inset = Canvas.cornerInset(h - 1 - dy, r) }
            span(y + dy, x + inset, x + w - inset, c)
        }
    }

    /// Rounded rectangle with a border of thickness t.
    public mutating func roundedBox(x: Int, y: Int, w: Int, h: Int, radius: Int, fill: RGB, border: RGB, thickness t: Int = 1) {
        fillRoundedRect(x: x, y: y, w: w, h: h, radius: radius, border)
        fillRoundedRect(x: x + t, y: y + t, w: w - 2 * t, h: h - 2 * t, radius: max(0, radius - t), fill)
    }

    /// A straight line of the given thickness (Bresenham, square pen).
    public mutating func line(x0: Int, y0: Int, x1: Int, y1: Int, thickness t: Int = 1, _ c: RGB) {
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        let off = (t - 1) / 2
        while true {
            fillRect(x: x - off, y: y - off, w: t, h: t, c)
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    /// Draw a 1-bit bitmap (rows of bits, MSB = leftmost of `bitWidth`) scaled by an integer factor.
    public mutating func blit(rows: [UInt8], bitWidth: Int, x: Int, y: Int, scale s: Int, _ c: RGB) {
        for (ry, bits) in rows.enumerated() where bits != 0 {
            var bx = 0
            while bx < bitWidth {
                if bits & (1 << UInt8(bitWidth - 1 - bx)) != 0 {
                    // merge runs of set bits into one span
                    var run = 1
                    while bx + run < bitWidth && bits & (1 << UInt8(bitWidth - 1 - bx - run)) != 0 { run += 1 }
                    fillRect(x: x + bx * s, y: y + ry * s, w: run * s, h: s, c)
                    bx += run
                } else { bx += 1 }
            }
        }
    }

    /// Draw text with the built-in 5×7 font; returns the advance width in pixels.
    @discardableResult
    public mutating func text(_ s: String, x: Int, y: Int, scale: Int = 1, bold: Bool = false, _ c: RGB) -> Int {
        var cx = x
        let adv = BitmapFont.advance(scale: scale, bold: bold)
        let boldOff = BitmapFont.boldOffset(scale: scale)
        for ch in s.unicodeScalars {
            let g = BitmapFont.glyph(ch)
            blit(rows: g, bitWidth: BitmapFont.glyphWidth, x: cx, y: y, scale: scale, c)
            if bold { blit(rows: g, bitWidth: BitmapFont.glyphWidth, x: cx + boldOff, y: y, scale: scale, c) }
            cx += adv
        }
        return cx - x
    }
}
