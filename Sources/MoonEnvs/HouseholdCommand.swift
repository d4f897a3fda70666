/// A command of ALFWorld's text grammar, with receptacles and objects as indices into the episode's world.
public enum HouseholdCommand: Hashable, Sendable {
    case look
    case inventory
    /// ALFWorld 2.1.2's help text (accepted, not listed: GTR's ALFWorld 2.1.1 had no help)
    case help
    case goTo(Int)
    case open(Int)
    case close(Int)
    case examineReceptacle(Int)
    case examineObject(Int)
    /// take {o} from {r}
    case take(Int, Int)
    /// put {o} in/on {r} (ALFWorld's grammar as GTR used it)
    case put(Int, Int)
    /// move {o} to {r} (the same action in the current ALFWorld grammar; accepted, not listed)
    case move(Int, Int)
    case clean(Int, Int)
    case heat(Int, Int)
    case cool(Int, Int)
    case use(Int)

    /// Sort key of the verb (admissible commands are listed sorted like TextWorld's).
    var verbRank: Int {
        switch self {
        case .clean: return 0
        case .close: return 1
        case .cool: return 2
        case .examineReceptacle, .examineObject: return 3
        case .goTo: return 4
        case .heat: return 5
        case .inventory: return 6
        case .help: return 5
        case .look: return 7
        case .move: return 8
        case .open: return 9
        case .put: return 10
        case .take: return 11
        case .use: return 12
        }
    }
}

/// Reads command text (ALFWorld's grammar) into a command of a world: lower-case ASCII, words separated by any
/// run of spaces/tabs/newlines, names "type number" as the game writes them. Returns nil for anything else.
enum HouseholdCommandParser {
    static let types = HouseholdTypes.shared

    /// Splits bytes into lower-cased words (slices of one lower-cased copy).
    static func words(_ bytes: some Collection<UInt8>) -> [ArraySlice<UInt8>] {
        var buf: [UInt8] = []
        buf.reserveCapacity(bytes.count)
        for b in bytes { buf.append(b >= 0x41 && b <= 0x5A ? b | 0x20 : b) }
        var out: [ArraySlice<UInt8>] = []
        out.reserveCapacity(8)
        var i = 0
        let n = buf.count
        while i < n {
            while i < n && (buf[i] == 0x20 || buf[i] == 0x09 || buf[i] == 0x0A || buf[i] == 0x0D) { i += 1 }
            let start = i
            while i < n && !(buf[i] == 0x20 || buf[i] == 0x09 || buf[i] == 0x0A || buf[i] == 0x0D) { i += 1 }
            if i > start { out.append(buf[start..<i]) }
        }
        return out
    }

    static func equals(_ w: ArraySlice<UInt8>, _ s: StaticString) -> Bool {
        guard w.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        var i = 0
        for b in w { if b != p[i] { return false }; i += 1 }
        return true
    }

    static func number(_ w: ArraySlice<UInt8>) -> Int? {
        guard !w.isEmpty, w.count <= 4 else { return nil }
        var n = 0
        for b in w { guard b >= 0x30 && b <= 0x39 else { return nil }; n = n * 10 + Int(b - 0x30) }
        return n
    }

    static func receptacle(_ w: HouseholdWorld, _ name: ArraySlice<UInt8>, _ num: ArraySlice<UInt8>) -> Int? {
        guard let n = number(num), let t = types.receptacleIndex[String(decoding: name, as: UTF8.self)] else { return nil }
        return w.receptacle(type: t, number: n)
    }

    static func object(_ w: HouseholdWorld, _ name: ArraySlice<UInt8>, _ num: ArraySlice<UInt8>) -> Int? {
        guard let n = number(num), let t = types.objectIndex[String(decoding: name, as: UTF8.self)] else { return nil }
        return w.object(type: t, number: n)
    }

    static func parse(_ text: some Collection<UInt8>, in w: HouseholdWorld) -> HouseholdCommand? {
        let ws = words(text)
        switch ws.count {
        case 1:
            if equals(ws[0], "look") { return .look }
            if equals(ws[0], "inventory") { return .inventory }
            if equals(ws[0], "help") { return .help }
        case 3:
            let v = ws[0]
            if equals(v, "open"), let r = receptacle(w, ws[1], ws[2]) { return .open(r) }
            if equals(v, "close"), let r = receptacle(w, ws[1], ws[2]) { return .close(r) }
            if equals(v, "use"), let o = object(w, ws[1], ws[2]) { return .use(o) }
            if equals(v, "examine") {
                if let r = receptacle(w, ws[1], ws[2]) { return .examineReceptacle(r) }
                if let o = object(w, ws[1], ws[2]) { return .examineObject(o) }
            }
        case 4:
            if equals(ws[0], "go"), equals(ws[1], "to"), let r = receptacle(w, ws[2], ws[3]) { return .goTo(r) }
        case 6:
            guard let o = object(w, ws[1], ws[2]), let r = receptacle(w, ws[4], ws[5]) else { return nil }
            let v = ws[0], p = ws[3]
            if equals(v, "take") && equals(p, "from") { return .take(o, r) }
            if equals(v, "put") && equals(p, "in/on") { return .put(o, r) }
            if equals(v, "move") && equals(p, "to") { return .move(o, r) }
            if equals(v, "clean") && equals(p, "with") { return .clean(o, r) }
            if equals(v, "heat") && equals(p, "with") { return .heat(o, r) }
            if equals(v, "cool") && equals(p, "with") { return .cool(o, r) }
        default:
            break
        }
        return nil
    }
}
