import Foundation
import MoonTensor

// Small tensor helpers MoonTrain needs that MoonTensor does not offer directly.
// All are built from differentiable MoonTensor ops, so gradients flow through them.

/// Checks that `mask` (if any) has exactly the shape `shape`; returns it as float32 0/1 weights.
func checkedMask(_ mask: Tensor?, shape: [Int], op: String, arg: String = "mask") throws -> Tensor? {
    guard let m = mask else { return nil }
    guard m.shape == shape else {
        throw TrainError(op, named: arg, "expected shape \(shapeString(shape)), got \(shapeString(m.shape))")
    }
    return m.dtype == .float32 ? m.detach() : m.float()
}

/// Reduces per-element `values` with an optional 0/1 (or weight) `mask` of the same shape.
///
/// - `.mean`: `sum(values * mask) / sum(mask)` (the plain mean without a mask); 0 when the mask is all zero.
/// - `.sum`: `sum(values * mask)`.
/// - `.none`: `values * mask` (masked positions become 0), same shape as `values`.
public func maskedReduce(_ values: Tensor, mask: Tensor?, reduction: Reduction, op: String = "masked_reduce") throws -> Tensor {
    let m = try checkedMask(mask, shape: values.shape, op: op)
    let v = try m.map { try values.mul($0) } ?? values
    switch reduction {
    case .none: return v
    case .sum: return v.sum()
    case .mean:
        guard let m = m else { return v.mean() }
        let total = try m.sum().item()
        return v.sum().div(total == 0 ? 1 : total)
    }
}

/// Log-probabilities of `tokens` under `logits`: `logits` `[..., V]`, int64 `tokens` `[...]` → `[...]`.
/// `temperature` divides the logits first. Differentiable with respect to `logits`.
public func tokenLogProbs(logits: Tensor, tokens: Tensor, temperature: Float = 1) throws -> Tensor {
    let op = "token_log_probs"
    guard logits.ndim >= 1 else { throw TrainError(op, named: "logits", "expected at least one dimension (the vocabulary)") }
    guard tokens.dtype == .int64 else { throw TrainError(op, named: "tokens", "expected an int64 tensor, got \(tokens.dtype)") }
    guard Array(logits.shape.dropLast()) == tokens.shape else {
        throw TrainError(op, named: "tokens", "expected shape \(shapeString(Array(logits.shape.dropLast()))) to match logits \(shapeString(logits.shape)), got \(shapeString(tokens.shape))")
    }
    guard temperature > 0 else { throw TrainError(op, named: "temperature", "must be > 0, got \(temperature)") }
    let v = logits.shape.last!
    for t in tokens.toIntArray() where t < 0 || t >= v {
        throw TrainError(op, named: "tokens", "token id \(t) out of range for a vocabulary of \(v)")
    }
    let lsm = try (temperature == 1 ? logits : logits.div(temperature)).logSoftmax(dim: -1)
    return try lsm.gather(dim: -1, index: tokens.unsqueeze(dim: -1)).squeeze(dim: -1)
}

/// Per-position entropy `-sum p log p` of the softmax of `logits` `[..., V]` → `[...]` (differentiable).
public func tokenEntropy(logits: Tensor, temperature: Float = 1) throws -> Tensor {
    guard temperature > 0 else { throw TrainError("token_entropy", named: "temperature", "must be > 0, got \(temperature)") }
    let lsm = try (temperature == 1 ? logits : logits.div(temperature)).logSoftmax(dim: -1)
    let p = lsm.exp()
    // p * log p is 0 where p is 0 (log p may be -inf there)
    let plogp = try Tensor.where(p.gt(0), p.mul(lsm), 0)
    return try plogp.sum(dim: -1).neg()
}

/// Reads a tensor of any dtype as `[Float]` (row-major), for non-differentiable bookkeeping.
func floats(_ t: Tensor) -> [Float] { t.dtype == .float32 ? t.toArray() : t.float().toArray() }
