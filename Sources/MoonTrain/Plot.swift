import Foundation
import MoonImage

/// One line of a chart.
public struct PlotSeries {
    public var name: String
    public var points: [(x: Double, y: Double)]
    /// nil = the next palette colour.
    public var color: RGB?
    public init(name: String, points: [(x: Double, y: Double)], color: RGB? = nil) {
        self.name = name
        self.points = points
        self.color = color
    }
}

public struct PlotOptions: Sendable {
    public var width = 640
    public var height = 400
    public var title = ""
    public var xLabel = "update"
    public var yLabel = ""
    /// Line thickness in pixels.
    public var lineWidth = 2
    /// Draw a legend (default: when there is more than one series).
    public var legend: Bool? = nil
    public init(width: Int = 640, height: Int = 400, title: String = "", xLabel: String = "update", yLabel: String = "",
                lineWidth: Int = 2, legend: Bool? = nil) {
        self.width = width
        self.height = height
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.lineWidth = lineWidth
        self.legend = legend
    }
}

/// Where the data lands in the image: the plot rectangle and the (tick-rounded) data ranges.
public struct PlotFrame: Sendable {
    public let left: Int, top: Int, width: Int, height: Int
    public let xMin: Double, xMax: Double, yMin: Double, yMax: Double
    public let xTicks: [Double], yTicks: [Double]

    /// The pixel of a data point.
    public func pixel(x: Double, y: Double) -> (x: Int, y: Int) {
        let px = Double(left) + PlotFrame.fraction(x, xMin, xMax) * Double(width - 1)
        let py = Double(top + height - 1) - PlotFrame.fraction(y, yMin, yMax) * Double(height - 1)
        return (Int(px.rounded()), Int(py.rounded()))
    }

    /// Where `v` lies in [lo, hi], as a fraction clamped to [-1, 2] (a little beyond the frame), computed on halves so
    /// that a range as wide as ±1e308 does not overflow; 0 when it is not a number.
    static func fraction(_ v: Double, _ lo: Double, _ hi: Double) -> Double {
        let t = (v * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5)
        return t.isFinite ? Swift.min(2, Swift.max(-1, t)) : 0
    }
}

/// Line charts drawn with MoonImage's canvas and bitmap font, written as PNG (`moonlab plot RUN`).
public enum Plot {
    /// Series colours (matplotlib's tab10 without its grey).
    public static let palette: [RGB] = [RGB(31, 119, 180), RGB(255, 127, 14), RGB(44, 160, 44), RGB(214, 39, 40),
                                        RGB(148, 103, 189), RGB(140, 86, 75), RGB(227, 119, 194), RGB(188, 189, 34),
                                        RGB(23, 190, 207)]
    static let axisColor = RGB(60, 60, 60), gridColor = RGB(228, 228, 228), textColor = RGB(30, 30, 30)

    /// The metrics `plotRuns` draws when none are named (those present in the data).
    public static let defaultMetrics = [MetricKey.successRate, MetricKey.episodeReturn, MetricKey.entropy, MetricKey.kl]

    /// Tick positions covering [lo, hi] with a 1/2/5 × 10^k step, about `target` of them.
    /// A range too wide for a finite step (±1e308) or too narrow for a normal one (1e-320) gets its two ends.
    public static func niceTicks(_ lo: Double, _ hi: Double, target: Int = 5) -> [Double] {
        guard lo.isFinite, hi.isFinite else { return [0, 1] }
        var a = lo, b = hi
        if !(b > a) {
            let d = a == 0 ? 1 : Swift.abs(a) * 0.1
            a = Swift.max(a - d, -Double.greatestFiniteMagnitude); b = Swift.min(b + d, Double.greatestFiniteMagnitude)
        }
        let raw = (b - a) / Double(max(1, target))
        let mag = Foundation.pow(10, Foundation.floor(Foundation.log10(raw)))
        let f = raw / mag
        let step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag
        guard step.isNormal, b > a else { return b > a ? [a, b] : [lo - 1, lo + 1] }
        let first = Foundation.floor(a / step + 1e-9) * step, last = Foundation.ceil(b / step - 1e-9) * step
        var t: [Double] = []
        var v = first
        while v <= last + step * 1e-6 && t.count < 100 { t.append(Swift.abs(v) < step * 1e-9 ? 0 : v); v += step }
        return t.count >= 2 && t.allSatisfy(\.isFinite) ? t : [a, b]
    }

