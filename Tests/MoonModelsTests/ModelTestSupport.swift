import Foundation
import XCTest
import MoonTensor
@testable import MoonModels

enum Fixture {
    static var llamaDir: String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/llama").path
    }
    static func json(_ path: String) -> [String: Any] {
        let data = FileManager.default.contents(atPath: path)!
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

func flatFloats(_ a: Any) -> [Float] {
    if let n = a as? NSNumber { return [n.floatValue] }
    if let arr = a as? [Any] { return arr.flatMap { flatFloats($0) } }
    return []
}

func maxRelErr(_ got: [Float], _ want: [Float]) -> Float {
    var md: Float = 0, mw: Float = 0
    for (g, w) in zip(got, want) { md = max(md, abs(g - w)); mw = max(mw, abs(w)) }
    return md / max(mw, 1e-12)
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

func tmpPath(_ name: String) -> String {
    let dir = NSTemporaryDirectory() + "moonlab-models-tests-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir + "/" + name
}

func tinyLlamaConfig(vocab: Int = 40, hidden: Int = 16, layers: Int = 2, heads: Int = 4, kvHeads: Int = 2, inter: Int = 24) -> LlamaConfig {
    var c = LlamaConfig()
    c.vocabSize = vocab; c.hiddenSize = hidden; c.numHiddenLayers = layers; c.numAttentionHeads = heads
    c.numKeyValueHeads = kvHeads; c.intermediateSize = inter; c.initializerRange = 0.2
    return c
}
