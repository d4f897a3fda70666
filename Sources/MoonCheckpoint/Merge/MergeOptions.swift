/// Building a `MergeMethod` from a method name and an options table (what the Lua layer and run configs hold),
/// with mergekit's names and defaults. Unknown options are errors, so a typo is never silently ignored.
///
/// | method | options (defaults) |
/// | --- | --- |
/// | linear | weight (1 each), normalize (true) |
/// | ema | decay (required) |
/// | slerp | t (required) |
/// | task_arithmetic | weight (1), lambda (1), normalize (false) |
/// | ties | weight (1), density (1), lambda (1), normalize (true) |
/// | dare_linear, dare_ties | weight (1), density (1), lambda (1), normalize (false), rescale (true = "l1"), seed (0) |
/// | breadcrumbs, breadcrumbs_ties | weight (1), density (1), gamma (0.01), lambda (1), normalize (false) |
///
/// `weight`, `density` and `gamma` take one number for every model or a list with one per model; `rescale`
/// takes true/false (mergekit) or "l1", "inverse_density", "none".
public enum MergeOptionValue: Sendable, Equatable {
    case number(Double)
    case bool(Bool)
    case numbers([Double])
    case string(String)
}

extension MergeMethod {
    public static let methodNames = ["linear", "ema", "slerp", "task_arithmetic", "ties", "dare_linear", "dare_ties",
                                     "breadcrumbs", "breadcrumbs_ties"]

    /// The method `name` for `models` non-base inputs, configured by `options`.
    public static func named(_ name: String, models n: Int, options: [String: MergeOptionValue] = [:]) throws -> MergeMethod {
        let allowed: Set<String>
        switch name {
        case "linear": allowed = ["weight", "normalize"]
        case "ema": allowed = ["decay"]
        case "slerp": allowed = ["t"]
        case "task_arithmetic": allowed = ["weight", "lambda", "normalize"]
        case "ties": allowed = ["weight", "density", "lambda", "normalize"]
        case "dare_linear", "dare_ties": allowed = ["weight", "density", "lambda", "normalize", "rescale", "seed"]
        case "breadcrumbs", "breadcrumbs_ties": allowed = ["weight", "density", "gamma", "lambda", "normalize"]
        default:
            throw MergeError("unknown merge method \"\(name)\" (expected one of \(methodNames.joined(separator: ", ")))")
        }
        if let bad = options.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw MergeError("\(name): unknown option \"\(bad)\" (allowed: \(allowed.sorted().joined(separator: ", ")))")
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
        case "linear":
            method = .linear(weights: try list("weight", 1), normalize: try flag("normalize", true))
        case "ema":
            method = .ema(decay: try number("decay", nil))
        case "slerp":
            method = .slerp(t: try number("t", nil))
        case "task_arithmetic":
            method = .taskArithmetic(weights: try list("weight", 1), lambda: try number("lambda", 1), normalize: try flag("normalize", false))
        case "ties":
            method = .ties(weights: try list("weight", 1), densities: try list("density", 1), lambda: try number("lambda", 1),
                           normalize: try flag("normalize", true))
        case "dare_linear", "dare_ties":
            let w = try list("weight", 1), d = try list("density", 1)
            let l = try number("lambda", 1), nz = try flag("normalize", false)
            method = name == "dare_linear"
                ? .dareLinear(weights: w, densities: d, seed: try seed(), lambda: l, normalize: nz, rescale: try rescale())
                : .dareTies(weights: w, densities: d, seed: try seed(), lambda: l, normalize: nz, rescale: try rescale())
        default:  // breadcrumbs, breadcrumbs_ties
            method = .breadcrumbs(weights: try list("weight", 1), densities: try list("density", 1), gammas: try list("gamma", 0.01),
                                  ties: name == "breadcrumbs_ties", lambda: try number("lambda", 1), normalize: try flag("normalize", false))
        }
        try method.validate(inputCount: n, hasBase: method.needsBase)
        return method
    }
}
