import Foundation

/// Thought-diversity measures over a set of texts (thought collapse shows as these falling to a template).
/// Texts are tokenised by `Diversity.tokenize`: lower-cased, split on whitespace.
public enum Diversity {
    public static func tokenize(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { $0.isWhitespace }).map(String.init)
    }

    static func ngrams(_ toks: [String], _ n: Int) -> [[String]] {
        toks.count < n ? [] : (0...(toks.count - n)).map { Array(toks[$0..<($0 + n)]) }
    }

    /// distinct-n: distinct n-grams / total n-grams over all texts (n-grams do not cross texts); 0 when there is none.
    public static func distinctN(_ texts: [String], n: Int) throws -> Double {
        guard n >= 1 else { throw TrainError("diversity.distinct_n", named: "n", "must be >= 1, got \(n)") }
        var seen = Set<[String]>(), total = 0
        for t in texts {
            for g in ngrams(tokenize(t), n) { seen.insert(g); total += 1 }
        }
        return total == 0 ? 0 : Double(seen.count) / Double(total)
    }

    /// Distinct texts / texts (texts compared after trimming and lower-casing, whitespace runs collapsed); 0 when empty.
    public static func distinctRatio(_ texts: [String]) -> Double {
        guard !texts.isEmpty else { return 0 }
        return Double(Set(texts.map { tokenize($0).joined(separator: " ") }).count) / Double(texts.count)
    }

    public enum BLEUSmoothing: String, Sendable {
        /// No smoothing: a zero n-gram precision makes the score 0.
        case none
        /// NLTK's `method1`: a zero precision count becomes `epsilon` (0.1).
        case epsilon
    }

    /// Sentence BLEU of `hypothesis` against `references` (token lists), as NLTK's `sentence_bleu` with uniform
    /// weights over 1..`maxN`-grams: clipped n-gram precisions, brevity penalty against the closest reference length;
    /// 0 when no unigram matches.
    public static func sentenceBLEU(hypothesis: [String], references: [[String]], maxN: Int = 4,
                                    smoothing: BLEUSmoothing = .epsilon) -> Double {
        guard maxN >= 1, !references.isEmpty else { return 0 }
        var logSum = 0.0
        for n in 1...maxN {
            var counts: [[String]: Int] = [:]
            for g in ngrams(hypothesis, n) { counts[g, default: 0] += 1 }
            var maxRef: [[String]: Int] = [:]
            for r in references {
                var c: [[String]: Int] = [:]
                for g in ngrams(r, n) where counts[g] != nil { c[g, default: 0] += 1 }
                for (g, k) in c { maxRef[g] = max(maxRef[g] ?? 0, k) }
            }
            var num = 0, den = 0
            for (g, k) in counts { num += min(k, maxRef[g] ?? 0); den += k }
            den = max(1, den)
            if num == 0 {
                if n == 1 { return 0 }
                switch smoothing {
                case .none: return 0
                case .epsilon: logSum += Foundation.log(0.1 / Double(den)) / Double(maxN)
                }
            } else {
                logSum += Foundation.log(Double(num) / Double(den)) / Double(maxN)
            }
        }
        let h = hypothesis.count
        let closest = references.map(\.count).min { (abs($0 - h), $0) < (abs($1 - h), $1) }!
        let bp = h > closest ? 1.0 : (h == 0 ? 0.0 : Foundation.exp(1 - Double(closest) / Double(h)))
        return bp * Foundation.exp(logSum)
    }

    /// Self-BLEU: the mean over texts of the BLEU of each text against all the others (higher = less diverse).
    /// nil with fewer than two texts.
    public static func selfBLEU(_ texts: [String], maxN: Int = 4, smoothing: BLEUSmoothing = .epsilon) -> Double? {
        guard texts.count >= 2 else { return nil }
        let toks = texts.map(tokenize)
        var s = 0.0
        for i in 0..<toks.count {
            var refs = toks
            refs.remove(at: i)
            s += sentenceBLEU(hypothesis: toks[i], references: refs, maxN: maxN, smoothing: smoothing)
        }
        return s / Double(toks.count)
    }
}
