/// The household env: ALFWorld's six task types, command grammar and feedback text in rooms made by moonlab's
/// generator, with the GTR/RL4VLM ALFWorld prompt (observation, task, admissible actions, thoughts + action JSON).
///
/// An answer is read as RL4VLM reads ALFWorld answers: lower-case, from `"action":` on (`AnswerFormat`) (or its last 30 characters
/// when the key is missing); the quoted value when it is an admissible command, else the longest admissible command
/// contained in that part. An answer naming no admissible command is illegal: the step is made with its text,
/// which ALFWorld answers with "Nothing happens." (the state does not change); `info.illegal` and `info.invalid`
/// are set, and under invalid_penalty the reward is −1. Reward 1 and done when the goal holds; the episode is
/// truncated after max_episode_steps (50 by default, ALFWorld's limit).
public final class HouseholdEnv: Env {
    public let common: CommonOptions
    /// nil: drawn per episode ("any").
    public let taskChoice: HouseholdTaskType?
    public let roomChoice: HouseholdRoom?
    var rng: EnvRandom
    public private(set) var world = HouseholdWorld()
    public private(set) var task = HouseholdTask(type: .pick, room: .kitchen, object: 0, receptacle: 0, toggle: -1, template: 0)
    public private(set) var episodeSteps = 0
    public private(set) var isDone = false
    private var lastTerminated = false, lastTruncated = false
    /// The last feedback (at reset: ALFWorld's intro with the room and the task).
    var feedback = HouseholdText(capacity: 1024)
    /// The feedback is the intro, which ends with the task sentence.
    private var feedbackHasTask = false
    /// Admissible commands of the current state (computed once per state).
    private var admissibleCache: [HouseholdCommand]? = nil
    private var scratch = HouseholdText(capacity: 4096)
    /// The task's description and sentence, made once per episode.
    private var taskDescription = "", taskSentence = ""
    private var taskDescriptionBytes: [UInt8] = [], taskSentenceBytes: [UInt8] = []

    public init(common: CommonOptions = CommonOptions(), task: HouseholdTaskType? = nil, room: HouseholdRoom? = nil) {
        self.common = common
        taskChoice = task; roomChoice = room
        rng = EnvRandom(seed: common.seed)
        _ = reset(seed: nil)
    }

    public var name: String { "Household" }

    /// The admissible commands of the current state (they change every step).
    public var actionSpace: [String] { admissible.map { HouseholdText.command($0, world) } }

    /// The admissible commands of the last observation, one per line.
    private var admissibleText = ""

    public var admissible: [HouseholdCommand] {
        if let a = admissibleCache { return a }
        let w = world
        let a = w.admissibleCommands()
        admissibleCache = a
        return a
    }

    public func reset(seed: UInt64?) -> Observation {
        if let s = seed { rng = EnvRandom(seed: s) }
        (world, task) = HouseholdGenerator.generate(task: taskChoice, room: roomChoice, rng: &rng)
        taskDescription = task.description; taskSentence = task.sentence
        taskDescriptionBytes = Array(taskDescription.utf8); taskSentenceBytes = Array(taskSentence.utf8)
        episodeSteps = 0; isDone = false; lastTerminated = false; lastTruncated = false
        admissibleCache = nil
        feedback.bytes.removeAll(keepingCapacity: true)
        feedback.add("-= Welcome to TextWorld, ALFRED! =-\n\n")
        feedback.look(world, intro: true)
        feedback.add("\n\n")
        feedback.add(taskSentenceBytes)
        feedbackHasTask = true
        return currentObservation()
    }

    /// Starts an episode in a given world and task (tests, curricula).
    public func setState(world w: HouseholdWorld, task t: HouseholdTask) {
        world = w; task = t
        taskDescription = t.description; taskSentence = t.sentence
        taskDescriptionBytes = Array(taskDescription.utf8); taskSentenceBytes = Array(taskSentence.utf8)
        episodeSteps = 0; isDone = false; lastTerminated = false; lastTruncated = false
        admissibleCache = nil
        feedback.bytes.removeAll(keepingCapacity: true)
        feedback.look(world, intro: true)
        feedbackHasTask = false
    }

    /// The feedback of the last command (at reset: the intro).
    public var lastFeedback: String { feedback.string }

    // MARK: answers and commands

    /// The command an answer names (nil: illegal), and the text to run when it is illegal.
    func read(answer response: String) -> (HouseholdCommand?, ArraySlice<UInt8>) {
        var b = Array(response.utf8)
        for i in 0..<b.count where b[i] >= 0x41 && b[i] <= 0x5A { b[i] |= 0x20 }
        var seg: ArraySlice<UInt8>
        if let key = AnswerFormat.actionKey(in: b) {
            seg = b[key.upperBound...]
            var i = seg.startIndex
            while i < seg.endIndex && (seg[i] == 0x20 || seg[i] == 0x0A || seg[i] == 0x09 || seg[i] == 0x0D) { i += 1 }
            if i < seg.endIndex && seg[i] == 0x22 {
                var j = i + 1
                while j < seg.endIndex && seg[j] != 0x22 { j += 1 }
                let value = seg[(i + 1)..<j]
                if let c = HouseholdCommandParser.parse(value, in: world), world.allows(c) { return (c, value) }
                return (longestCommand(in: seg), value)
            }
        } else {
            var start = max(0, b.count - 30)
            while start > 0 && (b[start] & 0xC0) == 0x80 { start -= 1 }
            seg = b[start...]
        }
        return (longestCommand(in: seg), seg)
    }

