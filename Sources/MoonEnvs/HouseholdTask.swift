/// One household goal: ALFWorld's task type with its object type, target receptacle type (or lamp type), the task
/// sentence, and the goal test of goal_library.py.
public struct HouseholdTask: Sendable, Equatable {
    public var type: HouseholdTaskType
    public var room: HouseholdRoom
    /// Object type (index into HouseholdTypes.objectNames).
    public var object: Int
    /// Target receptacle type (index into HouseholdTypes.receptacleNames); -1 for examine.
    public var receptacle: Int
    /// Lamp type for examine (index into HouseholdTypes.objectNames); -1 otherwise.
    public var toggle: Int
    /// Which of ALFWorld's two templates the sentence uses.
    public var template: Int

    public var objectName: String { HouseholdTypes.shared.objectNames[object] }
    public var receptacleName: String { receptacle >= 0 ? HouseholdTypes.shared.receptacleNames[receptacle] : "" }
    public var toggleName: String { toggle >= 0 ? HouseholdTypes.shared.objectNames[toggle] : "" }

    /// "put a clean lettuce in diningtable" (ALFWorld's template filled in, without the final period).
    public var description: String {
        var out = ""
        var rest = Substring(type.templates[template])
        // fill {obj}, {recep}, {toggle} (a plain scan: String.replacing is slow)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            switch rest[rest.index(after: open)..<close] {
            case "obj": out += objectName
            case "recep": out += receptacleName
            case "toggle": out += toggleName
            default: out += rest[open...close]
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// "Your task is to: put a clean lettuce in diningtable."
    public var sentence: String { "Your task is to: " + description + "." }

    /// The goal of goal_library.py for this task type.
    public func isSatisfied(by w: HouseholdWorld) -> Bool {
        switch type {
        case .pick, .clean, .heat, .cool:
            let need: HouseholdWorld.Flags = type == .clean ? .clean : type == .heat ? .hot : type == .cool ? .cool : []
            for o in 0..<w.objectCount where w.objectType[o] == object {
                let r = w.location[o]
                if r >= 0 && w.receptacleType[r] == receptacle && w.flags[o].contains(need) { return true }
            }
            return false
        case .pickTwo:
            for o in 0..<w.objectCount where w.objectType[o] == object {
                let r = w.location[o]
                guard r >= 0 && w.receptacleType[r] == receptacle else { continue }
                for o2 in (o + 1)..<max(o + 1, w.objectCount) where w.objectType[o2] == object && w.location[o2] == r { return true }
            }
            return false
        case .examine:
            guard w.held >= 0, w.objectType[w.held] == object, w.at >= 0 else { return false }
            for o in 0..<w.objectCount where w.objectType[o] == toggle && w.location[o] == w.at && w.flags[o].contains(.toggled) {
                return true
            }
            return false
        }
    }
}
