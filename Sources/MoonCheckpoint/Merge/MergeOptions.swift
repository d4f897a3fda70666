/// Building a `MergeMethod` from a method name and an options table: the one vocabulary of `moon.merge.*`,
/// `moon.merge.files` and `moonlab merge` (all three call this). Unknown options are errors, so a typo is never
/// silently ignored.
///
/// | method | options (defaults) |
/// | --- | --- |
/// | average | weights (1 each), normalize (true) |
/// | ema | decay (0.5): t = decay·t + (1 − decay)·next over the ordered inputs |
/// | slerp | t (0.5) |
/// | task_arithmetic | weights (1), lambda (1), normalize (false) |
/// | ties | weights (1), density (0.2), lambda (1), normalize (true) |
/// | dare_linear, dare_ties | weights (1), density (0.5), lambda (1), normalize (false), rescale (true = "l1"), seed (0) |
/// | breadcrumbs | weights (1), density (0.9), gamma (0.01), ties (false), lambda (1), normalize (false) |
///
/// mergekit calls `average` "linear", `weights` "weight" and breadcrumbs with `ties` "breadcrumbs_ties".
/// `weights`, `density` and `gamma` take one number for every model or a list with one per model; `rescale`
/// takes true/false (mergekit) or "l1", "inverse_density", "none".
public enum MergeOptionValue: Sendable, Equatable {
    case number(Double)
    case bool(Bool)
    case numbers([Double])
    case string(String)
}

extension MergeMethod {
    public static let methodNames = ["average", "ema", "slerp", "task_arithmetic", "ties", "dare_linear", "dare_ties", "breadcrumbs"]

    /// The options each method takes.
    public static func optionNames(_ method: String) -> [String]? {
        switch method {
        case "average": return ["weights", "normalize"]
        case "ema": return ["decay"]
        case "slerp": return ["t"]
        case "task_arithmetic": return ["weights", "lambda", "normalize"]
        case "ties": return ["weights", "density", "lambda", "normalize"]
        case "dare_linear", "dare_ties": return ["weights", "density", "lambda", "normalize", "rescale", "seed"]
        case "breadcrumbs": return ["weights", "density", "gamma", "ties", "lambda", "normalize"]
        default: return nil
        }
    }

    public static func named(_ name: String, models n: Int, options: [String: MergeOptionValue] = [:]) throws -> MergeMethod {
        guard let names = optionNames(name) else {
            throw MergeError("unknown merge method \"\(name)\" (expected one of \(methodNames.joined(separator: ", ")))")
        }
        let allowed = Set(names)
        if let bad = options.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw MergeError("\(name): unknown option \"\(bad)\" (allowed: \(names.joined(separator: ", ")))")
        }
        func number(_ key: String, _ def: Double?) throws -> Double {
            switch options[key] {
            case nil:
                guard let d = def else { throw MergeError("\(name): option \"\(key)\" is required") }
                return d
            case let .number(v)?: return v
            case let v?: throw MergeError("\(name): option \"\(key)\" must be a number, got \(v)")
            }
        }
        func list(_ key: String, _ def: Double) throws -> [Double] {
            switch options[key] {
            case nil: return [Double](repeating: def, count: n)
            case let .number(v)?: return [Double](repeating: v, count: n)
            case let .numbers(v)?:
                guard v.count == n else { throw MergeError("\(name): option \"\(key)\" has \(v.count) values for \(n) models") }
                return v
            case let v?: throw MergeError("\(name): option \"\(key)\" must be a number or a list of numbers, got \(v)")
            }
        }
        func flag(_ key: String, _ def: Bool) throws -> Bool {
            switch options[key] {
            case nil: return def
            case let .bool(b)?: return b
            case let v?: throw MergeError("\(name): option \"\(key)\" must be a boolean, got \(v)")
            }
        }
        func rescale() throws -> Rescale {
            switch options["rescale"] {
            case nil, .bool(true)?, .string("l1")?: return .l1
            case .bool(false)?, .string("none")?: return .none
            case .string("inverse_density")?: return .inverseDensity
            case let v?: throw MergeError("\(name): option \"rescale\" must be true, false, \"l1\", \"inverse_density\" or \"none\", got \(v)")
            }
        }
        func seed() throws -> UInt64 {
            let s = try number("seed", 0)
            guard s >= 0, s < 0x1p63, s == s.rounded() else { throw MergeError("\(name): option \"seed\" must be a non-negative integer") }
            return UInt64(s)
        }
        let method: MergeMethod
        switch name {
        case "average":
            method = .linear(weights: try list("weights", 1), normalize: try flag("normalize", true))
        case "ema":
            method = .ema(decay: try number("decay", 0.5))
        case "slerp":
            method = .slerp(t: try number("t", 0.5))
        case "task_arithmetic":
            method = .taskArithmetic(weights: try list("weights", 1), lambda: try number("lambda", 1), normalize: try flag("normalize", false))
        case "ties":
            method = .ties(weights: try list("weights", 1), densities: try list("density", 0.2), lambda: try number("lambda", 1),
                           normalize: try flag("normalize", true))
        case "dare_linear", "dare_ties":
            let w = try list("weights", 1), d = try list("density", 0.5)
            let l = try number("lambda", 1), nz = try flag("normalize", false)
            method = name == "dare_linear"
                ? .dareLinear(weights: w, densities: d, seed: try seed(), lambda: l, normalize: nz, rescale: try rescale())
                : .dareTies(weights: w, densities: d, seed: try seed(), lambda: l, normalize: nz, rescale: try rescale())
        default:  // breadcrumbs
            method = .breadcrumbs(weights: try list("weights", 1), densities: try list("density", 0.9), gammas: try list("gamma", 0.01),
                                  ties: try flag("ties", false), lambda: try number("lambda", 1), normalize: try flag("normalize", false))
        }
        try method.validate(inputCount: n, hasBase: method.needsBase)
        return method
    }
}
