import XCTest
import MoonTensor
@testable import MoonTrain

final class KLRewardTests: XCTestCase {
    let agent: [Float] = [-1, -2, -0.5], teacher: [Float] = [-1.5, -1, -3], mask = [true, true, false]

    func testEstimatorsByHand() throws {
        // k1 reverse: log π_A − log π_T = [0.5, −1, 2.5] → clamp [0, 10] → [0.5, 0] over the two thought tokens
        XCTAssertEqual(try KLReward.turn(agentLogProbs: agent, teacherLogProbs: teacher, mask: mask), 0.25, accuracy: 1e-6)
        let abs = KLRewardOptions(estimator: .abs)
        XCTAssertEqual(try KLReward.turn(agentLogProbs: agent, teacherLogProbs: teacher, mask: mask, options: abs), 0.75, accuracy: 1e-6)
        let k3 = KLRewardOptions(estimator: .k3)
        let want = ((exp(-0.5) - 1) + 0.5 + (exp(1.0) - 1) - 1) / 2
        XCTAssertEqual(try KLReward.turn(agentLogProbs: agent, teacherLogProbs: teacher, mask: mask, options: k3), Float(want), accuracy: 1e-5)
        // no clamping: the negative token counts
        let raw = KLRewardOptions(clampMin: nil, clampMax: nil)
        XCTAssertEqual(try KLReward.turn(agentLogProbs: agent, teacherLogProbs: teacher, mask: mask, options: raw), -0.25, accuracy: 1e-6)
        // no mask: all three tokens
        XCTAssertEqual(try KLReward.turn(agentLogProbs: agent, teacherLogProbs: teacher), 1.0, accuracy: 1e-6)
        // forward k1 = r log r with r = π_T/π_A
        let f = KLReward.estimate(agentLogProb: -1, teacherLogProb: -0.5, estimator: .k1, direction: .forward)
        XCTAssertEqual(f, Float(exp(0.5) * 0.5), accuracy: 1e-5)
        XCTAssertGreaterThanOrEqual(KLReward.estimate(agentLogProb: -1, teacherLogProb: -3, estimator: .k3, direction: .forward), 0)
    }

    func testClampInvalidAndEmpty() throws {
        XCTAssertEqual(try KLReward.turn(agentLogProbs: [-0.1], teacherLogProbs: [-20]), 10)
        XCTAssertEqual(try KLReward.turn(agentLogProbs: agent, teacherLogProbs: teacher, mask: mask, invalid: true), 100)
        XCTAssertEqual(try KLReward.turn(agentLogProbs: agent, teacherLogProbs: teacher, mask: mask, invalid: true,
                                         options: KLRewardOptions(invalidValue: 7)), 7)
        XCTAssertEqual(try KLReward.turn(agentLogProbs: agent, teacherLogProbs: teacher, mask: [false, false, false]), 0)
        XCTAssertEqual(try KLReward.perToken(agentLogProbs: agent, teacherLogProbs: teacher, mask: mask), [0.5, 0, 0])
    }

    func testBatched() throws {
        let a = try Tensor([agent, [-0.1, 0, 0]]), t = try Tensor([teacher, [-20, 0, 0]])
        let m = try Tensor([[1, 1, 0], [1, 0, 0]])
        let r = try KLReward.turns(agent: a, teacher: t, mask: m)
        assertClose(r, [0.25, 10])
        XCTAssertEqual(try KLReward.turns(agent: a, teacher: t, mask: m, invalid: [false, true]), [0.25, 100])
        assertThrowsMessage(try KLReward.turns(agent: a, teacher: t, mask: Tensor([1, 1])), contains: "'mask'")
        assertThrowsMessage(try KLReward.turns(agent: a, teacher: t, mask: m, invalid: [true]), contains: "'invalid'")
        assertThrowsMessage(try KLReward.turn(agentLogProbs: [1, 2], teacherLogProbs: [1]), contains: "'teacher_logprobs'")
    }
}

final class GAETests: XCTestCase {
    // T = 3 steps, N = 2 envs (row-major [t * 2 + n]); env 0 is done at t = 1, env 1 at t = 2.
    let rewards: [Float] = [1, 0, 0, 0, 2, 1]
    let values: [Float] = [0.5, 0.2, 1.0, 0.4, 1.5, 0.6]
    let dones = [false, false, true, false, false, true]

