/// GPT-2's byte-level alphabet: each of the 256 bytes is spelled as one printable Unicode scalar
/// (`bytes_to_unicode` in GPT-2 and Hugging Face `tokenizers`): the printable Latin-1 bytes are themselves,
/// the others are U+0100 onwards in byte order. A byte-level BPE vocabulary is written in this alphabet.
public enum ByteLevel {
    /// `scalar[b]` spells byte `b`.
    public static let scalar: [Unicode.Scalar] = {
        var printable = [Bool](repeating: false, count: 256)
        for b in 0x21...0x7E { printable[b] = true }
        for b in 0xA1...0xAC { printable[b] = true }
        for b in 0xAE...0xFF { printable[b] = true }
        var out = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if printable[b] { out[b] = Unicode.Scalar(UInt8(b)) } else { out[b] = Unicode.Scalar(next)!; next += 1 }
        }
        return out
    }()

    /// The byte a scalar of the alphabet spells, or nil for scalars outside it (U+0000...U+0143 are all in use).
    public static func byte(_ s: Unicode.Scalar) -> UInt8? {
        let v = s.value
        if v < 256 { return printableByte[Int(v)] ? UInt8(v) : nil }
        if v < 256 + 68 { return nonPrintable[Int(v - 256)] }
        return nil
    }

    private static let printableByte: [Bool] = (0..<256).map { scalar[$0].value == UInt32($0) }
    private static let nonPrintable: [UInt8] = (0..<256).filter { scalar[$0].value >= 256 }.map(UInt8.init)

    /// The text spelling `bytes` in the alphabet (`"Ġthe"` for `" the"`).
    public static func spell<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalar[Int(b)]) }
        return String(s)
    }

    /// The bytes `token` spells when every scalar is in the alphabet, else nil.
    public static func bytes(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars { guard let b = byte(s) else { return nil }; out.append(b) }
        return out
    }
}
