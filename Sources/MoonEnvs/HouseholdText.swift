/// ALFWorld's feedback sentences (alfworld/data/alfred.twl2), written as bytes into a reusable buffer.
struct HouseholdText {
    var bytes: [UInt8] = []

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    var string: String { String(decoding: bytes, as: UTF8.self) }

    @inline(__always) mutating func add(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }
    @inline(__always) mutating func add(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func add(_ s: String) { bytes.append(contentsOf: s.utf8) }
    /// A receptacle's / object's name, appended in place (no copy of the name array).
    @inline(__always) mutating func rec(_ w: HouseholdWorld, _ r: Int) {
        w.receptacleName[r].withUnsafeBufferPointer { bytes.append(contentsOf: $0) }
    }
    @inline(__always) mutating func obj(_ w: HouseholdWorld, _ o: Int) {
        w.objectName[o].withUnsafeBufferPointer { bytes.append(contentsOf: $0) }
    }

    /// TextWorld's list: "nothing", "a x", "a x, and a y", "a x, a y, and a z" (ALFWorld writes "a" before every name).
    mutating func list(_ names: [[UInt8]]) {
        if names.isEmpty { add("nothing"); return }
        for (k, n) in names.enumerated() {
            if k > 0 { add(k == names.count - 1 ? ", and " : ", ") }
            add("a "); add(n)
        }
    }

    /// A TextWorld list of objects (see `list`).
    mutating func objects(_ w: HouseholdWorld, _ os: [Int]) {
        if os.isEmpty { add("nothing"); return }
        for (k, o) in os.enumerated() {
            if k > 0 { add(k == os.count - 1 ? ", and " : ", ") }
            add("a "); obj(w, o)
        }
    }

    /// examineReceptacle.feedback
    mutating func examineReceptacle(_ w: HouseholdWorld, _ r: Int) {
        if w.isOpenable(r) {
            if w.opened[r] {
                add("The "); rec(w, r); add(" is open. In it, you see "); objects(w, w.contents(r)); add(".")
            } else {
                add("The "); rec(w, r); add(" is closed.")
            }
        } else {
            add("On the "); rec(w, r); add(", you see "); objects(w, w.contents(r)); add(".")
        }
    }

    /// look.feedback. In the intro the room's receptacles are listed; the `look` command binds the list to the
    /// agent's location, where nothing stands in the middle of the room, so TextWorld answers "you see nothing".
    mutating func look(_ w: HouseholdWorld, intro: Bool = false) {
        if w.at >= 0 {
            add("You are facing the "); rec(w, w.at); add(". Next to it, you see nothing.")
        } else {
            add("You are in the middle of a room. Looking quickly around you, you see ")
            if intro && !w.listing.isEmpty {
                for (k, r) in w.listing.enumerated() {
                    if k > 0 { add(k == w.listing.count - 1 ? ", and " : ", ") }
                    add("a "); rec(w, r)
                }
            } else {
                add("nothing")
            }
            add(".")
        }
    }

    /// examineObject.feedback (the first matching condition of the grammar; slicing is not modelled).
    mutating func examineObject(_ w: HouseholdWorld, _ o: Int) {
        let t = HouseholdTypes.shared, f = w.flags[o], type = w.objectType[o]
        if t.receptacleObject[type] {
            add("This is a normal "); obj(w, o); add(". In it, you see nothing.")
        } else if f.contains(.clean) && f.contains(.hot) {
            add("This is a hot and clean "); obj(w, o); add(".")
        } else if f.contains(.clean) && f.contains(.cool) {
            add("This is a cool and clean "); obj(w, o); add(".")
        } else if f.contains(.hot) {
            add("This is a hot "); obj(w, o); add(".")
        } else if f.contains(.clean) {
            add("This is a clean "); obj(w, o); add(".")
        } else if f.contains(.cool) {
            add("This is a cold "); obj(w, o); add(".")
        } else if t.toggleable[type] {
            add("This "); obj(w, o); add(f.contains(.toggled) ? " is on." : " is off.")
        } else {
            add("There's nothing special about "); obj(w, o); add(".")
        }
    }

    /// The feedback of a command that was applied (`w` is the state after the effects).
    mutating func feedback(_ c: HouseholdCommand, _ w: HouseholdWorld) {
        switch c {
        case .look: look(w)
        case .help:
            add("\nAvailable commands:\n  look:                             look around your current location\n  inventory:                        check your current inventory\n  go to (receptacle):               move to a receptacle\n  open (receptacle):                open a receptacle\n  close (receptacle):               close a receptacle\n  take (object) from (receptacle):  take an object from a receptacle\n  move (object) to (receptacle):  place an object in or on a receptacle\n  examine (something):              examine a receptacle or an object\n  use (object):                     use an object\n  heat (object) with (receptacle):  heat an object using a receptacle\n  clean (object) with (receptacle): clean an object using a receptacle\n  cool (object) with (receptacle):  cool an object using a receptacle\n  slice (object) with (object):     slice an object using a sharp object\n")
        case .inventory:
            if w.held >= 0 { add("You are carrying: a "); obj(w, w.held); add(".") } else { add("You are not carrying anything.") }
        case .goTo(let r): add("You arrive at "); rec(w, r); add(". "); examineReceptacle(w, r)
        case .open(let r): add("You open the "); rec(w, r); add(". "); examineReceptacle(w, r)
        case .close(let r): add("You close the "); rec(w, r); add(".")
        case .examineReceptacle(let r): examineReceptacle(w, r)
        case .examineObject(let o): examineObject(w, o)
        case .take(let o, let r):
            add("You pick up the "); obj(w, o); add(" from the "); rec(w, r); add(".")
        case .put(let o, let r):
            add("You put the "); obj(w, o); add(" in/on the "); rec(w, r); add(".")
        case .move(let o, let r):
            add("You move the "); obj(w, o); add(" to the "); rec(w, r); add(".")
        case .clean(let o, let r):
            add("You clean the "); obj(w, o); add(" using the "); rec(w, r); add(".")
        case .heat(let o, let r):
            add("You heat the "); obj(w, o); add(" using the "); rec(w, r); add(".")
        case .cool(let o, let r):
            add("You cool the "); obj(w, o); add(" using the "); rec(w, r); add(".")
        case .use(let o):
            // the effect always sets isToggled, so ALFWorld's first rule ("You turn on") always applies
            add("You turn on the "); obj(w, o); add(".")
        }
    }

    /// The command as text ("take apple 1 from countertop 2").
    mutating func command(_ c: HouseholdCommand, _ w: HouseholdWorld) {
        switch c {
        case .look: add("look")
        case .inventory: add("inventory")
        case .help: add("help")
        case .goTo(let r): add("go to "); rec(w, r)
        case .open(let r): add("open "); rec(w, r)
        case .close(let r): add("close "); rec(w, r)
        case .examineReceptacle(let r): add("examine "); rec(w, r)
        case .examineObject(let o): add("examine "); obj(w, o)
        case .take(let o, let r): add("take "); obj(w, o); add(" from "); rec(w, r)
        case .put(let o, let r): add("put "); obj(w, o); add(" in/on "); rec(w, r)
        case .move(let o, let r): add("move "); obj(w, o); add(" to "); rec(w, r)
        case .clean(let o, let r): add("clean "); obj(w, o); add(" with "); rec(w, r)
        case .heat(let o, let r): add("heat "); obj(w, o); add(" with "); rec(w, r)
        case .cool(let o, let r): add("cool "); obj(w, o); add(" with "); rec(w, r)
        case .use(let o): add("use "); obj(w, o)
        }
    }

    static func command(_ c: HouseholdCommand, _ w: HouseholdWorld) -> String {
        var t = HouseholdText(capacity: 48)
        t.command(c, w)
        return t.string
    }
}
