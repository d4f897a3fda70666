#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Open-addressing hash tables for the BPE hot loop (no String or Array allocation per lookup).

/// Maps a byte sequence to a run of Int32 values (a word's token ids, or one vocabulary id).
struct ByteKeyTable {
    private var hashes: [UInt64]
    private var slots: [(keyStart: Int32, keyLen: Int32, valStart: Int32, valLen: Int32)]
    private var keys: [UInt8] = []
    private(set) var values: [Int32] = []
    private(set) var count = 0
    private var mask: Int

    init(capacity: Int) {
        var cap = 16
        while cap < capacity * 2 { cap <<= 1 }
        hashes = [UInt64](repeating: 0, count: cap)
        slots = [(Int32, Int32, Int32, Int32)](repeating: (0, 0, 0, 0), count: cap)
        mask = cap - 1
    }

    var capacity: Int { (mask + 1) / 2 }

    @inline(__always) static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(n)
        var i = 0
        while i + 8 <= n {
            h = (h ^ UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)) &* 0x1000_0000_01b3
            h ^= h >> 29
            i += 8
        }
        var tail: UInt64 = 0
        var s: UInt64 = 0
        while i < n { tail |= UInt64(p[i]) << s; s += 8; i += 1 }
        h = (h ^ tail) &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 32
        return h | 1
    }

    /// The value run stored for `p[0..<n]`, as a range into `values`, or nil.
    @inline(__always) func find(_ p: UnsafePointer<UInt8>, _ n: Int) -> Range<Int>? {
        let h = Self.hash(p, n)
        var i = Int(truncatingIfNeeded: h) & mask
        return hashes.withUnsafeBufferPointer { hs in
            slots.withUnsafeBufferPointer { sl in
                keys.withUnsafeBufferPointer { ks in
                    while true {
                        let x = hs[i]
                        if x == 0 { return nil }
                        if x == h {
                            let s = sl[i]
                            if Int(s.keyLen) == n && (n == 0 || memcmp(ks.baseAddress! + Int(s.keyStart), p, n) == 0) {
                                return Int(s.valStart)..<Int(s.valStart + s.valLen)
                            }
                        }
                        i = (i + 1) & mask
                    }
                }
            }
        }
    }

    /// Stores `values` for `p[0..<n]` (the caller checks the key is absent and `count < capacity`).
    mutating func insert(_ p: UnsafePointer<UInt8>, _ n: Int, _ vals: UnsafeBufferPointer<Int32>) {
        let h = Self.hash(p, n)
        var i = Int(truncatingIfNeeded: h) & mask
        while hashes[i] != 0 { i = (i + 1) & mask }
        hashes[i] = h
        slots[i] = (Int32(keys.count), Int32(n), Int32(values.count), Int32(vals.count))
        keys.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        values.append(contentsOf: vals)
        count += 1
    }

    mutating func removeAll() {
        for i in hashes.indices { hashes[i] = 0 }
        keys.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        count = 0
    }
}

/// Maps a pair of token ids to `rank << 32 | merged id` (so the smallest value is the best merge), or `none`.
final class MergeTable: @unchecked Sendable {
    static let none = UInt64.max
    private static let emptyKey = UInt64.max
    private let keys: UnsafeMutablePointer<UInt64>
    private let vals: UnsafeMutablePointer<UInt64>
    private let mask: Int
    private let cap: Int

    init(capacity: Int) {
        var cap = 16
        while cap < capacity * 2 { cap <<= 1 }
        self.cap = cap
        keys = .allocate(capacity: cap)
        keys.initialize(repeating: Self.emptyKey, count: cap)
        vals = .allocate(capacity: cap)
        vals.initialize(repeating: Self.none, count: cap)
        mask = cap - 1
    }

    deinit { keys.deallocate(); vals.deallocate() }

    @inline(__always) private static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }
    @inline(__always) private func slot(_ k: UInt64) -> Int { Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 24) & mask }

    /// Adds a merge; a pair listed twice keeps its last rank (as `tokenizers` builds its merge map).
    func insert(_ a: Int32, _ b: Int32, rank: Int32, merged: Int32) {
        let k = Self.key(a, b)
        var i = slot(k)
        while keys[i] != Self.emptyKey && keys[i] != k { i = (i + 1) & mask }
        keys[i] = k
        vals[i] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    /// `rank << 32 | merged` for the pair (a, b), or `none`.
    @inline(__always) func lookup(_ a: Int32, _ b: Int32) -> UInt64 {
        let k = Self.key(a, b)
        var i = slot(k)
        while true {
            let x = keys[i]
            if x == k { return vals[i] }
            if x == Self.emptyKey { return Self.none }
            i = (i + 1) & mask
        }
    }
}
