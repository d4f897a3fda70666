import XCTest
import MoonTensor
@testable import MoonTrain

/// The pieces composed: rollouts, GAE, PPO loss through MoonTensor autograd into an optimiser (the same steps
/// stdlib/gtr/core.lua takes); and distillation driving a student onto its teacher.
final class IntegrationTests: XCTestCase {
    func testPPOLearnsAContextualBandit() throws {
        // policy: a thought token and an action token, each from a logits table indexed by the observation (0 or 1);
        // reward 1 when the action token equals the observation. Episodes of 2 steps, T = 4 steps × N = 8 envs.
        let g = Generator(seed: 42)
        let wt = try Tensor.zeros([2, 3]).setRequiresGrad(), wa = try Tensor.zeros([2, 3]).setRequiresGrad()
        let v = try Tensor.zeros([2]).setRequiresGrad()
        let opt = try Adam([wt, wa, v], lr: 0.1)
        let steps = 4, envs = 8, n = steps * envs
        let actionMask = try Tensor([Float](repeating: 0, count: n).enumerated().flatMap { _ in [Float(0), 1] }, shape: [n, 2])
        let thoughtMask = try Tensor([Float](repeating: 0, count: n).enumerated().flatMap { _ in [Float(1), 0] }, shape: [n, 2])
        func policy(_ obs: Tensor) throws -> (logits: Tensor, values: Tensor) {
            let logits = try Tensor.stack([wt.indexSelect(dim: 0, index: obs), wa.indexSelect(dim: 0, index: obs)], dim: 1)  // [B, 2, 3]
            return (logits, try v.indexSelect(dim: 0, index: obs))
        }
        func successProb() throws -> Float {
            try Tensor.noGrad { let p = try wa.softmax(dim: 1).toArray(); return (p[0] + p[4]) / 2 }
        }
        let start = try successProb()
        var lastStats: PPOOutput? = nil
        var rates: [Float] = []
        for _ in 0..<15 {
            // rollout, row-major [T, N]
            var obs: [Int] = [], tokens: [Int] = [], logps: [Float] = [], values: [Float] = [], rewards: [Float] = [], dones: [Bool] = []
            for t in 0..<steps {
                let o = (0..<envs).map { _ in g.nextInt(0, 2) }
                try Tensor.noGrad {
                    let (logits, vals) = try policy(Tensor(ints: o))
                    let toks = try logits.softmax(dim: -1).reshape([2 * envs, 3]).multinomial(numSamples: 1, generator: g).reshape([envs, 2])
                    logps += try tokenLogProbs(logits: logits, tokens: toks).toArray()
                    let ids = toks.toIntArray()
                    tokens += ids; values += vals.toArray(); obs += o
                    rewards += (0..<envs).map { ids[2 * $0 + 1] == o[$0] ? 1 : 0 }
                    dones += Array(repeating: t % 2 == 1, count: envs)
                }
            }
            rates.append(rewards.reduce(0, +) / Float(n))
            let gae = try GAE.compute(rewards: rewards, values: values, dones: dones, lastValues: Array(repeating: 0, count: envs),
                                      steps: steps, envs: envs, gamma: 0.9, lambda: 0.95)
            let adv = try Tensor(gae.advantages, shape: [n])
            let normAdv = try adv.sub(adv.mean()).div(adv.std().add(1e-8))
            let oldLp = try Tensor(logps, shape: [n, 2])
            let oldAction = try oldLp.mul(actionMask).sum(dim: 1), oldThought = try oldLp.mul(thoughtMask).sum(dim: 1)
            for _ in 0..<4 {
                let (logits, newValues) = try policy(Tensor(ints: obs))
                let lp = try tokenLogProbs(logits: logits, tokens: Tensor(ints: tokens, shape: [n, 2]))
                let out = try PPOLoss.compute(PPOInputs(
                    newLogpAction: lp.mul(actionMask).sum(dim: 1), newLogpThought: lp.mul(thoughtMask).sum(dim: 1),
                    oldLogpAction: oldAction, oldLogpThought: oldThought, advantages: normAdv,
                    returns: try Tensor(gae.returns, shape: [n]), values: newValues, oldValues: try Tensor(values, shape: [n]),
                    entropy: tokenEntropy(logits: logits)), config: PPOConfig(clip: 0.2, entropyCoef: 0.01))
                opt.zeroGrad()
                try out.loss.backward()
                try opt.step()
                lastStats = out
            }
        }
        let end = try successProb()
        XCTAssertLessThan(start, 0.4)
        XCTAssertGreaterThan(end, 0.9, "success probability \(start) → \(end)")
        let st = try XCTUnwrap(lastStats)
        XCTAssertTrue(st.approxKL.isFinite && st.approxKL >= -1e-6)
        XCTAssertTrue((0...1).contains(st.clipFraction))
        XCTAssertGreaterThan(rates.suffix(3).reduce(0, +), rates.prefix(3).reduce(0, +), "\(rates)")
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
