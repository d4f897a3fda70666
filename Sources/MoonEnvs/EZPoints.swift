/// EZPoints: two cards whose values make the target (12) with + or *.
public final class EZPointsEnv: FormulaCardEnv, Env {
    public static let defaultTarget = 12

    public init(common: CommonOptions = CommonOptions(), target: Int = 12) {
        super.init(common: common, target: target, faceCardsAsTen: true, maxFormulaLength: 5,
                   numberActions: (1...10).map(String.init), operatorActions: ["+", "*", "="], allowParens: false)
        _ = reset(seed: nil)
    }

    override var envName: String { "EZPoints" }

    /// The original's deal (for target 12): first card uniform over ranks 2..K (faces count 10); if its value
    /// divides the target (with a partner value 1...10) then with probability 0.5 the partner is target / value,
    /// else target − value; the second card's suit is uniform; the order is swapped with probability 0.5.
    /// For other targets a first card without any valid partner is redrawn.
    override func deal() -> [Card] {
        let suits = Suit.allCases
        while true {
            let firstRank = rng.int(in: 2...13)
            let firstSuit = rng.choice(suits)
            let v = min(firstRank, 10)
            let prodOK = target % v == 0 && (1...10).contains(target / v)
            let sumOK = (1...10).contains(target - v)
            var partner: Int
            if prodOK && rng.uniform() <= 0.5 { partner = target / v } else if sumOK { partner = target - v } else if prodOK {
                partner = target / v
            } else { continue }
            if !sumOK && !prodOK { continue }
            let second = Card(rank: partner, suit: rng.choice(suits))
            var hand = [Card(rank: firstRank, suit: firstSuit), second]
            if rng.uniform() <= 0.5 { hand.reverse() }
            return hand
        }
    }

    override func promptText() -> String {
        var qs = "You are an expert card game player. You are observing two cards in the image. "
        qs += "You are observing the current formula (given after these instructions). "
        qs += "You can choose between \(actionListText()). "
        qs += "The number or operator you choose will be appended to the current formula. "
        qs += "Note that 'J', 'Q', and 'K' count as '10'. "
        qs += "Your goal is to output a formula that evaluates to \(target), and each number can only be used once. "
        qs += "Your response should be a valid json file in the following format: {\n"
        qs += " \"cards\": [x, y], \n"
        qs += "\"current formula\": \"{formula}\", \n"
        qs += "\"thoughts\": {First check whether the current formula 'z' is complete. "
        qs += "If the current formula 'z' is complete, output '='. "
        qs += "Otherwise consider which number or operator should be appended to the current formula to make it equal \(target).} \n"
        qs += "\"action\": \"{number}\" or \"{operator}\" \n}"
        return qs
    }
}
