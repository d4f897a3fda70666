import Foundation
import MoonTensor

extension VLMPolicy {
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

    /// SFT step: computes `sftLoss` and accumulates its gradients into every trainable parameter's `grad` (the
    /// decoder through the fused pass when it supports the policy's setup; the vision encoder and projector by
    /// autograd from the visual tokens' gradient). Returns the loss.
    @discardableResult
    public func sftLossBackward(images: Tensor?, prompts: [String], responses: [[Int]], targetMask: [[Bool]]? = nil) throws -> Float {
        let l = try Tensor.enableGrad { try sftLoss(images: images, prompts: prompts, responses: responses, targetMask: targetMask) }
        if l.requiresGrad { try l.backward() }
        return try l.item()
    }
}
