/// The character classes the BPE pre-tokenizer patterns are written in: `\p{L}`, `\p{N}`, `\s` (Unicode
/// White_Space, as Oniguruma and Rust define `\s`), with the space and CR/LF told apart, and everything else.
enum UnicodeClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let other: UInt8 = 3
    static let space: UInt8 = 4      // U+0020
    static let newline: UInt8 = 5    // \r or \n
    static let whitespace: UInt8 = 6 // any other White_Space scalar

    @inline(__always) static func isWhitespace(_ c: UInt8) -> Bool { c >= space }

    /// The class of every BMP scalar, computed once.
    static let bmp: [UInt8] = (0..<0x10000).map { v -> UInt8 in
        guard let s = Unicode.Scalar(UInt32(v)) else { return other }   // surrogates (never in a String)
        return compute(s)
    }

    @inline(__always) static func of(_ v: UInt32) -> UInt8 {
        if v < 0x10000 { return bmp[Int(v)] }
        guard let s = Unicode.Scalar(v) else { return other }
        return compute(s)
    }

    static func compute(_ s: Unicode.Scalar) -> UInt8 {
        switch s.value {
        case 0x20: return space
        case 0x0A, 0x0D: return newline
        default: break
        }
        let p = s.properties
        if p.isWhitespace { return whitespace }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
        case .decimalNumber, .letterNumber, .otherNumber: return number
        default: return other
        }
    }
}

extension UnicodeClass {
    static let ascii: [UInt8] = (0..<128).map { bmp[$0] }
}