    /// A tick label: as many decimals as the step needs; scientific for very large/small values.
    public static func tickLabel(_ v: Double, step: Double) -> String {
        if v == 0 { return "0" }
        if Swift.abs(v) >= 1e6 || !(step >= 1e-4) || !step.isFinite { return String(format: "%.2g", v) }
        let decimals = max(0, min(6, Int(Foundation.ceil(-Foundation.log10(step) - 1e-9))))
        return String(format: "%.\(decimals)f", v)
    }

    /// Renders a line chart. Non-finite points are skipped; a series with one point draws a marker.
    public static func render(_ series: [PlotSeries], options o: PlotOptions = PlotOptions()) -> (image: RGBImage, frame: PlotFrame) {
        let w = max(160, o.width), h = max(120, o.height)
        var c = Canvas(width: w, height: h, background: .white)
        let pts = series.map { $0.points.filter { $0.x.isFinite && $0.y.isFinite } }
        let xs = pts.flatMap { $0.map(\.x) }, ys = pts.flatMap { $0.map(\.y) }
        let xt = niceTicks(xs.min() ?? 0, xs.max() ?? 1), yt = niceTicks(ys.min() ?? 0, ys.max() ?? 1)
        let yStep = yt.count > 1 ? yt[1] - yt[0] : 1, xStep = xt.count > 1 ? xt[1] - xt[0] : 1
        let yLabels = yt.map { tickLabel($0, step: yStep) }
        let labelW = yLabels.map { BitmapFont.width($0) }.max() ?? 0
        let left = 14 + labelW + (o.yLabel.isEmpty ? 0 : 12), top = o.title.isEmpty ? 14 : 34
        let right = 16, bottom = 44
        let frame = PlotFrame(left: left, top: top, width: w - left - right, height: h - top - bottom,
                              xMin: xt.first!, xMax: xt.last!, yMin: yt.first!, yMax: yt.last!, xTicks: xt, yTicks: yt)

        // grid, ticks and labels
        for (v, label) in zip(yt, yLabels) {
            let py = frame.pixel(x: frame.xMin, y: v).y
            c.fillRect(x: frame.left, y: py, w: frame.width, h: 1, gridColor)
            c.fillRect(x: frame.left - 4, y: py, w: 4, h: 1, axisColor)
            c.text(label, x: frame.left - 7 - BitmapFont.width(label), y: py - 3, textColor)
        }
        for v in xt {
            let px = frame.pixel(x: v, y: frame.yMin).x
            c.fillRect(x: px, y: frame.top, w: 1, h: frame.height, gridColor)
            c.fillRect(x: px, y: frame.top + frame.height, w: 1, h: 4, axisColor)
            let label = tickLabel(v, step: xStep)
            c.text(label, x: px - BitmapFont.width(label) / 2, y: frame.top + frame.height + 8, textColor)
        }
        c.strokeRect(x: frame.left - 1, y: frame.top - 1, w: frame.width + 2, h: frame.height + 2, axisColor)
        if !o.title.isEmpty {
            c.text(o.title, x: (w - BitmapFont.width(o.title, scale: 2, bold: true)) / 2, y: 9, scale: 2, bold: true, textColor)
        }
        if !o.xLabel.isEmpty {
            c.text(o.xLabel, x: frame.left + (frame.width - BitmapFont.width(o.xLabel)) / 2, y: h - 16, textColor)
        }
        if !o.yLabel.isEmpty {  // vertical: one character per line
            let chars = o.yLabel.map(String.init)
            let y0 = frame.top + (frame.height - chars.count * 9) / 2
            for (i, ch) in chars.enumerated() { c.text(ch, x: 4, y: y0 + i * 9, textColor) }
        }

        // lines
        for (k, s) in series.enumerated() {
            let col = s.color ?? palette[k % palette.count]
            let p = pts[k].map { frame.pixel(x: $0.x, y: $0.y) }
            if p.count == 1 { c.fillRect(x: p[0].x - 2, y: p[0].y - 2, w: 5, h: 5, col) }
            for i in 1..<max(1, p.count) {
                c.line(x0: p[i - 1].x, y0: p[i - 1].y, x1: p[i].x, y1: p[i].y, thickness: o.lineWidth, col)
            }
        }

        // legend (top right, inside the plot)
        if o.legend ?? (series.count > 1) {
            let names = series.map(\.name)
            let lw = 28 + (names.map { BitmapFont.width($0) }.max() ?? 0), lh = 8 + 12 * names.count
            // the corner of the plot area that covers the fewest data points
            let corners = [(frame.left + frame.width - lw - 6, frame.top + 6), (frame.left + 6, frame.top + 6),
                           (frame.left + frame.width - lw - 6, frame.top + frame.height - lh - 6),
                           (frame.left + 6, frame.top + frame.height - lh - 6)]
            let all = pts.flatMap { $0.map { frame.pixel(x: $0.x, y: $0.y) } }
            let (lx, ly) = corners.min { a, b in
                func covered(_ c: (Int, Int)) -> Int {
                    all.filter { $0.x >= c.0 - 4 && $0.x <= c.0 + lw + 4 && $0.y >= c.1 - 4 && $0.y <= c.1 + lh + 4 }.count
                }
                return covered(a) < covered(b)
            }!
            c.fillRect(x: lx, y: ly, w: lw, h: lh, .white)
            c.strokeRect(x: lx, y: ly, w: lw, h: lh, RGB(180, 180, 180))
            for (k, n) in names.enumerated() {
                let col = series[k].color ?? palette[k % palette.count]
                c.fillRect(x: lx + 6, y: ly + 8 + 12 * k, w: 14, h: 3, col)
                c.text(n, x: lx + 24, y: ly + 6 + 12 * k, textColor)
            }
        }
        return (c.image, frame)
    }

