import Foundation

/// Evaluation of a formula string with the semantics of the original's Python `eval(formula_str)`
/// (restricted to what the action alphabet can produce): integer literals (adjacent digits concatenate,
/// e.g. "2","4" → 24), whitespace (the blanks of invalid steps), + - * / and Python's ** and //
/// (two "*" or two "/" in a row), unary + and -, parentheses. Arithmetic is IEEE double, as Python's
/// true division makes it; the result is compared to the target with ==. Any error (syntax, division by
/// zero, empty formula, a call like "(2)(3)") → nil, which the envs score as −1.
public enum FormulaEval {
    enum Tok: Equatable { case num(Double), op(String), lp, rp }

    static func tokenize(_ s: String) -> [Tok]? {
        var out: [Tok] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == 0x20 || c == 0x09 { i += 1; continue }
            if c >= 0x30 && c <= 0x39 {
                var v = 0.0
                let start = i
                while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 { v = v * 10 + Double(b[i] - 0x30); i += 1 }
                // Python 3 rejects leading zeros in multi-digit decimal literals ("01")
                if b[start] == 0x30 && i - start > 1 && v != 0 { return nil }
                out.append(.num(v)); continue
            }
            switch c {
            case UInt8(ascii: "*"):
                if i + 1 < b.count && b[i + 1] == c { out.append(.op("**")); i += 2 } else { out.append(.op("*")); i += 1 }
            case UInt8(ascii: "/"):
                if i + 1 < b.count && b[i + 1] == c { out.append(.op("//")); i += 2 } else { out.append(.op("/")); i += 1 }
            case UInt8(ascii: "+"): out.append(.op("+")); i += 1
            case UInt8(ascii: "-"): out.append(.op("-")); i += 1
            case UInt8(ascii: "("): out.append(.lp); i += 1
            case UInt8(ascii: ")"): out.append(.rp); i += 1
            default: return nil
            }
        }
        return out
    }

    struct Parser {
        let t: [Tok]
        var i = 0
        var peek: Tok? { i < t.count ? t[i] : nil }
        mutating func expr() -> Double? {
            guard var v = term() else { return nil }
            while let p = peek, p == .op("+") || p == .op("-") {
                i += 1
                guard let r = term() else { return nil }
                v = p == .op("+") ? v + r : v - r
            }
            return v
        }
        mutating func term() -> Double? {
            guard var v = factor() else { return nil }
            while let p = peek, p == .op("*") || p == .op("/") || p == .op("//") {
                i += 1
                guard let r = factor() else { return nil }
                switch p {
                case .op("*"): v = v * r
                case .op("/"): if r == 0 { return nil }; v = v / r
                default: if r == 0 { return nil }; v = (v / r).rounded(.down)
                }
            }
            return v
        }
        mutating func factor() -> Double? {
            if let p = peek, p == .op("+") || p == .op("-") {
                i += 1
                guard let v = factor() else { return nil }
                return p == .op("-") ? -v : v
            }
            return power()
        }
        mutating func power() -> Double? {
            guard let base = atom() else { return nil }
            if peek == .op("**") {
                i += 1
                guard let e = factor() else { return nil }
                if base == 0 && e < 0 { return nil }  // ZeroDivisionError
                let r = pyPow(base, e)
                if r.isNaN { return nil }  // Python gives a complex number: never equal to the target
                return r
            }
            return base
        }
        mutating func atom() -> Double? {
            guard let p = peek else { return nil }
            switch p {
            case .num(let v): i += 1; return v
            case .lp:
                i += 1
                guard let v = expr(), peek == .rp else { return nil }
                i += 1
                return v
            default: return nil
            }
        }
    }

    /// Value of a formula string, or nil when Python's eval would raise (or give a non-number).
    public static func evaluate(_ s: String) -> Double? {
        guard let toks = tokenize(s), !toks.isEmpty else { return nil }
        var p = Parser(t: toks)
        guard let v = p.expr(), p.i == toks.count else { return nil }
        return v
    }

    /// Value of a formula given as the env's element list (joined without separators, as the original).
    public static func evaluate(tokens: [String]) -> Double? { evaluate(tokens.joined()) }
}

func pyPow(_ a: Double, _ b: Double) -> Double {
    // integer exponents by repeated squaring (exact for small integers, as Python ints are)
    if b == b.rounded(), abs(b) <= 64 {
        var result = 1.0, base = a, e = Int(abs(b))
        while e > 0 { if e & 1 == 1 { result *= base }; base *= base; e >>= 1 }
        return b < 0 ? 1.0 / result : result
    }
    if a < 0 { return .nan }
    return Foundation.pow(a, b)
}
