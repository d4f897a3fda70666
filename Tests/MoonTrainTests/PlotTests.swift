import XCTest
import MoonImage
@testable import MoonTrain

final class PlotTests: XCTestCase {
    func testTicksAndLabels() {
        XCTAssertEqual(Plot.niceTicks(0, 10), [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(Plot.niceTicks(0.013, 0.048), [0.01, 0.02, 0.03, 0.04, 0.05])
        XCTAssertEqual(Plot.niceTicks(3, 3).count > 1, true)  // degenerate range still gets an axis
        XCTAssertEqual(Plot.tickLabel(0.25, step: 0.05), "0.25")
        XCTAssertEqual(Plot.tickLabel(40, step: 20), "40")
    }

    /// Values at the ends of the double range (±1e308, denormals) draw a chart instead of crashing on an empty tick
    /// list or a NaN pixel.
    func testExtremeValuesDrawAChart() {
        for (lo, hi) in [(-1e308, 1e308), (0, 1e-320), (1.7e308, 1.7e308), (-1e-310, 1e-310), (5, 1e308)] {
            let ticks = Plot.niceTicks(lo, hi)
            XCTAssertGreaterThanOrEqual(ticks.count, 2, "\(lo)...\(hi)")
            XCTAssertTrue(ticks.allSatisfy(\.isFinite), "\(ticks)")
            let pts = [(x: lo, y: hi), (x: hi, y: lo), (x: 0, y: .nan), (x: .infinity, y: 1)]
            let (img, frame) = Plot.render([PlotSeries(name: "extreme", points: pts)])
            XCTAssertEqual(img.width, 640)
            XCTAssertTrue(frame.pixel(x: hi, y: lo).x >= 0)
        }
        XCTAssertEqual(Plot.tickLabel(1, step: .nan), "1")
        XCTAssertEqual(Plot.tickLabel(1, step: 0), "1")
    }

    func testLinePixelsFollowTheData() throws {
        let blue = Plot.palette[0]
        let pts = (0...10).map { (x: Double($0), y: Double($0 * $0)) }
        let (img, frame) = Plot.render([PlotSeries(name: "y=x^2", points: pts)], options: PlotOptions(title: "square"))
        XCTAssertEqual(img.width, 640)
        // every data point's pixel (or a neighbour, for the 2-px pen) has the line colour
        for p in pts {
            let q = frame.pixel(x: p.x, y: p.y)
            let hit = (-1...1).contains { dx in (-1...1).contains { dy in img.pixel(q.x + dx, q.y + dy) == blue } }
            XCTAssertTrue(hit, "no line pixel near \(p) → \(q)")
        }
        // and midway along the segment (4,16)–(5,25)
        let a = frame.pixel(x: 4, y: 16), b = frame.pixel(x: 5, y: 25)
        let mid = ((a.x + b.x) / 2, (a.y + b.y) / 2)
        XCTAssertTrue((-2...2).contains { dx in (-2...2).contains { dy in img.pixel(mid.0 + dx, mid.1 + dy) == blue } })
        // no line colour far from the curve: the top-left of the plot area (x small, y large)
        let far = frame.pixel(x: 1, y: 90)
        XCTAssertEqual(img.count(blue, x: far.x - 5, y: far.y - 5, w: 10, h: 10), 0)
        // the title text is drawn (dark pixels in the top band)
        XCTAssertGreaterThan(img.count(RGB(30, 30, 30), x: 0, y: 0, w: 640, h: 30), 50)
    }

    func testPlotRunsWritesValidPNGsWithOverlay() throws {
        let root = try makeTempDir()
        for (name, slope) in [("runA", 0.05), ("runB", 0.02)] {
            let run = try RunDir(root + "/" + name)
            let log = try run.metricsLogger()
            for u in 1...20 {
                try log.log([("update", Double(u)), ("success_rate", min(1, slope * Double(u))), ("return", Double(u) * slope * 10 - 1),
                             ("entropy", 1.0 / Double(u)), ("kl", 0.01 * Double(u % 5)), ("value_loss", 0.5)])
            }
        }
        let single = try Plot.plotRuns([root + "/runA"])
        XCTAssertEqual(single.map { ($0 as NSString).lastPathComponent }, ["success_rate.png", "return.png", "entropy.png", "kl.png"])
        for p in single {
            let img = try PNG.decode(Array(FileManager.default.contents(atPath: p)!))
            XCTAssertEqual(img.width, 640)
            XCTAssertGreaterThan(img.count(Plot.palette[0]), 100, p)
        }
        let out = root + "/compare"
        let overlay = try Plot.plotRuns([root + "/runA", root + "/runB"], metrics: ["success_rate", "entropy+kl"], outputDir: out)
        XCTAssertEqual(overlay.map { ($0 as NSString).lastPathComponent }, ["success_rate.png", "entropy_kl.png"])
        let img = try PNG.decode(Array(FileManager.default.contents(atPath: overlay[0])!))
        XCTAssertGreaterThan(img.count(Plot.palette[0]), 100)
        XCTAssertGreaterThan(img.count(Plot.palette[1]), 100)  // the second run's line
        assertThrowsMessage(try Plot.plotRuns([root + "/runA"], metrics: ["nope"]), contains: "'nope'")
        assertThrowsMessage(try Plot.plotRuns([root + "/missing"]), contains: "no metrics.jsonl")
        if let keep = ProcessInfo.processInfo.environment["MOONTRAIN_PLOT_DIR"] {
            for p in single + overlay {
                let dst = keep + "/" + (p as NSString).deletingLastPathComponent.split(separator: "/").last! + "-" + (p as NSString).lastPathComponent
                try? FileManager.default.removeItem(atPath: dst)
                try FileManager.default.copyItem(atPath: p, toPath: dst)
            }
        }
    }
}