    func testHandComputed() throws {
        let r = try GAE.compute(rewards: rewards, values: values, dones: dones, lastValues: [2.0, 5.0],
                                steps: 3, envs: 2, gamma: 0.9, lambda: 0.5)
        // env 0: A2 = 2 + 0.9·2 − 1.5 = 2.3; A1 = −1 (done: no bootstrap, trace cut); A0 = 1 + 0.9·1 − 0.5 + 0.45·(−1) = 0.95
        // env 1: A2 = 1 − 0.6 = 0.4 (done: last value 5 ignored); A1 = 0.9·0.6 − 0.4 + 0.45·0.4 = 0.32; A0 = 0.16 + 0.45·0.32 = 0.304
        assertClose(r.advantages, [0.95, 0.304, -1.0, 0.32, 2.3, 0.4])
        assertClose(r.returns, [1.45, 0.504, 0.0, 0.72, 3.8, 1.0])
        XCTAssertEqual(r[advantage: 2, 0], 2.3, accuracy: 1e-6)
        // tensor form agrees
        let (a, ret) = try GAE.compute(rewards: Tensor(rewards, shape: [3, 2]), values: Tensor(values, shape: [3, 2]),
                                       dones: Tensor(dones.map { $0 ? 1 : 0 }, shape: [3, 2]), lastValues: Tensor([2, 5]),
                                       gamma: 0.9, lambda: 0.5)
        XCTAssertEqual(a.shape, [3, 2])
        assertClose(a.toArray(), r.advantages)
        assertClose(ret.toArray(), r.returns)
    }

    func testLambdaOneIsDiscountedReturn() throws {
        // one env, no dones, lambda 1: returns are discounted sums with the bootstrap
        let r = try GAE.compute(rewards: [1, 1, 1], values: [0.3, -0.2, 0.7], dones: [false, false, false], lastValues: [10],
                                steps: 3, envs: 1, gamma: 0.5, lambda: 1)
        assertClose(r.returns, [1 + 0.5 + 0.25 + 0.125 * 10, 1 + 0.5 + 0.25 * 10, 1 + 0.5 * 10])
    }

    func testBadInputs() {
        assertThrowsMessage(try GAE.compute(rewards: [1], values: [1, 2], dones: [false], lastValues: [0], steps: 1, envs: 1, gamma: 0.9, lambda: 0.95), contains: "'values'")
        assertThrowsMessage(try GAE.compute(rewards: [1], values: [1], dones: [false], lastValues: [], steps: 1, envs: 1, gamma: 0.9, lambda: 0.95), contains: "'last_values'")
        assertThrowsMessage(try GAE.compute(rewards: [1], values: [1], dones: [false], lastValues: [0], steps: 1, envs: 1, gamma: 1.5, lambda: 0.95), contains: "'gamma'")
    }
}

final class PPOLossTests: XCTestCase {
    func inputs(newA: [Float], newT: [Float], oldA: [Float], oldT: [Float], adv: [Float], ret: [Float], val: [Float],
                oldVal: [Float]? = nil) throws -> (PPOInputs, Tensor, Tensor, Tensor) {
        let a = try Tensor(newA).setRequiresGrad(), t = try Tensor(newT).setRequiresGrad(), v = try Tensor(val).setRequiresGrad()
        let x = PPOInputs(newLogpAction: a, newLogpThought: t, oldLogpAction: Tensor(oldA), oldLogpThought: Tensor(oldT),
                          advantages: Tensor(adv), returns: Tensor(ret), values: v, oldValues: oldVal.map { Tensor($0) })
        return (x, a, t, v)
    }

