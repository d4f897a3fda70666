import MoonCheckpoint

/// The shared machinery of the two formula card games (EZPoints and Points24): cards on a green table,
/// a formula built one element per step, invalid numbers (−1, blank appended), "=" evaluation, the
/// formula-length truncation, rendering, prompts and the solver-backed teacher.
public class FormulaCardEnv: EnvBase {
    public let target: Int
    public let faceCardsAsTen: Bool
    /// A formula longer than this (checked before each step) ends the episode: truncated, −1.
    public let maxFormulaLength: Int
    let numberActions: [String]
    let operatorActions: [String]
    let allowParens: Bool

    public internal(set) var cards: [Card] = []
    /// Card values in the formula (faces 10 when faceCardsAsTen).
    public internal(set) var numbers: [Int] = []
    /// Formula elements so far (" " for the blank of an invalid step).
    public internal(set) var formula: [String] = []
    /// Numbers used so far.
    public internal(set) var usedNumbers: [Int] = []
    private var solutionCache: [[String]]? = nil

    init(common: CommonOptions, target: Int, faceCardsAsTen: Bool, maxFormulaLength: Int,
         numberActions: [String], operatorActions: [String], allowParens: Bool) {
        self.target = target
        self.faceCardsAsTen = faceCardsAsTen
        self.maxFormulaLength = maxFormulaLength
        self.numberActions = numberActions
        self.operatorActions = operatorActions
        self.allowParens = allowParens
        super.init(common: common)
    }

    override var actions: [String] { numberActions + operatorActions }
    override var isCardTask: Bool { true }
    override var background: RGB { .table }

    /// Deal the cards for a new episode (subclasses).
    func deal() -> [Card] { [] }

    override func newEpisode() {
        cards = deal()
        numbers = cards.map { $0.value(faceAsTen: faceCardsAsTen) }
        formula = []
        usedNumbers = []
        solutionCache = nil
    }

    /// Set a specific hand (tests, curricula). Starts a fresh episode with an empty formula.
    public func setHand(_ hand: [Card]) throws {
        guard hand.count == cards.count else {
            throw EnvError.badData("\(envName).setHand: expected \(cards.count) cards, got \(hand.count)")
        }
        cards = hand
        numbers = cards.map { $0.value(faceAsTen: faceCardsAsTen) }
        formula = []; usedNumbers = []; solutionCache = nil
        resetCounters()
    }

    public var formulaText: String { formula.joined() }

    override func apply(_ action: String) -> Outcome {
        if formula.count > maxFormulaLength { return Outcome(reward: -1, truncated: true) }
        if let n = Int(action) {
            let used = usedNumbers.reduce(0) { $0 + ($1 == n ? 1 : 0) }
            let have = numbers.reduce(0) { $0 + ($1 == n ? 1 : 0) }
            if used + 1 > have {
                formula.append(" ")
                return Outcome(reward: -1, invalid: true)
            }
            usedNumbers.append(n)
        }
        if action == "=" {
            var reward = -1.0
            if let v = FormulaEval.evaluate(tokens: formula), v == Double(target) { reward = 10 }
            if usedNumbers.count != cards.count { reward = -1 }
            return Outcome(reward: reward, terminated: true, success: reward == 10)
        }
        formula.append(action)
        return Outcome()
    }

    override func applyIllegalPenalty() -> Outcome {
        if formula.count > maxFormulaLength { return Outcome(reward: -1, truncated: true, invalid: true) }
        formula.append(" ")
        return Outcome(reward: -1, invalid: true)
    }

    override func extraInfo() -> [String: String] {
        [
            "cards": "[" + cards.map { $0.code }.joined(separator: ", ") + "]",
            "numbers": "[" + numbers.map(String.init).joined(separator: ", ") + "]",
            "formula": formulaText,
            "formula_length": String(formula.count),
            "target": String(target),
        ]
    }

    override func imageModeText() -> String? { "Current formula: " + formulaText }

    override func stateDescription() -> String {
        "Cards: " + cards.map { "\($0.label) of \($0.suit.name)" }.joined(separator: ", ") + "\n"
            + "Values: [" + numbers.map(String.init).joined(separator: ", ") + "]\n"
            + "Current formula: " + formulaText + "\n"
            + "Target: \(target)"
    }

    // MARK: rendering

    /// Number of formula lines reserved under "Formula:".
    var reservedFormulaLines: Int { 1 }

    /// Where the cards and the formula text go on a W×H image.
    public struct Layout {
        public var cards: [(x: Int, y: Int, w: Int, h: Int)]
        public var textX: Int
        /// Top of the "Formula:" line; formula lines follow every `lineHeight` pixels.
        public var textY: Int
        public var textScale: Int
        public var lineHeight: Int
        /// Small images join the formula without spaces; large ones with spaces, as the original.
        public var compact: Bool
    }

