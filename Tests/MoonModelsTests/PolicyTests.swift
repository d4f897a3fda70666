import Foundation
import XCTest
import MoonTensor
@testable import MoonModels

func tinyVLMConfig(seed: UInt64 = 1) -> VLMConfig {
    var c = VLMConfig()
    c.vision.imageSize = 16; c.vision.patchSize = 8; c.vision.width = 16; c.vision.layers = 1; c.vision.heads = 2
    c.decoder.hiddenSize = 32; c.decoder.numHiddenLayers = 2; c.decoder.numAttentionHeads = 4; c.decoder.numKeyValueHeads = 2
    c.decoder.intermediateSize = 48; c.decoder.initializerRange = 0.1
    c.seed = seed
    return c
}

func images(_ n: Int, seed: UInt64 = 5) -> Tensor { try! Tensor.rand([n, 3, 16, 16], generator: Generator(seed: seed)) }

final class PolicyTests: XCTestCase {
    let prompts = ["Target: 3", "Current: 1, target 4. What now?", "hi"]

    func testGenerateScoreConsistencyWithImagesAndPadding() throws {
        let p = try VLMPolicy(tinyVLMConfig())
        let im = images(3)
        var o = GenerateOptions()
        o.maxNewTokens = 10; o.temperature = 1.0; o.stopAtEos = false
        let g = try p.generate(images: im, prompts: prompts, options: o, generator: Generator(seed: 11))
        XCTAssertEqual(g.tokens.map(\.count), [10, 10, 10])
        XCTAssertEqual(g.values.count, 3)
        let s = try p.score(images: im, prompts: prompts, responses: g.tokens)
        let lp = s.logProbs.toArray(), ent = s.entropies.toArray(), vals = s.values.toArray()
        for b in 0..<3 {
            for k in 0..<10 {
                XCTAssertEqual(lp[b * 10 + k], g.logProbs[b][k], accuracy: 1e-4, "row \(b) token \(k)")
                XCTAssertEqual(ent[b * 10 + k], g.entropies[b][k], accuracy: 1e-4)
            }
            XCTAssertEqual(vals[b], g.values[b], accuracy: 1e-4)
        }
        // Padding side and batch composition do not change a row.
        o.greedy = true
        let left = try p.generate(images: im, prompts: prompts, options: o)
        o.padding = .right
        let right = try p.generate(images: im, prompts: prompts, options: o)
        XCTAssertEqual(left.tokens, right.tokens)
        for i in 0..<3 {
            let alone = try p.generate(images: try im.narrow(dim: 0, start: i, length: 1), prompts: [prompts[i]], options: o)
            XCTAssertEqual(alone.tokens[0], left.tokens[i])
            XCTAssertLessThan(maxAbsDiff(alone.logProbs[0], left.logProbs[i]), 1e-4)
            XCTAssertEqual(alone.values[0], left.values[i], accuracy: 1e-4)
        }
        // Scoring a row alone equals scoring it in a padded batch.
        let one = try p.score(images: try im.narrow(dim: 0, start: 2, length: 1), prompts: [prompts[2]], responses: [g.tokens[2]])
        XCTAssertLessThan(maxAbsDiff(one.logProbs.toArray(), Array(lp[20..<30])), 1e-4)
    }

    func testTextOnlyGeneration() throws {
        let p = try VLMPolicy(tinyVLMConfig())
        var o = GenerateOptions(); o.greedy = true; o.maxNewTokens = 5; o.stopAtEos = false
        let g = try p.generate(images: nil, prompts: ["abc"], options: o)
        let s = try p.score(images: nil, prompts: ["abc"], responses: g.tokens)
        XCTAssertLessThan(maxAbsDiff(s.logProbs.toArray(), g.logProbs[0]), 1e-4)
    }

