import Foundation
import MoonTensor

/// Hugging Face checkpoint directories: `config.json` plus `model.safetensors` or sharded `model-*.safetensors` with
/// `model.safetensors.index.json`; float32, float16 and bfloat16 weights; Llama and Qwen2 architectures.
public enum HFCheckpoint {
    /// The safetensors files of a directory, in a stable order (the index's shards, or the single file).
    public static func weightFiles(directory: String) throws -> [String] {
        let fm = FileManager.default
        let single = directory + "/model.safetensors"
        let index = directory + "/model.safetensors.index.json"
        if fm.fileExists(atPath: index) {
            guard let data = fm.contents(atPath: index), let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = obj["weight_map"] as? [String: Any] else {
                throw ModelError.checkpoint(path: index, reason: "not a safetensors index (no weight_map object)")
            }
            var shards: [String] = []
            for v in map.values {
                guard let s = v as? String, !s.contains("/"), !s.contains("..") else {
                    throw ModelError.checkpoint(path: index, reason: "weight_map entries must be file names in the directory, got \(v)")
                }
                if !shards.contains(s) { shards.append(s) }
            }
            guard !shards.isEmpty else { throw ModelError.checkpoint(path: index, reason: "weight_map is empty") }
            return shards.sorted().map { directory + "/" + $0 }
        }
        if fm.fileExists(atPath: single) { return [single] }
        throw ModelError.checkpoint(path: directory, reason: "no model.safetensors or model.safetensors.index.json (PyTorch .bin checkpoints are not supported)")
    }

    /// Loads a decoder from a directory. Every parameter must be present exactly once with its shape; a tied model
    /// ignores a stored `lm_head.weight`; other tensors (e.g. `rotary_emb.inv_freq`) are refused unless harmless buffers.
    public static func loadDecoder(directory: String) throws -> LlamaDecoder {
        let config = try LlamaConfig.load(path: directory + "/config.json")
        let files = try weightFiles(directory: directory)
        let dec = try ParameterInit.$zeroed.withValue(true) { try LlamaDecoder(config) }
        let params = Dictionary(uniqueKeysWithValues: dec.namedParameters())
        var loaded = Set<String>()
        for path in files {
            let f = try SafeTensors.open(path)
            for info in f.tensors {
                if config.tieWordEmbeddings && info.name == "lm_head.weight" { continue }
                if info.name.hasSuffix("rotary_emb.inv_freq") { continue }
                guard let p = params[info.name] else {
                    throw ModelError.checkpoint(path: path, reason: "unexpected tensor \(info.name) for a \(config.modelType) decoder")
                }
                guard info.dtype.isFloat else { throw ModelError.checkpoint(path: path, reason: "tensor \(info.name) has non-float dtype \(info.dtype.rawValue)") }
                guard info.shape == p.shape else {
                    throw ModelError.checkpoint(path: path, reason: "tensor \(info.name) has shape \(shapeString(info.shape)), the config needs \(shapeString(p.shape))")
                }
                guard loaded.insert(info.name).inserted else { throw ModelError.checkpoint(path: path, reason: "tensor \(info.name) appears twice") }
                let raw = try f.rawBytes(info.name)
                try Tensor.noGrad { try p.withUnsafeMutableFloats { SafeTensorsFile.convert(raw, dtype: info.dtype, into: $0) } }
            }
        }
        let missing = params.keys.filter { !loaded.contains($0) }.sorted()
        if !missing.isEmpty { throw ModelError.checkpoint(path: directory, reason: "missing tensors: " + missing.joined(separator: ", ")) }
        return dec
    }
}
