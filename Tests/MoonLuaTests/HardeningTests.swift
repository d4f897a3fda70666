import CLua
import CLuaShim
import XCTest
@testable import MoonLua

/// Ctrl-C (family 9 of the hardening issue): long Swift loops and loops of short Swift calls stop within a second.
final class HardeningTests: XCTestCase {
    private func interrupted(_ code: String, after delay: Double = 0.3) -> (message: String, seconds: Double) {
        let s = LuaState()
        let repl = REPL(state: s, historyPath: "/dev/null")
        let L = s.L
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { moon_request_interrupt(L) }
        let start = Date()
        let outcome = repl.evaluate(code)
        let seconds = Date().timeIntervalSince(start)
        guard case .failure(let msg) = outcome else { XCTFail("not interrupted: \(outcome)"); return ("", seconds) }
        XCTAssertEqual(repl.evaluate("1 + 2"), .values(["3"]), "the REPL goes on after an interrupt")
        return (msg, seconds)
    }

    func testInterruptStopsLongSwiftCall() {
        // 200000 demonstrations take about a minute; Ctrl-C stops the Swift loop itself
        let r = interrupted("moon.env.demos('points24', 200000)")
        // "moon.env.demos: interrupted" from the Swift loop, or "interrupted!" from the hook once it returned
        XCTAssertTrue(r.message.contains("interrupted"), r.message)
        XCTAssertLessThan(r.seconds, 0.3 + 1.0)
    }

    func testInterruptStopsLoopOfShortSwiftCallsEvenInsideCoroutinesAndPcall() {
        // the hook is set on the main thread only; the dispatcher's check stops the coroutine's loop at its next call
        let r = interrupted("coroutine.wrap(function() while true do pcall(moon.zeros, 1); moon.zeros(1) end end)()")
        XCTAssertTrue(r.message.contains("interrupted"), r.message)
        XCTAssertLessThan(r.seconds, 0.3 + 1.0)
    }

    func testBindingsUseTheCoroutinesOwnStack() throws {
        let s = LuaState()
        let v = try s.run("""
            local a = coroutine.wrap(function() return moon.zeros(3):sum():item() end)()
            local co = coroutine.wrap(function()
              for i = 1, 3 do coroutine.yield(moon.tensor{i, i}:sum():item()) end
            end)
            local env = moon.env.wrap(moon.env.make('numberline'), {reward = function(_, _, r) return r + 100 end})
            local b = coroutine.wrap(function()
              env:reset(1)
              local _, reward = env:step('{"thoughts": "", "action": "+"}')
              return reward
            end)()
            return a, co() + co() + co(), b > 90
            """)
        XCTAssertEqual(v, [.number(0), .number(12), .boolean(true)])
    }
}