    func testActionMasks() throws {
        let tk = ByteTokenizer()
        let r1 = tk.encode("{\"thoughts\": \"go right\", \"Action\": \"+\"}") + [ByteTokenizer.eos]
        let r2 = tk.encode("{\"thoughts\": \"no idea\"}")
        XCTAssertEqual(Scoring.actionStart(r1), 25)
        XCTAssertNil(Scoring.actionStart(r2))
        // the env's rule (AnswerFormat): whitespace before the colon still starts the action, so the masks PPO
        // trains on agree with the reward the env gave
        let r3 = tk.encode("{\"thoughts\": \"x\", \"action\" : \"+\"}")
        XCTAssertEqual(Scoring.actionStart(r3), 18)
        XCTAssertEqual(Scoring.masks([r3], width: r3.count).hasAction, [true])
        let p = try VLMPolicy(tinyVLMConfig())
        let s = try p.score(images: images(2), prompts: ["a", "b"], responses: [r1, r2])
        XCTAssertEqual(s.hasAction, [true, false])
        let w = r1.count
        let am = s.actionMask.toArray(), tm = s.thoughtMask.toArray(), m = s.mask.toArray()
        XCTAssertEqual(am[0..<w].reduce(0, +), Float(w - 25))
        XCTAssertEqual(tm[0..<w].reduce(0, +), 25)
        XCTAssertEqual(am[w..<(2 * w)].reduce(0, +), 0)
        XCTAssertEqual(tm[w..<(2 * w)].reduce(0, +), Float(r2.count))
        XCTAssertEqual(m.reduce(0, +), Float(r1.count + r2.count))
        let seq = try s.sequenceLogProbs(thoughtCoef: 0.5).toArray()
        let lp = s.logProbs.toArray()
        XCTAssertEqual(seq[0], lp[25..<w].reduce(0, +) + 0.5 * lp[0..<25].reduce(0, +), accuracy: 1e-3)
    }

