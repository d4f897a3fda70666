/// The state of one household episode and ALFWorld's rules (alfworld/data/alfred.pddl): each command's
/// preconditions (`allows`) and effects (`apply`), the admissible commands, and the goal test.
/// Receptacles and objects are small integers; names are pre-encoded bytes.
public struct HouseholdWorld: Sendable {
    static let types = HouseholdTypes.shared

    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let clean = Flags(rawValue: 1)
        public static let hot = Flags(rawValue: 2)
        public static let cool = Flags(rawValue: 4)
        /// isToggled (a lamp that was used)
        public static let toggled = Flags(rawValue: 8)
        /// isOn (flips with every use)
        public static let on = Flags(rawValue: 16)
    }

    // MARK: the room (fixed for the episode)
    /// Receptacle type (index into HouseholdTypes.receptacleNames) and instance number ("cabinet 3").
    public internal(set) var receptacleType: [Int] = []
    public internal(set) var receptacleNumber: [Int] = []
    public internal(set) var objectType: [Int] = []
    public internal(set) var objectNumber: [Int] = []
    /// "cabinet 3" as bytes.
    var receptacleName: [[UInt8]] = []
    var objectName: [[UInt8]] = []
    /// Receptacles in the order the room's description lists them (the expert explores in this order too).
    public internal(set) var listing: [Int] = []
    /// Alphabetical rank of each name among all names of the episode (for TextWorld's sorted command list).
    var receptacleRank: [Int] = []
    var objectRank: [Int] = []
    /// Receptacles sorted by name.
    var receptaclesByName: [Int] = []

    // MARK: the dynamic state
    public internal(set) var opened: [Bool] = []
    /// The agent has seen the contents of the receptacle (arrived at it open, opened it, examined it open).
    public internal(set) var seen: [Bool] = []
    /// The receptacle an object is in, or -1 while the agent holds it.
    public internal(set) var location: [Int] = []
    /// The receptacle an object was last in (where the expert puts back an object it does not need).
    public internal(set) var origin: [Int] = []
    public internal(set) var flags: [Flags] = []
    /// The object the agent holds, or -1.
    public internal(set) var held = -1
    /// The receptacle the agent is at, or -1 in the middle of the room.
    public internal(set) var at = -1

    public var receptacleCount: Int { receptacleType.count }
    public var objectCount: Int { objectType.count }

    public func name(receptacle r: Int) -> String { String(decoding: receptacleName[r], as: UTF8.self) }
    public func name(object o: Int) -> String { String(decoding: objectName[o], as: UTF8.self) }

    func receptacle(type t: Int, number n: Int) -> Int? {
        for r in 0..<receptacleType.count where receptacleType[r] == t && receptacleNumber[r] == n { return r }
        return nil
    }

    func object(type t: Int, number n: Int) -> Int? {
        for o in 0..<objectType.count where objectType[o] == t && objectNumber[o] == n { return o }
        return nil
    }

    /// Adds a receptacle (generator).
    mutating func addReceptacle(type t: Int) -> Int {
        let n = receptacleType.reduce(0) { $0 + ($1 == t ? 1 : 0) } + 1
        receptacleType.append(t); receptacleNumber.append(n)
        receptacleName.append(Self.types.receptacleBytes[t] + [0x20] + Array(String(n).utf8))
        opened.append(false); seen.append(false)
        return receptacleType.count - 1
    }

    /// Adds an object in a receptacle (generator).
    mutating func addObject(type t: Int, in r: Int) -> Int {
        let n = objectType.reduce(0) { $0 + ($1 == t ? 1 : 0) } + 1
        objectType.append(t); objectNumber.append(n)
        objectName.append(Self.types.objectBytes[t] + [0x20] + Array(String(n).utf8))
        location.append(r); origin.append(r); flags.append([])
        return objectType.count - 1
    }

    /// Computes the name ranks once the room is complete (generator).
    mutating func finishNames() {
        var all: [([UInt8], Int)] = []
        for r in 0..<receptacleCount { all.append((receptacleName[r], r)) }
        for o in 0..<objectCount { all.append((objectName[o], receptacleCount + o)) }
        all.sort { $0.0.lexicographicallyPrecedes($1.0) }
        receptacleRank = Array(repeating: 0, count: receptacleCount)
        objectRank = Array(repeating: 0, count: objectCount)
        for (k, e) in all.enumerated() {
            if e.1 < receptacleCount { receptacleRank[e.1] = k } else { objectRank[e.1 - receptacleCount] = k }
        }
        receptaclesByName = (0..<receptacleCount).sorted { receptacleRank[$0] < receptacleRank[$1] }
    }

    // MARK: predicates
    @inline(__always) func isOpenable(_ r: Int) -> Bool { Self.types.openable[receptacleType[r]] }
    /// Contents are reachable: the receptacle is open or does not open (PDDL: (or (not (openable ?r)) (opened ?r))).
    @inline(__always) func isAccessible(_ r: Int) -> Bool { !isOpenable(r) || opened[r] }
    @inline(__always) func canContain(_ r: Int, _ o: Int) -> Bool { Self.types.canContain[receptacleType[r]][objectType[o]] }

    /// Objects in receptacle r, sorted by name.
    func contents(_ r: Int) -> [Int] {
        var out: [Int] = []
        for o in 0..<objectCount where location[o] == r {
            // insertion by name rank (few objects; no closure capturing the world)
            var k = out.count
            out.append(o)
            while k > 0 && objectRank[out[k - 1]] > objectRank[o] { out[k] = out[k - 1]; k -= 1 }
            out[k] = o
        }
        return out
    }

    /// Whether a command's preconditions hold (the PDDL action's precondition, with ALFWorld's receptacle types).
    public func allows(_ c: HouseholdCommand) -> Bool {
        let t = Self.types
        switch c {
        case .look, .inventory, .help:
            return true
        case .goTo(let r):
            // TextWorld's engine does not offer going where the agent already is
            return r >= 0 && r < receptacleCount && r != at
        case .open(let r):
            return at == r && isOpenable(r) && !opened[r]
        case .close(let r):
            return at == r && isOpenable(r) && opened[r]
        case .examineReceptacle(let r):
            return at == r
        case .examineObject(let o):
            // the PDDL also names an object in an open receptacle here, but TextWorld's engine only grounds the
            // held object (its admissible commands and answers are the reference: Tests/Fixtures)
            return held == o
        case .take(let o, let r):
            return held < 0 && at == r && location[o] == r && t.pickupable[objectType[o]] && isAccessible(r)
        case .put(let o, let r), .move(let o, let r):
            return held == o && at == r && isAccessible(r) && canContain(r, o)
        case .clean(let o, let r):
            return held == o && at == r && t.cleanable[objectType[o]] && t.receptacleNames[receptacleType[r]] == "sinkbasin"
        case .heat(let o, let r):
            return held == o && at == r && t.heatable[objectType[o]] && t.receptacleNames[receptacleType[r]] == "microwave"
        case .cool(let o, let r):
            return held == o && at == r && t.coolable[objectType[o]] && t.receptacleNames[receptacleType[r]] == "fridge"
        case .use(let o):
            return at >= 0 && location[o] == at && t.toggleable[objectType[o]]
        }
    }

    /// Applies an allowed command's effects (callers check `allows` first).
    mutating func apply(_ c: HouseholdCommand) {
        switch c {
        case .look, .inventory, .help, .examineObject:
            break
        case .examineReceptacle(let r):
            if isAccessible(r) { seen[r] = true }
        case .goTo(let r):
            at = r
            if isAccessible(r) { seen[r] = true }
        case .open(let r):
            opened[r] = true; seen[r] = true
        case .close(let r):
            opened[r] = false
        case .take(let o, _):
            location[o] = -1; held = o
        case .put(let o, let r), .move(let o, let r):
            location[o] = r; origin[o] = r; held = -1
        case .clean(let o, _):
            flags[o].insert(.clean)
        case .heat(let o, _):
            flags[o].insert(.hot); flags[o].remove(.cool)
        case .cool(let o, _):
            flags[o].insert(.cool); flags[o].remove(.hot)
        case .use(let o):
            if flags[o].contains(.on) { flags[o].remove(.on) } else { flags[o].insert(.on) }
            flags[o].insert(.toggled)
        }
    }

    /// The admissible commands, sorted as TextWorld lists them (alphabetically).
    public func admissibleCommands() -> [HouseholdCommand] {
        let t = Self.types
        var out: [HouseholdCommand] = []
        out.reserveCapacity(receptacleCount + 16)
        let r = at
        // clean / close / cool
        if r >= 0 && held >= 0 {
            let c = HouseholdCommand.clean(held, r)
            if allows(c) { out.append(c) }
        }
        if r >= 0 && isOpenable(r) && opened[r] { out.append(.close(r)) }
        if r >= 0 && held >= 0 {
            let c = HouseholdCommand.cool(held, r)
            if allows(c) { out.append(c) }
        }
        // examine: the receptacle here and the held object
        let visible: [Int] = r >= 0 && isAccessible(r) ? contents(r) : []
        if r >= 0 && held >= 0 && objectRank[held] < receptacleRank[r] { out.append(.examineObject(held)) }
        if r >= 0 { out.append(.examineReceptacle(r)) }
        if held >= 0 && !(r >= 0 && objectRank[held] < receptacleRank[r]) { out.append(.examineObject(held)) }
        for g in receptaclesByName where g != r { out.append(.goTo(g)) }
        if r >= 0 && held >= 0 {
            let c = HouseholdCommand.heat(held, r)
            if allows(c) { out.append(c) }
        }
        out.append(.inventory)
        out.append(.look)
        if r >= 0 && isOpenable(r) && !opened[r] { out.append(.open(r)) }
        if r >= 0 && held >= 0 && allows(.put(held, r)) { out.append(.put(held, r)) }
        if r >= 0 && held < 0 {
            for o in visible where t.pickupable[objectType[o]] { out.append(.take(o, r)) }
        }
        if r >= 0 {
            // lamps may stand in a receptacle whose contents are not visible only if it opens; ALFWorld's lamps do not
            for o in (isAccessible(r) ? visible : contents(r)) where t.toggleable[objectType[o]] { out.append(.use(o)) }
        }
        return out
    }
}
