import Foundation
import MoonEnvs
import MoonTensor

/// Teacher-forced scores of responses (see `VLMPolicy.score`). All `[B, L]` tensors are right-padded to the
/// longest response L; padding entries are 0.
public struct ScoreResult {
    /// log p(token) per response token (autograd).
    public let logProbs: Tensor
    /// Entropy of the predictive distribution at each response token (autograd).
    public let entropies: Tensor
    /// 1 for real response tokens, 0 for padding.
    public let mask: Tensor
    /// 1 for the action part: the tokens from the action key on (`AnswerFormat`: first `"action"`, any case,
    /// whitespace allowed before the colon).
    public let actionMask: Tensor
    /// 1 for the thought part: the tokens before `"action":` (all tokens of an answer without it).
    public let thoughtMask: Tensor
    /// Whether each answer contains `"action":` (false: the whole answer counts as thought; flag it).
    public let hasAction: [Bool]
    /// Index of the first action token in each response (nil without `"action":`).
    public let actionStarts: [Int?]
    /// Value estimates `[B]` at the last prompt token (autograd).
    public let values: Tensor
    /// Response lengths.
    public let lengths: [Int]

    /// Per-answer log-probability `[B]` as PPO uses it: sum over action tokens + thoughtCoef × sum over thought tokens.
    public func sequenceLogProbs(thoughtCoef: Float = 0.5) throws -> Tensor {
        let a = try logProbs.mul(actionMask).sum(dim: 1)
        let t = try logProbs.mul(thoughtMask).sum(dim: 1)
        return try a.add(t.mul(thoughtCoef))
    }

    /// Mean entropy over real response tokens (a scalar, autograd).
    public func meanEntropy() throws -> Tensor {
        try entropies.mul(mask).sum().div(Swift.max(Float(lengths.reduce(0, +)), 1))
    }
}

public enum Scoring {
    /// Index of the first action token in byte-token ids (`AnswerFormat`'s rule: the first `"action"` key, any
    /// case, whitespace allowed before its colon), or nil.
    public static func actionStart(_ tokens: [Int]) -> Int? {
        AnswerFormat.actionStart(in: tokens)
    }

    /// Index of the token holding the first byte of the action key (`AnswerFormat`) in the text the tokens
    /// spell (`tokenBytes`: the bytes of one token), or nil.
    public static func actionStart(_ tokens: [Int], tokenBytes: (Int) -> [UInt8]) -> Int? {
        var bytes: [Int] = [], owner: [Int] = []
        for (i, t) in tokens.enumerated() { for b in tokenBytes(t) { bytes.append(Int(b)); owner.append(i) } }
        return actionStart(bytes).map { owner[$0] }
    }

    /// (actionMask, thoughtMask, hasAction, starts) as plain arrays for responses padded to `width`. `tokenBytes`:
    /// the bytes of a token for a non-byte vocabulary (nil: the ids are bytes).
    public static func masks(_ responses: [[Int]], width: Int, tokenBytes: ((Int) -> [UInt8])? = nil) -> (action: [Float], thought: [Float], hasAction: [Bool], starts: [Int?]) {
        let width = Swift.max(width, responses.map(\.count).max() ?? 0)
        var a = [Float](repeating: 0, count: responses.count * width), t = a
        var has: [Bool] = [], starts: [Int?] = []
        for (b, r) in responses.enumerated() {
            let s = tokenBytes.map { actionStart(r, tokenBytes: $0) } ?? actionStart(r)
            has.append(s != nil); starts.append(s)
            let cut = s ?? r.count
            for j in 0..<r.count { if j < cut { t[b * width + j] = 1 } else { a[b * width + j] = 1 } }
        }
        return (a, t, has, starts)
    }

    static func values(policy: VLMPolicy, hidden: Tensor, layout: VLMPolicy.Layout) throws -> Tensor {
        let d = hidden.shape[2]
        let flat = try hidden.reshape([layout.batch * layout.length, d])
        let idx = Tensor.fromInts((0..<layout.batch).map { layout.lastPromptIndex($0) }, [layout.batch])
        return try policy.valueHead(flat.indexSelect(dim: 0, index: idx)).reshape([layout.batch])
    }

    /// Rows of the hidden states that predict each response token (row b, position), the targets, and where each
    /// lands in the `[B, width]` result (-1: padding).
    static func responseRows(_ layout: VLMPolicy.Layout, _ responses: [[Int]], width: Int) -> (rows: [(Int, Int)], targets: [Int], place: [Int]) {
        var rows: [(Int, Int)] = [], targets: [Int] = [], place = [Int](repeating: -1, count: layout.batch * width)
        for r in 0..<layout.batch {
            // The hidden state predicting response token k sits at prefix + promptLength - 1 + k.
            for (k, tok) in responses[r].enumerated() {
                place[r * width + k] = rows.count
                rows.append((r, layout.lastPromptPosition(r) + k))
                targets.append(tok)
            }
        }
        return (rows, targets, place)
    }

