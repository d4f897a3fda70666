import Foundation

/// Finds added tokens in text the way `tokenizers`' `AddedVocabulary` does: leftmost-longest matches, with the
/// `single_word`, `lstrip` and `rstrip` rules, over one class of tokens (normalized or not) at a time.
struct AddedTokenMatcher: Sendable {
    private let contents: [[UInt8]]
    private let tokens: [AddedToken]
    /// For each first byte, indices into `tokens`, longest first.
    private let byFirstByte: [[Int]]
    /// Whether some token starts with this byte (checked before touching `byFirstByte`).
    private let startsToken: [Bool]

    init(_ tokens: [AddedToken]) {
        let kept = tokens.filter { !$0.content.isEmpty }
        self.tokens = kept
        let contents = kept.map { Array($0.content.utf8) }
        self.contents = contents
        var table = [[Int]](repeating: [], count: 256)
        for (i, c) in contents.enumerated() { table[Int(c[0])].append(i) }
        for b in 0..<256 { table[b].sort { contents[$0].count > contents[$1].count || (contents[$0].count == contents[$1].count && $0 < $1) } }
        byFirstByte = table
        startsToken = table.map { !$0.isEmpty }
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Splits `text[start..<end]` into runs of plain text (`emit(s, e, nil)`) and added tokens (`emit(s, e, id)`).
    func split(_ text: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ emit: (Int, Int, Int?) -> Void) {
        var done = start      // end of the last emitted match (the text before it has been emitted)
        var i = start
        while i < end {
            if !startsToken[Int(text[i])] { i += 1; continue }
            let candidates = byFirstByte[Int(text[i])]
            var found = -1
            for k in candidates {
                let c = contents[k]
                if i + c.count <= end && c.withUnsafeBufferPointer({ memcmp($0.baseAddress!, text + i, c.count) == 0 }) { found = k; break }
            }
            if found < 0 { i += 1; continue }
            let t = tokens[found]
            var s = i
            var e = i + contents[found].count
            i = e
            if t.singleWord {
                let before = s > start && Self.isWordScalar(Self.scalar(endingAt: s, text, start))
                let after = e < end && Self.isWordScalar(Self.scalar(startingAt: e, text, end))
                if before || after { continue }
            }
            if t.lstrip {
                while s > done, let (v, len) = Optional(Self.scalar(endingAt: s, text, done)), Self.isSpace(v) { s -= len }
            }
            if t.rstrip {
                while e < end, let (v, len) = Optional(Self.scalar(startingAt: e, text, end)), Self.isSpace(v) { e += len }
                i = e
            }
            if s > done { emit(done, s, nil) }
            emit(s, e, t.id)
            done = e
        }
        if done < end { emit(done, end, nil) }
    }

    private static func isSpace(_ v: UInt32) -> Bool { UnicodeClass.isWhitespace(UnicodeClass.of(v)) }
    /// A word character as Rust's regex `\w` (which `tokenizers` checks for `single_word`): Alphabetic, a mark,
    /// a decimal digit, connector punctuation (`_`) or a join control.
    private static func isWordScalar(_ sv: (UInt32, Int)) -> Bool {
        guard let s = Unicode.Scalar(sv.0) else { return false }
        let p = s.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// The scalar starting at byte `i` (valid UTF-8) and its length.
    static func scalar(startingAt i: Int, _ t: UnsafePointer<UInt8>, _ end: Int) -> (UInt32, Int) {
        let b0 = t[i]
        if b0 < 0x80 { return (UInt32(b0), 1) }
        let n = b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4
        var v = UInt32(b0) & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07)
        var k = 1
        while k < n && i + k < end { v = v << 6 | UInt32(t[i + k] & 0x3F); k += 1 }
        return (v, n)
    }

    /// The scalar ending at byte `i` (exclusive) and its length.
    static func scalar(endingAt i: Int, _ t: UnsafePointer<UInt8>, _ start: Int) -> (UInt32, Int) {
        var s = i - 1
        while s > start && t[s] & 0xC0 == 0x80 { s -= 1 }
        return (scalar(startingAt: s, t, i).0, i - s)
    }
}
