import XCTest
@testable import MoonEnvs

/// The household env against ALFWorld's rules (alfred.pddl) and feedback text (alfred.twl2), its expert, parsing,
/// determinism and the registry/vector plumbing.
enum HouseholdTextTestAccess {
    /// examineObject.feedback for any object (the command itself is admissible for the held object only).
    static func examine(_ w: HouseholdWorld, _ o: Int) -> String {
        var t = HouseholdText()
        t.examineObject(w, o)
        return t.string
    }
}

final class HouseholdTests: XCTestCase {
    let types = HouseholdTypes.shared

    /// A hand-made kitchen: countertop 1 (apple 1, mug 2), cabinet 1 (closed, mug 1), fridge 1 (closed), microwave 1,
    /// sinkbasin 1, coffeemachine 1, desk 1 (desklamp 1, book 1).
    func kitchen() -> HouseholdWorld {
        var w = HouseholdWorld()
        let counter = w.addReceptacle(type: types.receptacle("countertop"))
        let cabinet = w.addReceptacle(type: types.receptacle("cabinet"))
        _ = w.addReceptacle(type: types.receptacle("fridge"))
        _ = w.addReceptacle(type: types.receptacle("microwave"))
        _ = w.addReceptacle(type: types.receptacle("sinkbasin"))
        _ = w.addReceptacle(type: types.receptacle("coffeemachine"))
        let desk = w.addReceptacle(type: types.receptacle("desk"))
        _ = w.addObject(type: types.object("apple"), in: counter)
        _ = w.addObject(type: types.object("mug"), in: cabinet)
        _ = w.addObject(type: types.object("mug"), in: counter)
        _ = w.addObject(type: types.object("desklamp"), in: desk)
        _ = w.addObject(type: types.object("book"), in: desk)
        w.listing = Array(0..<w.receptacleCount)
        w.finishNames()
        return w
    }

    func env(_ w: HouseholdWorld, _ task: HouseholdTask) -> HouseholdEnv {
        var c = CommonOptions(); c.textOnly = true; c.maxEpisodeSteps = 50
        let e = HouseholdEnv(common: c, task: .pick, room: .kitchen)
        e.setState(world: w, task: task)
        return e
    }

    func pickTask(_ obj: String, _ rec: String, _ type: HouseholdTaskType = .pick) -> HouseholdTask {
        HouseholdTask(type: type, room: .kitchen, object: types.object(obj), receptacle: types.receptacle(rec), toggle: -1, template: 0)
    }

    /// Steps with command text; returns the feedback.
    @discardableResult
    func say(_ e: HouseholdEnv, _ cmd: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        let r = try! e.step(action: cmd)
        return r.info.extra["feedback"] ?? "<none>"
    }

    func testCatalogNamesResolve() {
        for room in HouseholdRoom.allCases {
            for (r, _) in room.spec.receptacles { XCTAssertGreaterThanOrEqual(types.receptacle(r), 0, r) }
            for o in room.spec.objects {
                XCTAssertGreaterThanOrEqual(types.object(o), 0, o)
                // every object of a room may be placed somewhere in that kind of room
                XCTAssertTrue(room.spec.receptacles.contains { types.canContain[types.receptacle($0.0)][types.object(o)] }, "\(room) \(o)")
            }
        }
    }

