import MoonCheckpoint

/// Blackjack as gymnasium's Blackjack-v1 (infinite deck; options natural and sab), with the GymCards picture.
public final class BlackjackEnv: EnvBase, Env {
    public let natural: Bool
    public let sab: Bool
    public private(set) var dealer: [Card] = []
    public private(set) var player: [Card] = []
    /// Outcome of the finished episode: "win", "loss", "draw", "bust", or "" while playing.
    public private(set) var outcome = ""

    public init(common: CommonOptions = CommonOptions(), natural: Bool = false, sab: Bool = false) {
        self.natural = natural; self.sab = sab
        super.init(common: common)
        _ = reset(seed: nil)
    }

    override var envName: String { "Blackjack" }
    override var background: RGB { .table }
    override var actions: [String] { ["stand", "hit"] }

    /// A card from the infinite deck [A, 2..9, 10, 10, 10, 10]; a value-10 card is shown as J, Q or K (as GymCards).
    func drawCard() -> Card {
        let v = rng.int(in: 1...13)
        let suit = rng.choice(Suit.allCases)
        let rank = v >= 10 ? 11 + rng.int(in: 0...2) : v
        return Card(rank: rank, suit: suit)
    }

    public static func usableAce(_ hand: [Card]) -> Bool {
        let s = hand.reduce(0) { $0 + $1.blackjackValue }
        return hand.contains { $0.rank == 1 } && s + 10 <= 21
    }
    public static func sumHand(_ hand: [Card]) -> Int {
        let s = hand.reduce(0) { $0 + $1.blackjackValue }
        return usableAce(hand) ? s + 10 : s
    }
    public static func isBust(_ hand: [Card]) -> Bool { sumHand(hand) > 21 }
    public static func score(_ hand: [Card]) -> Int { isBust(hand) ? 0 : sumHand(hand) }
    public static func isNatural(_ hand: [Card]) -> Bool {
        hand.count == 2 && Set(hand.map { $0.blackjackValue }) == [1, 10]
    }

    override func newEpisode() {
        dealer = [drawCard(), drawCard()]
        player = [drawCard(), drawCard()]
        outcome = ""
    }

    /// Set specific hands (tests). Starts a fresh episode.
    public func setHands(player: [Card], dealer: [Card]) throws {
        guard player.count >= 1, dealer.count >= 1 else { throw EnvError.badData("Blackjack.setHands: both hands need cards") }
        self.player = player; self.dealer = dealer; outcome = ""
        resetCounters()
    }

    /// Cards the dealer will draw next after standing (tests); consumed before random draws.
    public var riggedDraws: [Card] = []
    private func nextCard() -> Card { riggedDraws.isEmpty ? drawCard() : riggedDraws.removeFirst() }

    override func apply(_ action: String) -> Outcome {
        var out = Outcome()
        if action == "hit" {
            player.append(nextCard())
            if BlackjackEnv.isBust(player) { out.reward = -1; out.terminated = true; outcome = "bust" }
            return out
        }
        out.terminated = true
        while BlackjackEnv.sumHand(dealer) < 17 { dealer.append(nextCard()) }
        let ps = BlackjackEnv.score(player), ds = BlackjackEnv.score(dealer)
        var r: Double = ps > ds ? 1 : (ps < ds ? -1 : 0)
        if sab && BlackjackEnv.isNatural(player) && !BlackjackEnv.isNatural(dealer) {
            r = 1
        } else if !sab && natural && BlackjackEnv.isNatural(player) && r == 1 {
            r = 1.5
        }
        out.reward = r
        out.success = r > 0
        outcome = r > 0 ? "win" : (r < 0 ? "loss" : "draw")
        return out
    }

