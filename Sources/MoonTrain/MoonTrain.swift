import MoonTensor
/// MoonTrain: GAE, the PPO loss, distillation losses, the KL reward, diversity, run directories, metrics and plots
/// (drawn with MoonImage).
public enum MoonTrainInfo { public static let version = MoonTensorInfo.version }
