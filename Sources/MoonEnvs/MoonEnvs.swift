import MoonTensor
@_exported import MoonImage

/// MoonEnvs: the GymCards environments (drawn on MoonImage's canvas, which it re-exports), solvers, demonstrations
/// and the vector runner. Pure Swift; it does not use MoonTensor (images are `RGBImage`, `chwFloats()` gives [3,H,W]).
///
/// Quick tour:
///   let env = try EnvRegistry.make("Points24", options: ["size": 64, "seed": 1])   // throws EnvError on bad options
///   var obs = env.reset(seed: 42)              // Observation: image (RGBImage?, nil in obs_mode "text"), prompt, stateText
///   let r = env.step("{\"thoughts\": \"...\", \"action\": \"(\"}")   // StepResult: observation, reward, terminated, truncated, info
///   r.info.success / .illegal / .invalid / .parsedAction / .action / .extra["formula"]
///   env.solverAction(), env.solverResponse()   // privileged teacher for the current state
///   try Demos.generate(env: "Points24", n: 1000, options: [:], seed: 0)   // [Demo] (observation, response, action, ...)
///   FormulaSolver.solve(numbers: [4, 7, 8, 8]) // ["7", "*", "8", "-", "4", "*", "8"] (shortest first) or nil
///   let v = try VectorEnv(name: "NumberLine", count: 8, options: [:], seed: 0); try v.step(answers); v.drainStats()
///   try PNG.write(obs.image!, to: "frame.png")
public enum MoonEnvsInfo { public static let version = MoonTensorInfo.version }
