import XCTest
import Foundation
@testable import MoonCheckpoint

/// The moonlab side of scripts/bench-merge. Runs only with MOONLAB_BENCH=1; reads
/// MOONLAB_BENCH_BASE (file), MOONLAB_BENCH_MODELS (comma-separated files), MOONLAB_BENCH_OUT (file),
/// MOONLAB_BENCH_DENSITY (default 0.2), MOONLAB_BENCH_THREADS (default: all cores).
final class MergeBenchTests: XCTestCase {
    func testBenchMergeTies() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["MOONLAB_BENCH"] == "1" else { throw XCTSkip("set MOONLAB_BENCH=1 (see scripts/bench-merge)") }
        let base = env["MOONLAB_BENCH_BASE"]!
        let models = env["MOONLAB_BENCH_MODELS"]!.split(separator: ",").map(String.init)
        let out = env["MOONLAB_BENCH_OUT"]!
        let density = Double(env["MOONLAB_BENCH_DENSITY"] ?? "0.2")!
        let threads = Int(env["MOONLAB_BENCH_THREADS"] ?? "") ?? MergeKernels.defaultThreads
        let method = MergeMethod.ties(weights: models.map { _ in 1 }, densities: models.map { _ in density })
        let t0 = DispatchTime.now().uptimeNanoseconds
        let summary = try Merge.mergeFiles(method, base: base, models: models, output: out,
                                           metadata: ["merge": "ties", "density": "\(density)"], threads: threads)
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        print(String(format: "moonlab-merge: ties of %d models, %d tensors, %d parameters each, threads %d: %.3f s",
                     models.count, summary.tensors, summary.parameters, threads, dt))
        print(String(format: "moonlab-merge: phases: selection %.3f s, fused %.3f s, rest (I/O, page faults, writing) %.3f s",
                     MergeKernels.phaseSeconds.selection, MergeKernels.phaseSeconds.fused,
                     dt - MergeKernels.phaseSeconds.selection - MergeKernels.phaseSeconds.fused))
        print("moonlab-merge: sampled top-k fallbacks: \(Selection.sampledFallbacks)")
    }
}