    func testFeedbackAndPreconditions() {
        let e = env(kitchen(), pickTask("apple", "fridge"))
        XCTAssertEqual(e.lastFeedback, "You are in the middle of a room. Looking quickly around you, you see a countertop 1, a cabinet 1, a fridge 1, a microwave 1, a sinkbasin 1, a coffeemachine 1, and a desk 1.")
        // nothing is reachable from the middle of the room
        XCTAssertEqual(say(e, "take apple 1 from countertop 1"), "Nothing happens.")
        XCTAssertEqual(say(e, "open cabinet 1"), "Nothing happens.")
        XCTAssertEqual(say(e, "inventory"), "You are not carrying anything.")
        XCTAssertEqual(say(e, "look"), "You are in the middle of a room. Looking quickly around you, you see nothing.")
        XCTAssertEqual(say(e, "put apple 1 in/on countertop 1"), "Nothing happens.")   // put while holding nothing
        XCTAssertEqual(say(e, "go to cabinet 1"), "You arrive at cabinet 1. The cabinet 1 is closed.")
        XCTAssertEqual(say(e, "take mug 1 from cabinet 1"), "Nothing happens.")       // closed receptacle
        XCTAssertEqual(say(e, "examine mug 1"), "Nothing happens.")                   // not visible while closed
        XCTAssertEqual(say(e, "close cabinet 1"), "Nothing happens.")                 // already closed
        XCTAssertEqual(say(e, "examine cabinet 1"), "The cabinet 1 is closed.")
        XCTAssertEqual(say(e, "open cabinet 1"), "You open the cabinet 1. The cabinet 1 is open. In it, you see a mug 1.")
        XCTAssertEqual(say(e, "open cabinet 1"), "Nothing happens.")                  // already open
        XCTAssertEqual(say(e, "take apple 1 from cabinet 1"), "Nothing happens.")     // object not here
        XCTAssertEqual(say(e, "take apple 1 from countertop 1"), "Nothing happens.")  // receptacle not here
        XCTAssertEqual(say(e, "examine mug 1"), "Nothing happens.")   // TextWorld grounds examine only for the held object
        XCTAssertEqual(say(e, "take mug 1 from cabinet 1"), "You pick up the mug 1 from the cabinet 1.")
        XCTAssertEqual(say(e, "examine mug 1"), "This is a normal mug 1. In it, you see nothing.")
        XCTAssertEqual(say(e, "go to cabinet 1"), "Nothing happens.")   // already there
        XCTAssertEqual(say(e, "inventory"), "You are carrying: a mug 1.")
        XCTAssertEqual(say(e, "look"), "You are facing the cabinet 1. Next to it, you see nothing.")
        XCTAssertEqual(say(e, "go to countertop 1"), "You arrive at countertop 1. On the countertop 1, you see a apple 1, and a mug 2.")
        XCTAssertEqual(say(e, "take apple 1 from countertop 1"), "Nothing happens.")  // hands full
        XCTAssertEqual(say(e, "open countertop 1"), "Nothing happens.")               // not openable
        XCTAssertEqual(say(e, "heat mug 1 with countertop 1"), "Nothing happens.")    // heat without a microwave
        XCTAssertEqual(say(e, "put mug 1 in/on countertop 1"), "You put the mug 1 in/on the countertop 1.")
        XCTAssertEqual(say(e, "take apple 1 from countertop 1"), "You pick up the apple 1 from the countertop 1.")
        XCTAssertEqual(say(e, "go to coffeemachine 1"), "You arrive at coffeemachine 1. On the coffeemachine 1, you see nothing.")
        XCTAssertEqual(say(e, "put apple 1 in/on coffeemachine 1"), "Nothing happens.") // coffeemachine holds only mugs
        XCTAssertEqual(say(e, "heat apple 1 with coffeemachine 1"), "Nothing happens.")
        XCTAssertEqual(say(e, "go to microwave 1"), "You arrive at microwave 1. The microwave 1 is closed.")
        XCTAssertEqual(say(e, "cool apple 1 with microwave 1"), "Nothing happens.")   // cooling needs the fridge
        XCTAssertEqual(say(e, "heat apple 1 with microwave 1"), "You heat the apple 1 using the microwave 1.") // closed is fine (PDDL)
        XCTAssertEqual(say(e, "examine apple 1"), "This is a hot apple 1.")
        XCTAssertEqual(say(e, "put apple 1 in/on microwave 1"), "Nothing happens.")   // closed
        XCTAssertEqual(say(e, "go to sinkbasin 1"), "You arrive at sinkbasin 1. On the sinkbasin 1, you see nothing.")
        XCTAssertEqual(say(e, "clean apple 1 with sinkbasin 1"), "You clean the apple 1 using the sinkbasin 1.")
        XCTAssertEqual(say(e, "examine apple 1"), "This is a hot and clean apple 1.")
        XCTAssertEqual(say(e, "go to fridge 1"), "You arrive at fridge 1. The fridge 1 is closed.")
        XCTAssertEqual(say(e, "cool apple 1 with fridge 1"), "You cool the apple 1 using the fridge 1.")
        XCTAssertEqual(say(e, "examine apple 1"), "This is a cool and clean apple 1.")  // cooling removes hot
        XCTAssertTrue(e.world.flags[0].contains(.cool) && !e.world.flags[0].contains(.hot))
        XCTAssertEqual(say(e, "put apple 1 in/on fridge 1"), "Nothing happens.")      // closed fridge
        XCTAssertFalse(e.isDone)
        XCTAssertEqual(say(e, "open fridge 1"), "You open the fridge 1. The fridge 1 is open. In it, you see nothing.")
        let r = try! e.step(action: "put apple 1 in/on fridge 1")
        XCTAssertEqual(r.info.extra["feedback"], "You put the apple 1 in/on the fridge 1.")
        XCTAssertEqual(r.reward, 1); XCTAssertTrue(r.terminated); XCTAssertTrue(r.info.success)
    }

