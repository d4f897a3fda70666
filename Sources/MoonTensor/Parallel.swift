import Foundation
import CBLAS

/// Threading configuration for tensor kernels and OpenBLAS.
public enum Parallel {
    /// Number of threads used by large elementwise/reduction kernels.
    public internal(set) nonisolated(unsafe) static var threadCount: Int =
        Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Element count above which elementwise kernels are split across threads.
    public nonisolated(unsafe) static var grainSize: Int = 65536
}

/// Sets the number of threads used by tensor kernels and by OpenBLAS.
public func setNumThreads(_ n: Int) {
    let t = Swift.max(1, n)
    Parallel.threadCount = t
    openblas_set_num_threads(Int32(t))
}

/// The number of threads used by tensor kernels.
public func numThreads() -> Int { Parallel.threadCount }

/// moonlab's one parallel-for: runs `body(part, lo, hi)` for `parts` contiguous parts of `0..<n` (part c covers
/// `n·c/parts ..< n·(c+1)/parts`) on concurrent threads, or once inline (`body(0, 0, n)`) when there is one part.
/// At most `n` parts are used.
public func parallelFor(_ n: Int, parts: Int, _ body: (_ part: Int, _ lo: Int, _ hi: Int) -> Void) {
    let k = Swift.max(1, Swift.min(parts, n))
    if k == 1 { body(0, 0, n); return }
    DispatchQueue.concurrentPerform(iterations: k) { c in body(c, n * c / k, n * (c + 1) / k) }
}

/// Runs `body(lo, hi)` over `0..<n`, split across `Parallel.threadCount` threads in parts of at least `grain`
/// elements when `n` is large.
@inline(__always)
func parallelRange(_ n: Int, grain: Int = Parallel.grainSize, _ body: (Int, Int) -> Void) {
    let t = Parallel.threadCount
    if n < grain || t <= 1 {
        body(0, n)
        return
    }
    parallelFor(n, parts: Swift.min(t, (n + grain - 1) / grain)) { _, lo, hi in body(lo, hi) }
}

/// OpenBLAS's kernel choice. Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise some CPUs — a virtualised
/// Sapphire Rapids that reports "Intel Xeon Processor" — and falls back to its SSE3 "Prescott" kernels: sgemm at
/// 27 GFLOP per CPU-second instead of 138 with the SkylakeX (AVX-512) kernels on the same machine. The kernels are
/// chosen when the library loads, from `OPENBLAS_CORETYPE`, so the fix is a restart with it set.
public enum BLASKernels {
    /// OpenBLAS's kernel family in use ("SkylakeX", "Haswell", "Prescott", ...).
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// The kernel family the CPU supports best (from /proc/cpuinfo), or nil when unknown.
    static func bestCoreType() -> String? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(line.split(separator: " ").map(String.init))
        if flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512vl") { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// When OpenBLAS fell back to the generic SSE kernels on a CPU with AVX2/AVX-512 and `OPENBLAS_CORETYPE` is not
    /// set, sets it and re-executes the running program with the same arguments (call first thing in `main`, before
    /// any thread or MPI starts). Returns normally when nothing needs doing or the re-exec failed.
    public static func ensureNativeKernels() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              ["Prescott", "Core2", "Atom", "Nehalem", "Sandybridge", "unknown"].contains(coreName),
              let best = bestCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", best, 1)
        let args = CommandLine.arguments
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        execv("/proc/self/exe", &cargs)
        // execv returned: keep running with the kernels we have.
        for p in cargs { free(p) }
    }
}
