/// Deflate (RFC 1951) for the PNG writer: a compressor (LZ77 over hash chains, 32 KiB window, lengths 3...258,
/// one-step lazy matching; each block of up to 32768 tokens is written with whichever of dynamic Huffman codes, the
/// fixed codes or stored bytes is smallest, so noise never grows by more than a few bytes per 64 KiB) and a
/// decompressor for any deflate stream (stored, fixed and dynamic Huffman blocks), used to read PNGs back.
enum Deflate {
    static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
                                    115, 131, 163, 195, 227, 258]
    static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
                                  1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11,
                                   12, 12, 13, 13]
    /// The order in which a dynamic block lists the code-length code's lengths.
    static let clOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    static let windowSize = 32768
    static let minMatch = 3
    static let maxMatch = 258

    @inline(__always) static func reverse(_ code: Int, _ n: Int) -> Int {
        var r = 0, c = code
        for _ in 0..<n { r = (r << 1) | (c & 1); c >>= 1 }
        return r
    }

    /// The fixed literal/length code lengths (RFC 1951 3.2.6), symbols 0...287.
    static let fixedLitLengths: [UInt8] = (0..<288).map { s in s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8 }
    static let fixedDistLengths = [UInt8](repeating: 5, count: 30)

    /// Canonical Huffman codes for `lengths`, bit-reversed for an LSB-first writer.
    static func canonicalCodes(_ lengths: [UInt8]) -> [UInt32] {
        var count = [Int](repeating: 0, count: 16)
        for l in lengths { count[Int(l)] += 1 }
        count[0] = 0
        var next = [Int](repeating: 0, count: 16)
        var code = 0
        for l in 1...15 { code = (code + count[l - 1]) << 1; next[l] = code }
        return lengths.map { l8 in
            let l = Int(l8)
            guard l > 0 else { return 0 }
            defer { next[l] += 1 }
            return UInt32(reverse(next[l], l))
        }
    }

    /// Huffman code lengths for `freq`, none longer than `limit` (flattening the frequencies until they fit).
    /// At least two symbols get a code so that the code is complete.
    static func huffmanLengths(_ freq: [Int], limit: Int) -> [UInt8] {
        var w = freq
        var used = (0..<w.count).filter { w[$0] > 0 }
        for s in 0..<w.count where used.count < 2 && w[s] == 0 { w[s] = 1; used.append(s) }
        while true {
            if used.count == 1 { var out = [UInt8](repeating: 0, count: w.count); out[used[0]] = 1; return out }
            let leaves = used.sorted { w[$0] != w[$1] ? w[$0] < w[$1] : $0 < $1 }
            let m = leaves.count
            // nodes 0..<m are the leaves (sorted), m..<2m-1 the internal nodes in creation (= weight) order
            var weight = leaves.map { w[$0] } + [Int](repeating: 0, count: m - 1)
            var parent = [Int](repeating: 0, count: 2 * m - 1)
            var li = 0, ni = m
            for k in m..<(2 * m - 1) {
                var pick = [0, 0]
                for j in 0..<2 {
                    if li < m && (ni >= k || weight[li] <= weight[ni]) { pick[j] = li; li += 1 } else { pick[j] = ni; ni += 1 }
                }
                weight[k] = weight[pick[0]] + weight[pick[1]]
                parent[pick[0]] = k; parent[pick[1]] = k
            }
            var depth = [Int](repeating: 0, count: 2 * m - 1)
            for k in stride(from: 2 * m - 3, through: 0, by: -1) { depth[k] = depth[parent[k]] + 1 }
            if depth[0..<m].max()! <= limit {
                var out = [UInt8](repeating: 0, count: w.count)
                for (k, s) in leaves.enumerated() { out[s] = UInt8(depth[k]) }
                return out
            }
            for s in used { w[s] = max(1, w[s] >> 1) }
        }
    }

    /// LSB-first bit writer.
    struct BitWriter {
        var out: [UInt8] = []
        var acc: UInt64 = 0
        var count = 0

        /// Appends the low `n` bits of `bits` (n <= 32).
        @inline(__always) mutating func put(_ bits: UInt32, _ n: Int) {
            acc |= UInt64(bits) << UInt64(count)
            count += n
            if count >= 32 {
                let v = UInt32(truncatingIfNeeded: acc)
                out.append(UInt8(truncatingIfNeeded: v)); out.append(UInt8(truncatingIfNeeded: v >> 8))
                out.append(UInt8(truncatingIfNeeded: v >> 16)); out.append(UInt8(truncatingIfNeeded: v >> 24))
                acc >>= 32; count -= 32
            }
        }

        /// Pads with zero bits to a byte boundary and flushes everything.
        mutating func align() {
            while count > 0 { out.append(UInt8(truncatingIfNeeded: acc)); acc >>= 8; count -= 8 }
            acc = 0; count = 0
        }
    }

    /// Tokens per block before the block is closed (and its coding chosen).
    static let blockTokens = 1 << 15

    /// Raw deflate stream (no zlib wrapper) of `data`. `maxChain` bounds the hash-chain candidates tried per position.
    static func compress(_ data: [UInt8], maxChain: Int = 48) -> [UInt8] {
        if data.isEmpty { return [0x03, 0x00] }  // one final fixed block holding only end-of-block
        return data.withUnsafeBufferPointer { buf in
            var c = Compressor(buf.baseAddress!, buf.count, maxChain: maxChain)
            defer { c.release() }
            c.run()
            c.w.align()
            return c.w.out
        }
    }

    /// Match length 3...258 -> length code 0...28.
    static let lengthCodeTable: [UInt8] = {
        var t = [UInt8](repeating: 0, count: 259)
        var code = 0
        for len in 3...258 {
            while code + 1 < 29 && lengthBase[code + 1] <= len { code += 1 }
            t[len] = UInt8(code)
        }
        return t
    }()

    /// Distance - 1 -> distance code: index d for d < 256, else 256 + (d >> 7) (zlib's table).
    static let distCodeTable: [UInt8] = {
        func codeOf(_ dist: Int) -> Int {
            var c = 0
            while c + 1 < 30 && distBase[c + 1] <= dist { c += 1 }
            return c
        }
        var t = [UInt8](repeating: 0, count: 512)
        for d in 0..<256 { t[d] = UInt8(codeOf(d + 1)) }
        for k in 2..<256 { t[256 + k] = UInt8(codeOf((k << 7) + 1)) }
        return t
    }()

    struct Compressor {
        let d: UnsafePointer<UInt8>
        let n: Int
        let maxChain: Int
        static let hashBits = 15
        let head: UnsafeMutablePointer<Int32>
        let prev: UnsafeMutablePointer<Int32>
        let tokens: UnsafeMutablePointer<UInt32>
        let lenCode: UnsafeMutablePointer<UInt8>
        let distCode: UnsafeMutablePointer<UInt8>
        let lenBase: UnsafeMutablePointer<Int>, lenExtra: UnsafeMutablePointer<Int>
        let dBase: UnsafeMutablePointer<Int>, dExtra: UnsafeMutablePointer<Int>
        let litFreq: UnsafeMutablePointer<Int>
        let distFreq: UnsafeMutablePointer<Int>
        var w = BitWriter()
        var nextInsert = 0, ntok = 0, blockStart = 0, extraBits = 0

        init(_ d: UnsafePointer<UInt8>, _ n: Int, maxChain: Int) {
            self.d = d; self.n = n; self.maxChain = maxChain
            head = .allocate(capacity: 1 << Compressor.hashBits)
            head.initialize(repeating: -1, count: 1 << Compressor.hashBits)
            prev = .allocate(capacity: Deflate.windowSize)
            prev.initialize(repeating: -1, count: Deflate.windowSize)
            tokens = .allocate(capacity: Deflate.blockTokens)
            litFreq = .allocate(capacity: 286); litFreq.initialize(repeating: 0, count: 286)
            distFreq = .allocate(capacity: 30); distFreq.initialize(repeating: 0, count: 30)
            func copy<T>(_ a: [T]) -> UnsafeMutablePointer<T> {
                let p = UnsafeMutablePointer<T>.allocate(capacity: a.count)
                p.initialize(from: a, count: a.count)
                return p
            }
            lenCode = copy(Deflate.lengthCodeTable); distCode = copy(Deflate.distCodeTable)
            lenBase = copy(Deflate.lengthBase); lenExtra = copy(Deflate.lengthExtra)
            dBase = copy(Deflate.distBase); dExtra = copy(Deflate.distExtra)
            w.out.reserveCapacity(n / 8 + 64)
        }

        func release() {
            for p in [head, prev] { p.deallocate() }
            tokens.deallocate(); lenCode.deallocate(); distCode.deallocate()
            for p in [lenBase, lenExtra, dBase, dExtra, litFreq, distFreq] { p.deallocate() }
        }

        @inline(__always) func hash(_ p: Int) -> Int {
            let v = UInt32(d[p]) | UInt32(d[p + 1]) << 8 | UInt32(d[p + 2]) << 16
            return Int((v &* 0x9E37_79B1) >> UInt32(32 - Compressor.hashBits))
        }

        @inline(__always) func distCodeOf(_ dist: Int) -> Int {
            let x = dist - 1
            return Int(x < 256 ? distCode[x] : distCode[256 + (x >> 7)])
        }

        /// Longest match at i against earlier positions in the window: (length, distance); length 0 = none.
        mutating func find(_ i: Int, chainLimit: Int) -> (Int, Int) {
            let lastHashable = n - Deflate.minMatch
            let wmask = Deflate.windowSize - 1
            let upto = min(i, lastHashable + 1)
            while nextInsert < upto {
                let h = hash(nextInsert)
                prev[nextInsert & wmask] = head[h]
                head[h] = Int32(nextInsert)
                nextInsert += 1
            }
            if i > lastHashable { return (0, 0) }
            let maxLen = min(Deflate.maxMatch, n - i)
            let limit = i - Deflate.windowSize
            var cand = Int(head[hash(i)])
            var best = Deflate.minMatch - 1, bestDist = 0
            var chain = chainLimit
            let p = d + i
            while cand >= 0 && cand >= limit && chain > 0 {
                let q = d + cand
                if q[best] == p[best] && q[0] == p[0] && q[1] == p[1] {
                    var l = 2
                    while l < maxLen && q[l] == p[l] { l += 1 }
                    if l > best {
                        best = l; bestDist = i - cand
                        if l >= maxLen { break }
                    }
                }
                cand = Int(prev[cand & wmask])
                chain -= 1
            }
            // a 3-byte match far away costs about as much as three literals
            if best == Deflate.minMatch && bestDist > 4096 { return (0, 0) }
            return best >= Deflate.minMatch ? (best, bestDist) : (0, 0)
        }

        mutating func run() {
            var i = 0
            var carried = false, cLen = 0, cDist = 0
            while i < n {
                var len: Int, dist: Int
                if carried { len = cLen; dist = cDist; carried = false } else { (len, dist) = find(i, chainLimit: maxChain) }
                // lazy matching: a literal here pays off when the match one byte later is longer
                if len >= Deflate.minMatch && len < 16 && i + 1 < n {
                    let (l2, d2) = find(i + 1, chainLimit: len >= 8 ? maxChain >> 2 : maxChain)
                    if l2 > len { len = 0; carried = true; cLen = l2; cDist = d2 }
                }
                if len < Deflate.minMatch {
                    let b = Int(d[i])
                    tokens[ntok] = UInt32(b); ntok += 1
                    litFreq[b] += 1
                    i += 1
                } else {
                    tokens[ntok] = UInt32(len << 16 | dist); ntok += 1
                    let lc = Int(lenCode[len]), dc = distCodeOf(dist)
                    litFreq[257 + lc] += 1; distFreq[dc] += 1
                    extraBits += lenExtra[lc] + dExtra[dc]
                    i += len
                }
                if ntok == Deflate.blockTokens && i < n { flushBlock(end: i, final: false) }
            }
            flushBlock(end: n, final: true)
        }

        /// Writes the tokens since `blockStart` as one block (dynamic, fixed or stored, whichever is smallest).
        mutating func flushBlock(end: Int, final: Bool) {
            litFreq[256] = 1
            let len = end - blockStart
            let pieces = max(1, (len + 65534) / 65535)
            let storedBits = pieces * (3 + 7 + 32) + 8 * len
            func dataBits(_ litLens: [UInt8], _ distLens: [UInt8]) -> Int {
                var s = extraBits
                for k in 0..<286 { s += litFreq[k] * Int(litLens[k]) }
                for k in 0..<30 { s += distFreq[k] * Int(distLens[k]) }
                return s
            }
            let fixedBits = 3 + dataBits(Deflate.fixedLitLengths, Deflate.fixedDistLengths)

            let dynLit = Deflate.huffmanLengths(Array(UnsafeBufferPointer(start: litFreq, count: 286)), limit: 15)
            let dynDist = Deflate.huffmanLengths(Array(UnsafeBufferPointer(start: distFreq, count: 30)), limit: 15)
            var hlit = 286; while hlit > 257 && dynLit[hlit - 1] == 0 { hlit -= 1 }
            var hdist = 30; while hdist > 1 && dynDist[hdist - 1] == 0 { hdist -= 1 }
            // run-length code the lengths: (symbol 0...18, extra bits value)
            let all = Array(dynLit[0..<hlit]) + Array(dynDist[0..<hdist])
            var rle: [(Int, Int)] = []
            var k = 0
            while k < all.count {
                let v = Int(all[k])
                var run = 1
                while k + run < all.count && Int(all[k + run]) == v { run += 1 }
                k += run
                if v == 0 {
                    while run >= 11 { let r = min(run, 138); rle.append((18, r - 11)); run -= r }
                    if run >= 3 { rle.append((17, run - 3)); run = 0 }
                } else {
                    rle.append((v, 0)); run -= 1
                    while run >= 3 { let r = min(run, 6); rle.append((16, r - 3)); run -= r }
                }
                for _ in 0..<run { rle.append((v, 0)) }
            }
            var clFreq = [Int](repeating: 0, count: 19)
            for (s, _) in rle { clFreq[s] += 1 }
            let clLens = Deflate.huffmanLengths(clFreq, limit: 7)
            var hclen = 19; while hclen > 4 && clLens[Deflate.clOrder[hclen - 1]] == 0 { hclen -= 1 }
            var dynBits = 3 + 14 + 3 * hclen + dataBits(dynLit, dynDist)
            for (s, _) in rle { dynBits += Int(clLens[s]) + (s == 16 ? 2 : s == 17 ? 3 : s == 18 ? 7 : 0) }

            if storedBits < min(fixedBits, dynBits) {
                var s = blockStart
                for piece in 0..<pieces {
                    let m = min(65535, end - s)
                    w.put((final && piece == pieces - 1) ? 1 : 0, 3)
                    w.align()
                    w.out.append(UInt8(m & 0xFF)); w.out.append(UInt8(m >> 8))
                    w.out.append(UInt8(~m & 0xFF)); w.out.append(UInt8((~m >> 8) & 0xFF))
                    w.out.append(contentsOf: UnsafeBufferPointer(start: d + s, count: m))
                    s += m
                }
            } else if fixedBits <= dynBits {
                w.put((final ? 1 : 0) | (1 << 1), 3)
                writeTokens(Deflate.fixedLitLengths, Deflate.fixedDistLengths)
            } else {
                w.put((final ? 1 : 0) | (2 << 1), 3)
                w.put(UInt32(hlit - 257), 5); w.put(UInt32(hdist - 1), 5); w.put(UInt32(hclen - 4), 4)
                for j in 0..<hclen { w.put(UInt32(clLens[Deflate.clOrder[j]]), 3) }
                let clCodes = Deflate.canonicalCodes(clLens)
                for (s, x) in rle {
                    w.put(clCodes[s], Int(clLens[s]))
                    if s >= 16 { w.put(UInt32(x), s == 16 ? 2 : s == 17 ? 3 : 7) }
                }
                writeTokens(dynLit, dynDist)
            }
            ntok = 0; extraBits = 0; blockStart = end
            for j in 0..<286 { litFreq[j] = 0 }
            for j in 0..<30 { distFreq[j] = 0 }
        }

        /// The block's tokens and end-of-block, in the given codes.
        mutating func writeTokens(_ litLens: [UInt8], _ distLens: [UInt8]) {
            let litCodes = Deflate.canonicalCodes(litLens), distCodes = Deflate.canonicalCodes(distLens)
            litCodes.withUnsafeBufferPointer { lc in
            distCodes.withUnsafeBufferPointer { dcodes in
            litLens.withUnsafeBufferPointer { ll in
            distLens.withUnsafeBufferPointer { dl in
                for k in 0..<ntok {
                    let tok = Int(tokens[k])
                    if tok < 256 {
                        w.put(lc[tok], Int(ll[tok]))
                    } else {
                        let ml = tok >> 16, dist = tok & 0xFFFF
                        let c = Int(lenCode[ml]), s = 257 + c, sl = Int(ll[s])
                        w.put(lc[s] | UInt32(ml - lenBase[c]) << UInt32(sl), sl + lenExtra[c])
                        let dc = distCodeOf(dist), dlen = Int(dl[dc])
                        w.put(dcodes[dc] | UInt32(dist - dBase[dc]) << UInt32(dlen), dlen + dExtra[dc])
                    }
                }
                w.put(lc[256], Int(ll[256]))
            }}}}
        }
    }

    // MARK: - Inflate

    static func fail(_ m: String) -> EnvError { .badData("inflate: " + m) }

    /// Canonical Huffman decoding table: index = the next `bits` input bits (LSB first), entry = symbol << 4 | length
    /// (length 0: no code has that prefix).
    struct DecodeTable {
        var entries: [UInt16]
        var bits: Int

        init(lengths: ArraySlice<UInt8>) throws {
            var count = [Int](repeating: 0, count: 16)
            for l in lengths { count[Int(l)] += 1 }
            count[0] = 0
            var left = 1
            for l in 1...15 {
                left <<= 1; left -= count[l]
                if left < 0 { throw Deflate.fail("over-subscribed Huffman code") }
            }
            var maxLen = 1
            for l in 1...15 where count[l] > 0 { maxLen = l }
            var next = [Int](repeating: 0, count: 16)
            var code = 0
            for l in 1...15 { code = (code + count[l - 1]) << 1; next[l] = code }
            bits = maxLen
            entries = [UInt16](repeating: 0, count: 1 << maxLen)
            for (k, l8) in lengths.enumerated() where l8 > 0 {
                let l = Int(l8)
                let r = Deflate.reverse(next[l], l)
                next[l] += 1
                var j = r
                while j < (1 << maxLen) { entries[j] = UInt16(k << 4 | l); j += 1 << l }
            }
        }
    }

    static let fixedLitTable = try! DecodeTable(lengths: fixedLitLengths[...])
    static let fixedDistTable = try! DecodeTable(lengths: fixedDistLengths[...])

    /// Decompresses the raw deflate stream starting at `src[start]`. Returns the data and the index of the first byte
    /// after the stream. Throws on any malformed input or when the output would exceed `maxOutput` bytes.
    static func inflate(_ src: [UInt8], from start: Int = 0, maxOutput: Int = Int.max, sizeHint: Int = 0) throws
        -> (data: [UInt8], end: Int)
    {
        var out = [UInt8]()
        out.reserveCapacity(min(sizeHint, maxOutput, 1 << 26))
        var pos = start
        var acc: UInt64 = 0, nb = 0
        let n = src.count

        func fill() {
            while nb <= 56 && pos < n { acc |= UInt64(src[pos]) << UInt64(nb); pos += 1; nb += 8 }
        }
        func bits(_ k: Int) throws -> Int {
            if nb < k { fill(); if nb < k { throw fail("truncated stream") } }
            let v = Int(acc & ((1 << UInt64(k)) - 1))
            acc >>= UInt64(k); nb -= k
            return v
        }
        func decode(_ t: DecodeTable) throws -> Int {
            if nb < t.bits { fill() }
            let e = Int(t.entries[Int(acc & UInt64((1 << t.bits) - 1))])
            let l = e & 15
            if l == 0 || l > nb { throw fail(l == 0 ? "invalid Huffman code" : "truncated stream") }
            acc >>= UInt64(l); nb -= l
            return e >> 4
        }

        var final = false
        repeat {
            final = try bits(1) == 1
            let type = try bits(2)
            switch type {
            case 0:
                // back up to the byte boundary: drop the partial byte, return whole buffered bytes to the input
                pos -= nb / 8; acc = 0; nb = 0
                guard pos + 4 <= n else { throw fail("truncated stored block header") }
                let len = Int(src[pos]) | Int(src[pos + 1]) << 8
                let nlen = Int(src[pos + 2]) | Int(src[pos + 3]) << 8
                guard len == (~nlen & 0xFFFF) else { throw fail("stored block LEN/NLEN mismatch") }
                pos += 4
                guard pos + len <= n else { throw fail("truncated stored block") }
                guard out.count + len <= maxOutput else { throw fail("output too large") }
                out.append(contentsOf: src[pos..<(pos + len)])
                pos += len
            case 1, 2:
                let lit: DecodeTable, dis: DecodeTable
                if type == 1 {
                    lit = fixedLitTable; dis = fixedDistTable
                } else {
                    let hlit = try bits(5) + 257, hdist = try bits(5) + 1, hclen = try bits(4) + 4
                    guard hlit <= 286, hdist <= 30 else { throw fail("bad dynamic block counts") }
                    let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
                    var cl = [UInt8](repeating: 0, count: 19)
                    for k in 0..<hclen { cl[order[k]] = UInt8(try bits(3)) }
                    let clt = try DecodeTable(lengths: cl[...])
                    var lens = [UInt8]()
                    lens.reserveCapacity(hlit + hdist)
                    while lens.count < hlit + hdist {
                        let s = try decode(clt)
                        var rep = 0, v: UInt8 = 0
                        switch s {
                        case 0...15: lens.append(UInt8(s)); continue
                        case 16:
                            guard let last = lens.last else { throw fail("repeat with no previous length") }
                            v = last; rep = 3 + (try bits(2))
                        case 17: rep = 3 + (try bits(3))
                        default: rep = 11 + (try bits(7))
                        }
                        guard lens.count + rep <= hlit + hdist else { throw fail("code lengths overflow") }
                        lens.append(contentsOf: repeatElement(v, count: rep))
                    }
                    guard lens[256] != 0 else { throw fail("no end-of-block code") }
                    lit = try DecodeTable(lengths: lens[0..<hlit])
                    dis = try DecodeTable(lengths: lens[hlit...])
                }
                while true {
                    let s = try decode(lit)
                    if s < 256 {
                        guard out.count < maxOutput else { throw fail("output too large") }
                        out.append(UInt8(s))
                    } else if s == 256 {
                        break
                    } else {
                        let lc = s - 257
                        guard lc < 29 else { throw fail("bad length symbol") }
                        let len = lengthBase[lc] + (try bits(lengthExtra[lc]))
                        let dc = try decode(dis)
                        guard dc < 30 else { throw fail("bad distance symbol") }
                        let dist = distBase[dc] + (try bits(distExtra[dc]))
                        guard dist <= out.count else { throw fail("distance too far back") }
                        guard out.count + len <= maxOutput else { throw fail("output too large") }
                        var from = out.count - dist
                        for _ in 0..<len { out.append(out[from]); from += 1 }
                    }
                }
            default:
                throw fail("reserved block type")
            }
        } while !final
        return (out, pos - nb / 8)
    }
}
