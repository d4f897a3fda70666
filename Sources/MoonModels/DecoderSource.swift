import Foundation
import MoonCheckpoint
import MoonTensor

/// Where a pretrained policy's decoder came from: the file (or Hugging Face directory) `moon.lm.load` read, with a
/// fingerprint of it, and a hash of the decoder weights as loaded. A policy checkpoint stores this reference instead
/// of the 135M frozen base weights whenever those weights are still exactly the loaded ones (`save` checks the hash),
/// so a pool of LoRA checkpoints costs megabytes, not 540 MB each; `VLMPolicy.load` reads the base back from the
/// source and refuses a source whose fingerprint or loaded weights differ.
public struct DecoderSource: Sendable, Equatable {
    /// Absolute path of the file or directory.
    public var path: String
    /// Total size in bytes of the file (or of the directory's config and weight files).
    public var size: Int
    /// Hex FNV-1a-64 of sampled blocks (head, tail and every 4 MiB) of the file(s) together with the size.
    public var fingerprint: String
    /// Hex hash of the base decoder weights as loaded (float32 bits, `weightHash`).
    public var weightHash: String

    /// Fingerprints `path` (as `LanguageModel.load` accepts it) and records the hash of `decoder`'s base weights.
    static func make(path: String, decoder: LlamaDecoder) throws -> DecoderSource {
        let abs = URL(fileURLWithPath: path).standardizedFileURL.path
        let (size, fp) = try fingerprint(of: abs)
        return DecoderSource(path: abs, size: size, fingerprint: fp, weightHash: hex(weightHash(baseParameters(decoder))))
    }

    /// The files that make up a source: the file itself, or a directory's config.json, tokenizer.json and weight files.
    static func files(_ path: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelError.checkpoint(path: path, reason: "no such file or directory")
        }
        guard isDir.boolValue else { return [path] }
        var out = [path + "/config.json"]
        if FileManager.default.fileExists(atPath: path + "/tokenizer.json") { out.append(path + "/tokenizer.json") }
        return out + (try HFCheckpoint.weightFiles(directory: path))
    }

    static func fingerprint(of path: String) throws -> (Int, String) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: UnsafeRawBufferPointer) {
            for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        }
        var total = 0
        let block = 65536, stride = 4 << 20
        for f in try files(path) {
            let fd: Int32
            do { fd = try RegularFile.open(f).fd } catch let e as FileIOError { throw ModelError.checkpoint(path: f, reason: e.message) }
            let fh = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            defer { try? fh.close() }
            let size = Int(try fh.seekToEnd())
            total += size
            var offsets = Array(Swift.stride(from: 0, to: size, by: stride))
            if size > block { offsets.append(size - block) }
            for o in offsets {
                try fh.seek(toOffset: UInt64(o))
                let d = try fh.read(upToCount: block) ?? Data()
                d.withUnsafeBytes(mix)
            }
            withUnsafeBytes(of: UInt64(size).littleEndian, mix)
        }
        return (total, hex(h))
    }

    /// The decoder's own parameters (not LoRA adapters), in name order.
    static func baseParameters(_ d: LlamaDecoder) -> [(String, Tensor)] {
        var named = d.model.namedParameters(prefix: "model")
        if let h = d.lmHead { named += h.namedParameters(prefix: "lm_head") }
        return named.filter { !isAdapter($0.0) }.sorted { $0.0 < $1.0 }
    }

    static func isAdapter(_ name: String) -> Bool { name.contains(".lora_A.") || name.contains(".lora_B.") }

    /// A hash of float32 bit patterns (four independent FNV-style lanes, so it runs at memory speed in release builds).
    static func weightHash(_ named: [(String, Tensor)]) -> UInt64 {
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (1, 2, 3, 4)
        let prime: UInt64 = 0x100_0000_01b3
        for (_, t) in named {
            let c = t.contiguous()
            let n = c.count
            c.mPtr.withMemoryRebound(to: UInt32.self, capacity: n) { p in
                var i = 0
                while i + 4 <= n {
                    lanes.0 = (lanes.0 ^ UInt64(p[i])) &* prime
                    lanes.1 = (lanes.1 ^ UInt64(p[i + 1])) &* prime
                    lanes.2 = (lanes.2 ^ UInt64(p[i + 2])) &* prime
                    lanes.3 = (lanes.3 ^ UInt64(p[i + 3])) &* prime
                    i += 4
                }
                while i < n { lanes.0 = (lanes.0 ^ UInt64(p[i])) &* prime; i += 1 }
            }
            lanes.1 = (lanes.1 ^ UInt64(n)) &* prime
        }
        return lanes.0 ^ (lanes.1 &* 3) ^ (lanes.2 &* 5) ^ (lanes.3 &* 7)
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// Throws when the file at `path` is no longer the one this source recorded.
    func verifyFile() throws {
        let (s, fp) = try DecoderSource.fingerprint(of: path)
        guard s == size, fp == fingerprint else {
            throw ModelError.checkpoint(path: path, reason: "the decoder file changed since the checkpoint was saved (size \(s), fingerprint \(fp); recorded \(size), \(fingerprint))")
        }
    }

    func dictionary() -> [String: Any] {
        ["path": path, "size": size, "fingerprint": fingerprint, "weight_hash": weightHash]
    }

    static func fromDictionary(_ d: [String: Any], checkpoint: String) throws -> DecoderSource {
        guard let p = d["path"] as? String, let s = d["size"] as? Int, let f = d["fingerprint"] as? String,
              let w = d["weight_hash"] as? String else {
            throw ModelError.checkpoint(path: checkpoint, reason: "malformed moonlab_decoder metadata (path, size, fingerprint, weight_hash)")
        }
        return DecoderSource(path: p, size: s, fingerprint: f, weightHash: w)
    }
}