    func testMatchesPyTorchAndClippedSamplesHaveZeroGradient() throws {
        let (x, a, t, v) = try inputs(newA: [-1.0, -2.0, -0.5, -3.0], newT: [-4.0, -1.0, -2.0, -2.5],
                                      oldA: [-1.2, -1.5, -0.5, -3.3], oldT: [-4.1, -1.2, -2.4, -2.0],
                                      adv: [1.0, -0.5, 2.0, 0.7], ret: [0.5, 1.0, -0.2, 0.3], val: [0.4, 0.7, 0.1, 0.6])
        let out = try PPOLoss.compute(x, config: PPOConfig(clip: 0.1, thoughtCoef: 0.5, valueCoef: 0.5))
        assertClose(out.policyLoss, -0.896472442)
        assertClose(out.valueLoss, 0.035)
        assertClose(try out.loss.item(), -0.878972442)
        assertClose(out.approxKL, 0.0317548293)
        XCTAssertEqual(out.clipFraction, 0.75)  // ratios 1.28, 0.67, 1.22 are outside [0.9, 1.1]
        assertClose(out.ratioMean, (1.28402542 + 0.670320046 + 1.22140276 + 1.0512711) / 4)
        try out.loss.backward()
        // samples 0–2 are clipped in the direction the advantage pushes: exactly zero gradient
        assertClose(a.grad!.toArray(), [0, 0, 0, -0.183972442], atol: 1e-7)
        assertClose(t.grad!.toArray(), [0, 0, 0, -0.0919862209], atol: 1e-7)
        assertClose(v.grad!.toArray(), [-0.0125, -0.0375, 0.0375, 0.0375], atol: 1e-7)
    }

    func testRatioOutsideRangeButNotClippedKeepsGradient() throws {
        // ratio 0.5 < 1 − ε with a positive advantage: min picks the unclipped term, gradient −ρA/B
        let (x, a, _, _) = try inputs(newA: [Float(log(0.5))], newT: [0], oldA: [0], oldT: [0], adv: [2], ret: [0], val: [0])
        let out = try PPOLoss.compute(x, config: PPOConfig(clip: 0.2))
        XCTAssertEqual(out.clipFraction, 1)
        try out.loss.backward()
        assertClose(a.grad!.toArray(), [-1.0])
        assertClose(out.policyLoss, -1.0)
    }

    func testRatioOneIsPlainPolicyGradientAndEntropyBonus() throws {
        let (x0, a, t, _) = try inputs(newA: [-1, -2], newT: [-3, -4], oldA: [-1, -2], oldT: [-3, -4], adv: [1, -2], ret: [0, 0], val: [0, 0])
        var x = x0
        x.entropy = Tensor([0.5, 1.5])
        let out = try PPOLoss.compute(x, config: PPOConfig(clip: 0.1, thoughtCoef: 0.5, entropyCoef: 0.1))
        XCTAssertEqual(out.approxKL, 0, accuracy: 1e-7)
        XCTAssertEqual(out.clipFraction, 0)
        XCTAssertEqual(out.entropy, 1)
        assertClose(try out.loss.item(), 0.5 - 0.1)  // −mean(A) − 0.1 · mean(H)
        try out.loss.backward()
        assertClose(a.grad!.toArray(), [-0.5, 1.0])
        assertClose(t.grad!.toArray(), [-0.25, 0.5])  // thought coefficient 0.5
    }

    func testClippedValueLoss() throws {
        // old value 0, new 1, return 2, clip 0.2: unclipped error 1, clipped prediction 0.2 → error 3.24; max → 3.24
        let (x, _, _, v) = try inputs(newA: [0], newT: [0], oldA: [0], oldT: [0], adv: [0], ret: [2], val: [1], oldVal: [0])
        let out = try PPOLoss.compute(x, config: PPOConfig(valueCoef: 1, valueClip: 0.2))
        assertClose(out.valueLoss, 0.5 * 3.24)
        try out.loss.backward()
        assertClose(v.grad!.toArray(), [0])  // the clipped branch has no gradient to the new value
        assertThrowsMessage(try PPOLoss.compute(inputs(newA: [0], newT: [0], oldA: [0], oldT: [0], adv: [0], ret: [0], val: [0]).0,
                                                config: PPOConfig(valueClip: 0.2)), contains: "'old_values'")
    }

