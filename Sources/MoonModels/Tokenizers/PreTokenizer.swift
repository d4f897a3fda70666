/// The regex splits byte-level BPE tokenizers apply before BPE, hand-coded over Unicode scalars (same pieces
/// as the patterns below, as Hugging Face `tokenizers` (Oniguruma) and llama.cpp match them, without a regex engine):
///
/// - `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// - `llama3`: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// - `qwen2`: as llama3 with `\p{N}` (one digit per piece) instead of `\p{N}{1,3}`
/// - `smollm`: every `\p{N}` scalar alone (`Digits(individual_digits)`), the gpt2 split between them
public enum PreTokenizer: String, Sendable, CaseIterable {
    case gpt2, llama3, qwen2, smollm

    /// The split llama.cpp's `tokenizer.ggml.pre` names (nil when moonlab has none for it).
    public init?(ggmlName: String?) {
        switch ggmlName ?? "default" {
        case "default", "gpt2", "gpt-2", "olmo", "jais", "poro-chat", "viking", "bloom", "gpt3-finnish": self = .gpt2
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "smaug-bpe", "dbrx", "pixtral", "lfm2", "midm-2.0": self = .llama3
        case "qwen2", "deepseek-r1-qwen", "megrez", "kormo": self = .qwen2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva": self = .smollm
        default: return nil
        }
    }

    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// The split a tokenizer.json `Split` regex spells (nil when it is not one moonlab has).
    init?(splitPattern: String) {
        switch splitPattern {
        case Self.llama3Pattern: self = .llama3
        case Self.qwen2Pattern: self = .qwen2
        case Self.gpt2Pattern: self = .gpt2
        default: return nil
        }
    }

    /// Splits the valid UTF-8 `text[start..<end]` into pieces and appends each piece's end byte offset to `ends`.
    /// `cls`/`off` are scratch space (scalar classes and byte offsets), kept by the caller between calls.
    func split(_ text: UnsafePointer<UInt8>, _ start: Int, _ end: Int, ends: inout [Int], cls: inout [UInt8], off: inout [Int]) {
        // Decode scalars and classify them.
        cls.removeAll(keepingCapacity: true)
        off.removeAll(keepingCapacity: true)
        var i = start
        while i < end {
            let b0 = text[i]
            off.append(i)
            if b0 < 0x80 {
                cls.append(UnicodeClass.ascii[Int(b0)]); i += 1
            } else {
                var v: UInt32
                let n: Int
                if b0 < 0xE0 { v = UInt32(b0 & 0x1F); n = 2 } else if b0 < 0xF0 { v = UInt32(b0 & 0x0F); n = 3 } else { v = UInt32(b0 & 0x07); n = 4 }
                var k = 1
                while k < n && i + k < end { v = (v << 6) | UInt32(text[i + k] & 0x3F); k += 1 }
                cls.append(UnicodeClass.of(v)); i += n
            }
        }
        let n = cls.count
        off.append(end)
        cls.withUnsafeBufferPointer { c in
            off.withUnsafeBufferPointer { o in
                switch self {
                case .gpt2:
                    var s = 0
                    while s < n { s = Self.gpt2Next(text, c, o, s, n); ends.append(o[s]) }
                case .smollm:
                    var s = 0
                    while s < n {
                        if c[s] == UnicodeClass.number { s += 1; ends.append(o[s]); continue }
                        var segEnd = s + 1
                        while segEnd < n && c[segEnd] != UnicodeClass.number { segEnd += 1 }
                        while s < segEnd { s = Self.gpt2Next(text, c, o, s, segEnd); ends.append(o[s]) }
                    }
                case .llama3, .qwen2:
                    let maxDigits = self == .llama3 ? 3 : 1
                    var s = 0
                    while s < n { s = Self.llama3Next(text, c, o, s, n, maxDigits: maxDigits); ends.append(o[s]) }
                }
            }
        }
    }

    @inline(__always)
    private static func run(_ c: UnsafeBufferPointer<UInt8>, _ i: Int, _ n: Int, _ k: UInt8) -> Int {
        var j = i
        while j < n && c[j] == k { j += 1 }
        return j
    }

