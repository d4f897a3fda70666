import MoonTensor
/// MoonEnvs: the GymCards environments, canvas, bitmap font, solvers and the vector runner.
public enum MoonEnvsInfo { public static let version = MoonTensorInfo.version }
