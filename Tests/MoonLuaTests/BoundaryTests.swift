import CLua
import CLuaShim
import XCTest
@testable import MoonLua

/// A Swift class exported to Lua in tests; counts live instances to check __gc releases them.
final class Counter {
    nonisolated(unsafe) static var live = 0
    var value: Int
    init(_ v: Int) { value = v; Counter.live += 1 }
    deinit { Counter.live -= 1 }
}

struct Boom: Error, CustomStringConvertible { var description: String { "boom from Swift" } }

/// Resident set size of this process in bytes (Linux).
func residentBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = s.split(separator: " ")
    return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

final class BoundaryTests: XCTestCase {
    func makeState() -> LuaState {
        let s = LuaState()
        s.register("moon.test.fail", doc: "fails") { _ in throw Boom() }
        s.register("moon.test.add", doc: "moon.test.add(a, b) -> a + b") { call in
            call.push(try call.number(1, "a") + call.number(2, "b"))
        }
        s.register("moon.test.opts", doc: "options") { call in
            let o = try call.options(1, allowed: ["lr", "name"])
            return call.push(try o.number("lr", default: 0.5)) + call.push(try o.string("name", default: "x"))
        }
        return s
    }

    func testSwiftErrorIsCatchableByPcall() throws {
        let s = makeState()
        let r = try s.run("local ok, e = pcall(moon.test.fail); return ok, e")
        XCTAssertEqual(r.first, .boolean(false))
        XCTAssertEqual(r.last?.string, "moon.test.fail: boom from Swift")
    }

    func testArgumentErrorNamesFunctionArgumentAndTypes() throws {
        let s = makeState()
        let r = try s.run("local ok, e = pcall(moon.test.add, 1, 'x'); return e")
        XCTAssertEqual(r.first?.string, "moon.test.add: argument #2 'b': expected number, got string")
        XCTAssertEqual(try s.run("return moon.test.add(2, 3)").first?.number, 5)
    }

    func testOptionsRejectUnknownKeysAndWrongTypes() throws {
        let s = makeState()
        let unknown = try s.run("local ok, e = pcall(moon.test.opts, {lrr = 1}); return e").first?.string ?? ""
        XCTAssertTrue(unknown.contains("unknown option 'lrr'"), unknown)
        XCTAssertTrue(unknown.contains("lr, name"), unknown)
        let wrong = try s.run("local ok, e = pcall(moon.test.opts, {lr = 'fast'}); return e").first?.string ?? ""
        XCTAssertEqual(wrong, "moon.test.opts: option 'lr': expected number, got string")
        let r = try s.run("return moon.test.opts{lr = 2}")
        XCTAssertEqual(r.first?.number, 2)
        XCTAssertEqual(r.last?.string, "x")
    }

    func testHundredThousandErrorsDoNotCrashOrGrowMemory() throws {
        let s = makeState()
        let loop = """
            local n = 0
            for i = 1, 100000 do
              local ok, e = pcall(moon.test.fail)
              local ok2 = pcall(moon.test.add, i, {})
              if not ok and not ok2 then n = n + 1 end
            end
            collectgarbage()
            return n
            """
        _ = try s.run(loop)  // warm up allocator pools
        let before = residentBytes()
        let luaBefore = s.luaHeapBytes
        XCTAssertEqual(try s.run(loop).first, .integer(100000))
        let grown = residentBytes() - before
        XCTAssertLessThan(grown, 8 << 20, "RSS grew by \(grown) bytes")
        XCTAssertLessThan(s.luaHeapBytes - luaBefore, 256 << 10)
    }

    func testLuaErrorInCallbackBecomesSwiftErrorWithTraceback() throws {
        let s = makeState()
        let f = try s.run("""
            local function inner() error('callback failed') end
            return function(x) inner() end
            """).first
        guard case .ref(let ref)? = f else { return XCTFail("expected a function") }
        XCTAssertThrowsError(try s.call(ref, [.integer(1)])) { error in
            let e = error as? LuaError
            XCTAssertEqual(e?.kind, .runtime)
            XCTAssertTrue(e?.message.contains("callback failed") ?? false)
            XCTAssertTrue(e?.message.contains("stack traceback") ?? false)
            XCTAssertTrue(e?.message.contains("inner") ?? false, e?.message ?? "")
        }
        // The state is still usable, and the stack is balanced.
        XCTAssertEqual(lua_gettop(s.L), 0)
        XCTAssertEqual(try s.run("return 1 + 1").first, .integer(2))
    }

    func testSwiftCallingLuaCallingSwiftErrorPropagates() throws {
        let s = makeState()
        s.register("moon.test.apply", doc: "apply(f, x)") { call in
            let f = try call.function(1, "f")
            let r = try call.state.call(f, [call.state.value(at: 2)])
            return call.push(r.first ?? .nil)
        }
        let msg = try s.run("return select(2, pcall(moon.test.apply, function(x) return moon.test.add(x, nil) end, 1))")
            .first?.string ?? ""
        XCTAssertTrue(msg.contains("moon.test.add: argument #2 'b': expected number, got nil"), msg)
        XCTAssertEqual(try s.run("return moon.test.apply(function(x) return x * 2 end, 21)").first, .integer(42))
    }

