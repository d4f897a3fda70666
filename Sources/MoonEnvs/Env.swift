import MoonCheckpoint

/// The environment protocol, observations, step results, errors and the shared episode machinery.

/// Errors raised by MoonEnvs (bad options, unknown env names, bad data).
public enum EnvError: Error, CustomStringConvertible, Equatable {
    case unknownEnv(String)
    case unknownOption(env: String, option: String, allowed: [String])
    case badOption(env: String, option: String, message: String)
    case badData(String)
    case badAction(env: String, action: String, allowed: [String])

    public var description: String {
        switch self {
        case .unknownEnv(let n):
            return "unknown env '\(n)' (known: \(EnvRegistry.allNames.joined(separator: ", ")))"
        case .unknownOption(let e, let o, let allowed):
            return "\(e): unknown option '\(o)' (allowed: \(allowed.joined(separator: ", ")))"
        case .badOption(let e, let o, let m):
            return "\(e): option '\(o)': \(m)"
        case .badData(let m):
            return m
        case .badAction(let e, let a, let allowed):
            return "\(e): '\(a)' is not an action (actions: \(allowed.joined(separator: " ")))"
        }
    }
}

/// What the agent sees: an image (nil in text observation mode), the task prompt and the state as text.
public struct Observation: Sendable {
    /// The rendered frame; nil when the env was made with obs_mode = "text".
    public var image: RGBImage?
    /// The task prompt (with the answer format of the original GymCards prompts).
    public var prompt: String
    /// The state as text (for text-only experiments and for teachers/logging).
    public var stateText: String
    public init(image: RGBImage?, prompt: String, stateText: String) {
        self.image = image; self.prompt = prompt; self.stateText = stateText
    }
}

/// Per-step information.
public struct StepInfo: Sendable {
    /// The episode ended successfully (reached the target, formula correct, blackjack won).
    public var success = false
    /// The answer did not name exactly one action (parse failure), whatever the mode.
    public var illegal = false
    /// The step was invalid for the task (number not among the cards, or an illegal answer under invalid_penalty).
    public var invalid = false
    /// The action parsed from the answer (nil when illegal).
    public var parsedAction: String?
    /// The action executed (the random substitute for an illegal answer in the default mode; nil under invalid_penalty).
    public var action: String?
    /// The episode was ended by the step limit (max_episode_steps) rather than by the task.
    public var timeLimit = false
    /// Env-specific fields (formula, cards, target, current, player, dealer, outcome, ...).
    public var extra: [String: String] = [:]
    /// The commands admissible in the new state, one per line (envs whose actions change every step: Household);
    /// nil otherwise. Kept as one string so a step makes no per-command allocation.
    public var admissibleCommandsText: String? = nil
    /// The same commands as a list.
    public var admissibleCommands: [String]? {
        admissibleCommandsText.map { $0.isEmpty ? [] : $0.split(separator: "\n").map(String.init) }
    }
    public init() {}
}

public struct StepResult: Sendable {
    public var observation: Observation
    public var reward: Double
    public var terminated: Bool
    public var truncated: Bool
    public var info: StepInfo
    public var done: Bool { terminated || truncated }
}

/// A multi-turn text-action environment.
public protocol Env: AnyObject {
    /// Canonical name ("NumberLine", "EZPoints", "Points24", "Blackjack").
    var name: String { get }
    /// The action strings, in the original's order.
    var actionSpace: [String] { get }
    /// Start a new episode; a seed restarts the env's random streams, nil continues them.
    func reset(seed: UInt64?) -> Observation
    /// One answer (free text) = one step.
    func step(_ response: String) -> StepResult
    /// Step with an action string directly (no parsing); throws `EnvError.badAction` unless it is in `actionSpace`.
    func step(action: String) throws -> StepResult
    /// The current observation (rendered now).
    func currentObservation() -> Observation
    /// The solver's action for the current state.
    func solverAction() -> String
    /// A full answer in the task's answer format (fields, thoughts, action) for the current state:
    /// a privileged teacher.
    func solverResponse() -> String
    /// Whether the current episode is over.
    var isDone: Bool { get }
}

extension Env {
    /// Start a new episode continuing the env's random streams.
    @discardableResult public func reset() -> Observation { reset(seed: nil) }
}

/// What an observation carries: the rendered frame, the state as text in the prompt, or both (the vision ablation
/// and LLM-agent studies switch this option, no code).
public enum ObservationMode: String, Sendable, CaseIterable {
    case image, text, both
    /// Whether observations carry the rendered frame.
    public var hasImage: Bool { self != .text }
    /// Whether the prompt carries the state text.
    public var hasStateText: Bool { self != .image }
}

/// Options shared by all envs.
public struct CommonOptions: Sendable {
    public var width = 64
    public var height = 64
    public var observation: ObservationMode = .image
    /// `observation == .text` (the former name of the option).
    public var textOnly: Bool {
        get { observation == .text }
        set { observation = newValue ? .text : .image }
    }
    public var invalidPenalty = false
    public var maxEpisodeSteps = 300
    public var seed: UInt64 = 0
    public init() {}
}

