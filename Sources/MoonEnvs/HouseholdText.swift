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

    /// TextWorld's list: "nothing", "a x", "a x, and a y", "a x, a y, and a z" (ALFWorld writes "a" before every name).
    mutating func list(_ names: [[UInt8]]) {
        if names.isEmpty { add("nothing"); return }
        for (k, n) in names.enumerated() {
            if k > 0 { add(k == names.count - 1 ? ", and " : ", ") }
            add("a "); add(n)
        }
    }

    /// examineReceptacle.feedback
    mutating func examineReceptacle(_ w: HouseholdWorld, _ r: Int) {
        let name = w.receptacleName[r]
        if w.isOpenable(r) {
            if w.opened[r] {
                add("The "); add(name); add(" is open. In it, you see "); list(w.contents(r).map { w.objectName[$0] }); add(".")
            } else {
                add("The "); add(name); add(" is closed.")
            }
        } else {
            add("On the "); add(name); add(", you see "); list(w.contents(r).map { w.objectName[$0] }); add(".")
        }
    }

    /// look.feedback. In the intro the room's receptacles are listed; the `look` command binds the list to the
    /// agent's location, where nothing stands in the middle of the room, so TextWorld answers "you see nothing".
    mutating func look(_ w: HouseholdWorld, intro: Bool = false) {
        if w.at >= 0 {
            add("You are facing the "); add(w.receptacleName[w.at]); add(". Next to it, you see nothing.")
        } else {
            add("You are in the middle of a room. Looking quickly around you, you see ")
            list(intro ? w.listing.map { w.receptacleName[$0] } : [])
            add(".")
        }
    }

    /// examineObject.feedback (the first matching condition of the grammar; slicing is not modelled).
    mutating func examineObject(_ w: HouseholdWorld, _ o: Int) {
        let t = HouseholdTypes.shared, name = w.objectName[o], f = w.flags[o], type = w.objectType[o]
        if t.receptacleObject[type] {
            add("This is a normal "); add(name); add(". In it, you see nothing.")
        } else if f.contains(.clean) && f.contains(.hot) {
            add("This is a hot and clean "); add(name); add(".")
        } else if f.contains(.clean) && f.contains(.cool) {
            add("This is a cool and clean "); add(name); add(".")
        } else if f.contains(.hot) {
            add("This is a hot "); add(name); add(".")
        } else if f.contains(.clean) {
            add("This is a clean "); add(name); add(".")
        } else if f.contains(.cool) {
            add("This is a cold "); add(name); add(".")
        } else if t.toggleable[type] {
            add("This "); add(name); add(f.contains(.toggled) ? " is on." : " is off.")
        } else {
            add("There's nothing special about "); add(name); add(".")
        }
    }

    /// The feedback of a command that was applied (`w` is the state after the effects).
    mutating func feedback(_ c: HouseholdCommand, _ w: HouseholdWorld) {
        switch c {
        case .look: look(w)
        case .help:
            add("\nAvailable commands:\n  look:                             look around your current location\n  inventory:                        check your current inventory\n  go to (receptacle):               move to a receptacle\n  open (receptacle):                open a receptacle\n  close (receptacle):               close a receptacle\n  take (object) from (receptacle):  take an object from a receptacle\n  move (object) to (receptacle):  place an object in or on a receptacle\n  examine (something):              examine a receptacle or an object\n  use (object):                     use an object\n  heat (object) with (receptacle):  heat an object using a receptacle\n  clean (object) with (receptacle): clean an object using a receptacle\n  cool (object) with (receptacle):  cool an object using a receptacle\n  slice (object) with (object):     slice an object using a sharp object\n")
        case .inventory:
            if w.held >= 0 { add("You are carrying: a "); add(w.objectName[w.held]); add(".") } else { add("You are not carrying anything.") }
        case .goTo(let r): add("You arrive at "); add(w.receptacleName[r]); add(". "); examineReceptacle(w, r)
        case .open(let r): add("You open the "); add(w.receptacleName[r]); add(". "); examineReceptacle(w, r)
        case .close(let r): add("You close the "); add(w.receptacleName[r]); add(".")
        case .examineReceptacle(let r): examineReceptacle(w, r)
        case .examineObject(let o): examineObject(w, o)
        case .take(let o, let r):
            add("You pick up the "); add(w.objectName[o]); add(" from the "); add(w.receptacleName[r]); add(".")
        case .put(let o, let r):
            add("You put the "); add(w.objectName[o]); add(" in/on the "); add(w.receptacleName[r]); add(".")
        case .move(let o, let r):
            add("You move the "); add(w.objectName[o]); add(" to the "); add(w.receptacleName[r]); add(".")
        case .clean(let o, let r):
            add("You clean the "); add(w.objectName[o]); add(" using the "); add(w.receptacleName[r]); add(".")
        case .heat(let o, let r):
            add("You heat the "); add(w.objectName[o]); add(" using the "); add(w.receptacleName[r]); add(".")
        case .cool(let o, let r):
            add("You cool the "); add(w.objectName[o]); add(" using the "); add(w.receptacleName[r]); add(".")
        case .use(let o):
            // the effect always sets isToggled, so ALFWorld's first rule ("You turn on") always applies
            add("You turn on the "); add(w.objectName[o]); add(".")
        }
    }

    /// The command as text ("take apple 1 from countertop 2").
    mutating func command(_ c: HouseholdCommand, _ w: HouseholdWorld) {
        switch c {
        case .look: add("look")
        case .inventory: add("inventory")
        case .help: add("help")
        case .goTo(let r): add("go to "); add(w.receptacleName[r])
        case .open(let r): add("open "); add(w.receptacleName[r])
        case .close(let r): add("close "); add(w.receptacleName[r])
        case .examineReceptacle(let r): add("examine "); add(w.receptacleName[r])
        case .examineObject(let o): add("examine "); add(w.objectName[o])
        case .take(let o, let r): add("take "); add(w.objectName[o]); add(" from "); add(w.receptacleName[r])
        case .put(let o, let r): add("put "); add(w.objectName[o]); add(" in/on "); add(w.receptacleName[r])
        case .move(let o, let r): add("move "); add(w.objectName[o]); add(" to "); add(w.receptacleName[r])
        case .clean(let o, let r): add("clean "); add(w.objectName[o]); add(" with "); add(w.receptacleName[r])
        case .heat(let o, let r): add("heat "); add(w.objectName[o]); add(" with "); add(w.receptacleName[r])
        case .cool(let o, let r): add("cool "); add(w.objectName[o]); add(" with "); add(w.receptacleName[r])
        case .use(let o): add("use "); add(w.objectName[o])
        }
    }

    static func command(_ c: HouseholdCommand, _ w: HouseholdWorld) -> String {
        var t = HouseholdText(capacity: 48)
        t.command(c, w)
        return t.string
    }
}