    func testUserdataMethodsMetamethodsAndCollection() throws {
        let s = makeState()
        s.defineType(Counter.self, name: "moon.Counter", methods: [
            LuaMethod("get", "c:get() -> value") { call in call.push(try call.object(1, "self", as: Counter.self).value) },
            LuaMethod("add", "c:add(n)") { call in
                let c = try call.object(1, "self", as: Counter.self)
                c.value += try call.integer(2, "n")
                return 0
            },
        ], metamethods: [
            "__tostring": { call in call.push("Counter(\(try call.object(1, as: Counter.self).value))") },
            "__len": { call in call.push(try call.object(1, as: Counter.self).value) },
        ])
        s.register("moon.test.counter", doc: "new counter") { call in
            call.push(object: Counter(try call.integer(1, "start")))
        }
        let live = Counter.live
        let r = try s.run("local c = moon.test.counter(3); c:add(4); return c:get(), tostring(c), #c")
        XCTAssertEqual(r, [.integer(7), .string("Counter(7)"), .integer(7)])
        let bad = try s.run("local c = moon.test.counter(1); return select(2, pcall(c.add, 5, 1))").first?.string
        XCTAssertEqual(bad, "Counter:add: argument #1 'self': expected moon.Counter, got number")
        _ = try s.run("for i = 1, 1000 do local c = moon.test.counter(i) end; collectgarbage(); collectgarbage()")
        XCTAssertEqual(Counter.live, live)
        XCTAssertEqual(s.completions(for: "moon.test.cou"), ["moon.test.counter"])
        _ = try s.run("cnt = moon.test.counter(1)")
        XCTAssertEqual(s.completions(for: "cnt:a"), ["cnt:add"])
    }

    func testInterruptHookStopsRunningLoop() throws {
        let s = makeState()
        let repl = REPL(state: s, historyPath: NSTemporaryDirectory() + "/moonlab-test-history")
        let L = s.L
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { moon_request_interrupt(L) }
        guard case .failure(let msg) = repl.evaluate("while true do end") else { return XCTFail("not interrupted") }
        XCTAssertTrue(msg.contains("interrupted!"), msg)
        XCTAssertEqual(repl.evaluate("1 + 2"), .values(["3"]))
    }

    func testREPLEvaluateMultilineAndErrors() {
        let repl = REPL(state: makeState(), historyPath: "/dev/null")
        XCTAssertEqual(repl.evaluate("function f(x)"), .incomplete)
        XCTAssertEqual(repl.evaluate("function f(x)\n return x * 2\nend"), .values([]))
        XCTAssertEqual(repl.evaluate("f(21)"), .values(["42"]))
        XCTAssertEqual(repl.evaluate("'a', nil, {1, {2}}"), .values(["a", "nil", "{1, {2}}"]))
        guard case .failure(let msg) = repl.evaluate("error('bad')") else { return XCTFail() }
        XCTAssertTrue(msg.contains("bad") && msg.contains("stack traceback"))
        guard case .failure(let syntax) = repl.evaluate("x = = 2") else { return XCTFail() }
        XCTAssertTrue(syntax.contains("unexpected symbol"))
        XCTAssertEqual(repl.evaluate("f(1)"), .values(["2"]))
    }

    func testPrettyPrinterIsCycleSafeAndLimited() throws {
        let s = makeState()
        let r = try s.run("""
            local t = {name = 'x'}; t.self = t
            local deep = {{{{{1}}}}}
            local long = {}; for i = 1, 100 do long[i] = i end
            return moon.inspect(t), moon.inspect(deep), moon.inspect(long)
            """)
        XCTAssertTrue(r[0].string?.contains("<cycle") ?? false, r[0].string ?? "")
        XCTAssertEqual(r[1].string, "{{{{...}}}}")
        XCTAssertTrue(r[2].string?.contains("40,\n  ...") ?? false, r[2].string ?? "")
        XCTAssertFalse(r[2].string?.contains("41") ?? true)
    }

    func testHelpDocumentsExports() throws {
        let s = makeState()
        XCTAssertEqual(try s.run("return pcall(help, moon.test.add)"), [.boolean(true)])
        let pipe = Pipe()
        let saved = dup(1)
        dup2(pipe.fileHandleForWriting.fileHandle, 1)
        _ = try s.run("help(moon.test.add); help('moon.test'); io.stdout:flush()")
        fflush(stdout)
        dup2(saved, 1)
        try pipe.fileHandleForWriting.close()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(out.contains("moon.test.add(a, b) -> a + b"), out)
        XCTAssertTrue(out.contains("fails"), out)
    }
}

private extension FileHandle {
    var fileHandle: Int32 { fileDescriptor }
}
