import Foundation
import XCTest

final class CLITests: XCTestCase {
    func script(_ body: String) throws -> String {
        let path = NSTemporaryDirectory() + "moonlab-cli-\(UUID().uuidString).lua"
        try body.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testSuccessAndArguments() throws {
        let path = try script("print(arg[0] ~= nil, arg[1], arg[2], select('#', ...))")
        let r = try runMoonlab(["run", path, "one", "--two"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "true\tone\t--two\t2\n")
    }

    func testScriptErrorExitsOneWithTraceback() throws {
        let path = try script("local function f() error('kaput') end\nf()")
        let r = try runMoonlab(["run", path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("kaput") && r.err.contains("stack traceback"), r.err)
    }

    func testBindingMisuseIsAScriptError() throws {
        let r = try runMoonlab(["-e", "moon.inspect({}, {depth = 'deep'})"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("moon.inspect: option 'depth': expected integer, got string"), r.err)
    }

    func testSyntaxErrorExitsOne() throws {
        let path = try script("x = = 1")
        let r = try runMoonlab(["run", path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("unexpected symbol"), r.err)
        XCTAssertEqual(try runMoonlab(["-e", "if then"]).status, 1)
    }

    func testMissingFileAndUnknownFlagAreUsageErrors() throws {
        let missing = try runMoonlab(["run", "/nonexistent/file.lua"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.err.contains("cannot open /nonexistent/file.lua"))
        let flag = try runMoonlab(["--no-such-flag"])
        XCTAssertEqual(flag.status, 2)
        XCTAssertTrue(flag.err.contains("no-such-flag"), flag.err)
        XCTAssertEqual(try runMoonlab(["run"]).status, 2)
    }

    func testVersionHelpAndExecute() throws {
        let v = try runMoonlab(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertTrue(v.out.hasPrefix("0."), v.out)
        let h = try runMoonlab(["--help"])
        XCTAssertEqual(h.status, 0)
        XCTAssertTrue(h.out.contains("USAGE: moonlab"))
        XCTAssertEqual(try runMoonlab(["-e", "print(6 * 7)"]).out, "42\n")
    }

    func testPipedREPLRecoversAfterErrors() throws {
        let r = try runMoonlab([], stdin: "x = 1 +\n 2\nerror('e1')\nx * 10\nmoon.nope()\n'still here'\n")
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, "30\nstill here\n")
        XCTAssertTrue(r.err.contains("e1"))
        XCTAssertTrue(r.err.contains("attempt to call a nil value"), r.err)
    }
}
