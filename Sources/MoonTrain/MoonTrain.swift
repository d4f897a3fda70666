import MoonTensor
@_exported import MoonCheckpoint  // TrainJSON is its JSON

/// The JSON type of run configs and metrics records (MoonCheckpoint's one JSON type, under its old name).
public typealias TrainJSON = JSON

/// MoonTrain: GAE, the PPO loss, distillation losses, the KL reward, diversity, run directories, metrics and plots
/// (drawn with MoonImage).
public enum MoonTrainInfo { public static let version = MoonTensorInfo.version }
