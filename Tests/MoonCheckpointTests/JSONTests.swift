import XCTest
@testable import MoonCheckpoint

final class JSONTests: XCTestCase {
    func assertInvalid(_ text: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try JSON.parse(text), text, file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(fragment), "\(text): \(e)", file: file, line: line)
            XCTAssertTrue("\(e)".hasPrefix("invalid JSON at offset "), "\(e)", file: file, line: line)
        }
    }

    func testRoundTripKeepsOrderAndEscapes() throws {
        let v = JSON.object(pairs: [("z", .number(1)), ("a", .string("q\"uo\\te\n\té")), ("n", .number(0.1)), ("big", .number(1e20)),
                                    ("neg", .number(-3.5e-7)), ("arr", .array([.bool(true), .null, .object([])])), ("inf", .number(.infinity))])
        let s = v.serialized()
        XCTAssertEqual(s, #"{"z":1,"a":"q\"uo\\te\n\té","n":0.1,"big":1e+20,"neg":-3.5e-07,"arr":[true,null,{}],"inf":null}"#)
        let back = try JSON.parse(s)
        XCTAssertEqual(back.members?.map(\.key), ["z", "a", "n", "big", "neg", "arr", "inf"])
        XCTAssertEqual(back["a"]?.stringValue, "q\"uo\\te\n\té")
        XCTAssertEqual(back["n"]?.doubleValue, 0.1)
        XCTAssertEqual(try JSON.parse(v.pretty()), back)
        XCTAssertEqual(try JSON.parse(#""\u00e9\ud83d\ude00""#).stringValue, "é😀")
        XCTAssertEqual(try JSON.parse(" [ ] ").arrayValue, [])
        XCTAssertEqual(try JSON.parse("-0.5e2").doubleValue, -50)
    }

    func testQuoteEscapesControlCharacters() throws {
        XCTAssertEqual(JSON.quote("a\"b\\c\n\r\t\u{08}\u{0C}\u{01}\u{1F}é"), #""a\"b\\c\n\r\t\b\f\u0001\u001fé""#)
        for s in ["", "plain", "\u{00}\u{7F}", "😀 \u{2028}"] { XCTAssertEqual(try JSON.parse(JSON.quote(s)).stringValue, s) }
    }

    func testStrictGrammar() {
        assertInvalid(#"{"a":1,}"#, "expected a string key")
        assertInvalid("[1 2]", "expected ',' or ']'")
        assertInvalid("{} x", "trailing")
        assertInvalid(#"{"a":1,"a":2}"#, "duplicate key")
        assertInvalid("\"tab\there\"", "control character")
        assertInvalid(#""\ud800""#, "unpaired surrogate")
        assertInvalid(#""\x""#, "invalid escape")
        assertInvalid("+1", "unexpected character")
        assertInvalid("01", "trailing")
        assertInvalid("1.", "invalid fraction")
        assertInvalid("1e", "invalid exponent")
        assertInvalid("1e999", "out of range")
        assertInvalid("NaN", "unexpected character")
        assertInvalid("tru", "end of input")
        assertInvalid("", "end of input")
        assertInvalid(String(repeating: "[", count: JSON.maxDepth + 2), "nesting deeper")
        XCTAssertThrowsError(try JSON.parse(bytes: [0x22, 0xFF, 0x22])) { e in XCTAssertTrue("\(e)".contains("UTF-8")) }
    }

    func testTypeNamesAndAccessors() throws {
        let v = try JSON.parse(#"{"o":{},"a":[1],"s":"x","n":2,"b":false,"z":null}"#)
        XCTAssertEqual(v.members?.map { $0.value.typeName }, ["object", "array", "string", "number", "boolean", "null"])
        XCTAssertEqual(v["b"]?.boolValue, false)
        XCTAssertNil(v["missing"])
        XCTAssertNil(v["s"]?.doubleValue)
    }
}
