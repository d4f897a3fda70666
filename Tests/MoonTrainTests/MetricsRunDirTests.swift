import XCTest
@testable import MoonTrain

func makeTempDir(_ name: String = #function) throws -> String {
    let d = NSTemporaryDirectory() + "moontrain-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func readText(_ path: String) -> String { String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }

final class MetricsTests: XCTestCase {
    func testJSONLAndCSVWithNewKeys() throws {
        let dir = try makeTempDir()
        let log = try MetricsLogger(directory: dir)
        try log.log(["update": .number(1), "return": .number(1.5), "note": .text("a,b")])
        try log.log(["update": .number(2), "return": .number(2.25), "note": .text("plain")])
        XCTAssertEqual(readText(log.csvPath), "update,return,note\n1,1.5,\"a,b\"\n2,2.25,plain\n")
        // a new key extends the header and rewrites the CSV; a missing key is an empty cell
        try log.log(["update": .number(3), "kl": .number(0.012)])
        XCTAssertEqual(readText(log.csvPath), "update,return,note,kl\n1,1.5,\"a,b\",\n2,2.25,plain,\n3,,,0.012\n")
        let lines = readText(log.jsonlPath).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(String(lines[0]), #"{"update":1,"return":1.5,"note":"a,b"}"#)
        XCTAssertEqual(log.series("return").map(\.y), [1.5, 2.25])
        // reopening appends (resume) and keeps the header
        let again = try MetricsLogger(directory: dir)
        XCTAssertEqual(again.records.count, 3)
        XCTAssertEqual(again.csvHeader, ["update", "return", "note", "kl"])
        try again.log([("update", 4), ("return", .nan)])
        XCTAssertEqual(try MetricsLogger.read(again.jsonlPath).count, 4)
        XCTAssertTrue(readText(again.csvPath).hasSuffix("4,NaN,,\n"))
        XCTAssertTrue(readText(again.jsonlPath).hasSuffix(#"{"update":4,"return":null}"# + "\n"))
        // starting afresh truncates
        let fresh = try MetricsLogger(directory: dir, append: false)
        XCTAssertEqual(fresh.records.count, 0)
        XCTAssertEqual(readText(fresh.jsonlPath), "")
    }

    func testTruncateDropsRecordsAfterAnUpdate() throws {
        let dir = try makeTempDir()
        let log = try MetricsLogger(directory: dir)
        try log.log(["phase": .text("sft")])                       // no update key: kept
        for u in 0...3 { try log.log(["update": .number(Double(u)), "return": .number(Double(u) / 2)]) }
        XCTAssertEqual(try log.truncate(after: 1), 2)
        XCTAssertEqual(try log.truncate(after: 1), 0)
        XCTAssertEqual(readText(log.csvPath), "phase,update,return\nsft,,\n,0,0\n,1,0.5\n")
        let back = try MetricsLogger.read(log.jsonlPath)
        XCTAssertEqual(back.count, 3)
        XCTAssertEqual(back.last?.number("update"), 1)
        try log.log(["update": .number(2), "return": .number(7)])     // logging goes on after the cut
        XCTAssertEqual(try MetricsLogger.read(log.jsonlPath).last?.number("return"), 7)
    }

    func testReadErrorsNameTheLine() throws {
        let dir = try makeTempDir()
        try writeFileAtomically("{\"a\":1}\nnot json\n", to: dir + "/m.jsonl")
        assertThrowsMessage(try MetricsLogger.read(dir + "/m.jsonl"), contains: "m.jsonl:2")
    }

    func testProgressLine() {
        let r: MetricsRecord = ["return": .number(3.2104), "success_rate": .number(0.41), "invalid_rate": .number(0.02),
                                "entropy": .number(0.5312), "kl": .number(0.01234), "tokens_per_s": .number(1520.4)]
        XCTAssertEqual(ProgressLine.format(update: 12, total: 50, record: r, elapsed: 192),
                       "update 12/50 | return 3.21 | success 41.0% | invalid 2.0% | entropy 0.531 | kl 0.0123 | 1520 tok/s | 00:03:12")
        XCTAssertEqual(ProgressLine.format(update: 3, total: nil, record: ["kl": .number(0.012)], elapsed: 3725),
                       "update 3 | kl 0.012 | 01:02:05")
        XCTAssertEqual(ProgressLine.compact(0.53), "0.53")
        XCTAssertEqual(ProgressLine.compact(12345), "12345")
    }
}

final class RunDirTests: XCTestCase {
    func testLayoutConfigAndResume() throws {
        let root = try makeTempDir()
        let path = root + "/run1"
        let run = try RunDir(path, mode: .create)
        for d in ["checkpoints", "teacher", "samples", "plots"] {
            var isDir: ObjCBool = false
            XCTAssertTrue(FileManager.default.fileExists(atPath: path + "/" + d, isDirectory: &isDir) && isDir.boolValue, d)
        }
        XCTAssertNil(try run.readConfig())
        try run.writeConfig(.object(pairs: [("lr", .number(3e-4)), ("env", .string("points24"))]))
        XCTAssertEqual(try run.readConfig()?["env"]?.stringValue, "points24")
        XCTAssertEqual(try run.readConfig()?.members?.map(\.key), ["lr", "env"])
        assertThrowsMessage(try run.writeConfig(text: "{lr = 1}"), contains: "not valid JSON")
        // no temp files left behind
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix(".") }, [])


        // creating again refuses to overwrite; resuming works
        assertThrowsMessage(try RunDir(path, mode: .create), contains: "already exists")
        let resumed = try RunDir(path, mode: .resume)
        XCTAssertTrue(resumed.resumed)
        assertThrowsMessage(try RunDir(root + "/nope", mode: .resume), contains: "does not exist")
        XCTAssertFalse(try RunDir(root + "/fresh", mode: .createOrResume).resumed)
        XCTAssertEqual(RunDir.fileSafe("success rate/%"), "success_rate__")
    }

    func testCheckpointNamesAndPruning() throws {
        let run = try RunDir(try makeTempDir() + "/run", mode: .create)
        let f = RunDir.checkpointFiles(step: 12)
        XCTAssertEqual([f.policy, f.optimizer, f.state],
                       ["checkpoints/step-000012.safetensors", "checkpoints/optim-000012.safetensors", "checkpoints/state-000012.json"])
        for step in [3, 1, 2] {
            let g = RunDir.checkpointFiles(step: step)
            for rel in [g.policy, g.optimizer] { try writeFileAtomically("x", to: run.file(rel)) }
            try run.writeState(step: step, json: "{\"update\": \(step)}")
        }
        try writeFileAtomically("{}", to: run.file("checkpoints/state-x.json"))  // not a record
        XCTAssertEqual(run.stateRecords().map(\.step), [1, 2, 3])
        run.prune(keep: 2)
        let left = try FileManager.default.contentsOfDirectory(atPath: run.checkpointsDir).sorted()
        XCTAssertEqual(left, ["optim-000002.safetensors", "optim-000003.safetensors", "state-000002.json", "state-000003.json",
                              "state-x.json", "step-000002.safetensors", "step-000003.safetensors"])
        run.prune(keep: 0)  // keeps at least the newest
        XCTAssertEqual(run.stateRecords().map(\.step), [3])
    }

    func testMetricsLoggerResumesWithRun() throws {
        let root = try makeTempDir()
        let run = try RunDir(root + "/r", mode: .create)
        try run.metricsLogger().log([("update", 1)])
        let again = try RunDir(root + "/r", mode: .resume)
        let log = try again.metricsLogger()
        XCTAssertEqual(log.records.count, 1)
    }

    func testAtomicWriteReplaces() throws {
        let dir = try makeTempDir()
        try writeFileAtomically("one", to: dir + "/f.json")
        try writeFileAtomically("two", to: dir + "/f.json")
        XCTAssertEqual(readText(dir + "/f.json"), "two")
        assertThrowsMessage(try writeFileAtomically("x", to: dir + "/missing/f.json"), contains: "creating temporary file")
    }
}
