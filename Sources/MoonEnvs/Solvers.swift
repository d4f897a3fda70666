import Foundation

/// Expert solvers: formula search for EZPoints/Points24, basic strategy for Blackjack, and the NumberLine rule.

/// Exhaustive search over formulas combining the given numbers (each used exactly once) with the given
/// binary operators and (optionally) parentheses. Values are exact rationals during the search; every
/// returned token list is re-checked with `FormulaEval` (the env's own float evaluation), so a formula like
/// 8/(3-8/3), which is 24 exactly but 23.999999999999996 in floating point (and scored −1 by the original),
/// is not returned.
public enum FormulaSolver {
    struct Rat: Hashable {
        var n: Int, d: Int
        init(_ n: Int, _ d: Int = 1) {
            var n = n, d = d
            if d < 0 { n = -n; d = -d }
            let g = Rat.gcd(abs(n), d)
            self.n = g > 0 ? n / g : n; self.d = g > 0 ? d / g : d
        }
        static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
    }

    indirect enum Expr {
        case num(Int)
        case bin(String, Expr, Expr)

        var prec: Int {
            switch self {
            case .num: return 3
            case .bin(let op, _, _): return (op == "+" || op == "-") ? 1 : 2
            }
        }

        /// Tokens with the minimum of parentheses that keeps the same evaluation tree
        /// (a right operand of equal precedence is parenthesised unless both ops are the same of + or *).
        func tokens(full: Bool = false) -> [String] {
            switch self {
            case .num(let v): return [String(v)]
            case .bin(let op, let l, let r):
                let p = prec
                var lt = l.tokens(full: full), rt = r.tokens(full: full)
                if case .bin = l, full || l.prec < p { lt = ["("] + lt + [")"] }
                if case .bin(let rop, _, _) = r {
                    let needs = full || r.prec < p || (r.prec == p && !(rop == op && (op == "+" || op == "*")))
                    if needs { rt = ["("] + rt + [")"] }
                }
                return lt + [op] + rt
            }
        }
    }

    static func combine(_ a: Rat, _ b: Rat, _ op: String) -> Rat? {
        switch op {
        case "+": return Rat(a.n * b.d + b.n * a.d, a.d * b.d)
        case "-": return Rat(a.n * b.d - b.n * a.d, a.d * b.d)
        case "*": return Rat(a.n * b.n, a.d * b.d)
        case "/": return b.n == 0 ? nil : Rat(a.n * b.d, a.d * b.n)
        default: return nil
        }
    }

    /// All formulas (token lists, deduplicated, shortest first) over `numbers` that the env would score
    /// as reaching `target`. Without parentheses only left-to-right chains are generated (EZPoints).
    public static func allSolutions(numbers: [Int], target: Int, operators: [String], allowParens: Bool) -> [[String]] {
        let key = CacheKey(numbers: numbers.sorted(), target: target, operators: operators, allowParens: allowParens)
        cacheLock.lock()
        if let hit = cache[key] { cacheLock.unlock(); return hit }
        cacheLock.unlock()
        let result = search(numbers: key.numbers, target: target, operators: operators, allowParens: allowParens)
        cacheLock.lock()
        if cache.count > 100_000 { cache.removeAll() }
        cache[key] = result
        cacheLock.unlock()
        return result
    }

    struct CacheKey: Hashable { var numbers: [Int]; var target: Int; var operators: [String]; var allowParens: Bool }
    nonisolated(unsafe) static var cache: [CacheKey: [[String]]] = [:]
    static let cacheLock = NSLock()

    static func search(numbers: [Int], target: Int, operators: [String], allowParens: Bool) -> [[String]] {
        var found: [[String]] = []
        var seen = Set<[String]>()
        let goal = Rat(target)
        func accept(_ e: Expr) {
            var t = e.tokens()
            if let v = FormulaEval.evaluate(tokens: t), v == Double(target) {} else {
                t = e.tokens(full: true)
                guard let v = FormulaEval.evaluate(tokens: t), v == Double(target) else { return }
            }
            if !allowParens && t.contains("(") { return }
            if seen.insert(t).inserted { found.append(t) }
        }
        if allowParens {
            func rec(_ items: [(Rat, Expr)]) {
                if items.count == 1 {
                    if items[0].0 == goal { accept(items[0].1) }
                    return
                }
                for i in 0..<items.count {
                    for j in 0..<items.count where j != i {
                        var rest: [(Rat, Expr)] = []
                        for k in 0..<items.count where k != i && k != j { rest.append(items[k]) }
                        for op in operators {
                            guard let v = combine(items[i].0, items[j].0, op) else { continue }
                            rec(rest + [(v, .bin(op, items[i].1, items[j].1))])
                        }
                    }
                }
            }
            rec(numbers.map { (Rat($0), Expr.num($0)) })
        } else {
            // chains n1 op n2 op n3 ... evaluated with precedence by FormulaEval
            func perms(_ xs: [Int]) -> [[Int]] {
                if xs.count <= 1 { return [xs] }
                var out: [[Int]] = []
                for i in xs.indices {
                    var r = xs; let x = r.remove(at: i)
                    for p in perms(r) { out.append([x] + p) }
                }
                return out
            }
            func opSeqs(_ n: Int) -> [[String]] {
                if n == 0 { return [[]] }
                return opSeqs(n - 1).flatMap { s in operators.map { s + [$0] } }
            }
            for p in perms(numbers) {
                for ops in opSeqs(numbers.count - 1) {
                    var t = [String(p[0])]
                    for (k, op) in ops.enumerated() { t += [op, String(p[k + 1])] }
                    if let v = FormulaEval.evaluate(tokens: t), v == Double(target), seen.insert(t).inserted { found.append(t) }
                }
            }
        }
        // stable sort: shortest first
        return found.enumerated().sorted { a, b in
            a.element.count != b.element.count ? a.element.count < b.element.count : a.offset < b.offset
        }.map { $0.element }
    }

    /// One solution (the shortest found first), or nil when the hand is unsolvable.
    public static func solve(numbers: [Int], target: Int = 24, operators: [String] = ["+", "-", "*", "/"],
                             allowParens: Bool = true) -> [String]? {
        allSolutions(numbers: numbers, target: target, operators: operators, allowParens: allowParens).first
    }
}

/// Blackjack basic strategy (hit/stand only) for an infinite deck, dealer standing on all 17s
/// (the env's dealer draws while its total, counting a usable ace as 11, is below 17).
public enum BlackjackStrategy {
    /// `total`: player's best total; `soft`: it counts an ace as 11; `dealerUp`: dealer's visible card value (ace = 1).
    public static func shouldHit(total: Int, soft: Bool, dealerUp: Int) -> Bool {
        let d = dealerUp == 1 ? 11 : dealerUp
        if soft {
            if total <= 17 { return true }
            if total == 18 { return d >= 9 }  // stand vs 2–8, hit vs 9, 10, A
            return false
        }
        if total <= 11 { return true }
        if total == 12 { return !(4...6).contains(d) }
        if total <= 16 { return d >= 7 }
        return false
    }

    public static func action(total: Int, soft: Bool, dealerUp: Int) -> String {
        shouldHit(total: total, soft: soft, dealerUp: dealerUp) ? "hit" : "stand"
    }
}

/// NumberLine: move toward the target.
public enum NumberLineSolver {
    public static func action(current: Int, target: Int) -> String { current < target ? "+" : "-" }
}
