import Foundation
import XCTest
import MoonTensor
@testable import MoonModels

/// Per-op timings of the training forward (MOONLAB_PROFILE=1, release build); skipped otherwise.
final class ForwardProfileTests: XCTestCase {
    func testProfileForwardPieces() throws {
        guard ProcessInfo.processInfo.environment["MOONLAB_PROFILE"] == "1" else { throw XCTSkip("set MOONLAB_PROFILE=1") }
        setNumThreads(2)
        var c = LlamaConfig(); c.vocabSize = 260
        let dec = try LlamaDecoder(c, generator: Generator(seed: 0))
        let ids = try Tensor.randint(0, 260, [16, 128], generator: Generator(seed: 1))
        func time(_ name: String, _ n: Int = 5, _ f: () throws -> Void) rethrows {
            try f()
            let t0 = Date(); for _ in 0..<n { try f() }
            print(String(format: "PROF %-28@ %8.2f ms", name as NSString, Date().timeIntervalSince(t0) / Double(n) * 1000))
        }
        let x = try dec.embed(ids)
        let valid = Array(repeating: Array(repeating: true, count: 128), count: 16)
        try time("rope tables") { _ = RoPETables(rope: dec.rope, positions: LlamaDecoder.positions(valid: valid), queryScale: 0.17) }
        let tables = RoPETables(rope: dec.rope, positions: LlamaDecoder.positions(valid: valid), queryScale: 0.17)
        let mask = AttentionMask.causal(128)
        let L = dec.model.layers[0]
        try Tensor.noGrad {
            try time("rmsnorm") { _ = try L.inputLayernorm(x) }
            let w = L.inputLayernorm.weight
            try time("square") { _ = x.square() }
            try time("x*x") { _ = try x.mul(x) }
            let sq = x.square()
            try time("mean keepdim") { _ = try sq.mean(dim: -1, keepdim: true) }
            let ones = try Tensor.full([128, 1], value: 1.0 / 128)
            try time("matmul mean") { _ = try sq.matmul(ones) }
            let ms = try sq.mean(dim: -1, keepdim: true)
            try time("add eps rsqrt") { _ = ms.add(1e-6).rsqrt() }
            let r = ms.add(1e-6).rsqrt()
            try time("x*r bcast") { _ = try x.mul(r) }
            try time("x*w bcast") { _ = try x.mul(w) }
            try time("x+x") { _ = try x.add(x) }
            try time("silu 704k") { _ = try x.expand([16, 128, 128]).reshape([16, 128, 128]).silu() }
            try time("linear 128->128") { _ = try L.selfAttn.qProj(x) }
            let q = try L.selfAttn.qProj(x).reshape([16, 128, 4, 32])
            try time("rope apply") { _ = try dec.rope.apply(q, cos: tables.cos, sin: tables.sin, rotation: tables.rotation) }
            try time("attention block") { _ = try L.selfAttn(x, rope: tables, mask: mask) }
            let qh = try q.permute([0, 2, 1, 3]), kt = try q.permute([0, 2, 3, 1])
            try time("scores matmul") { _ = try qh.matmul(kt) }
            let s = try qh.matmul(kt)
            try time("mask add") { _ = try s.add(mask) }
            try time("softmax") { _ = try s.softmax(dim: -1) }
            let p = try s.softmax(dim: -1)
            try time("pv matmul") { _ = try p.matmul(qh) }
            try time("permute reshape") { _ = try p.matmul(qh).permute([0, 2, 1, 3]).reshape([16, 128, 128]) }
            try time("mlp") { _ = try L.mlp(x) }
            try time("layer") { _ = try L(x, rope: tables, mask: mask) }
            try time("full forward") { _ = try dec.lmLoss(ids) }
        }
        try time("fwd+bwd") { try dec.lmLoss(ids).backward() }
    }

    func testProfileFusedStep() throws {
        guard ProcessInfo.processInfo.environment["MOONLAB_PROFILE"] == "1" else { throw XCTSkip("set MOONLAB_PROFILE=1") }
        setNumThreads(Int(ProcessInfo.processInfo.environment["MOONLAB_THREADS"] ?? "2") ?? 2)
        var c = LlamaConfig(); c.vocabSize = 260
        let dec = try LlamaDecoder(c, generator: Generator(seed: 0))
        let ids = try Tensor.randint(0, 260, [16, 128], generator: Generator(seed: 1))
        try dec.lmLossBackward(ids)
        FusedDecoderProfile.profiling = true
        FusedDecoderProfile.profile = [:]
        let n = 5
        let t0 = Date()
        for _ in 0..<n { try dec.lmLossBackward(ids) }
        print(String(format: "PROF fused step total %.2f ms", Date().timeIntervalSince(t0) / Double(n) * 1000))
        for (k, v) in FusedDecoderProfile.profile.sorted(by: { $0.key < $1.key }) {
            print(String(format: "PROF   %-22@ %8.2f ms", k as NSString, v / Double(n) * 1000))
        }
        FusedDecoderProfile.profiling = false
    }
}