    static func score(policy: VLMPolicy, hidden: Tensor, layout: VLMPolicy.Layout, responses: [[Int]], temperature: Float) throws -> ScoreResult {
        let b = layout.batch, d = hidden.shape[2]
        let width = max(responses.map(\.count).max() ?? 0, 1)
        let flat = try hidden.reshape([b * layout.length, d])
        let (rows, targets, place) = responseRows(layout, responses, width: width)
        let n = rows.count
        var lp = try Tensor.zeros([0]), ent = lp
        if n > 0 {
            let sel = try flat.indexSelect(dim: 0, index: Tensor.fromInts(rows.map { $0.0 * layout.length + $0.1 }, [n]))
            var logits = try policy.decoder.logits(hidden: sel)
            if temperature != 1 { logits = logits.div(temperature) }
            let lsm = try logits.logSoftmax(dim: -1)
            lp = try lsm.gather(dim: 1, index: Tensor.fromInts(targets, [n, 1])).reshape([n])
            ent = try lsm.exp().mul(lsm).sum(dim: 1).neg()
        }
        return try assemble(policy: policy, logProbs: lp, entropies: ent, values: values(policy: policy, hidden: hidden, layout: layout),
                            place: place, responses: responses, width: width)
    }

    /// `score` through the fused pass (FusedTraining.swift): the same result, one autograd node.
    static func fusedScore(policy: VLMPolicy, embeddings x: Tensor, layout: VLMPolicy.Layout, responses: [[Int]], temperature: Float) throws -> ScoreResult {
        let width = max(responses.map(\.count).max() ?? 0, 1)
        let (rows, targets, place) = responseRows(layout, responses, width: width)
        let r = try FusedScoring.score(policy.decoder, embeddings: x, lengths: layout.lengths, shared: layout.common, rows: rows,
                                       targets: targets, temperature: temperature, valueHead: policy.valueHead,
                                       valueRows: (0..<layout.batch).map(layout.lastPromptPosition))
        return try assemble(policy: policy, logProbs: r.logProbs, entropies: r.entropies, values: r.values!, place: place,
                            responses: responses, width: width)
    }

    /// The `[B, width]` result from per-row log-probs and entropies `[n]` (`place`: where each goes, -1 for padding).
    static func assemble(policy: VLMPolicy, logProbs lp: Tensor, entropies ent: Tensor, values: Tensor, place: [Int], responses: [[Int]],
                         width: Int) throws -> ScoreResult {
        let b = responses.count, n = lp.shape[0]
        let lpPadded: Tensor, entPadded: Tensor
        if n > 0 {
            // Scatter into [B, width] through an extra zero slot for padding.
            let gatherIdx = Tensor.fromInts(place.map { $0 < 0 ? n : $0 }, [b * width])
            let zero = try Tensor.zeros([1])
            lpPadded = try Tensor.cat([lp, zero], dim: 0).indexSelect(dim: 0, index: gatherIdx).reshape([b, width])
            entPadded = try Tensor.cat([ent, zero], dim: 0).indexSelect(dim: 0, index: gatherIdx).reshape([b, width])
        } else {
            lpPadded = try Tensor.zeros([b, width]); entPadded = try Tensor.zeros([b, width])
        }
        let m = masks(responses, width: width, tokenBytes: policy.isPretrained ? policy.tokenBytes : nil)
        var mask = [Float](repeating: 0, count: b * width)
        for (r, resp) in responses.enumerated() { for j in 0..<resp.count { mask[r * width + j] = 1 } }
        return ScoreResult(logProbs: lpPadded, entropies: entPadded, mask: Tensor.fromArray(mask, [b, width]),
                           actionMask: Tensor.fromArray(m.action, [b, width]), thoughtMask: Tensor.fromArray(m.thought, [b, width]),
                           hasAction: m.hasAction, actionStarts: m.starts, values: values, lengths: responses.map(\.count))
    }
}

extension VLMPolicy {
    /// The masks `score` returns for `responses` (`[B, L]`, L the longest response, at least 1), without running the
    /// model: real tokens, the action part (from `"action":` on) and the thought part.
    public func responseMasks(_ responses: [[Int]]) -> (mask: Tensor, actionMask: Tensor, thoughtMask: Tensor, hasAction: [Bool]) {
        let b = responses.count, width = max(responses.map(\.count).max() ?? 0, 1)
        let m = Scoring.masks(responses, width: width, tokenBytes: isPretrained ? tokenBytes : nil)
        var mask = [Float](repeating: 0, count: b * width)
        for (r, resp) in responses.enumerated() { for j in 0..<resp.count { mask[r * width + j] = 1 } }
        return (Tensor.fromArray(mask, [b, width]), Tensor.fromArray(m.action, [b, width]), Tensor.fromArray(m.thought, [b, width]), m.hasAction)
    }
}
