import MoonCheckpoint

/// NumberLine: move the current number to the target with "-" and "+".
public final class NumberLineEnv: EnvBase, Env {
    public let maxPosition: Int
    public private(set) var position = 0
    public private(set) var target = 1
    public private(set) var start = 0
    /// Steps of the task's own counter (truncation after 2 × max_position).
    public private(set) var stepsMade = 0

    public init(common: CommonOptions = CommonOptions(), maxPosition: Int = 5) {
        precondition(maxPosition >= 2, "NumberLine: max_position must be at least 2")
        self.maxPosition = maxPosition
        super.init(common: common)
        _ = reset(seed: nil)
    }

    override var envName: String { "NumberLine" }
    override var actions: [String] { ["-", "+"] }

    override func newEpisode() {
        start = rng.int(in: 0...maxPosition)
        target = rng.int(in: 0...maxPosition)
        if start == target { target = (target + 1) % maxPosition }
        position = start
        stepsMade = 0
    }

    /// Set a specific state (tests, curricula). Starts a fresh episode.
    public func setState(current: Int, target: Int) throws {
        guard (0...maxPosition).contains(current), (0...maxPosition).contains(target) else {
            throw EnvError.badData("NumberLine.setState: current and target must be in 0...\(maxPosition)")
        }
        start = current; position = current; self.target = target; stepsMade = 0
        resetCounters()
    }

    override func apply(_ action: String) -> Outcome {
        stepsMade += 1
        let prev = abs(position - target)
        if action == "-" && position > 0 { position -= 1 } else if action == "+" && position < maxPosition { position += 1 }
        let cur = abs(position - target)
        var out = Outcome()
        if cur == 0 {
            out.reward = 1; out.terminated = true; out.success = true
        } else if cur >= prev {
            out.reward = -1
        }
        if !out.terminated && stepsMade >= maxPosition * 2 { out.truncated = true }
        return out
    }

    override func applyIllegalPenalty() -> Outcome {
        stepsMade += 1
        var out = Outcome(reward: -1, invalid: true)
        if stepsMade >= maxPosition * 2 { out.truncated = true }
        return out
    }

    override func extraInfo() -> [String: String] {
        ["target": String(target), "current": String(position), "steps": String(stepsMade)]
    }

    override func stateDescription() -> String { "Target: \(target)\nCurrent: \(position)" }

    override func promptText() -> String {
        var qs = "You are playing a game called number line. You will see a target number and a current number in the image. "
        qs += "And your goal is to move the current number closer to the target by choosing either adding or subtracting one to the current number. "
        qs += "Your response should be a valid json file in the following format: \n{\n "
        qs += "\"current number\": \"x\", \n"
        qs += "\"target number\": \"x\", \n"
        qs += "\"thoughts\": \"{first read out the current and target number, then think carefully about which action to choose}\", \n"
        qs += "\"action\": \"-\" or \"+\" \n}"
        return qs
    }

    override func render(_ c: inout Canvas) {
        let W = c.width, H = c.height
        let t = "Target: \(target)", cur = "Current: \(position)"
        let n = max(t.count, cur.count)
        let x0 = W / 10
        // single-line layout (as the original) when the text can be large enough
        var s = 1
        while BitmapFont.width(String(repeating: "0", count: n), scale: s + 1, bold: true) <= W - x0 - 2
            && (s + 1) * 8 <= H * 3 / 10 { s += 1 }
        if s >= 2 {
            c.text(t, x: x0, y: H / 5, scale: s, bold: true, .black)
            c.text(cur, x: x0, y: H * 3 / 5, scale: s, bold: true, .black)
            return
        }
        // compact two-line layout for small images: label, then a big number
        let half = H / 2
        let labels = ["Target:", "Current:"], values = [String(target), String(position)]
        for k in 0..<2 {
            let y0 = k * half + max(1, H / 32)
            c.text(labels[k], x: 2, y: y0, scale: 1, bold: BitmapFont.width(labels[k], scale: 1, bold: true) <= W - 3, .black)
            var ns = 1
            while BitmapFont.width(values[k], scale: ns + 1, bold: true) <= W - 4
                && y0 + 9 + (ns + 1) * 7 <= (k + 1) * half - 1 { ns += 1 }
            c.text(values[k], x: 2, y: y0 + 9, scale: ns, bold: true, .black)
        }
    }

    override func expertAction() -> String { NumberLineSolver.action(current: position, target: target) }

    override func expertResponse() -> String {
        let a = expertAction()
        let rel = position < target ? "smaller than" : (position > target ? "larger than" : "equal to")
        let move = a == "+" ? "add one to the current number, so I choose '+'" : "subtract one from the current number, so I choose '-'"
        let th = "The current number is \(position) and the target number is \(target). \(position) is \(rel) \(target), so to move closer to the target I should \(move)."
        return "{\n \"current number\": \"\(position)\", \n\"target number\": \"\(target)\", \n\"thoughts\": " + JSON.quote(th)
            + ", \n\"action\": \"\(a)\" \n}"
    }
}