    /// Renders and writes a PNG.
    public static func write(_ series: [PlotSeries], options: PlotOptions = PlotOptions(), to path: String) throws {
        try PNG.write(render(series, options: options).image, to: path)
    }

    /// `moonlab plot RUN [RUN...]`: reads each run's metrics.jsonl and writes one PNG per metric
    /// (`<out>/<metric>.png`, default out: the first run's plots/). With several runs, each chart overlays one line per
    /// run with a legend. `metrics` nil = the default metrics present in the data, plus `extra`. A metric spec
    /// `"a+b"` overlays several metrics in one chart. A named metric missing from every run is an error.
    /// Returns the written paths.
    @discardableResult
    public static func plotRuns(_ runs: [String], metrics: [String]? = nil, extra: [String] = [], xKey: String = MetricKey.update,
                                outputDir: String? = nil, width: Int = 640, height: Int = 400) throws -> [String] {
        let op = "plot"
        guard !runs.isEmpty else { throw TrainError(op, named: "runs", "expected at least one run directory") }
        var data: [(name: String, records: [MetricsRecord])] = []
        for r in runs {
            let file = (r as NSString).appendingPathComponent("metrics.jsonl")
            guard FileManager.default.fileExists(atPath: file) else {
                throw TrainError(op, named: "run", "'\(r)' has no metrics.jsonl")
            }
            data.append(((r as NSString).lastPathComponent, try MetricsLogger.read(file)))
        }
        func present(_ m: String) -> Bool { data.contains { d in d.records.contains { $0.number(m)?.isFinite == true } } }
        var specs: [String]
        if let m = metrics {
            specs = m + extra
        } else {
            specs = defaultMetrics.filter(present) + extra
        }
        var seen = Set<String>()
        specs = specs.filter { seen.insert($0).inserted }
        for spec in specs {
            for m in spec.split(separator: "+").map(String.init) where !present(m) {
                throw TrainError(op, named: "metrics", "no numeric values of '\(m)' in \(runs.joined(separator: ", "))")
            }
        }
        let out = outputDir ?? ((runs[0] as NSString).appendingPathComponent("plots"))
        do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
            throw TrainError(op, named: "output_dir", "cannot create \(out): \(error.localizedDescription)")
        }
        var written: [String] = []
        for spec in specs {
            let parts = spec.split(separator: "+").map(String.init)
            var series: [PlotSeries] = []
            for d in data {
                for m in parts {
                    let pts = MetricsLogger.series(d.records, m, xKey: xKey)
                    if pts.isEmpty { continue }
                    let name = data.count > 1 ? (parts.count > 1 ? "\(d.name): \(m)" : d.name) : m
                    series.append(PlotSeries(name: name, points: pts))
                }
            }
            let path = (out as NSString).appendingPathComponent(RunDir.fileSafe(spec) + ".png")
            try write(series, options: PlotOptions(width: width, height: height, title: parts.joined(separator: " + "), xLabel: xKey), to: path)
            written.append(path)
        }
        return written
    }
}
