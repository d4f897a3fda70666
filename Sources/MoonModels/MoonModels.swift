@_exported import MoonTensor
/// MoonModels: layers, tokenizer, VLM policy, generation, LoRA, safetensors.
public enum MoonModelsInfo { public static let version = MoonTensorInfo.version }
