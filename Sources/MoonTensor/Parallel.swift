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

/// Runs `body(lo, hi)` over `0..<n`, split across threads when `n` is large.
@inline(__always)
func parallelRange(_ n: Int, grain: Int = Parallel.grainSize, _ body: (Int, Int) -> Void) {
    let t = Parallel.threadCount
    if n < grain || t <= 1 {
        body(0, n)
        return
    }
    let chunks = Swift.min(t, (n + grain - 1) / grain)
    if chunks <= 1 { body(0, n); return }
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        body(n * c / chunks, n * (c + 1) / chunks)
    }
}
