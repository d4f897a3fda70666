/// MoonTensor: float32/int tensors, views, ops, autograd, RNG and optimisers on OpenBLAS.
public enum MoonTensorInfo { public static let version = "0.1.0" }