    /// The longest admissible command whose text occurs in `seg` (the first in list order among equals).
    func longestCommand(in seg: ArraySlice<UInt8>) -> HouseholdCommand? {
        let hay = Array(seg)
        let world = self.world
        var best: HouseholdCommand? = nil, bestLen = 0
        for c in admissible {
            scratch.bytes.removeAll(keepingCapacity: true)
            scratch.command(c, world)
            if scratch.bytes.count > bestLen && ActionParser.find(hay, scratch.bytes, from: 0) != nil {
                best = c; bestLen = scratch.bytes.count
            }
        }
        return best
    }

    public func step(_ response: String) -> StepResult {
        let (c, text) = read(answer: response)
        return run(c, text: text, illegal: c == nil)
    }

    /// Runs command text directly (no answer parsing). Any text is accepted: what is not an admissible command
    /// gets "Nothing happens." and is flagged invalid.
    public func step(action: String) throws -> StepResult {
        let bytes = Array(action.utf8)
        var c = HouseholdCommandParser.parse(bytes, in: world)
        if let x = c, !world.allows(x) { c = nil }
        return run(c, text: bytes[...], illegal: false)
    }

    /// Runs a command of this world (no text at all: the fastest path, for search and benchmarks).
    public func step(command: HouseholdCommand) -> StepResult {
        run(world.allows(command) ? command : nil, text: [], illegal: false)
    }

    private func run(_ command: HouseholdCommand?, text: ArraySlice<UInt8>, illegal: Bool) -> StepResult {
        var info = StepInfo()
        info.illegal = illegal
        if isDone {
            info.extra = ["error": "step after the episode ended; call reset", "task": taskDescription]
            return StepResult(observation: currentObservation(), reward: 0, terminated: lastTerminated,
                              truncated: lastTruncated, info: info)
        }
        var reward = 0.0, terminated = false, truncated = false
        feedback.bytes.removeAll(keepingCapacity: true)
        feedbackHasTask = false
        if let c = command {
            var w = HouseholdWorld()
            swap(&w, &world)   // moved out: no copy of the world per writer call
            w.apply(c)
            admissibleCache = nil
            feedback.feedback(c, w)
            scratch.bytes.removeAll(keepingCapacity: true)
            scratch.command(c, w)
            let s = scratch.string
            info.action = s
            if illegal == false { info.parsedAction = s }
            if task.isSatisfied(by: w) { reward = 1; terminated = true; info.success = true }
            swap(&w, &world)
        } else {
            feedback.add("Nothing happens.")
            info.invalid = true
            info.action = String(decoding: text, as: UTF8.self)
            if illegal && common.invalidPenalty { reward = -1 }
        }
        episodeSteps += 1
        if !terminated && episodeSteps >= common.maxEpisodeSteps { truncated = true; info.timeLimit = true }
        isDone = terminated || truncated
        lastTerminated = terminated; lastTruncated = truncated
        let obs = currentObservation()
        info.extra = ["feedback": feedback.string, "task": taskDescription]
        info.admissibleCommandsText = admissibleText
        return StepResult(observation: obs, reward: reward, terminated: terminated, truncated: truncated, info: info)
    }

    // MARK: observations

    public func currentObservation() -> Observation {
        let cmds = admissible
        // move the world out while writing (passing the class's property to each writer would copy it each time)
        var world = HouseholdWorld()
        swap(&world, &self.world)
        defer { swap(&world, &self.world) }
        scratch.bytes.removeAll(keepingCapacity: true)
        // RL4VLM's get_alfworld_prompt, word for word (its "Your are" included)
        scratch.add("Your are an expert in the ALFRED Embodied Environment. You are also given the following text description of the current scene: ")
        scratch.add(feedback.bytes)
        scratch.add(". Your task is to ")
        scratch.add(taskDescriptionBytes)
        scratch.add(". Your admissible actions of the current situation are: [")
        for (k, c) in cmds.enumerated() {
            if k > 0 { scratch.add("\n ") }
            scratch.add("'"); scratch.command(c, world); scratch.add("'")
        }
        scratch.add("]. Your response should be a valid json file in the following format: \n{\n")
        scratch.add("\"thoughts\": \"{first describe what do you see in the image using the text description, then carefully think about which action to complete the task. }\", \n")
        scratch.add("\"action\": \"{an admissible action}\"\n}")
        let prompt = scratch.string
        scratch.bytes.removeAll(keepingCapacity: true)
        scratch.add(feedback.bytes)
        if !feedbackHasTask { scratch.add("\n"); scratch.add(taskSentenceBytes) }
        scratch.add("\nAdmissible commands: ")
        for (k, c) in cmds.enumerated() {
            if k > 0 { scratch.add(", ") }
            scratch.command(c, world)
        }
        scratch.add(".")
        let state = scratch.string
        scratch.bytes.removeAll(keepingCapacity: true)
        for (k, c) in cmds.enumerated() {
            if k > 0 { scratch.add("\n") }
            scratch.command(c, world)
        }
        admissibleText = scratch.string
        var image: RGBImage? = nil
        if !common.textOnly {
            var canvas = Canvas(width: common.width, height: common.height, background: HouseholdRender.floor)
            HouseholdRender.draw(world, task: task, on: &canvas)
            image = canvas.image
        }
        return Observation(image: image, prompt: prompt, stateText: state)
    }

    // MARK: the expert

    public func solverAction() -> String {
        HouseholdText.command(HouseholdExpert.decide(world, task).command, world)
    }

    public func solverResponse() -> String {
        let (c, reason) = HouseholdExpert.decide(world, task)
        let thoughts = HouseholdThoughts.text(world, task, c, reason, description: taskDescription)
        return "{\n\"thoughts\": " + jsonString(thoughts) + ", \n\"action\": " + jsonString(HouseholdText.command(c, world)) + "\n}"
    }
}
