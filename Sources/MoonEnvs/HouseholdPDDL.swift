/// A household episode as a PDDL problem for ALFWorld's domain (alfworld/data/alfred.pddl), so the same room can be
/// played by TextWorld's PDDL engine: the peer of the benchmark and the reference of the rule fixtures
/// (scripts/household_textworld.py). Names are `type_number` (TextWorld prints ids; "cabinet_1" is "cabinet 1").
extension HouseholdWorld {
    public func pddlProblem(task: HouseholdTask) -> String {
        let t = Self.types
        func rid(_ r: Int) -> String { t.receptacleNames[receptacleType[r]] + "_\(receptacleNumber[r])" }
        func oid(_ o: Int) -> String { t.objectNames[objectType[o]] + "_\(objectNumber[o])" }
        func rtype(_ i: Int) -> String { HouseholdCatalog.receptacleTypesCamelCase[i] + "Type" }
        func otype(_ i: Int) -> String { HouseholdCatalog.objectTypesCamelCase[i] + "Type" }
        var s = "(define (problem moonlab_household)\n(:domain alfred)\n(:objects\nagent1 - agent\nloc_0"
        for r in 0..<receptacleCount { s += " loc_\(r + 1)" }
        s += " - location\n"
        s += (0..<receptacleCount).map(rid).joined(separator: " ") + " - receptacle\n"
        if objectCount > 0 { s += (0..<objectCount).map(oid).joined(separator: " ") + " - object\n" }
        let rtypes = Array(Set(receptacleType + [t.receptacle("sinkbasin"), t.receptacle("microwave"), t.receptacle("fridge")])).sorted()
        s += rtypes.map(rtype).joined(separator: " ") + " - rtype\n"
        let otypes = Array(Set(objectType + [task.object] + (task.toggle >= 0 ? [task.toggle] : []))).sorted()
        // the domain names KnifeType and ButterKnifeType (slicing); declare them when no such object is in the room
        let knives = ["knife", "butterknife"].map { t.object($0) }.filter { !otypes.contains($0) }
        s += (otypes + knives).map(otype).joined(separator: " ") + " - otype\n)\n(:init\n"
        s += "(atLocation agent1 \(at >= 0 ? "loc_\(at + 1)" : "loc_0"))\n"
        for r in 0..<receptacleCount {
            s += "(receptacleAtLocation \(rid(r)) loc_\(r + 1))\n(receptacleType \(rid(r)) \(rtype(receptacleType[r])))\n"
            if isOpenable(r) { s += "(openable \(rid(r)))\n" }
            if opened[r] { s += "(opened \(rid(r)))\n" }
        }
        for o in 0..<objectCount {
            let ty = objectType[o]
            s += "(objectType \(oid(o)) \(otype(ty)))\n"
            if location[o] >= 0 {
                s += "(inReceptacle \(oid(o)) \(rid(location[o])))\n(objectAtLocation \(oid(o)) loc_\(location[o] + 1))\n"
            }
            if t.pickupable[ty] { s += "(pickupable \(oid(o)))\n" }
            if t.cleanable[ty] { s += "(cleanable \(oid(o)))\n" }
            if t.heatable[ty] { s += "(heatable \(oid(o)))\n" }
            if t.coolable[ty] { s += "(coolable \(oid(o)))\n" }
            if t.toggleable[ty] { s += "(toggleable \(oid(o)))\n" }
            if t.receptacleObject[ty] { s += "(isReceptacleObject \(oid(o)))\n" }
        }
        for r in rtypes { for o in otypes where t.canContain[r][o] { s += "(canContain \(rtype(r)) \(otype(o)))\n" } }
        s += ")\n(:goal\n"
        let o = otype(task.object)
        switch task.type {
        case .pick, .clean, .heat, .cool:
            let extra = task.type == .clean ? " (isClean ?o)" : task.type == .heat ? " (isHot ?o)" : task.type == .cool ? " (isCool ?o)" : ""
            s += "(exists (?r - receptacle) (exists (?o - object) (and (inReceptacle ?o ?r) (objectType ?o \(o)) (receptacleType ?r \(rtype(task.receptacle)))\(extra))))\n"
        case .pickTwo:
            s += "(exists (?r - receptacle) (exists (?o1 - object) (and (objectType ?o1 \(o)) (receptacleType ?r \(rtype(task.receptacle))) (inReceptacle ?o1 ?r) (exists (?o2 - object) (and (not (= ?o1 ?o2)) (objectType ?o2 \(o)) (inReceptacle ?o2 ?r))))))\n"
        case .examine:
            s += "(and (exists (?ot - object ?r - receptacle ?a - agent ?l - location) (and (objectType ?ot \(otype(task.toggle))) (toggleable ?ot) (isToggled ?ot) (receptacleAtLocation ?r ?l) (atLocation ?a ?l) (inReceptacle ?ot ?r))) (exists (?o - object ?a - agent) (and (objectType ?o \(o)) (holds ?a ?o))))\n"
        }
        return s + ")\n)\n"
    }
}
