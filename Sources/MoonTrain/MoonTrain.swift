import MoonTensor
import MoonModels
import MoonEnvs
/// MoonTrain: rollouts, GAE, PPO, SFT, distillation, merging, checkpoint pool, run directories, metrics, plots.
public enum MoonTrainInfo { public static let version = MoonTensorInfo.version }