    /// d(loss)/d(parameter) from backward matches central finite differences.
    func testScoringGradientMatchesFiniteDifferences() throws {
        var c = tinyVLMConfig(seed: 4)
        c.decoder.hiddenSize = 16; c.decoder.intermediateSize = 24; c.decoder.numHiddenLayers = 1; c.decoder.initializerRange = 0.3
        let p = try VLMPolicy(c)
        let im = images(2, seed: 9)
        let prompts = ["ab", "xyz!"], responses = [[104, 105, 257], [34, 97, 99, 116, 105, 111, 110, 34, 58, 49]]
        func loss() throws -> Tensor {
            let s = try p.score(images: im, prompts: prompts, responses: responses)
            return try s.sequenceLogProbs(thoughtCoef: 0.5).sum().add(s.values.square().sum()).add(s.meanEntropy())
        }
        zeroGrad(p.parameters())
        try loss().backward()
        let named = Dictionary(uniqueKeysWithValues: p.namedParameters())
        for name in ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight", "model.embed_tokens.weight",
                     "vision.patch_embed.weight", "projector.fc1.weight", "value_head.weight", "model.norm.weight",
                     "vision.layers.0.attn.k_proj.bias"] {
            let t = named[name]!
            let g = t.grad!.toArray()
            // Check the three largest-gradient elements.
            let idx = g.indices.sorted { abs(g[$0]) > abs(g[$1]) }.prefix(3)
            for i in idx {
                let eps: Float = abs(g[i]) > 10 ? 1e-3 : 1e-2
                let orig = t.mPtr[i]
                t.mPtr[i] = orig + eps
                let up = try Tensor.noGrad { try loss().item() }
                t.mPtr[i] = orig - eps
                let dn = try Tensor.noGrad { try loss().item() }
                t.mPtr[i] = orig
                let fd = (up - dn) / (2 * eps)
                XCTAssertEqual(g[i], fd, accuracy: 5e-3 + 0.03 * abs(fd), "\(name)[\(i)]: backward \(g[i]) vs finite difference \(fd)")
            }
        }
    }

    func testLoRAMergeEqualsAdapterForward() throws {
        let p = try VLMPolicy(tinyVLMConfig())
        let names = try p.enableLoRA(LoRAConfig(rank: 4, alpha: 8, targets: ["self_attn\\.(q|v)_proj", "mlp\\.down_proj"]))
        XCTAssertEqual(names.count, 6)
        let q = try VLMPolicy(tinyVLMConfig())
        XCTAssertEqual(try q.enableLoRA(LoRAConfig()).count, 8, "default: the decoder's attention projections only")
        XCTAssertTrue(LoRA.adapted(q).allSatisfy { $0.0.hasPrefix("model.layers.") })
        let trainable = p.namedTrainableParameters().map(\.0)
        XCTAssertEqual(trainable.count, 14)
        XCTAssertTrue(trainable.allSatisfy { $0.contains(".lora_A.") || $0.contains(".lora_B.") || $0.hasPrefix("value_head.") }, "\(trainable)")
        XCTAssertTrue(p.stateDict().keys.contains("model.layers.1.mlp.down_proj.lora_B.weight"))
        // B starts at zero: the adapted model equals the base; give B values so the adapter matters.
        let base = try p.score(images: images(2), prompts: ["a", "bc"], responses: [[1, 2, 3], [4, 5]]).logProbs.toArray()
        try Tensor.noGrad { for (_, t) in LoRA.adapterParameters(p) where true { _ = try t.add_(Tensor.randn(t.shape, std: 0.2, generator: Generator(seed: 2))) } }
        let adapted = try p.score(images: images(2), prompts: ["a", "bc"], responses: [[1, 2, 3], [4, 5]]).logProbs.toArray()
        XCTAssertGreaterThan(maxAbsDiff(base, adapted), 1e-4)
        var o = GenerateOptions(); o.greedy = true; o.maxNewTokens = 6; o.stopAtEos = false
        let gen = try p.generate(images: images(2), prompts: ["a", "bc"], options: o)
        let sc = try p.score(images: images(2), prompts: ["a", "bc"], responses: gen.tokens).logProbs.toArray()
        XCTAssertLessThan(maxAbsDiff(sc, gen.logProbs.flatMap { $0 }), 1e-4, "generation applies the adapters")
        // Training a step only moves adapters.
        let before = p.stateDict().mapValues { $0.toArray() }
        let opt = try AdamW(p.trainableParameters(), lr: 1e-2)
        let l = try p.score(images: images(2), prompts: ["a", "bc"], responses: [[1, 2, 3], [4, 5]]).sequenceLogProbs().sum().neg()
        try l.backward(); try opt.step()
        for (n, t) in p.stateDict() where !n.contains("lora_") && !n.hasPrefix("value_head") { XCTAssertEqual(t.toArray(), before[n]!, n) }
        let adapted2 = try p.score(images: images(2), prompts: ["a", "bc"], responses: [[1, 2, 3], [4, 5]]).logProbs.toArray()
        try p.mergeLoRA()
        XCTAssertNil(p.loraConfig)
        XCTAssertFalse(p.stateDict().keys.contains { $0.contains("lora_") })
        XCTAssertEqual(p.trainableParameters().count, p.parameters().count)
        let merged = try p.score(images: images(2), prompts: ["a", "bc"], responses: [[1, 2, 3], [4, 5]]).logProbs.toArray()
        XCTAssertLessThan(maxAbsDiff(merged, adapted2), 1e-4)
        XCTAssertThrowsError(try p.enableLoRA(LoRAConfig(targets: ["nothing_matches"]))) { XCTAssertTrue("\($0)".contains("lora.targets")) }
        XCTAssertThrowsError(try p.enableLoRA(LoRAConfig(rank: 0))) { XCTAssertTrue("\($0)".contains("lora.rank")) }
    }

    func testCheckpointRoundTripAndClone() throws {
        let p = try VLMPolicy(tinyVLMConfig(seed: 3))
        try p.enableLoRA(LoRAConfig(rank: 2, targets: ["q_proj"]))
        try Tensor.noGrad { for (_, t) in LoRA.adapterParameters(p) { _ = try t.add_(Tensor.randn(t.shape, std: 0.1)) } }
        let path = tmpPath("policy.safetensors")
        try p.save(path: path)
        let q = try VLMPolicy.load(path: path)
        XCTAssertEqual(q.config, p.config)
        XCTAssertEqual(q.loraConfig, p.loraConfig)
        let a = p.stateDict(), b = q.stateDict()
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (k, v) in a { XCTAssertEqual(v.toArray(), b[k]!.toArray(), k) }
        let c = try p.clone()
        let s1 = try p.score(images: images(1), prompts: ["x"], responses: [[7, 8]]).logProbs.toArray()
        XCTAssertEqual(try c.score(images: images(1), prompts: ["x"], responses: [[7, 8]]).logProbs.toArray(), s1)
        XCTAssertEqual(try q.score(images: images(1), prompts: ["x"], responses: [[7, 8]]).logProbs.toArray(), s1)
        XCTAssertEqual(c.trainableParameters().count, p.trainableParameters().count)
        // The clone is independent.
        try Tensor.noGrad { _ = try c.decoder.model.norm.weight.mul_(2) }
        XCTAssertEqual(try p.score(images: images(1), prompts: ["x"], responses: [[7, 8]]).logProbs.toArray(), s1)
        // The HF part of the policy loads in the decoder alone.
        let dir = tmpPath("policy-hf")
        try p.decoder.saveHF(directory: dir)
        let hf = try LlamaDecoder.loadHF(directory: dir)
        let ids = Tensor.fromInts([1, 2, 3, 4, 5], [1, 5])
        XCTAssertLessThan(maxAbsDiff(try hf(ids).toArray(), try p.decoder(ids).toArray()), 1e-5, "adapters are folded into the export")
    }

    func testMismatchedCheckpointListsAllDifferences() throws {
        var c2 = tinyVLMConfig()
        c2.vision.layers = 2; c2.decoder.intermediateSize = 40
        let other = try VLMPolicy(c2)
        let path = tmpPath("other.safetensors")
        try other.save(path: path)
        let p = try VLMPolicy(tinyVLMConfig())
        let before = p.decoder.model.norm.weight.toArray()
        XCTAssertThrowsError(try p.loadWeights(path: path)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("unexpected"), m)
            XCTAssertTrue(m.contains("vision.layers.1.attn.q_proj.weight"), m)
            XCTAssertTrue(m.contains("model.layers.0.mlp.gate_proj.weight (expected [48, 32], got [40, 32])"), m)
            XCTAssertTrue(m.contains("model.layers.1.mlp.down_proj.weight"), m)
        }
        XCTAssertEqual(p.decoder.model.norm.weight.toArray(), before, "nothing loaded on error")
        // Missing tensors.
        var d = p.stateDict(); d["value_head.bias"] = nil; d["model.norm.weight"] = nil
        XCTAssertThrowsError(try p.loadStateDict(d)) { e in
            XCTAssertTrue("\(e)".contains("missing 2 tensor(s): model.norm.weight, value_head.bias"), "\(e)")
        }
        XCTAssertNoThrow(try p.loadStateDict(d, strict: false))
        XCTAssertThrowsError(try VLMPolicy.load(path: tmpPath("does-not-exist.safetensors")))
    }

    func testConfigErrorsNameTheField() throws {
        var c = tinyVLMConfig(); c.vision.patchSize = 5
        XCTAssertThrowsError(try VLMPolicy(c)) { XCTAssertTrue("\($0)".contains("vision.patch_size"), "\($0)") }
        c = tinyVLMConfig(); c.decoder.numKeyValueHeads = 3
        XCTAssertThrowsError(try VLMPolicy(c)) { XCTAssertTrue("\($0)".contains("decoder.num_key_value_heads"), "\($0)") }
        c = tinyVLMConfig(); c.decoder.vocabSize = 100
        XCTAssertThrowsError(try VLMPolicy(c)) { XCTAssertTrue("\($0)".contains("decoder.vocab_size"), "\($0)") }
        XCTAssertThrowsError(try VLMConfig.fromJSON("{\"vision\": {\"widht\": 3}}")) { XCTAssertTrue("\($0)".contains("vision.widht"), "\($0)") }
        XCTAssertThrowsError(try VLMConfig.fromJSON("{\"decoder\": {\"hidden_size\": true}}")) { XCTAssertTrue("\($0)".contains("decoder.hidden_size"), "\($0)") }
        let round = try VLMConfig.fromJSON(tinyVLMConfig(seed: 77).json())
        XCTAssertEqual(round, tinyVLMConfig(seed: 77))
        XCTAssertEqual(try VLMConfig.fromJSON(VLMConfig().json()), VLMConfig())
        let p = try VLMPolicy(tinyVLMConfig())
        XCTAssertThrowsError(try p.generate(images: images(2), prompts: ["a"])) { XCTAssertTrue("\($0)".contains("2 images for 1 prompts")) }
        XCTAssertThrowsError(try p.score(images: try Tensor.zeros([1, 3, 8, 8]), prompts: ["a"], responses: [[1]])) {
            XCTAssertTrue("\($0)".contains("expected float32 images"), "\($0)")
        }
    }

    func testDefaultConfigSizes() throws {
        let c = VLMConfig()
        XCTAssertEqual(c.vision.numPatches, 16)
        XCTAssertEqual(c.decoder.vocabSize, 260)
        let p = try VLMPolicy(c)
        XCTAssertGreaterThan(p.parameterCount, 800_000)
        var o = GenerateOptions(); o.maxNewTokens = 4
        let g = try p.generate(images: try Tensor.rand([2, 3, 64, 64]), prompts: ["a", "b"], options: o, generator: Generator(seed: 1))
        XCTAssertEqual(g.tokens.count, 2)
    }
}

