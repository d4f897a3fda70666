@_exported import MoonTensor
// Re-exported so that every importer of MoonModels keeps seeing SafeTensors and the merge kernels, which moved to
// the checkpoint layer.
@_exported import MoonCheckpoint
/// MoonModels: layers, tokenizer, VLM policy, generation, LoRA (checkpoint files and merging: MoonCheckpoint).
public enum MoonModelsInfo { public static let version = MoonTensorInfo.version }
