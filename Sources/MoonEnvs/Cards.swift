/// Playing cards: the model (rank, suit, labels, values) and their drawing on a canvas.

public struct Card: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// 1 (ace) ... 13 (king).
    public var rank: Int
    public var suit: Suit
    public init(rank: Int, suit: Suit) {
        precondition((1...13).contains(rank), "Card rank must be 1...13")
        self.rank = rank; self.suit = suit
    }
    /// From a code like "H4", "S10", "CT", "DK", "ha" (suit letter, then A, 2-10, T, J, Q or K).
    public init?(code: String) {
        let u = code.uppercased()
        guard let first = u.first, let suit = Suit.from(letter: String(first)) else { return nil }
        let r = String(u.dropFirst())
        let ranks = ["A": 1, "T": 10, "J": 11, "Q": 12, "K": 13]
        guard let rank = ranks[r] ?? Int(r), (1...13).contains(rank) else { return nil }
        self.rank = rank; self.suit = suit
    }
    /// Rank as printed on the card: A, 2 ... 10, J, Q, K.
    public var label: String {
        switch rank { case 1: return "A"; case 11: return "J"; case 12: return "Q"; case 13: return "K"; default: return String(rank) }
    }
    /// The original's card code (suit letter + A/2-9/T/J/Q/K), e.g. "H4", "ST".
    public var code: String {
        let r: String
        switch rank { case 1: r = "A"; case 10: r = "T"; case 11: r = "J"; case 12: r = "Q"; case 13: r = "K"; default: r = String(rank) }
        return suit.letter + r
    }
    /// Numeric value in the formula games.
    public func value(faceAsTen: Bool) -> Int { faceAsTen ? min(rank, 10) : rank }
    /// Blackjack value (ace 1, faces 10).
    public var blackjackValue: Int { min(rank, 10) }
    public var description: String { label + " of " + suit.name }
}

/// Draws card faces and backs.
public enum CardPainter {
    /// Scale of the rank text for a card of this size ("10" must fit the width).
    static func rankScale(w: Int, h: Int) -> Int { max(1, min((w - 2) / 11, h / 21)) }

    public static func drawFace(_ card: Card, on c: inout Canvas, x: Int, y: Int, w: Int, h: Int) {
        let radius = max(1, w / 8)
        c.roundedBox(x: x, y: y, w: w, h: h, radius: radius, fill: .white, border: .cardBorder)
        let ink: RGB = card.suit.isRed ? .red : .black
        let rs = rankScale(w: w, h: h)
        let pad = max(1, w / 14)
        c.text(card.label, x: x + pad + (rs > 1 ? 1 : 0), y: y + pad + (rs > 1 ? 1 : 0), scale: rs, bold: false, ink)
        let ss = max(1, rs / 2)
        let sy = y + pad + (rs > 1 ? 1 : 0) + 8 * rs
        c.blit(rows: card.suit.symbol, bitWidth: Suit.symbolSize, x: x + pad + (rs > 1 ? 1 : 0), y: sy, scale: ss, ink)
        if h >= 40 {
            // a larger suit symbol in the lower right corner
            let cs = max(1, w / 22)
            let size = Suit.symbolSize * cs
            let bx = x + w - size - pad - 1, by = y + h - size - pad - 1
            if by > sy + Suit.symbolSize * ss { c.blit(rows: card.suit.symbol, bitWidth: Suit.symbolSize, x: bx, y: by, scale: cs, ink) }
        }
    }

    /// A face-down card (Blackjack's dealer hole card).
    public static func drawBack(on c: inout Canvas, x: Int, y: Int, w: Int, h: Int) {
        let radius = max(1, w / 8)
        c.roundedBox(x: x, y: y, w: w, h: h, radius: radius, fill: .cardBack, border: .cardBorder)
        let inset = max(2, w / 8)
        if w - 2 * inset > 2 && h - 2 * inset > 2 {
            c.strokeRect(x: x + inset, y: y + inset, w: w - 2 * inset, h: h - 2 * inset, .cardBackPattern)
            let step = max(3, w / 8)
            var yy = y + inset + step / 2
            while yy < y + h - inset - 1 {
                var xx = x + inset + step / 2
                while xx < x + w - inset - 1 {
                    c.fillRect(x: xx, y: yy, w: max(1, w / 35), h: max(1, w / 35), .cardBackPattern)
                    xx += step
                }
                yy += step
            }
        }
    }
}

/// Wrap text into lines of at most `maxChars` characters (breaking after a space when possible).
func wrapText(_ s: String, maxChars: Int) -> [String] {
    let m = max(1, maxChars)
    var lines: [String] = []
    var rest = Array(s.unicodeScalars)
    while rest.count > m {
        var cut = m
        if let sp = rest[0..<m].lastIndex(of: " "), sp > 0, rest[m] != " " { cut = sp + 1 }
        lines.append(String(String.UnicodeScalarView(rest[0..<cut])))
        rest = Array(rest[cut...])
    }
    lines.append(String(String.UnicodeScalarView(rest)))
    return lines
}

/// Card suits, with their 7×7 symbols.
public enum Suit: Int, CaseIterable, Sendable {
    case hearts, spades, diamonds, clubs

    /// Letter used by the original card files: H, S, D, C.
    public var letter: String { ["H", "S", "D", "C"][rawValue] }
    public var name: String { ["hearts", "spades", "diamonds", "clubs"][rawValue] }
    public var isRed: Bool { self == .hearts || self == .diamonds }
    public static func from(letter: String) -> Suit? { allCases.first { $0.letter == letter.uppercased() } }

    public static let symbolSize = 7
    public var symbol: [UInt8] { Suit.symbols[rawValue] }
    static let symbols: [[UInt8]] = [
        [".##.##.", "#######", "#######", "#######", ".#####.", "..###..", "...#..."],
        ["...#...", "..###..", ".#####.", "#######", "#######", "...#...", "..###.."],
        ["...#...", "..###..", ".#####.", "#######", ".#####.", "..###..", "...#..."],
        ["..###..", "..###..", "##.#.##", "#######", "##.#.##", "...#...", "..###.."],
    ].map { rows in rows.map { row in row.utf8.reduce(UInt8(0)) { ($0 << 1) | ($1 == UInt8(ascii: "#") ? 1 : 0) } } }
}
