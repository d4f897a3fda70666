import CLuaShim
import Foundation
import XCTest

/// Drives the REPL through a pseudo-terminal, as a person at a keyboard would.
final class TerminalREPLTests: XCTestCase {
    final class Terminal {
        let master: Int32
        let pid: pid_t
        var transcript = ""

        init(executable: String, environment: [String: String]) throws {
            var name = [CChar](repeating: 0, count: 256)
            master = moon_pty_open(&name, name.count)
            guard master >= 0 else { throw XCTSkip("no pseudo-terminal available") }
            let slavePath = String(cString: name)
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            posix_spawn_file_actions_addopen(&actions, 0, slavePath, O_RDWR, 0)
            posix_spawn_file_actions_adddup2(&actions, 0, 1)
            posix_spawn_file_actions_adddup2(&actions, 0, 2)
            posix_spawn_file_actions_addclose(&actions, master)
            var attr = posix_spawnattr_t()
            posix_spawnattr_init(&attr)
            posix_spawnattr_setflags(&attr, moon_spawn_setsid_flag())
            var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            env["TERM"] = "xterm"
            let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
            let argv = [strdup(executable), nil]
            var p: pid_t = 0
            let rc = posix_spawn(&p, executable, &actions, &attr, argv, envp)
            envp.forEach { free($0) }
            argv.forEach { free($0) }
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attr)
            guard rc == 0 else { throw XCTSkip("posix_spawn failed: \(rc)") }
            pid = p
        }

        func send(_ text: String) { _ = text.withCString { write(master, $0, strlen($0)) } }

        /// Reads until `needle` appears in the transcript after `from`, or the timeout passes.
        @discardableResult
        func expect(_ needle: String, timeout: Double = 10) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            var searchFrom = transcript.startIndex
            while Date() < deadline {
                if let r = transcript.range(of: needle, range: searchFrom..<transcript.endIndex) {
                    consumed = r.upperBound
                    return true
                }
                var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 100) > 0 {
                    var buf = [UInt8](repeating: 0, count: 4096)
                    let n = read(master, &buf, buf.count)
                    if n <= 0 { break }
                    transcript += String(decoding: buf[0..<n], as: UTF8.self)
                }
                searchFrom = consumed ?? transcript.startIndex
            }
            return false
        }
        var consumed: String.Index?

        /// Waits for the child to exit (draining its output meanwhile); nil if it is still running after 30 s.
        func wait() -> Int32? {
            for i in 0..<300 {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -(status & 0x7f)
                }
                var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 100) > 0 {
                    var buf = [UInt8](repeating: 0, count: 4096)
                    let n = read(master, &buf, buf.count)
                    if n > 0 { transcript += String(decoding: buf[0..<n], as: UTF8.self) }
                    else { usleep(100_000) }  // the pty hung up (poll returns at once): give the exit time to land
                }
                if i == 50 { send("\u{04}") }  // a ^D typed while the terminal was still in cooked mode can be lost
            }
            kill(pid, SIGKILL)
            return nil
        }

        deinit { close(master) }
    }

    func testCompletionMultilineErrorsInterruptAndHistory() throws {
        let history = NSTemporaryDirectory() + "moonlab-history-\(UUID().uuidString)"
        let term = try Terminal(executable: try moonlabExecutable(), environment: ["MOONLAB_HISTORY": history])
        XCTAssertTrue(term.expect("moon> "), term.transcript)

        // Multi-line input: an incomplete statement asks for more.
        term.send("answer = 40 +\r")
        XCTAssertTrue(term.expect(">> "), term.transcript)
        term.send("2\r")
        XCTAssertTrue(term.expect("moon> "))
        term.send("answer\r")
        XCTAssertTrue(term.expect("42"), term.transcript)

        // Tab completion of a field after '.'.
        term.send("moon.vers\t")
        XCTAssertTrue(term.expect("moon.version"), term.transcript)
        term.send("\r")
        XCTAssertTrue(term.expect("0.1"), term.transcript)

        // An error prints message and traceback; the REPL goes on.
        term.send("error('oops')\r")
        XCTAssertTrue(term.expect("oops"), term.transcript)
        XCTAssertTrue(term.expect("stack traceback"), term.transcript)
        term.send("6 * 7 + 1\r")
        XCTAssertTrue(term.expect("43"), term.transcript)

        // Ctrl-C interrupts a running statement and returns to the prompt.
        term.send("while true do end\r")
        usleep(500_000)
        term.send("\u{03}")
        XCTAssertTrue(term.expect("interrupted!"), term.transcript)
        term.send("'alive' .. 1\r")
        XCTAssertTrue(term.expect("alive1"), term.transcript)
        XCTAssertTrue(term.expect("moon> "), term.transcript)

        // Ctrl-D exits cleanly; history persisted.
        term.send("\u{04}")
        XCTAssertEqual(term.wait(), 0, term.transcript)
        let saved = (try? String(contentsOfFile: history, encoding: .utf8)) ?? ""
        XCTAssertTrue(saved.contains("answer = 40 +"), saved)
        XCTAssertTrue(saved.contains("6 * 7 + 1"), saved)
    }

    /// A history file that is not a regular file (a FIFO would block the start; a device would be written to) turns
    /// history off with a warning, and the REPL works.
    func testHistoryThatIsNotARegularFileIsLeftAlone() throws {
        let fifo = NSTemporaryDirectory() + "moonlab-history-fifo-\(UUID().uuidString)"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        defer { unlink(fifo) }
        let term = try Terminal(executable: try moonlabExecutable(), environment: ["MOONLAB_HISTORY": fifo])
        XCTAssertTrue(term.expect("history off"), term.transcript)
        XCTAssertTrue(term.expect("moon> "), term.transcript)
        term.send("6 * 7\r")
        XCTAssertTrue(term.expect("42"), term.transcript)
        term.send("\u{04}")
        XCTAssertEqual(term.wait(), 0, term.transcript)
        var st = stat()
        XCTAssertEqual(lstat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO)  // still a FIFO
    }
}