final class ConfigJSONTests: XCTestCase {
    func testHFConfigBooleansAndNumbers() throws {
        func parse(_ s: String) throws -> LlamaConfig {
            try LlamaConfig.fromHF(JSON.parse(s))
        }
        XCTAssertTrue(try parse("{\"tie_word_embeddings\": true}").tieWordEmbeddings)
        XCTAssertFalse(try parse("{\"tie_word_embeddings\": false}").tieWordEmbeddings)
        XCTAssertThrowsError(try parse("{\"tie_word_embeddings\": 1}")) { XCTAssertTrue("\($0)".contains("tie_word_embeddings")) }
        XCTAssertEqual(try parse("{\"hidden_size\": 64, \"num_attention_heads\": 2}").hiddenSize, 64)
        XCTAssertThrowsError(try parse("{\"hidden_size\": 64.5}")) { XCTAssertTrue("\($0)".contains("hidden_size")) }
        XCTAssertThrowsError(try parse("{\"hidden_size\": false}")) { XCTAssertTrue("\($0)".contains("hidden_size")) }
        XCTAssertThrowsError(try parse("{\"rms_norm_eps\": true}")) { XCTAssertTrue("\($0)".contains("rms_norm_eps")) }
        XCTAssertEqual(try parse("{\"rope_theta\": 500000}").ropeTheta, 500000)
        XCTAssertThrowsError(try parse("{\"hidden_act\": \"gelu\"}")) { XCTAssertTrue("\($0)".contains("hidden_act")) }
        XCTAssertThrowsError(try parse("{\"num_key_value_heads\": 3}")) { XCTAssertTrue("\($0)".contains("num_key_value_heads")) }
        XCTAssertThrowsError(try parse("[1]")) { XCTAssertTrue("\($0)".contains("JSON object"), "\($0)") }
        // the config written is the config read (one strict JSON type both ways)
        var c = LlamaConfig(); c.headDim = 64; c.tieWordEmbeddings = true; c.ropeTheta = 500000
        XCTAssertEqual(try LlamaConfig.fromHF(JSON.parse(c.hfJSON())), c)
        let v = tinyVLMConfig(seed: 1 << 40)
        XCTAssertEqual(try VLMConfig.fromJSON(v.json()), v)
        XCTAssertThrowsError(try VLMConfig.fromJSON("{\"pretrained\": 1}")) { XCTAssertTrue("\($0)".contains("pretrained"), "\($0)") }
    }
}

