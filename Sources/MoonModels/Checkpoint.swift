import Foundation
import MoonTensor

/// Safetensors checkpoints of modules (written atomically through `SafeTensorsWriter`).
public enum Checkpoint {
    /// Writes float32 tensors with their names and `metadata` to `path` atomically (temp file, fsync, rename).
    public static func writeTensors(_ named: [(String, Tensor)], metadata: [String: String], to path: String) throws {
        if let bad = named.first(where: { $0.1.dtype != .float32 }) {
            throw ModelError.invalidArgument("checkpoint: tensor \(bad.0) is \(bad.1.dtype); only float32 tensors are written")
        }
        let w = try SafeTensorsWriter(path: path, entries: named.map { .init(name: $0.0, dtype: .F32, shape: $0.1.shape) },
                                      metadata: metadata)
        let byName = Dictionary(named.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        for name in w.order {
            let t = byName[name]!.contiguous()
            try w.append(name: name, floats: UnsafeBufferPointer(start: t.mPtr, count: t.count))
        }
        try w.commit()
    }

    /// Reads every float tensor of a safetensors file (converted to float32) and its metadata.
    public static func readTensors(path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let f = try SafeTensors.open(path)
        var out: [String: Tensor] = [:]
        for info in f.tensors {
            guard info.dtype.isFloat else {
                throw ModelError.checkpoint(path: path, reason: "tensor \(info.name) has non-float dtype \(info.dtype.rawValue)")
            }
            out[info.name] = Tensor.fromArray(try f.floats(info.name), info.shape)
        }
        return (out, f.metadata)
    }
}
