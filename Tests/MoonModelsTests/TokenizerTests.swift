import XCTest
import MoonTensor
@testable import MoonModels

final class TokenizerTests: XCTestCase {
    let tok = ByteTokenizer()

    func testEncodeDecodeRoundTrip() {
        for s in ["", "hello", "24 = (3 + 5) * 3", "héllo wörld ✓ 🎲", "line\nbreak\t\0nul"] {
            XCTAssertEqual(tok.decode(tok.encode(s)), s)
            XCTAssertEqual(tok.encode(s).count, s.utf8.count)
            XCTAssertEqual(tok.decode(tok.encode(s, addBos: true, addEos: true)), s)
        }
        XCTAssertEqual(tok.encode("AB", addBos: true), [256, 65, 66])
        XCTAssertEqual(tok.encode("é"), [0xC3, 0xA9])
        XCTAssertEqual(tok.encode("x", addBos: true, addEos: true), [256, 120, 257])
    }

    func testSpecials() {
        XCTAssertEqual(tok.vocabSize, 260)
        XCTAssertEqual([tok.bosId, tok.eosId, tok.padId, tok.imageId], [256, 257, 258, 259])
        XCTAssertEqual(tok.specialId("<bos>"), 256)
        XCTAssertEqual(tok.specialId("<image>"), 259)
        XCTAssertNil(tok.specialId("<unk>"))
        XCTAssertTrue(tok.isSpecial(258))
        XCTAssertFalse(tok.isSpecial(255))
        // spellings in text are bytes, not specials
        XCTAssertEqual(tok.encode("<eos>").count, 5)
        XCTAssertFalse(tok.encode("<eos>").contains(257))
        XCTAssertEqual(tok.decode([259, 259, 72, 105, 257, 258, 258]), "Hi")
        XCTAssertEqual(tok.decode([256, 72, 105, 257], skipSpecial: false), "<bos>Hi<eos>")
        XCTAssertEqual(tok.describe(65), "A")
        XCTAssertEqual(tok.describe(10), "<0x0A>")
        XCTAssertEqual(tok.describe(259), "<image>")
    }

    func testDecodeIsLossySafe() {
        // a truncated multi-byte sequence, a lone continuation byte, an invalid byte, out-of-range ids
        XCTAssertEqual(tok.decode([0xC3]), "\u{FFFD}")
        XCTAssertEqual(tok.decode([0x41, 0x80, 0x42]), "A\u{FFFD}B")
        XCTAssertEqual(tok.decode([0xFF, 0x41]), "\u{FFFD}A")
        XCTAssertEqual(tok.decode([0x41, -5, 99999, 0x42]), "AB")
        XCTAssertEqual(tok.decode([0x41, -5, 0x42], skipSpecial: false), "A\u{FFFD}B")
        // a special in the middle of a multi-byte character splits it
        XCTAssertEqual(tok.decode([0xC3, 257, 0xA9]), "\u{FFFD}\u{FFFD}")
        let rng = Generator(seed: 9)
        for _ in 0..<200 {
            let ids = (0..<rng.nextInt(0, 40)).map { _ in rng.nextInt(-20, 280) }
            _ = tok.decode(ids)
            _ = tok.decode(ids, skipSpecial: false)
        }
    }
}