final class ModuleTests: XCTestCase {
    func testNamedTensorsRoundTripAndTrainEval() throws {
        let p = try VLMPolicy(tinyVLMConfig(seed: 8))
        let q = try VLMPolicy(tinyVLMConfig(seed: 9))
        try q.loadNamedTensors(p.namedTensors())
        for ((n, a), (_, b)) in zip(p.namedParameters(), q.namedParameters()) { XCTAssertEqual(a.toArray(), b.toArray(), n) }
        XCTAssertTrue(q.training)
        q.eval()
        XCTAssertTrue(q.namedModules().allSatisfy { !$0.1.training })
        q.train()
        XCTAssertTrue(q.vision!.layers[0].attn.training)
        // Names follow transformers for the decoder.
        let names = Set(p.stateDict().keys)
        for n in ["model.embed_tokens.weight", "model.layers.1.self_attn.o_proj.weight", "model.layers.0.mlp.up_proj.weight",
                  "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight", "model.norm.weight",
                  "lm_head.weight", "vision.pos_embed", "vision.patch_embed.weight", "projector.fc2.bias", "value_head.weight"] {
            XCTAssertTrue(names.contains(n), n)
        }
    }

    func testTopKOneIsGreedyAndRepetitionPenaltyRuns() throws {
        let dec = try LlamaDecoder.loadHF(directory: Fixture.llamaDir)
        var o = GenerateOptions(); o.maxNewTokens = 6; o.stopAtEos = false; o.greedy = true
        let greedy = try dec.generate(prompts: [[3, 4, 5]], options: o)
        o.greedy = false; o.topK = 1; o.temperature = 0.7
        let k1 = try dec.generate(prompts: [[3, 4, 5]], options: o, generator: Generator(seed: 42))
        XCTAssertEqual(k1.tokens, greedy.tokens)
        o.repetitionPenalty = 1.5; o.topK = 5
        let rp = try dec.generate(prompts: [[3, 4, 5]], options: o, generator: Generator(seed: 42))
        XCTAssertEqual(rp.tokens[0].count, 6)
    }
}
