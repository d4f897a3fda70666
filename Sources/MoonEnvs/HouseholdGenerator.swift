/// moonlab's procedural generator of household episodes (not the ALFRED scenes): a room of the chosen kind with
/// receptacles from HouseholdRoom's tables, objects placed only where ALFWorld's VAL_RECEPTACLE_OBJECTS allows, some
/// receptacles left open, a task of ALFWorld's six types whose goal does not already hold. An episode is kept only if
/// the expert solves it within the step limit (50), so every generated task is solvable by exploring.
public enum HouseholdGenerator {
    static let types = HouseholdTypes.shared
    static let lampReceptacles: Set<Int> = Set(["desk", "sidetable", "dresser"].map { HouseholdTypes.shared.receptacle($0) })
    /// ALFWorld's episode limit; generation guarantees the expert needs no more.
    public static let expertStepBound = 50

    public static func generate(task: HouseholdTaskType?, room: HouseholdRoom?, rng: inout EnvRandom) -> (HouseholdWorld, HouseholdTask) {
        while true {
            let type = task ?? rng.choice(room.map { r in HouseholdTaskType.allCases.filter { $0.rooms.contains(r) } } ?? HouseholdTaskType.allCases)
            let kind = room ?? rng.choice(type.rooms)
            guard let (w, t) = attempt(type, kind, &rng) else { continue }
            if HouseholdExpert.solve(w, t, limit: expertStepBound) != nil { return (w, t) }
        }
    }

    static func attempt(_ type: HouseholdTaskType, _ room: HouseholdRoom, _ rng: inout EnvRandom) -> (HouseholdWorld, HouseholdTask)? {
        let spec = room.spec
        var w = HouseholdWorld()
        for (name, range) in spec.receptacles {
            let t = types.receptacle(name)
            for _ in 0..<rng.int(in: range) { _ = w.addReceptacle(type: t) }
        }
        let present = Set(w.receptacleType)
        // task object type and target receptacle type
        let candidates = spec.objects.map { types.object($0) }.filter { o in
            switch type {
            case .clean: return types.cleanable[o]
            case .heat: return types.heatable[o]
            case .cool: return types.coolable[o]
            default: return true
            }
        }.filter { o in present.contains { types.canContain[$0][o] } }
        guard !candidates.isEmpty else { return nil }
        let object = rng.choice(candidates)
        var target = -1, toggle = -1
        let excluded: String? = type == .clean ? "sinkbasin" : type == .heat ? "microwave" : type == .cool ? "fridge" : nil
        if type == .examine {
            toggle = types.object("desklamp")
            guard present.contains(where: { lampReceptacles.contains($0) }) else { return nil }
        } else {
            let targets = present.sorted().filter { r in
                types.canContain[r][object] && types.receptacleNames[r] != excluded
                    // the object must have somewhere else to start
                    && present.contains { $0 != r && types.canContain[$0][object] }
            }
            guard !targets.isEmpty else { return nil }
            target = rng.choice(targets)
        }
        // placements: the task object (never in a receptacle of the target type), then other objects
        let startSpots = (0..<w.receptacleCount).filter { types.canContain[w.receptacleType[$0]][object] && w.receptacleType[$0] != target }
        guard !startSpots.isEmpty else { return nil }
        let needed = type == .pickTwo ? rng.int(in: 2...4) : rng.int(in: 1...3)
        for _ in 0..<needed { _ = w.addObject(type: object, in: rng.choice(startSpots)) }
        for name in spec.objects {
            let o = types.object(name)
            guard o != object, rng.uniform() < 0.55 else { continue }
            let spots = (0..<w.receptacleCount).filter { types.canContain[w.receptacleType[$0]][o] }
            guard !spots.isEmpty else { continue }
            for _ in 0..<rng.int(in: 1...2) { _ = w.addObject(type: o, in: rng.choice(spots)) }
        }
        if !spec.lampOn.isEmpty {
            let spots = (0..<w.receptacleCount).filter { lampReceptacles.contains(w.receptacleType[$0]) }
            if let s = spots.isEmpty ? nil : rng.choice(spots) { _ = w.addObject(type: types.object("desklamp"), in: s) }
        }
        // object instances are numbered by type in placement order; shuffle which instance sits where
        // so "apple 1" is not always the first placed
        for o in 0..<w.objectCount {
            let j = rng.int(in: o...(w.objectCount - 1))
            if w.objectType[j] == w.objectType[o] && j != o { w.location.swapAt(o, j); w.origin.swapAt(o, j) }
        }
        // a few openable receptacles start open (ALFRED scenes have some open drawers and cabinets)
        for r in 0..<w.receptacleCount where w.isOpenable(r) && rng.uniform() < 0.1 { w.opened[r] = true }
        var listing = Array(0..<w.receptacleCount)
        for i in stride(from: listing.count - 1, to: 0, by: -1) { listing.swapAt(i, rng.int(in: 0...i)) }
        w.listing = listing
        w.finishNames()
        let task = HouseholdTask(type: type, room: room, object: object, receptacle: target, toggle: toggle,
                                 template: rng.int(in: 0...1))
        if task.isSatisfied(by: w) { return nil }
        return (w, task)
    }
}
