import XCTest
import Foundation
@testable import MoonTensor

final class OptimTests: XCTestCase {
    func setGrad(_ p: Tensor, _ g: [Float]) throws { p.grad = try Tensor(g, shape: p.shape) }

    func testSGDPlainAndWeightDecay() throws {
        let p = try param([1, -2], [2])
        let opt = try SGD([p], lr: 0.1, weightDecay: 0.1)
        try setGrad(p, [1, 1])
        try opt.step()
        // d = g + wd*p = [1.1, 0.8]; p -= 0.1*d
        assertClose(p.toArray(), [0.89, -2.08])
        XCTAssertEqual(p.storage.version, 1)
        let q = try param([1], [1])
        let plain = try SGD([q], lr: 0.5)
        try plain.step()  // no grad: skipped
        XCTAssertEqual(q.toArray(), [1])
    }

    func testSGDMomentumAndNesterov() throws {
        let p = try param([1], [1])
        let opt = try SGD([p], lr: 0.1, momentum: 0.9)
        try setGrad(p, [1]); try opt.step()
        assertClose(p.toArray(), [0.9])     // buf = 1
        try setGrad(p, [1]); try opt.step()
        assertClose(p.toArray(), [0.71])    // buf = 1.9
        let n = try param([1], [1])
        let nes = try SGD([n], lr: 0.1, momentum: 0.9, nesterov: true)
        try setGrad(n, [1]); try nes.step()
        assertClose(n.toArray(), [0.81])    // d = 1 + 0.9*1
        try setGrad(n, [1]); try nes.step()
        assertClose(n.toArray(), [0.539])   // buf = 1.9, d = 1 + 0.9*1.9 = 2.71
        assertThrows("SGD: argument 'nesterov'") { try SGD([n], lr: 0.1, nesterov: true) }
        assertThrows("SGD: argument 'lr': expected lr >= 0, got -1.0") { try SGD([n], lr: -1) }
    }

    /// Double-precision reference Adam(W) for a single scalar parameter.
    func refAdam(p0: Double, grads: [Double], lr: Double, b1: Double = 0.9, b2: Double = 0.999, eps: Double = 1e-8,
                 wd: Double, decoupled: Bool) -> Double {
        var p = p0, m = 0.0, v = 0.0
        for (i, g0) in grads.enumerated() {
            let t = Double(i + 1)
            var g = g0
            if decoupled { p *= 1 - lr * wd } else { g += wd * p }
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            let mh = m / (1 - Foundation.pow(b1, t)), vh = v / (1 - Foundation.pow(b2, t))
            p -= lr * mh / (vh.squareRoot() + eps)
        }
        return p
    }

    func testAdamAgainstHandValues() throws {
        let p = try param([1], [1])
        let opt = try Adam([p], lr: 0.1)
        try setGrad(p, [0.5]); try opt.step()
        XCTAssertEqual(p.toArray()[0], 0.9, accuracy: 1e-6)  // first step moves by exactly lr
        try setGrad(p, [-1]); try opt.step()
        // m = -0.055, v = 0.00124975; mhat = -0.2894737, vhat = 0.6251876 → p = 0.9 + 0.1*0.2894737/0.7906881
        XCTAssertEqual(p.toArray()[0], 0.9366102, accuracy: 1e-5)
        let grads: [Double] = [0.5, -1, 0.25, 2, -0.3]
        for (wd, dec) in [(0.0, false), (0.1, false), (0.1, true)] {
            let q = try param([1], [1])
            let o: Adam = dec ? try AdamW([q], lr: 0.05, weightDecay: Float(wd)) : try Adam([q], lr: 0.05, weightDecay: Float(wd))
            for g in grads { try setGrad(q, [Float(g)]); try o.step() }
            XCTAssertEqual(Double(q.toArray()[0]), refAdam(p0: 1, grads: grads, lr: 0.05, wd: wd, decoupled: dec), accuracy: 1e-5,
                           "wd \(wd) decoupled \(dec)")
        }
        // AdamW first step: p*(1 - lr*wd) - lr
        let r = try param([1], [1])
        let aw = try AdamW([r], lr: 0.1, weightDecay: 0.1)
        try setGrad(r, [3]); try aw.step()
        XCTAssertEqual(r.toArray()[0], 0.89, accuracy: 1e-6)
    }

