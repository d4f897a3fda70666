/// The household expert: ALFWorld's hand-coded strategy (handcoded_expert.py) as a function of the state and of what
/// the agent has seen: find the object by visiting (and opening) the receptacles that may hold it in the order the
/// room lists them, take it, clean/heat/cool it at the sink basin/microwave/fridge, then go to the target (open it if
/// closed) and put it there; for examine, find the lamp and use it while holding the object; for pick two, repeat.
/// It never reads inside a receptacle the agent has not seen, so its demonstrations are imitable; it recovers from
/// any state the agent reached (a wrong object in hand goes back where it came from).
public enum HouseholdExpert {
    /// Why the expert chose its command (for the thoughts of its answer).
    public enum Reason: Sendable, Equatable {
        case search(lookingFor: Int)          // go to an unseen receptacle that may hold an object type
        case openToSearch(lookingFor: Int)    // open the closed receptacle here to look inside
        case goToObject(Int)                  // go to where a seen object of the task type is
        case openToTake(Int)
        case take(Int)
        case goToAppliance(Int)               // with the object in hand, to the sink basin / microwave / fridge
        case treat(Int)                       // clean / heat / cool the object
        case goToLamp(Int)
        case useLamp(Int)
        case goToTarget(Int)
        case openTarget(Int)
        case place(Int)
        case returnObject(Int)                // an object the task does not need goes back
        case lookAround
    }

    static let types = HouseholdTypes.shared

    /// The receptacle the object(s) should end in: for pick two the one already holding most task objects.
    static func target(_ w: HouseholdWorld, _ t: HouseholdTask) -> Int {
        var best = -1, bestCount = -1
        for r in w.listing where w.receptacleType[r] == t.receptacle {
            var n = 0
            if t.type == .pickTwo {
                for o in 0..<w.objectCount where w.location[o] == r && w.objectType[o] == t.object { n += 1 }
            }
            if n > bestCount { best = r; bestCount = n }
        }
        return best
    }

    static func appliance(_ w: HouseholdWorld, _ t: HouseholdTask) -> Int {
        let name: String
        switch t.type {
        case .clean: name = "sinkbasin"
        case .heat: name = "microwave"
        case .cool: name = "fridge"
        default: return -1
        }
        let type = types.receptacle(name)
        return w.listing.first { w.receptacleType[$0] == type } ?? -1
    }

    static func treated(_ w: HouseholdWorld, _ t: HouseholdTask, _ o: Int) -> Bool {
        switch t.type {
        case .clean: return w.flags[o].contains(.clean)
        case .heat: return w.flags[o].contains(.hot)
        case .cool: return w.flags[o].contains(.cool)
        default: return true
        }
    }

    static func treatCommand(_ t: HouseholdTask, _ o: Int, _ r: Int) -> HouseholdCommand {
        switch t.type {
        case .clean: return .clean(o, r)
        case .heat: return .heat(o, r)
        default: return .cool(o, r)
        }
    }

    /// Go to / open the next receptacle (in listing order) not yet seen that may hold `type`.
    static func search(_ w: HouseholdWorld, for type: Int, skip: Int = -1) -> (HouseholdCommand, Reason)? {
        if w.at >= 0 && !w.seen[w.at] && w.at != skip && mayHold(w, w.at, type) {
            return (.open(w.at), .openToSearch(lookingFor: type))
        }
        for r in w.listing where !w.seen[r] && r != skip && r != w.at && mayHold(w, r, type) {
            return (.goTo(r), .search(lookingFor: type))
        }
        return nil
    }

    static func mayHold(_ w: HouseholdWorld, _ r: Int, _ type: Int) -> Bool {
        if types.toggleable[type] { return HouseholdGenerator.lampReceptacles.contains(w.receptacleType[r]) }
        return types.canContain[w.receptacleType[r]][type]
    }

    /// The expert's command for the current state, and why.
    public static func decide(_ w: HouseholdWorld, _ t: HouseholdTask) -> (command: HouseholdCommand, reason: Reason) {
        if w.held >= 0 {
            let h = w.held
            guard w.objectType[h] == t.object else { return putBack(w, h) }
            if t.type == .clean || t.type == .heat || t.type == .cool, !treated(w, t, h) {
                let a = appliance(w, t)
                if a >= 0 {
                    if w.at != a { return (.goTo(a), .goToAppliance(a)) }
                    return (treatCommand(t, h, a), .treat(h))
                }
            }
            if t.type == .examine {
                for o in 0..<w.objectCount where w.objectType[o] == t.toggle {
                    let r = w.location[o]
                    guard r >= 0, w.seen[r] else { continue }
                    if w.at != r { return (.goTo(r), .goToLamp(o)) }
                    return (.use(o), .useLamp(o))
                }
                if let s = search(w, for: t.toggle) { return s }
                return (.look, .lookAround)
            }
            let r = target(w, t)
            guard r >= 0 else { return (.look, .lookAround) }
            if w.at != r { return (.goTo(r), .goToTarget(r)) }
            if !w.isAccessible(r) { return (.open(r), .openTarget(r)) }
            return (.put(h, r), .place(r))
        }
        // hands empty: a seen object of the task type that is not already where it must end
        let goal = (t.type == .pickTwo || t.type == .pick || t.type == .clean || t.type == .heat || t.type == .cool) ? target(w, t) : -1
        var found = -1
        for o in 0..<w.objectCount where w.objectType[o] == t.object {
            let r = w.location[o]
            guard r >= 0, w.seen[r] else { continue }
            if t.type == .pickTwo && r == goal { continue }
            if r == w.at { found = o; break }
            if found < 0 || position(w, r) < position(w, w.location[found]) { found = o }
        }
        if found >= 0 {
            let r = w.location[found]
            if w.at != r { return (.goTo(r), .goToObject(found)) }
            if !w.isAccessible(r) { return (.open(r), .openToTake(found)) }
            return (.take(found, r), .take(found))
        }
        if let s = search(w, for: t.object, skip: t.type == .pickTwo ? goal : -1) { return s }
        return (.look, .lookAround)
    }

    static func position(_ w: HouseholdWorld, _ r: Int) -> Int { w.listing.firstIndex(of: r) ?? Int.max }

    static func putBack(_ w: HouseholdWorld, _ h: Int) -> (HouseholdCommand, Reason) {
        var r = w.origin[h]
        if r < 0 || !w.canContain(r, h) { r = w.listing.first { w.canContain($0, h) } ?? 0 }
        if w.at != r { return (.goTo(r), .returnObject(h)) }
        if !w.isAccessible(r) { return (.open(r), .returnObject(h)) }
        return (.put(h, r), .returnObject(h))
    }

    /// Runs the expert from `w` until the goal holds or `limit` commands were made; returns the number of commands
    /// used, or nil when it did not reach the goal.
    static func solve(_ start: HouseholdWorld, _ t: HouseholdTask, limit: Int) -> Int? {
        var w = start
        for k in 0..<limit {
            let c = decide(w, t).command
            if w.allows(c) { w.apply(c) }
            if t.isSatisfied(by: w) { return k + 1 }
        }
        return nil
    }
}
