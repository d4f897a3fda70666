import Foundation

/// An allocation the process could not satisfy (raised as a Lua error: "cannot allocate N bytes").
public struct AllocationError: Error, CustomStringConvertible, Sendable {
    public init(bytes: Int) { self.bytes = bytes }
    public let bytes: Int
    public var description: String { "cannot allocate \(bytes) bytes" }
}

/// Checks that `bytes` can be allocated: within `Allocation.limit` and granted by the system right now (a trial
/// allocation, released at once; under a memory limit a request that would abort the process fails here instead).
public enum Allocation {
    /// The most one tensor or buffer created from Lua may take: the smaller of the address-space/data limits and
    /// physical memory (`MOONLAB_MAX_ALLOC` bytes overrides).
    public static let limit: Int = {
        if let given = Knob.integer("MOONLAB_MAX_ALLOC", in: 1...Int.max) { return given }
        var lim = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        for resource in [RLIMIT_AS, RLIMIT_DATA] {
            var r = rlimit()
            if getrlimit(__rlimit_resource_t(resource.rawValue), &r) == 0 && r.rlim_cur != rlim_t.max {
                lim = min(lim, Int(clamping: r.rlim_cur))
            }
        }
        return max(lim, 1 << 20)
    }()

    /// Tensor creation (`checkShape`), the Lua boundary and model construction call it before large allocations,
    /// because a failed allocation inside Swift aborts the process instead of throwing.
    public static func check(bytes: Int) throws {
        guard bytes >= 0, bytes <= limit else { throw AllocationError(bytes: bytes) }
        guard bytes > (64 << 20) else { return }  // small requests: not worth a trial
        guard let p = malloc(bytes) else { throw AllocationError(bytes: bytes) }
        free(p)
    }
}