/// Outcome of applying one action to the task state.
struct Outcome {
    var reward: Double = 0
    var terminated = false
    var truncated = false
    var invalid = false
    var success = false
}

/// Shared episode machinery: parsing, illegal-answer handling, step limit, observation assembly.
/// Subclasses implement the task.
public class EnvBase {
    public let common: CommonOptions
    var rng: EnvRandom
    var actionRng: EnvRandom
    public private(set) var episodeSteps = 0
    public private(set) var isDone = false
    var lastTerminated = false
    var lastTruncated = false

    init(common: CommonOptions) {
        self.common = common
        rng = EnvRandom(seed: common.seed)
        actionRng = EnvRandom(seed: common.seed ^ 0x5EED_AC71_0000_0001)
    }

    // MARK: hooks for subclasses
    var envName: String { "Env" }
    var actions: [String] { [] }
    var isCardTask: Bool { false }
    func newEpisode() {}
    func apply(_ action: String) -> Outcome { Outcome() }
    /// An illegal answer under invalid_penalty: reward -1, no move (subclasses may add blank/step counting).
    func applyIllegalPenalty() -> Outcome { Outcome(reward: -1, invalid: true) }
    /// The background the canvas starts with (render need not clear it).
    var background: RGB { .white }
    func render(_ canvas: inout Canvas) {}
    /// The task instruction; the same for every state (the state follows it in the prompt).
    func promptText() -> String { "" }
    /// Text that image-only observations still give in words (the formula games' current formula), after the instruction.
    func imageModeText() -> String? { nil }
    func stateDescription() -> String { "" }
    func extraInfo() -> [String: String] { [:] }
    func expertAction() -> String { actions[0] }
    func expertResponse() -> String { "" }

    // MARK: shared implementation
    public func reset(seed: UInt64?) -> Observation {
        if let s = seed {
            rng = EnvRandom(seed: s)
            actionRng = EnvRandom(seed: s ^ 0x5EED_AC71_0000_0001)
        }
        resetCounters()
        newEpisode()
        return currentObservation()
    }

    func resetCounters() {
        episodeSteps = 0
        isDone = false
        lastTerminated = false; lastTruncated = false
    }

    public func currentObservation() -> Observation {
        var image: RGBImage? = nil
        if common.observation.hasImage {
            var canvas = Canvas(width: common.width, height: common.height, background: background)
            render(&canvas)
            image = canvas.image
        }
        // The instruction first and what changes every turn last, so every prompt of a task shares the instruction
        // as a common prefix (encoded once per batch in generation and training).
        let state = stateDescription()
        var prompt = promptText()
        if common.observation.hasStateText {
            prompt += "\nCurrent state:\n" + state
        } else if let shown = imageModeText() {
            prompt += "\n" + shown
        }
        return Observation(image: image, prompt: prompt, stateText: state)
    }

    public func step(_ response: String) -> StepResult {
        let parsed = ActionParser.parse(response, actions: actions, cardTask: isCardTask)
        return run(parsed: parsed, illegal: parsed == nil)
    }

    public func step(action: String) throws -> StepResult {
        guard actions.contains(action) else { throw EnvError.badAction(env: envName, action: action, allowed: actions) }
        return run(parsed: action, illegal: false)
    }

    private func run(parsed: String?, illegal: Bool) -> StepResult {
        var info = StepInfo()
        info.parsedAction = parsed
        info.illegal = illegal
        if isDone {
            info.extra = extraInfo()
            info.extra["error"] = "step after the episode ended; call reset"
            return StepResult(observation: currentObservation(), reward: 0,
                              terminated: lastTerminated, truncated: lastTruncated, info: info)
        }
        var out: Outcome
        if let a = parsed {
            info.action = a
            out = apply(a)
        } else if common.invalidPenalty {
            out = applyIllegalPenalty()
            out.invalid = true
        } else {
            let a = actionRng.choice(actions)
            info.action = a
            out = apply(a)
        }
        episodeSteps += 1
        if !out.terminated && !out.truncated && episodeSteps >= common.maxEpisodeSteps {
            out.truncated = true
            info.timeLimit = true
        }
        info.invalid = out.invalid
        info.success = out.success
        info.extra = extraInfo()
        isDone = out.terminated || out.truncated
        lastTerminated = out.terminated; lastTruncated = out.truncated
        return StepResult(observation: currentObservation(), reward: out.reward,
                          terminated: out.terminated, truncated: out.truncated, info: info)
    }

    public func solverAction() -> String { expertAction() }
    public func solverResponse() -> String { expertResponse() }
    public var name: String { envName }
    public var actionSpace: [String] { actions }
}

/// `s` as a JSON string literal: `JSON.quote` under the name the env files (and the household branch) use.
func jsonString(_ s: String) -> String { JSON.quote(s) }