    public func layout(width W: Int, height H: Int) -> Layout {
        let small = W < 150
        let ts = max(1, min(W, H * 3 / 2) / 150)
        let lineH = BitmapFont.lineHeight(scale: ts)
        let mx = max(1, W / 60), my = max(1, H / 60)
        let textBlock = lineH * (1 + reservedFormulaLines)
        let areaH = max(4, H - textBlock - 2 * my)
        let n = max(1, cards.count)
        let gap = max(1, W / 50)
        var cw = (W - 2 * mx - (n - 1) * gap) / n
        var ch = cw * 7 / 5
        if ch > areaH { ch = areaH; cw = ch * 5 / 7 }
        let rowW = n * cw + (n - 1) * gap
        var x = (W - rowW) / 2
        let y = my + (areaH - ch) / 2
        var rects: [(x: Int, y: Int, w: Int, h: Int)] = []
        for _ in 0..<cards.count { rects.append((x, y, cw, ch)); x += cw + gap }
        return Layout(cards: rects, textX: mx + (small ? 0 : mx), textY: H - textBlock, textScale: ts,
                      lineHeight: lineH, compact: small)
    }

    override func render(_ c: inout Canvas) {
        let L = layout(width: c.width, height: c.height)
        for (card, r) in zip(cards, L.cards) { CardPainter.drawFace(card, on: &c, x: r.x, y: r.y, w: r.w, h: r.h) }
        var ty = L.textY
        c.text("Formula:", x: L.textX, y: ty, scale: L.textScale, .white)
        ty += L.lineHeight
        let shown = L.compact ? formula.joined() : formula.joined(separator: " ")
        let maxChars = max(1, (c.width - L.textX - 1 + L.textScale) / (6 * L.textScale))
        for line in wrapText(shown, maxChars: maxChars) {
            c.text(line, x: L.textX, y: ty, scale: L.textScale, .white)
            ty += L.lineHeight
        }
    }

    // MARK: solver-backed teacher

    /// All solutions (token lists) for the current hand: formulas using every card once that the env
    /// scores +10 (checked with the env's own evaluator).
    public var solutions: [[String]] {
        if let s = solutionCache { return s }
        let s = FormulaSolver.allSolutions(numbers: numbers, target: target,
                                           operators: operatorActions.filter { ["+", "-", "*", "/"].contains($0) },
                                           allowParens: allowParens)
        solutionCache = s
        return s
    }

    /// Whether the current hand can make the target.
    public var isSolvable: Bool { !solutions.isEmpty }

    /// The plan the teacher follows from the current formula: a solution extending the non-blank
    /// elements of the formula, or nil when none exists.
    public func plan() -> [String]? {
        let cur = formula.filter { $0 != " " }
        var best: [String]? = nil
        for s in solutions where s.count >= cur.count && Array(s[0..<cur.count]) == cur {
            if best == nil || s.count < best!.count { best = s }
        }
        return best
    }

    var currentFormulaComplete: Bool {
        guard usedNumbers.count == cards.count, let v = FormulaEval.evaluate(tokens: formula) else { return false }
        return v == Double(target)
    }

    override func expertAction() -> String {
        if currentFormulaComplete { return "=" }
        let cur = formula.filter { $0 != " " }
        if let p = plan(), p.count > cur.count { return p[cur.count] }
        return "="
    }

    func cardsWord() -> String { cards.count == 2 ? "two" : "four" }

    override func expertResponse() -> String {
        let action = expertAction()
        let f = formulaText
        let shownF = f.isEmpty ? "empty" : "'\(f)'"
        // The completeness check comes first, then the plan (measured: a shorter thought that led with the plan and
        // dropped the check took Points24's SFT start from 3.9% to 0%, its episodes running on past the full formula).
        var t = "The cards are " + numbers.map(String.init).joined(separator: ", ") + ". "
        if currentFormulaComplete {
            t += "The current formula \(f) uses every card once and equals \(target), so the formula is complete and I output '='."
        } else if let p = plan(), p.count > formula.filter({ $0 != " " }).count {
            let pf = p.joined()
            t += "The current formula is \(shownF), which is not yet complete. "
            t += "Using each card once, \(pf) = \(target). "
            t += "So the next element to append is '\(action)'."
        } else if solutions.isEmpty {
            t += "No formula using each of these cards once makes \(target), so I end the formula with '='."
        } else {
            t += "The current formula is \(shownF) and it cannot be completed to make \(target) with the remaining cards, so I end it with '='."
        }
        return "{\n \"cards\": [" + numbers.map(String.init).joined(separator: ", ") + "], \n"
            + "\"current formula\": " + JSON.quote(f) + ", \n"
            + "\"thoughts\": " + JSON.quote(t) + ", \n"
            + "\"action\": " + JSON.quote(action) + "\n}"
    }

    // MARK: prompt

    func actionListText() -> String {
        "[" + actions.map { "'\($0)'" }.joined(separator: ", ") + "]"
    }
}
