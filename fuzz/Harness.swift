// The coverage-guided fuzz entry point (libFuzzer) for moonlab's file parsers. scripts/fuzz compiles it together
// against the parsers' modules (built with coverage and AddressSanitizer) and runs each target on its committed corpus in
// fuzz/corpus/<target>/. A parser may throw on any input; it must never crash, hang or touch memory it does not own.
//
// Adding a parser (GGUF, tokenizer.json, ...) is one line in `fuzzTargets` (and its module in scripts/fuzz, if it
// lives outside the modules listed there), plus a few seed files in fuzz/corpus/<name>/.
import Foundation
@testable import MoonImage
@testable import MoonCheckpoint
@testable import MoonModels
@testable import MoonTensor

let fuzzTargets: [String: (UnsafeRawBufferPointer) -> Void] = [
    "safetensors": { bytes in _ = try? SafeTensorsFile.parseHeader(bytes, path: "fuzz.safetensors") },
    "checkpoint": { bytes in  // the whole load path of a corrupted checkpoint file: header, offsets, conversions
        let path = NSTemporaryDirectory() + "/moonfuzz-\(getpid()).safetensors"
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return }
        _ = try? Checkpoint.readTensors(path: path)
    },
    "json": { bytes in _ = try? JSON.parse(String(decoding: bytes, as: UTF8.self)) },
    "foundation_json": { bytes in _ = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) },
    "png": { bytes in _ = try? PNG.decode([UInt8](bytes)) },
    "gguf": { bytes in _ = try? GGUFFile(bytes: [UInt8](bytes), path: "fuzz.gguf") },
    "tokenizer_json": { bytes in _ = try? BPETokenizer(tokenizerJSON: Data(bytes)) },
    "vlm_config": { bytes in _ = try? VLMConfig.fromJSON(String(decoding: bytes, as: UTF8.self)) },
]

nonisolated(unsafe) let selectedTarget: (UnsafeRawBufferPointer) -> Void = {
    let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
    guard let t = fuzzTargets[name] else {
        FileHandle.standardError.write(Data("FUZZ_TARGET must be one of: \(fuzzTargets.keys.sorted().joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    selectedTarget(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