    @inline(__always)
    private static func whitespaceRun(_ c: UnsafeBufferPointer<UInt8>, _ i: Int, _ n: Int) -> Int {
        var j = i
        while j < n && c[j] >= UnicodeClass.space { j += 1 }
        return j
    }

    /// The length in scalars of a contraction (`'s 't 're 've 'm 'll 'd`) at scalar `i`, or 0.
    @inline(__always)
    private static func contraction(_ text: UnsafePointer<UInt8>, _ o: UnsafeBufferPointer<Int>, _ i: Int, _ n: Int,
                                    caseInsensitive: Bool) -> Int {
        guard i + 1 < n else { return 0 }
        let p = o[i + 1]
        var a = text[p]
        if caseInsensitive {
            // Oniguruma folds case with Unicode rules: U+017F LATIN SMALL LETTER LONG S folds to "s".
            if a == 0xC5 && o[i + 2] - p == 2 && text[p + 1] == 0xBF { return 2 }
            if a >= 0x41 && a <= 0x5A { a |= 0x20 }
        }
        switch a {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"), UInt8(ascii: "l"):
            guard i + 2 < n, o[i + 2] == p + 1 else { return 0 }
            var b = text[p + 1]
            if caseInsensitive && b >= 0x41 && b <= 0x5A { b |= 0x20 }
            if (a == UInt8(ascii: "r") || a == UInt8(ascii: "v")) && b == UInt8(ascii: "e") { return 3 }
            if a == UInt8(ascii: "l") && b == UInt8(ascii: "l") { return 3 }
            return 0
        default: return 0
        }
    }

    /// The end (scalar index) of the gpt2 piece starting at `i`, within a segment ending at `n`.
    private static func gpt2Next(_ text: UnsafePointer<UInt8>, _ c: UnsafeBufferPointer<UInt8>, _ o: UnsafeBufferPointer<Int>,
                                 _ i: Int, _ n: Int) -> Int {
        let k = c[i]
        if text[o[i]] == UInt8(ascii: "'") {
            let m = contraction(text, o, i, n, caseInsensitive: false)
            if m > 0 { return i + m }
        }
        if k == UnicodeClass.space && i + 1 < n {
            let k2 = c[i + 1]
            if k2 <= UnicodeClass.other { return run(c, i + 1, n, k2) }   // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        }
        if k <= UnicodeClass.other { return run(c, i, n, k) }
        let j = whitespaceRun(c, i, n)
        if j == n || j - i == 1 { return j }                          // `\s+(?!\S)` at the end, or `\s+`
        return j - 1                                                  // `\s+(?!\S)` leaves the last space to the next piece
    }

    /// The end (scalar index) of the llama3/qwen2 piece starting at `i`.
    private static func llama3Next(_ text: UnsafePointer<UInt8>, _ c: UnsafeBufferPointer<UInt8>, _ o: UnsafeBufferPointer<Int>,
                                   _ i: Int, _ n: Int, maxDigits: Int) -> Int {
        let k = c[i]
        if text[o[i]] == UInt8(ascii: "'") {
            let m = contraction(text, o, i, n, caseInsensitive: true)
            if m > 0 { return i + m }
        }
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if k == UnicodeClass.letter { return run(c, i, n, UnicodeClass.letter) }
        if k != UnicodeClass.number && k != UnicodeClass.newline && i + 1 < n && c[i + 1] == UnicodeClass.letter {
            return run(c, i + 1, n, UnicodeClass.letter)
        }
        // `\p{N}{1,3}`
        if k == UnicodeClass.number {
            var j = i + 1
            while j < n && j - i < maxDigits && c[j] == UnicodeClass.number { j += 1 }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        if k == UnicodeClass.other || (k == UnicodeClass.space && i + 1 < n && c[i + 1] == UnicodeClass.other) {
            let j = run(c, k == UnicodeClass.other ? i : i + 1, n, UnicodeClass.other)
            return run(c, j, n, UnicodeClass.newline)
        }
        // whitespace: `\s*[\r\n]+` ends after the run's last CR/LF; then `\s+(?!\S)`, `\s+`
        let j = whitespaceRun(c, i, n)
        var p = j - 1
        while p >= i && c[p] != UnicodeClass.newline { p -= 1 }
        if p >= i { return p + 1 }
        if j == n || j - i == 1 { return j }
        return j - 1
    }
}