    func testTrainingLoopReducesLoss() throws {
        // Fit y = 2x - 1 with a linear layer.
        let w = try param([0], [1, 1]), b = try param([0], [1])
        let x = try Tensor([-1, 0, 1, 2], shape: [4, 1])
        let y = try Tensor([-3, -1, 1, 3], shape: [4, 1])
        let opt = try Adam([w, b], lr: 0.1)
        var last: Float = .infinity
        for _ in 0..<300 {
            opt.zeroGrad()
            let loss = try Tensor.mseLoss(Tensor.linear(x, weight: w, bias: b), y)
            try loss.backward()
            try opt.step()
            last = try loss.item()
        }
        XCTAssertLessThan(last, 1e-3)
        XCTAssertEqual(w.toArray()[0], 2, accuracy: 0.05)
        XCTAssertEqual(b.toArray()[0], -1, accuracy: 0.05)
    }

    func testClipGradNorm() throws {
        let a = try param([0, 0], [2]), b = try param([0], [1]), c = try param([0], [1])
        try setGrad(a, [3, 0]); try setGrad(b, [4])
        let n = try clipGradNorm([a, b, c], maxNorm: 1)
        XCTAssertEqual(n, 5, accuracy: 1e-6)
        assertClose(a.grad!.toArray(), [0.6, 0], tol: 1e-5)
        assertClose(b.grad!.toArray(), [0.8], tol: 1e-5)
        let n2 = try clipGradNorm([a, b], maxNorm: 10)
        XCTAssertEqual(n2, 1, accuracy: 1e-5)
        assertClose(a.grad!.toArray(), [0.6, 0], tol: 1e-5)  // unchanged below max
        XCTAssertEqual(try clipGradNorm([a, b], maxNorm: 10, normType: .infinity), 0.8, accuracy: 1e-5)
    }

    func testSchedules() {
        let c = LRSchedule.cosine(1, minLR: 0.1, totalSteps: 10)
        XCTAssertEqual(c.lr(at: 0), 1, accuracy: 1e-6)
        XCTAssertEqual(c.lr(at: 5), 0.55, accuracy: 1e-6)
        XCTAssertEqual(c.lr(at: 10), 0.1, accuracy: 1e-6)
        XCTAssertEqual(c.lr(at: 50), 0.1, accuracy: 1e-6)
        let w = LRSchedule.warmup(1, warmupSteps: 4)
        XCTAssertEqual([0, 1, 3, 10].map { w.lr(at: $0) }, [0.25, 0.5, 1, 1])
        let cw = LRSchedule.cosine(1, minLR: 0, totalSteps: 12, warmupSteps: 2)
        XCTAssertEqual(cw.lr(at: 0), 0.5, accuracy: 1e-6)
        XCTAssertEqual(cw.lr(at: 2), 1, accuracy: 1e-6)
        XCTAssertEqual(cw.lr(at: 7), 0.5, accuracy: 1e-6)
        let l = LRSchedule.linear(1, minLR: 0, totalSteps: 4)
        XCTAssertEqual(l.lr(at: 2), 0.5, accuracy: 1e-6)
        XCTAssertEqual(LRSchedule.constant(0.3).lr(at: 99), 0.3)
    }

    func testStateDictRoundTrip() throws {
        let p = try param([1, 2], [2])
        let a = try Adam([p], lr: 0.01)
        try setGrad(p, [0.1, -0.2]); try a.step()
        try setGrad(p, [0.3, 0.1]); try a.step()
        let st = a.stateDict()
        XCTAssertEqual(Set(st.keys), ["lr", "state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step"])
        XCTAssertEqual(try st["state.0.step"]!.item(), 2)
        // A fresh optimiser loaded with the state continues exactly like the original.
        let q = try param(p.toArray(), [2])
        let b = try Adam([q], lr: 0.5)
        try b.loadStateDict(st)
        XCTAssertEqual(b.lr, 0.01)
        try setGrad(p, [-0.4, 0.2]); try a.step()
        try setGrad(q, [-0.4, 0.2]); try b.step()
        XCTAssertEqual(p.toArray(), q.toArray())
        var bad = st
        bad["state.0.exp_avg"] = Tensor([1, 2, 3])
        assertThrows("Adam.loadStateDict: argument 'state': 'state.0.exp_avg' has shape [3], expected [2]") { try b.loadStateDict(bad) }
        let s = try SGD([p], lr: 0.1, momentum: 0.9)
        try setGrad(p, [1, 1]); try s.step()
        XCTAssertNotNil(s.stateDict()["state.0.momentum_buffer"])
        let s2 = try SGD([q], lr: 0.1, momentum: 0.9)
        try s2.loadStateDict(s.stateDict())
        XCTAssertEqual(s2.stateDict()["state.0.momentum_buffer"]?.toArray(), [1, 1])
    }
}