    func testLampAndExamineGoal() {
        var t = pickTask("book", "desk", .examine)
        t.receptacle = -1; t.toggle = types.object("desklamp")
        XCTAssertEqual(t.sentence, "Your task is to: look at book under the desklamp.")
        let e = env(kitchen(), t)
        XCTAssertEqual(say(e, "use desklamp 1"), "Nothing happens.")   // not here
        XCTAssertEqual(say(e, "go to desk 1"), "You arrive at desk 1. On the desk 1, you see a book 1, and a desklamp 1.")
        XCTAssertEqual(say(e, "take desklamp 1 from desk 1"), "Nothing happens.")   // lamps stay in place
        XCTAssertEqual(say(e, "use desklamp 1"), "You turn on the desklamp 1.")
        XCTAssertFalse(e.isDone)  // not holding the book yet
        let r = try! e.step(action: "take book 1 from desk 1")
        XCTAssertEqual(r.reward, 1); XCTAssertTrue(r.info.success)
        XCTAssertEqual(e.world.admissibleCommands().contains(.examineObject(4)), true)
        var w = e.world
        XCTAssertEqual(HouseholdTextTestAccess.examine(w, 4), "There's nothing special about book 1.")
        XCTAssertEqual(HouseholdTextTestAccess.examine(w, 3), "This desklamp 1 is on.")
        w.flags[3] = []
        XCTAssertEqual(HouseholdTextTestAccess.examine(w, 3), "This desklamp 1 is off.")
    }

    func testPickTwoNeedsTwoInTheSameReceptacle() {
        let t = HouseholdTask(type: .pickTwo, room: .kitchen, object: types.object("mug"), receptacle: types.receptacle("coffeemachine"), toggle: -1, template: 1)
        XCTAssertEqual(t.sentence, "Your task is to: find two mug and put them in coffeemachine.")
        let e = env(kitchen(), t)
        for c in ["go to countertop 1", "take mug 2 from countertop 1", "go to coffeemachine 1", "move mug 2 to coffeemachine 1"] { say(e, c) }
        XCTAssertEqual(e.lastFeedback, "You move the mug 2 to the coffeemachine 1.")  // the newer grammar's verb is accepted
        XCTAssertFalse(e.isDone)
        var steps = 0
        while !e.isDone && steps < 20 { _ = e.step(e.solverResponse()); steps += 1 }
        XCTAssertTrue(e.isDone); XCTAssertTrue(t.isSatisfied(by: e.world))
    }

