import Foundation
import MoonTensor

extension VLMPolicy {
    /// Row layout shared by the SFT paths: ids = prompt + response (right-padded), targets = the response tokens
    /// selected by `targetMask` (default: all of them).
    private func sftBatch(_ promptIds: [[Int]], _ responses: [[Int]], _ targetMask: [[Bool]]?) throws -> (ids: [[Int]], valid: [[Bool]], loss: [[Bool]]) {
        guard promptIds.count == responses.count, !promptIds.isEmpty else {
            throw ModelError.invalidArgument("sft: \(responses.count) responses for \(promptIds.count) prompts")
        }
        if let m = targetMask, m.count != responses.count || zip(m, responses).contains(where: { $0.count != $1.count }) {
            throw ModelError.invalidArgument("sft: the target mask must have one flag per response token")
        }
        let width = zip(promptIds, responses).map { $0.count + $1.count }.max()!
        var ids: [[Int]] = [], valid: [[Bool]] = [], loss: [[Bool]] = []
        for (b, (p, r)) in zip(promptIds, responses).enumerated() {
            if p.isEmpty { throw ModelError.invalidArgument("sft: prompt \(b + 1) is empty") }
            let row = p + r
            ids.append(row + [Int](repeating: ByteTokenizer.pad, count: width - row.count))
            valid.append([Bool](repeating: true, count: row.count) + [Bool](repeating: false, count: width - row.count))
            var l = [Bool](repeating: false, count: width)
            for k in 0..<r.count where targetMask?[b][k] ?? true { l[p.count + k] = true }
            loss.append(l)
        }
        return (ids, valid, loss)
    }

    /// Differentiable SFT loss: mean negative log-likelihood of the selected response tokens (`targetMask`, e.g. the
    /// thought tokens for GTR-Turbo's SFT variant) given image and prompt. Composable with other losses.
    public func sftLoss(images: Tensor?, prompts: [String], responses: [[Int]], targetMask: [[Bool]]? = nil) throws -> Tensor {
        let s = try score(images: images, prompts: prompts, responses: responses)
        var m = s.mask
        if let tm = targetMask {
            let width = s.mask.shape[1]
            var flat = [Float](repeating: 0, count: tm.count * width)
            for (b, row) in tm.enumerated() { for (k, on) in row.enumerated() where on { flat[b * width + k] = 1 } }
            m = Tensor.fromArray(flat, [tm.count, width])
        }
        let count = m.toArray().reduce(0, +)
        guard count > 0 else { throw ModelError.invalidArgument("sft: no target tokens") }
        return try s.logProbs.mul(m).sum().div(count).neg()
    }

    /// SFT step without an autograd graph for the decoder: computes the same loss as `sftLoss` and accumulates its
    /// gradients into every trainable parameter's `grad` (the decoder by the fused path, the vision encoder and
    /// projector by autograd from the visual tokens' gradient). With LoRA adapters it falls back to
    /// `sftLoss(...).backward()`. Returns the loss.
    @discardableResult
    public func sftLossBackward(images: Tensor?, prompts: [String], responses: [[Int]], targetMask: [[Bool]]? = nil) throws -> Float {
        if loraConfig != nil || isPretrained {
            let l = try sftLoss(images: images, prompts: prompts, responses: responses, targetMask: targetMask)
            try l.backward()
            return try l.item()
        }
        let promptIds = try prompts.map { try encodePrompt($0) }
        if let im = images, im.ndim >= 1, im.shape[0] != prompts.count {
            throw ModelError.invalidArgument("sft: \(im.shape[0]) images for \(prompts.count) prompts")
        }
        let (ids, valid, loss) = try sftBatch(promptIds, responses, targetMask)
        let prefix = try images.map { try visualTokens($0) }
        let (l, pg) = try Tensor.noGrad {
            try FusedDecoderTraining.lmLossBackward(decoder, ids: ids, valid: valid, lossMask: loss, prefix: prefix?.detach())
        }
        if let p = prefix, let g = pg, p.requiresGrad { try p.backward(gradient: g) }
        return l
    }
}
