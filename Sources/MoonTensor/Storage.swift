import Foundation

/// A reference-counted, 64-byte-aligned buffer of tensor elements. Tensors are views into a storage.
public final class Storage {
    /// Size of the buffer in bytes.
    public let byteCount: Int
    /// The aligned buffer.
    public let raw: UnsafeMutableRawPointer
    /// Incremented by every in-place write; autograd uses it to detect tensors modified after being saved.
    public internal(set) var version: Int = 0

    /// Called with the byte count each time a storage is allocated (e.g. to inform a garbage collector).
    public nonisolated(unsafe) static var onAllocate: ((Int) -> Void)?
    /// Called with the byte count each time a storage is freed.
    public nonisolated(unsafe) static var onFree: ((Int) -> Void)?

    private static let lock = NSLock()
    private nonisolated(unsafe) static var live = 0
    private nonisolated(unsafe) static var peak = 0

    /// Bytes currently held by all live storages.
    public static var liveBytes: Int { lock.lock(); defer { lock.unlock() }; return live }
    /// Highest value `liveBytes` has reached.
    public static var peakBytes: Int { lock.lock(); defer { lock.unlock() }; return peak }

    init(byteCount: Int, zeroed: Bool) {
        self.byteCount = byteCount
        raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(byteCount, 64), alignment: 64)
        if zeroed { memset(raw, 0, byteCount) }
        Storage.lock.lock()
        Storage.live += byteCount
        if Storage.live > Storage.peak { Storage.peak = Storage.live }
        Storage.lock.unlock()
        if let cb = Storage.onAllocate { cb(byteCount) }
    }

    deinit {
        raw.deallocate()
        Storage.lock.lock()
        Storage.live -= byteCount
        Storage.lock.unlock()
        if let cb = Storage.onFree { cb(byteCount) }
    }

    @inline(__always) var floats: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }
    @inline(__always) var ints: UnsafeMutablePointer<Int64> { raw.assumingMemoryBound(to: Int64.self) }
    @inline(__always) func bump() { version &+= 1 }
}

extension Tensor {
    /// Bytes currently held by all tensor storages (see `Storage.onAllocate` for a per-allocation hook).
    public static var liveBytes: Int { Storage.liveBytes }
}
