/// moonlab's room generator tables (not ALFWorld data): which receptacles a room of each kind has (type and count
/// range) and which object types may appear in it. Placements inside a room follow ALFWorld's VAL_RECEPTACLE_OBJECTS;
/// the task types allowed per room follow ALFWorld's GOALS_VALID.
public enum HouseholdRoom: String, CaseIterable, Sendable {
    case kitchen, bedroom, bathroom, livingroom

    struct Spec {
        let receptacles: [(String, ClosedRange<Int>)]
        let objects: [String]
        /// Receptacle types a desk lamp may stand on (empty: no lamp in this room).
        let lampOn: [String]
    }

    var spec: Spec {
        switch self {
        case .kitchen:
            return Spec(receptacles: [("cabinet", 3...10), ("countertop", 1...3), ("drawer", 1...6), ("fridge", 1...1),
                                      ("microwave", 1...1), ("sinkbasin", 1...1), ("stoveburner", 2...4),
                                      ("coffeemachine", 1...1), ("toaster", 1...1), ("diningtable", 0...1),
                                      ("garbagecan", 1...1), ("shelf", 0...3)],
                        objects: ["apple", "bread", "butterknife", "bowl", "cup", "dishsponge", "egg", "fork", "kettle",
                                  "knife", "ladle", "lettuce", "mug", "pan", "peppershaker", "plate", "pot", "potato",
                                  "saltshaker", "soapbottle", "spatula", "spoon", "tomato", "winebottle", "glassbottle"],
                        lampOn: [])
        case .bedroom:
            return Spec(receptacles: [("bed", 1...1), ("desk", 0...1), ("sidetable", 1...2), ("drawer", 2...6),
                                      ("dresser", 0...1), ("shelf", 0...4), ("garbagecan", 1...1),
                                      ("laundryhamper", 0...1), ("safe", 0...1), ("armchair", 0...1)],
                        objects: ["alarmclock", "baseballbat", "basketball", "book", "bowl", "cd", "cellphone", "cloth",
                                  "creditcard", "keychain", "laptop", "mug", "pen", "pencil", "pillow", "tennisracket",
                                  "vase", "watch", "tissuebox", "statue"],
                        lampOn: ["desk", "sidetable", "dresser"])
        case .bathroom:
            return Spec(receptacles: [("bathtubbasin", 0...1), ("cabinet", 1...4), ("countertop", 1...1), ("drawer", 0...4),
                                      ("garbagecan", 1...1), ("handtowelholder", 0...1), ("shelf", 0...2),
                                      ("sinkbasin", 1...2), ("toilet", 1...1), ("toiletpaperhanger", 1...1),
                                      ("towelholder", 0...1)],
                        objects: ["candle", "cloth", "dishsponge", "handtowel", "plunger", "soapbar", "soapbottle",
                                  "spraybottle", "tissuebox", "toiletpaper", "towel"],
                        lampOn: [])
        case .livingroom:
            return Spec(receptacles: [("armchair", 0...1), ("coffeetable", 0...1), ("diningtable", 0...1), ("drawer", 1...4),
                                      ("garbagecan", 1...1), ("shelf", 0...6), ("sidetable", 1...2), ("sofa", 1...1),
                                      ("tvstand", 0...1), ("cabinet", 0...4), ("dresser", 0...1), ("ottoman", 0...1),
                                      ("safe", 0...1)],
                        objects: ["book", "box", "candle", "cd", "cellphone", "creditcard", "keychain", "laptop",
                                  "newspaper", "pillow", "remotecontrol", "statue", "tissuebox", "vase", "watch",
                                  "wateringcan"],
                        lampOn: ["sidetable", "dresser"])
        }
    }
}

/// ALFWorld's six task types, with the option names moonlab uses for them.
public enum HouseholdTaskType: String, CaseIterable, Sendable {
    case pick, clean, heat, cool, examine, pickTwo = "pick_two"

    /// ALFWorld's name of the task type.
    public var alfworldName: String {
        switch self {
        case .pick: return "pick_and_place_simple"
        case .clean: return "pick_clean_then_place_in_recep"
        case .heat: return "pick_heat_then_place_in_recep"
        case .cool: return "pick_cool_then_place_in_recep"
        case .examine: return "look_at_obj_in_light"
        case .pickTwo: return "pick_two_obj_and_place"
        }
    }

    /// The rooms ALFWorld allows the task in (GOALS_VALID).
    public var rooms: [HouseholdRoom] {
        switch self {
        case .pick, .pickTwo: return [.kitchen, .bedroom, .bathroom, .livingroom]
        case .examine: return [.bedroom, .livingroom]
        case .clean: return [.kitchen, .bathroom]
        case .heat, .cool: return [.kitchen]
        }
    }

    /// ALFWorld's two templates (goal_library.py) for the task sentence.
    var templates: [String] {
        switch self {
        case .pick: return ["put a {obj} in {recep}", "put some {obj} on {recep}"]
        case .clean: return ["put a clean {obj} in {recep}", "clean some {obj} and put it in {recep}"]
        case .heat: return ["put a hot {obj} in {recep}", "heat some {obj} and put it in {recep}"]
        case .cool: return ["put a cool {obj} in {recep}", "cool some {obj} and put it in {recep}"]
        case .examine: return ["look at {obj} under the {toggle}", "examine the {obj} with the {toggle}"]
        case .pickTwo: return ["put two {obj} in {recep}", "find two {obj} and put them in {recep}"]
        }
    }
}
