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