    /// Every admissible command is allowed, the list is sorted and complete (no allowed command is missing).
    func testAdmissibleCommandsMatchTheRules() throws {
        var rng = EnvRandom(seed: 9)
        for seed in 0..<60 {
            let e = try EnvRegistry.make("household", options: ["obs_mode": "text", "seed": .int(seed)]) as! HouseholdEnv
            _ = e.reset(seed: UInt64(seed))
            for _ in 0..<30 {
                let w = e.world
                let adm = w.admissibleCommands()
                let texts = adm.map { HouseholdText.command($0, w) }
                XCTAssertEqual(texts, texts.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
                for c in adm { XCTAssertTrue(w.allows(c), "\(c)") }
                // every command of the grammar over this world
                var all: [HouseholdCommand] = [.look, .inventory]
                for r in 0..<w.receptacleCount {
                    all += [.goTo(r), .open(r), .close(r), .examineReceptacle(r)]
                    for o in 0..<w.objectCount { all += [.take(o, r), .put(o, r), .clean(o, r), .heat(o, r), .cool(o, r)] }
                }
                for o in 0..<w.objectCount { all += [.examineObject(o), .use(o)] }
                for c in all where w.allows(c) { XCTAssertTrue(adm.contains(c), "allowed but not listed: \(HouseholdText.command(c, w))") }
                // the text of each command parses back to it
                for (c, s) in zip(adm, texts) { XCTAssertEqual(HouseholdCommandParser.parse(Array(s.utf8), in: w), c) }
                // half expert, half random admissible commands
                let r = rng.uniform() < 0.5 ? e.step(e.solverResponse()) : try e.step(action: rng.choice(texts))
                if r.done { break }
            }
        }
    }

    func testExpertSolvesEveryTaskType() throws {
        for type in HouseholdTaskType.allCases {
            let env = try EnvRegistry.make("household", options: ["task": .string(type.rawValue), "obs_mode": "text"])
            var wins = 0, steps = 0
            let n = 200
            for ep in 0..<n {
                _ = env.reset(seed: EnvRandom.derive(77, UInt64(ep)))
                while true {
                    let r = env.step(env.solverResponse())
                    steps += 1
                    XCTAssertFalse(r.info.illegal)
                    if r.done { if r.info.success { wins += 1 }; break }
                }
            }
            XCTAssertEqual(wins, n, "\(type)")
            print(String(format: "household: expert %@ %d/%d solved, %.1f steps per episode", type.rawValue, wins, n, Double(steps) / Double(n)))
        }
    }

    func testAnswerParsing() throws {
        let e = env(kitchen(), pickTask("apple", "fridge"))
        for _ in 0..<1 { say(e, "go to cabinet 1") }
        // quoted value
        var r = e.step("{\"thoughts\": \"x\", \"action\": \"Open Cabinet 1\"}")
        XCTAssertFalse(r.info.illegal); XCTAssertEqual(r.info.action, "open cabinet 1")
        // unquoted value, found as the longest admissible command in the action part
        r = e.step("\"action\": take mug 1 from cabinet 1 now")
        XCTAssertFalse(r.info.illegal); XCTAssertEqual(r.info.action, "take mug 1 from cabinet 1")
        // no "action" key: the last 30 characters
        r = e.step("blah blah blah I will go to sinkbasin 1")
        XCTAssertFalse(r.info.illegal); XCTAssertEqual(r.info.action, "go to sinkbasin 1")
        // inadmissible: illegal and invalid, "Nothing happens.", state unchanged
        let before = e.world.at
        r = e.step("{\"thoughts\": \"x\", \"action\": \"fly to the moon\"}")
        XCTAssertTrue(r.info.illegal); XCTAssertTrue(r.info.invalid); XCTAssertEqual(r.reward, 0)
        XCTAssertEqual(r.info.extra["feedback"], "Nothing happens."); XCTAssertEqual(e.world.at, before)
        XCTAssertEqual(r.info.action, "fly to the moon")
        // invalid_penalty: -1
        let p = try EnvRegistry.make("household", options: ["invalid_penalty": true, "obs_mode": "text"])
        XCTAssertEqual(p.step("{\"action\": \"dance\"}").reward, -1)
        XCTAssertEqual(try p.step(action: "dance").reward, 0)   // a plain command is not an answer
    }

    func testLongestMatchPrefersCabinet10() {
        var w = HouseholdWorld()
        for _ in 0..<10 { _ = w.addReceptacle(type: types.receptacle("cabinet")) }
        _ = w.addObject(type: types.object("mug"), in: 0)
        w.listing = Array(0..<10); w.finishNames()
        let e = env(w, pickTask("mug", "cabinet"))
        let r = e.step("\"action\": go to cabinet 10}")
        XCTAssertEqual(r.info.action, "go to cabinet 10")
    }

    func testAnyTextGetsFeedback() throws {
        let e = try EnvRegistry.make("household", options: ["obs_mode": "text"]) as! HouseholdEnv
        var rng = EnvRandom(seed: 5)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz 0123456789/\"{}:,.\n\tÄé日".unicodeScalars)
        let vocab = ["go", "to", "take", "from", "put", "in/on", "open", "close", "cabinet", "1", "2", "apple", "heat", "with",
                     "microwave", "look", "inventory", "examine", "use", "desklamp", "\"action\":", "{", "}"]
        for k in 0..<3000 {
            var s = ""
            if k % 2 == 0 {
                for _ in 0..<rng.int(in: 0...40) { s.unicodeScalars.append(rng.choice(alphabet)) }
            } else {
                s = (0..<rng.int(in: 0...7)).map { _ in rng.choice(vocab) }.joined(separator: " ")
            }
            let r = k % 3 == 0 ? e.step(s) : try e.step(action: s)
            let fb = r.info.extra["feedback"] ?? ""
            XCTAssertFalse(fb.isEmpty, s)
            XCTAssertTrue(fb.hasSuffix("."), fb)
            if r.done { _ = e.reset() }
        }
        XCTAssertEqual(try e.step(action: "").info.extra["feedback"], "Nothing happens.")
    }

