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

    /// A script from a pipe: "-" (standard input), /dev/stdin, a FIFO; a directory or /dev/zero is a usage error.
    func testScriptsFromPipes() throws {
        let r = try runMoonlab(["run", "-", "a"], stdin: "print('piped', ...)")
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "piped\ta\n")
        XCTAssertEqual(try runMoonlab(["run", "/dev/stdin"], stdin: "io.write(7)").out, "7")
        let fifo = NSTemporaryDirectory() + "moonlab-cli-fifo-\(UUID().uuidString)"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        defer { unlink(fifo) }
        XCTAssertEqual(try runMoonlab(["run", fifo]).status, 0)  // no writer: an empty script, at once
        let dir = try runMoonlab(["run", NSTemporaryDirectory()])
        XCTAssertEqual(dir.status, 2)
        XCTAssertTrue(dir.err.contains("is a directory"), dir.err)
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

    /// `moonlab merge` and `moonlab plot` call Swift directly (MergeMethod.named, Merge.mergeFiles, Plot.plotRuns)
    /// with the vocabulary of moon.merge.* and moon.plot.run.
    func testMergeAndPlotSubcommands() throws {
        let dir = NSTemporaryDirectory() + "moonlab-cli-merge-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let make = try runMoonlab(["-e", """
            moon.ckpt.save('\(dir)/a.safetensors', {w = moon.tensor({1, 2})})
            moon.ckpt.save('\(dir)/b.safetensors', {w = moon.tensor({3, 6})})
            local r = moon.run.open('\(dir)/run'); r:log({update = 1, success_rate = 0.5}); r:log({update = 2, success_rate = 1})
            """])
        XCTAssertEqual(make.status, 0, make.err)
        let m = try runMoonlab(["merge", "--method", "average", "--weights", "1,3", "\(dir)/a.safetensors", "\(dir)/b.safetensors",
                                "-o", "\(dir)/avg.safetensors"])
        XCTAssertEqual(m.status, 0, m.err)
        XCTAssertTrue(m.out.hasPrefix("merged 1 tensors (2 parameters) with average into"), m.out)
        let check = try runMoonlab(["-e", "print(table.concat(moon.ckpt.load('\(dir)/avg.safetensors').w:totable(), ' '))"])
        XCTAssertEqual(check.out, "2.5 5.0\n", check.err)
        let ema = try runMoonlab(["merge", "--method", "ema", "--decay", "0.25", "\(dir)/a.safetensors", "\(dir)/b.safetensors",
                                  "-o", "\(dir)/ema.safetensors"])
        XCTAssertEqual(ema.status, 0, ema.err)
        let bad = try runMoonlab(["merge", "--method", "ties", "--density", "0.5", "\(dir)/a.safetensors", "-o", "\(dir)/t.safetensors"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.err.contains("ties needs a base model"), bad.err)
        let unknown = try runMoonlab(["merge", "--method", "linear", "\(dir)/a.safetensors", "-o", "\(dir)/t.safetensors"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.err.contains("unknown merge method \"linear\""), unknown.err)
        let p = try runMoonlab(["plot", "--metrics", "success_rate", "--out", "\(dir)/plots", "\(dir)/run"])
        XCTAssertEqual(p.status, 0, p.err)
        XCTAssertEqual(p.out, "\(dir)/plots/success_rate.png\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/plots/success_rate.png"))
        let missing = try runMoonlab(["plot", "\(dir)/nope"])
        XCTAssertEqual(missing.status, 1, missing.out)
    }

    func testPipedREPLRecoversAfterErrors() throws {
        let r = try runMoonlab([], stdin: "x = 1 +\n 2\nerror('e1')\nx * 10\nmoon.nope()\n'still here'\n")
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out, "30\nstill here\n")
        XCTAssertTrue(r.err.contains("e1"))
        XCTAssertTrue(r.err.contains("attempt to call a nil value"), r.err)
    }
}