    override func extraInfo() -> [String: String] {
        [
            "player": "[" + player.map { $0.code }.joined(separator: ", ") + "]",
            "dealer": "[" + dealer.map { $0.code }.joined(separator: ", ") + "]",
            "player_sum": String(BlackjackEnv.sumHand(player)),
            "dealer_showing": String(dealer.first?.blackjackValue ?? 0),
            "usable_ace": BlackjackEnv.usableAce(player) ? "1" : "0",
            "outcome": outcome,
        ]
    }

    override func stateDescription() -> String {
        let up = dealer[0]
        let soft = BlackjackEnv.usableAce(player)
        return "Dealer shows: \(up.label) (value \(up.blackjackValue == 1 ? "1 or 11" : String(up.blackjackValue))) and one face-down card\n"
            + "Player cards: " + player.map { $0.label }.joined(separator: ", ")
            + " (total \(BlackjackEnv.sumHand(player))\(soft ? ", soft: an ace counts 11" : ""))"
    }

    override func promptText() -> String {
        var qs = "You are a blackjack player. You are observing the current game state, you can choose between ['stand', 'hit']. "
        qs += "Your response should be a valid json file in the following format: \n{\n "
        qs += "\"thoughts\": \"{first describe your total points and the dealer's total points then think about which action to choose}\", \n"
        qs += "\"action\": \"stand\" or \"hit\" \n}"
        return qs
    }

    override func render(_ c: inout Canvas) {
        let W = c.width, H = c.height
        let ts = max(1, min(W, H * 3 / 2) / 150)
        let lineH = BitmapFont.lineHeight(scale: ts)
        let mx = max(1, W / 60), my = max(1, H / 60)
        let gap = max(1, W / 75)
        var ch = (H - 2 * my - 2 * lineH - 2 * gap) / 2
        var cw = ch * 5 / 7
        let maxW = max(8, W * 70 / 300)
        if cw > maxW { cw = maxW; ch = cw * 7 / 5 }
        var y = my
        c.text("Dealer", x: mx, y: y, scale: ts, bold: true, .white)
        y += lineH
        CardPainter.drawFace(dealer[0], on: &c, x: mx, y: y, w: cw, h: ch)
        CardPainter.drawBack(on: &c, x: mx + cw + gap, y: y, w: cw, h: ch)
        y += ch + gap
        y = max(y, H / 2 - lineH / 2 - (H >= 150 ? H / 15 : 0))
        c.text("Player", x: mx, y: y, scale: ts, bold: true, .white)
        y += lineH
        let n = player.count
        var step = cw + gap
        if n > 1 && mx + (n - 1) * step + cw > W - mx { step = max(1, (W - 2 * mx - cw) / (n - 1)) }
        for (i, card) in player.enumerated() {
            CardPainter.drawFace(card, on: &c, x: mx + i * step, y: y, w: cw, h: ch)
        }
    }

    override func expertAction() -> String {
        BlackjackStrategy.action(total: BlackjackEnv.sumHand(player), soft: BlackjackEnv.usableAce(player),
                                 dealerUp: dealer[0].blackjackValue)
    }

    override func expertResponse() -> String {
        let a = expertAction()
        let total = BlackjackEnv.sumHand(player)
        let soft = BlackjackEnv.usableAce(player)
        let up = dealer[0]
        let upText = up.rank == 1 ? "an ace (1 or 11)" : "\(up.label) (\(up.blackjackValue) points)"
        var th = "My cards are " + player.map { $0.label }.joined(separator: ", ") + ", so my total is \(total)"
        th += soft ? " with an ace counted as 11. " : ". "
        th += "The dealer shows \(upText) and one hidden card. "
        if a == "hit" {
            th += total <= 11 ? "I cannot bust by taking another card, so I hit."
                : "A \(soft ? "soft" : "hard") \(total) against the dealer's \(up.label) is likely to lose, so I hit."
        } else {
            th += "A \(soft ? "soft" : "hard") \(total) against the dealer's \(up.label) is best kept, so I stand."
        }
        return "{\n \"thoughts\": " + JSON.quote(th) + ", \n\"action\": \"\(a)\" \n}"
    }
}