    func testBadShapes() throws {
        let (x0, _, _, _) = try inputs(newA: [0, 0], newT: [0, 0], oldA: [0, 0], oldT: [0, 0], adv: [0, 0], ret: [0, 0], val: [0, 0])
        var x = x0
        x.advantages = Tensor([1, 2, 3])
        assertThrowsMessage(try PPOLoss.compute(x), contains: "'advantages'")
        assertThrowsMessage(try PPOLoss.compute(x0, config: PPOConfig(clip: 0)), contains: "'clip'")
    }
}

final class SampledKLAndPPOGradTests: XCTestCase {
    let agent: [Float] = [-1, -2, -0.5, -0.7, -3, -0.2], teacher: [Float] = [-1.5, -1, -3, -0.6, -2.2, -0.9]

    func testSampledKLValuesMatchTheRewardEstimates() throws {
        let m = try Tensor([1, 1, 0, 1, 0, 1], shape: [2, 3])
        for dir in KLDirection.allCases {
            for est in KLEstimator.allCases {
                let v = try Distill.sampledKL(agentLogProbs: Tensor(agent, shape: [2, 3]), teacherLogProbs: Tensor(teacher, shape: [2, 3]),
                                              mask: m, estimator: est, direction: dir, reduction: .none).toArray()
                let want = try KLReward.perToken(agentLogProbs: agent, teacherLogProbs: teacher, mask: [true, true, false, true, false, true],
                                                 options: KLRewardOptions(estimator: est, direction: dir, clampMin: nil, clampMax: nil))
                assertClose(v, want, "\(dir) \(est)")
            }
        }
    }

    func testSampledKLGradients() throws {
        let t = try Tensor(teacher, shape: [2, 3]), m = try Tensor([1, 1, 0, 1, 0, 1], shape: [2, 3])
        for dir in KLDirection.allCases {
            for est in KLEstimator.allCases {
                try gradCheck(agent, shape: [2, 3], "\(dir) \(est)") { a in
                    try Distill.sampledKL(agentLogProbs: a, teacherLogProbs: t, mask: m, estimator: est, direction: dir)
                }
            }
        }
        // reverse k3 gradient by hand: d/da [e^(t−a) − 1 − (t − a)] = 1 − e^(t−a)
        let a = try Tensor([-1.0]).setRequiresGrad()
        try Distill.sampledKL(agentLogProbs: a, teacherLogProbs: Tensor([-2.0]), reduction: .sum).backward()
        assertClose(a.grad!.toArray(), [Float(1 - exp(-1.0))])
    }

    func testPPOGradientsAgainstFiniteDifferences() throws {
        // ratios chosen away from the clip boundaries (finite differences are exact only off the kinks)
        let oldA: [Float] = [-1.2, -1.5, -0.5, -3.3, -2], oldT: [Float] = [-4.1, -1.2, -2.4, -2.0, -1]
        let newA: [Float] = [-1.0, -2.0, -0.5, -3.0, -2.6], newT: [Float] = [-4.0, -1.0, -2.0, -2.5, -1]
        let adv = Tensor([1.0, -0.5, 2.0, 0.7, 0.8]), ret = Tensor([0.5, 1.0, -0.2, 0.3, 0]), oldV = Tensor([0.3, 0.95, 0.1, 0.5, 0.1])
        let val: [Float] = [0.4, 0.7, 0.1, 0.6, 0.5]
        let cfg = PPOConfig(clip: 0.1, thoughtCoef: 0.5, valueCoef: 0.5, entropyCoef: 0.01, valueClip: 0.2)
        func loss(_ a: Tensor, _ t: Tensor, _ v: Tensor) throws -> Tensor {
            try PPOLoss.compute(PPOInputs(newLogpAction: a, newLogpThought: t, oldLogpAction: Tensor(oldA), oldLogpThought: Tensor(oldT),
                                          advantages: adv, returns: ret, values: v, oldValues: oldV, entropy: a.neg()), config: cfg).loss
        }
        try gradCheck(newA, shape: [5], "ppo action") { a in try loss(a, Tensor(newT), Tensor(val)) }
        try gradCheck(newT, shape: [5], "ppo thought") { t in try loss(Tensor(newA), t, Tensor(val)) }
        try gradCheck(val, shape: [5], "ppo value") { v in try loss(Tensor(newA), Tensor(newT), v) }
    }
}
