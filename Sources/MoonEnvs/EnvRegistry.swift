/// Making envs by name with validated options.

/// An option value (what a Lua table entry or a config file can hold).
public enum EnvOptionValue: Sendable, Equatable, CustomStringConvertible, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByStringLiteral, ExpressibleByFloatLiteral {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)

    public init(integerLiteral v: Int) { self = .int(v) }
    public init(booleanLiteral v: Bool) { self = .bool(v) }
    public init(stringLiteral v: String) { self = .string(v) }
    public init(floatLiteral v: Double) { self = .double(v) }

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .bool(let v): return String(v)
        case .string(let v): return "\"\(v)\""
        }
    }
}

public typealias EnvOptions = [String: EnvOptionValue]

/// Env construction by name.
///
/// Names: "NumberLine", "EZPoints", "Points24", "Blackjack" (case-insensitive; the gym ids
/// "gym_cards/NumberLine-v0" etc. are accepted too).
///
/// Options common to all envs (defaults in brackets):
///   size [64] (sets width and height), width [64], height [64] (16...1024),
///   observation ["image"] ("image" | "text" | "both": text skips rendering and puts the state in the prompt; both
///     renders and puts the state in the prompt), obs_mode: its former name (an alias; both given must agree),
///   invalid_penalty [false] (alias invalidPenalty): an answer without exactly one action is an invalid step
///     with reward −1 instead of a random action,
///   max_episode_steps [300] (the original's TimeLimit), seed [0] (the env's initial random stream).
/// Household (ALFWorld-style, see HouseholdEnv): task ["any"] (pick | clean | heat | cool | examine | pick_two | any),
///   room ["any"] (kitchen | bedroom | bathroom | livingroom | any; a task only in the rooms ALFWorld allows it),
///   max_episode_steps [50].
/// Env options: NumberLine max_position [5] (2...10000); EZPoints target [12] (2...20);
/// Points24 treat_face_cards_as_10 [true], target [24] (-10000...10000); Blackjack natural [false], sab [false].
public enum EnvRegistry {
    public static let names = ["NumberLine", "EZPoints", "Points24", "Blackjack"]
    /// Every env `make` knows: the GymCards tasks and the ALFWorld-style household env.
    public static let allNames = names + ["Household"]

    static let commonKeys = ["size", "width", "height", "observation", "obs_mode", "invalid_penalty", "invalidPenalty",
                             "max_episode_steps", "seed"]
    static let envKeys: [String: [String]] = [
        "NumberLine": ["max_position"],
        "EZPoints": ["target"],
        "Points24": ["treat_face_cards_as_10", "target"],
        "Blackjack": ["natural", "sab"],
        "Household": ["task", "room"],
    ]

    /// The canonical name for a name or gym id, or nil.
    public static func canonicalName(_ name: String) -> String? {
        var n = name.lowercased()
        if n.hasPrefix("gym_cards/") { n = String(n.dropFirst("gym_cards/".count)) }
        if let dash = n.range(of: "-v") { n = String(n[..<dash.lowerBound]) }
        return allNames.first { $0.lowercased() == n }
    }

    /// Allowed option names for an env.
    public static func optionNames(for env: String) -> [String] {
        guard let c = canonicalName(env) else { return [] }
        return commonKeys + (envKeys[c] ?? [])
    }

    public static func make(_ name: String, options: EnvOptions = [:]) throws -> any Env {
        guard let env = canonicalName(name) else { throw EnvError.unknownEnv(name) }
        let reader = try OptionReader(env: env, options: options, allowed: commonKeys + (envKeys[env] ?? []))
        var common = CommonOptions()
        if let s = try reader.int("size", 16...1024) { common.width = s; common.height = s }
        if let w = try reader.int("width", 16...1024) { common.width = w }
        if let h = try reader.int("height", 16...1024) { common.height = h }
        let modes = ObservationMode.allCases.map(\.rawValue)
        let obs = try reader.string("observation", modes), alias = try reader.string("obs_mode", modes)
        if let a = obs, let b = alias, a != b {
            throw EnvError.badOption(env: env, option: "observation", message: "observation = \"\(a)\" and its alias obs_mode = \"\(b)\" disagree")
        }
        if let m = obs ?? alias, let mode = ObservationMode(rawValue: m) { common.observation = mode }
        if let p = try reader.bool("invalid_penalty") { common.invalidPenalty = p }
        if let p = try reader.bool("invalidPenalty") { common.invalidPenalty = p }
        if let m = try reader.int("max_episode_steps", 1...1_000_000) { common.maxEpisodeSteps = m }
        if let s = try reader.int("seed", 0...Int.max) { common.seed = UInt64(s) }
        switch env {
        case "Household":
            if options["max_episode_steps"] == nil { common.maxEpisodeSteps = 50 }
            let names = HouseholdTaskType.allCases.map(\.rawValue) + ["any"]
            let task = try reader.string("task", names).flatMap { HouseholdTaskType(rawValue: $0) }
            let room = try reader.string("room", HouseholdRoom.allCases.map(\.rawValue) + ["any"]).flatMap { HouseholdRoom(rawValue: $0) }
            if let t = task, let r = room, !t.rooms.contains(r) {
                throw EnvError.badOption(env: env, option: "room", message: "task '\(t.rawValue)' is not made in a \(r.rawValue) (ALFWorld allows: \(t.rooms.map(\.rawValue).joined(separator: ", ")))")
            }
            return HouseholdEnv(common: common, task: task, room: room)
        case "NumberLine":
            return NumberLineEnv(common: common, maxPosition: try reader.int("max_position", 2...10_000) ?? 5)
        case "EZPoints":
            return EZPointsEnv(common: common, target: try reader.int("target", 2...20) ?? 12)
        case "Points24":
            return Points24Env(common: common, treatFaceCardsAs10: try reader.bool("treat_face_cards_as_10") ?? true,
                               target: try reader.int("target", -10_000...10_000) ?? 24)
        default:
            return BlackjackEnv(common: common, natural: try reader.bool("natural") ?? false,
                                sab: try reader.bool("sab") ?? false)
        }
    }
}

/// Typed, range-checked access to an options dictionary; unknown keys are rejected up front.
struct OptionReader {
    let env: String
    let options: EnvOptions

    init(env: String, options: EnvOptions, allowed: [String]) throws {
        self.env = env; self.options = options
        for k in options.keys.sorted() where !allowed.contains(k) {
            throw EnvError.unknownOption(env: env, option: k, allowed: allowed)
        }
    }

    func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let v = options[key] else { return nil }
        let i: Int
        switch v {
        case .int(let x): i = x
        case .double(let d):
            guard d == d.rounded(), d.magnitude < 9e15 else {
                throw EnvError.badOption(env: env, option: key, message: "expected an integer, got \(d)")
            }
            i = Int(d)
        default: throw EnvError.badOption(env: env, option: key, message: "expected an integer, got \(v)")
        }
        guard range.contains(i) else {
            throw EnvError.badOption(env: env, option: key, message: "\(i) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = options[key] else { return nil }
        guard case .bool(let b) = v else { throw EnvError.badOption(env: env, option: key, message: "expected a boolean, got \(v)") }
        return b
    }

    func string(_ key: String, _ allowed: [String]) throws -> String? {
        guard let v = options[key] else { return nil }
        guard case .string(let s) = v, allowed.contains(s) else {
            throw EnvError.badOption(env: env, option: key, message: "expected one of \(allowed.map { "\"\($0)\"" }.joined(separator: ", ")), got \(v)")
        }
        return s
    }
}