    func testSeededDeterminismAndVariety() throws {
        func run(_ seed: UInt64) throws -> [String] {
            let e = try EnvRegistry.make("household", options: ["obs_mode": "text", "seed": 3])
            var out = [e.reset(seed: seed).prompt]
            for _ in 0..<8 { out.append(e.step(e.solverResponse()).observation.stateText) }
            return out
        }
        XCTAssertEqual(try run(4), try run(4))
        XCTAssertNotEqual(try run(4), try run(5))
        // the option seed gives the first episode; consecutive resets differ
        let a = try EnvRegistry.make("household", options: ["seed": 8, "obs_mode": "text"])
        let b = try EnvRegistry.make("household", options: ["seed": 8, "obs_mode": "text"])
        XCTAssertEqual(a.currentObservation().prompt, b.currentObservation().prompt)
        XCTAssertNotEqual(a.reset().prompt, a.reset().prompt)
        // tasks and rooms vary over seeds
        var seen = Set<String>()
        for s in 0..<200 { seen.insert((try EnvRegistry.make("household", options: ["seed": .int(s), "obs_mode": "text"]) as! HouseholdEnv).task.type.rawValue) }
        XCTAssertEqual(seen.count, 6)
    }

    func testOptionsAndLimits() throws {
        XCTAssertThrowsError(try EnvRegistry.make("household", options: ["task": "fly"]))
        XCTAssertThrowsError(try EnvRegistry.make("household", options: ["room": "garage"]))
        XCTAssertThrowsError(try EnvRegistry.make("household", options: ["task": "heat", "room": "bedroom"]))
        XCTAssertThrowsError(try EnvRegistry.make("household", options: ["task": 3]))
        XCTAssertThrowsError(try EnvRegistry.make("household", options: ["seed": .double(.nan)]))
        XCTAssertThrowsError(try EnvRegistry.make("household", options: ["seed": .double(1e308)]))
        XCTAssertThrowsError(try EnvRegistry.make("household", options: ["seed": .double(9223372036854775808.0)]))
        XCTAssertThrowsError(try EnvRegistry.make("household", options: ["max_position": 3]))
        for room in HouseholdRoom.allCases {
            let e = try EnvRegistry.make("household", options: ["room": .string(room.rawValue), "obs_mode": "text"]) as! HouseholdEnv
            XCTAssertEqual(e.task.room, room)
            XCTAssertTrue(e.task.type.rooms.contains(room))
        }
        // ALFWorld's 50-step limit by default
        let e = try EnvRegistry.make("household", options: ["obs_mode": "text"])
        var n = 0
        while true { n += 1; if try e.step(action: "look").done { break } }
        XCTAssertEqual(n, 50)
        let r = try e.step(action: "look")
        XCTAssertTrue(r.truncated); XCTAssertNotNil(r.info.extra["error"])
    }

    func testImageAndVectorAndDemos() throws {
        let e = try EnvRegistry.make("household", options: ["size": 64, "seed": 2])
        let img = e.reset(seed: 2).image!
        XCTAssertEqual(img.width, 64)
        XCTAssertEqual(img, try EnvRegistry.make("household", options: ["size": 64, "seed": 2]).reset(seed: 2).image!)
        let big = try EnvRegistry.make("household", options: ["size": 300]).currentObservation().image!
        XCTAssertEqual(big.height, 300)
        XCTAssertNil(try EnvRegistry.make("household", options: ["obs_mode": "text"]).currentObservation().image)

        let v = try VectorEnv(name: "Household", count: 4, options: ["obs_mode": "text"], seed: 1)
        for _ in 0..<60 {
            let rs = try v.step(v.solverResponses())
            XCTAssertTrue(rs.allSatisfy { $0.info.admissibleCommands?.isEmpty == false })
        }
        let stats = v.drainStats()
        XCTAssertGreaterThanOrEqual(stats.count, 4)
        XCTAssertTrue(stats.allSatisfy { $0.success && $0.illegalCount == 0 })

        let demos = try Demos.generate(env: "household", n: 120, options: ["obs_mode": "text"], seed: 3)
        XCTAssertEqual(demos.count, 120)
        for d in demos {
            XCTAssertEqual(ActionParser.parse(d.response, actions: [d.action], cardTask: false), d.action)
            XCTAssertTrue(d.observation.prompt.contains("'\(d.action)'"), d.action)   // the demo's command was admissible
        }
        for d in demos where d.done { XCTAssertEqual(d.reward, 1) }
        let rate = try Demos.evaluateSolver(env: "household", episodes: 60, seed: 4)
        XCTAssertEqual(rate.successRate, 1)
    }
}
