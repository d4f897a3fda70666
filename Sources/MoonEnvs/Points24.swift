/// Points24: four cards, build a formula that makes the target (24) using each card once.
public final class Points24Env: FormulaCardEnv, Env {
    public init(common: CommonOptions = CommonOptions(), treatFaceCardsAs10: Bool = true, target: Int = 24) {
        super.init(common: common, target: target, faceCardsAsTen: treatFaceCardsAs10, maxFormulaLength: 20,
                   numberActions: (1...(treatFaceCardsAs10 ? 10 : 13)).map(String.init),
                   operatorActions: ["+", "-", "*", "/", "(", ")", "="], allowParens: true)
        _ = reset(seed: nil)
    }

    override var envName: String { "Points24" }
    override var reservedFormulaLines: Int { 3 }

    /// Four cards, ranks uniform 1..13, suits uniform; not filtered for solvability.
    override func deal() -> [Card] {
        (0..<4).map { _ in
            let r = rng.int(in: 1...13)
            return Card(rank: r, suit: rng.choice(Suit.allCases))
        }
    }

    override func promptText() -> String {
        var qs = "You are an expert \(target) points card game player. You are observing four cards in the image. "
        qs += "You are observing the current formula (given after these instructions). "
        qs += "You can choose between \(actionListText()). "
        qs += "The number or operator you choose will be appended to the current formula. "
        if faceCardsAsTen {
            qs += "Note that 'J', 'Q', and 'K' count as '10'. "
        } else {
            qs += "Note that 'A' counts as '1' and 'J', 'Q', and 'K' count as '11', '12', and '13'. "
        }
        qs += "Your goal is to output a formula that evaluates to \(target), and each number can only be used once. "
        qs += "Your response should be a valid json file in the following format: {\n"
        qs += " \"cards\": [x, y, z, w], \n"
        qs += "\"current formula\": \"{formula}\", \n"
        qs += "\"thoughts\": {First check whether the current formula equals \(target). "
        qs += "If the current formula equals \(target), output '='. "
        qs += "Otherwise consider which number or operator should be appended to the current formula to make it equal \(target).} \n"
        qs += "\"action\": \"{number}\" or \"{operator}\" \n}"
        return qs
    }
}
