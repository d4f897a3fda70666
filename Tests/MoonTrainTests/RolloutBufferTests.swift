import XCTest
import MoonTensor
@testable import MoonTrain

final class RolloutBufferTests: XCTestCase {
    func step(_ obs: Int, tokens: Int, reward: Float, value: Float, done: Bool, invalid: Bool = false) throws -> RolloutStep<Int> {
        // the last two tokens are the action
        let ids = (0..<tokens).map { obs * 10 + $0 }
        let lps = (0..<tokens).map { -0.1 * Float($0 + 1) }
        return try RolloutStep(observation: obs, responseTokens: ids, tokenLogProbs: lps,
                               thoughtMask: (0..<tokens).map { $0 < tokens - 2 }, actionMask: (0..<tokens).map { $0 >= tokens - 2 },
                               value: value, reward: reward, done: done, invalid: invalid, text: "t\(obs)")
    }

    func filled() throws -> RolloutBuffer<Int> {
        let b = try RolloutBuffer<Int>(steps: 3, envs: 2)
        // same numbers as GAETests
        try b.append([step(0, tokens: 4, reward: 1, value: 0.5, done: false), step(1, tokens: 3, reward: 0, value: 0.2, done: false)])
        try b.append([step(2, tokens: 5, reward: 0, value: 1.0, done: true, invalid: true), step(3, tokens: 2, reward: 0, value: 0.4, done: false)])
        try b.append([step(4, tokens: 3, reward: 2, value: 1.5, done: false), step(5, tokens: 4, reward: 1, value: 0.6, done: true)])
        return b
    }

    func testSumsGAEAndBatch() throws {
        let s = try step(0, tokens: 4, reward: 0, value: 0, done: false)
        XCTAssertEqual(s.logpThought, -0.3, accuracy: 1e-6)  // −0.1 − 0.2
        XCTAssertEqual(s.logpAction, -0.7, accuracy: 1e-6)   // −0.3 − 0.4
        let b = try filled()
        XCTAssertTrue(b.isFull)
        XCTAssertEqual(b.invalidRate, 1.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(b.tokenCount, 21)
        assertThrowsMessage(try b.batch([0]), contains: "compute_advantages")
        try b.computeAdvantages(lastValues: [2, 5], gamma: 0.9, lambda: 0.5)
        assertClose(b.advantages!, [0.95, 0.304, -1.0, 0.32, 2.3, 0.4])
        let mb = try b.batch([2, 3], padToken: -1)
        XCTAssertEqual(mb.observations, [2, 3])
        XCTAssertEqual(mb.tokens.shape, [2, 5])
        XCTAssertEqual(mb.tokens.toIntArray(), [20, 21, 22, 23, 24, 30, 31, -1, -1, -1])
        XCTAssertEqual(mb.tokenMask.toArray(), [1, 1, 1, 1, 1, 1, 1, 0, 0, 0])
        XCTAssertEqual(mb.thoughtMask.toArray(), [1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(mb.actionMask.toArray(), [0, 0, 0, 1, 1, 1, 1, 0, 0, 0])
        assertClose(mb.advantages.toArray(), [-1.0, 0.32])
        assertClose(mb.returns.toArray(), [0.0, 0.72])
        assertClose(mb.oldLogpAction.toArray(), [-0.9, -0.3])
        XCTAssertEqual(mb.invalid, [true, false])
        XCTAssertEqual(mb.texts, ["t2", "t3"])
        // normalised advantages and the KL penalty
        try b.computeAdvantages(lastValues: [2, 5], gamma: 0.9, lambda: 0.5, penalty: [0, 0, 100, 0, 0, 0], beta: 1, normalize: true)
        let a = b.advantages!
        XCTAssertEqual(a.reduce(0, +) / 6, 0, accuracy: 1e-5)
        XCTAssertEqual(b.returns![2], -100, accuracy: 1e-4)
    }

    func testMinibatchesAreSeededPermutations() throws {
        let b = try filled()
        let m1 = try b.minibatches(batchSize: 4, seed: 7), m2 = try b.minibatches(batchSize: 4, seed: 7)
        XCTAssertEqual(m1, m2)
        XCTAssertEqual(m1.map(\.count), [4, 2])
        XCTAssertEqual(m1.flatMap { $0 }.sorted(), Array(0..<6))
        let others = try (1...5).map { try b.minibatches(batchSize: 6, seed: UInt64($0)) }
        XCTAssertTrue(others.contains { $0 != others[0] }, "different seeds should give different orders")
        XCTAssertEqual(try b.minibatches(batchSize: 4, seed: 7, dropLast: true).map(\.count), [4])
        assertThrowsMessage(try b.minibatches(batchSize: 0, seed: 1), contains: "'batch_size'")
    }

    func testErrors() throws {
        let b = try RolloutBuffer<Int>(steps: 1, envs: 2)
        assertThrowsMessage(try b.computeAdvantages(lastValues: [0, 0], gamma: 0.9, lambda: 0.95), contains: "not full")
        assertThrowsMessage(try b.append([step(0, tokens: 2, reward: 0, value: 0, done: false)]), contains: "'row'")
        try b.append([step(0, tokens: 2, reward: 0, value: 0, done: false), step(1, tokens: 2, reward: 0, value: 0, done: false)])
        assertThrowsMessage(try b.append([step(0, tokens: 2, reward: 0, value: 0, done: false), step(1, tokens: 2, reward: 0, value: 0, done: false)]), contains: "full")
        assertThrowsMessage(try RolloutStep(observation: 0, responseTokens: [1, 2], tokenLogProbs: [0], thoughtMask: [true, true],
                                            actionMask: [false, false], value: 0, reward: 0, done: false), contains: "'token_logprobs'")
        b.clear()
        XCTAssertEqual(b.count, 0)
    }

    func testAggregatedBufferFIFO() throws {
        let a = try AggregatedBuffer<Int>(capacity: 3)
        for i in 0..<5 { a.add(i, target: "x\(i)", tag: i) }
        XCTAssertEqual(a.count, 3)
        XCTAssertEqual(a.totalAdded, 5)
        XCTAssertEqual(a.entries.map(\.observation), [2, 3, 4])
        XCTAssertEqual(a[0].target, "x2")
        let s = try a.sample(2, seed: 3)
        XCTAssertEqual(s.count, 2)
        XCTAssertEqual(Set(s.map(\.observation)).count, 2)
        XCTAssertEqual(try a.sample(2, seed: 3).map(\.observation), s.map(\.observation))
        XCTAssertEqual(try a.minibatches(batchSize: 2, seed: 1).flatMap { $0 }.sorted(), [0, 1, 2])
        assertThrowsMessage(try AggregatedBuffer<Int>(capacity: 0), contains: "'capacity'")
    }
}
