import MoonTensor

/// How far greedy decoding agrees with a target, measured without decoding.
public struct GreedyAgreement: Sendable, Equatable {
    /// Every target token is the argmax given the ones before it: greedy decoding produces exactly the target.
    public var exact: Bool
    /// The number of leading target tokens greedy decoding reproduces.
    public var prefix: Int
    /// The number of target positions whose argmax is the target token (teacher-forced).
    public var correct: Int
}

extension VLMPolicy {
    /// Whether greedy decoding from each (image, prompt) would produce exactly `targets[i]` (token ids, usually ending
    /// with the end-of-sequence token so that decoding stops there), decided by one teacher-forced forward pass: greedy
    /// decoding reproduces a target iff the argmax after every target prefix is the next target token. No autograd.
    /// (Ties between logits, and the last-bit differences between the cached decode path and this full pass, are the
    /// only ways the two can disagree.)
    public func greedyCheck(images: Tensor?, prompts: [String], targets: [[Int]]) throws -> [GreedyAgreement] {
        let promptIds = try encodePrompts(prompts, images: images)
        try checkBatchForCheck(images, promptIds.count, targets.count)
        return try Tensor.noGrad {
            let (hidden, layout) = try forwardHidden(images: images, promptIds: promptIds, responses: targets)
            let d = hidden.shape[2]
            let flat = try hidden.reshape([layout.batch * layout.length, d])
            var rows: [Int] = []
            for (r, t) in targets.enumerated() { for k in 0..<t.count { rows.append(layout.lastPromptIndex(r) + k) } }
            var argmax: [Int] = []
            if !rows.isEmpty {
                let sel = try flat.indexSelect(dim: 0, index: Tensor.fromInts(rows, [rows.count]))
                argmax = try decoder.logits(hidden: sel).argmax(dim: 1).toIntArray()
            }
            var out: [GreedyAgreement] = [], at = 0
            for t in targets {
                var prefix = 0, correct = 0, broken = false
                for (k, tok) in t.enumerated() {
                    if argmax[at + k] == tok { correct += 1; if !broken { prefix += 1 } } else { broken = true }
                }
                at += t.count
                out.append(GreedyAgreement(exact: prefix == t.count, prefix: prefix, correct: correct))
            }
            return out
        }
    }

    private func checkBatchForCheck(_ images: Tensor?, _ n: Int, _ targets: Int) throws {
        guard targets == n else { throw ModelError.invalidArgument("greedy_check: \(targets) targets for \(n) prompts") }
        if n == 0 { throw ModelError.invalidArgument("greedy_check: expected at least one prompt") }
        if images != nil && vision == nil {
            throw ModelError.invalidArgument("greedy_check: this policy is text-only (no vision encoder); use text observations")
        }
        if let im = images, im.ndim >= 1, im.shape[0] != n {
            throw ModelError.invalidArgument("greedy_check: \(im.shape[0]) images for \(n) prompts")
        }
    }
}
