import XCTest
import MoonTensor
@testable import MoonTrain

/// The pieces composed: rollouts into the buffer, GAE, minibatches, PPO loss through MoonTensor autograd into an
/// optimiser; and distillation driving a student onto its teacher.
final class IntegrationTests: XCTestCase {
    func testPPOLearnsAContextualBandit() throws {
        // policy: a thought token and an action token, each from a logits table indexed by the observation (0 or 1);
        // reward 1 when the action token equals the observation. Episodes of 2 steps.
        let g = Generator(seed: 42)
        let wt = try Tensor.zeros([2, 3]).setRequiresGrad(), wa = try Tensor.zeros([2, 3]).setRequiresGrad()
        let v = try Tensor.zeros([2]).setRequiresGrad()
        let opt = try Adam([wt, wa, v], lr: 0.1)
        let tracker = try EpisodeTracker(envs: 8)
        func policy(_ obs: Tensor) throws -> (logits: Tensor, values: Tensor) {
            let logits = try Tensor.stack([wt.indexSelect(dim: 0, index: obs), wa.indexSelect(dim: 0, index: obs)], dim: 1)  // [B, 2, 3]
            return (logits, try v.indexSelect(dim: 0, index: obs))
        }
        func successProb() throws -> Float {
            try Tensor.noGrad { let p = try wa.softmax(dim: 1).toArray(); return (p[0] + p[4]) / 2 }
        }
        let start = try successProb()
        var lastStats: PPOOutput? = nil
        var firstSummary: MetricsRecord? = nil, lastSummary = MetricsRecord()
        for update in 0..<15 {
            let buf = try RolloutBuffer<Int>(steps: 4, envs: 8)
            for t in 0..<4 {
                let obs = (0..<8).map { _ in g.nextInt(0, 2) }
                let row: [RolloutStep<Int>] = try Tensor.noGrad {
                    let (logits, values) = try policy(Tensor(ints: obs))
                    let probs = try logits.softmax(dim: -1).reshape([16, 3])
                    let toks = try probs.multinomial(numSamples: 1, generator: g).reshape([8, 2])
                    let lp = try tokenLogProbs(logits: logits, tokens: toks).toArray()
                    let ids = toks.toIntArray(), vals = values.toArray()
                    return try (0..<8).map { n in
                        try RolloutStep(observation: obs[n], responseTokens: [ids[2 * n], ids[2 * n + 1]],
                                        tokenLogProbs: [lp[2 * n], lp[2 * n + 1]], thoughtMask: [true, false], actionMask: [false, true],
                                        value: vals[n], reward: ids[2 * n + 1] == obs[n] ? 1 : 0, done: t % 2 == 1)
                    }
                }
                try buf.append(row)
                try tracker.record(rewards: row.map(\.reward), dones: row.map(\.done), successes: row.map { $0.reward > 0 })
            }
            try buf.computeAdvantages(lastValues: Array(repeating: 0, count: 8), gamma: 0.9, lambda: 0.95, normalize: true)
            for epoch in 0..<2 {
                for idx in try buf.minibatches(batchSize: 16, seed: UInt64(update * 10 + epoch)) {
                    let mb = try buf.batch(idx)
                    let (logits, values) = try policy(Tensor(ints: mb.observations))
                    let lp = try tokenLogProbs(logits: logits, tokens: mb.tokens)
                    let out = try PPOLoss.compute(PPOInputs(
                        newLogpAction: lp.mul(mb.actionMask).sum(dim: 1), newLogpThought: lp.mul(mb.thoughtMask).sum(dim: 1),
                        oldLogpAction: mb.oldLogpAction, oldLogpThought: mb.oldLogpThought, advantages: mb.advantages,
                        returns: mb.returns, values: values, oldValues: mb.oldValues,
                        entropy: tokenEntropy(logits: logits)), config: PPOConfig(clip: 0.2, entropyCoef: 0.01))
                    opt.zeroGrad()
                    try out.loss.backward()
                    try opt.step()
                    lastStats = out
                }
            }
            let s = tracker.summary()
            if firstSummary == nil { firstSummary = s }
            lastSummary = s
        }
        let end = try successProb()
        XCTAssertLessThan(start, 0.4)
        XCTAssertGreaterThan(end, 0.9, "success probability \(start) → \(end)")
        let st = try XCTUnwrap(lastStats)
        XCTAssertTrue(st.approxKL.isFinite && st.approxKL >= -1e-6)
        XCTAssertTrue((0...1).contains(st.clipFraction))
        XCTAssertGreaterThan(lastSummary.number("success_rate")!, firstSummary!.number("success_rate")!)
        // the thought table got gradient through thought_coef too (its logits moved)
        XCTAssertGreaterThan(try wt.abs().sum().item(), 0)
    }

    func testDistillationConvergesToTheTeacher() throws {
        let teacher = try Tensor((0..<20).map { Float(sin(Double($0))) * 3 }, shape: [4, 5])
        for div in DistillDivergence.allCases {
            let s = try Tensor.zeros([4, 5]).setRequiresGrad()
            let opt = try Adam([s], lr: 0.1)
            var first: Float = 0, last: Float = 0
            for i in 0..<150 {
                let l = try Distill.loss(student: s, teacher: teacher, divergence: div)
                if i == 0 { first = try l.item() }
                last = try l.item()
                opt.zeroGrad(); try l.backward(); try opt.step()
            }
            XCTAssertLessThan(last, first * 0.01, "\(div): \(first) → \(last)")
        }
    }
}
