import Foundation

/// Byte-level BPE as GPT-2 defines it and Hugging Face `tokenizers` runs it: added/special tokens are matched
/// first, the rest is split by the checkpoint's pre-tokenizer (`PreTokenizer`), each piece's UTF-8 bytes are
/// spelled in the byte alphabet (`ByteLevel`) and merged by rank. Decoding maps the alphabet back to bytes and
/// replaces invalid UTF-8 with U+FFFD. Encoded words are cached. Thread-safe (one encode at a time).
public final class BPETokenizer: TextTokenizer, @unchecked Sendable {
    public let vocabSize: Int
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let padTokenId: Int?
    public let unkTokenId: Int?
    public let addedTokens: [AddedToken]
    public let chatTemplate: String?
    public let preTokenizer: PreTokenizer
    /// A piece that is itself a vocabulary token is that token (Llama-3's `ignore_merges`).
    public let ignoreMerges: Bool
    /// A space is put before text that does not start with one (`ByteLevel(add_prefix_space)`).
    public let addPrefixSpace: Bool
    /// Text is put in Unicode NFC before pre-tokenization (Qwen2's normalizer).
    public let normalizesNFC: Bool
    /// Ids written before and after a sequence when `addSpecialTokens` (BOS, EOS as the checkpoint says).
    public let prefixIds: [Int]
    public let suffixIds: [Int]
    /// Where the tokenizer came from (a path, or "gguf metadata"), for messages.
    public let source: String

    private let spellings: [String?]
    private let idsByToken: [String: Int]
    private let specialMask: [Bool]
    private let decodeStarts: [Int]
    private let decodeBytes: [UInt8]
    private let byteIds: [Int32]
    private let merges: MergeTable
    private let vocabByBytes: ByteKeyTable?
    /// The BPE model's own unknown token (tokenizer.json `model.unk_token`), written for bytes missing from the
    /// vocabulary; without one those bytes are dropped, as `tokenizers` does.
    private let modelUnkId: Int?
    private let rawAdded: AddedTokenMatcher
    private let normalizedAdded: AddedTokenMatcher

    // Mutable state, only touched under `lock`.
    private let lock = NSLock()
    private var cache = ByteKeyTable(capacity: 1 << 15)
    private var ends: [Int] = []
    private var cls: [UInt8] = []
    private var offs: [Int] = []
    private var symbols: [Int32] = []
    private var ranks: [UInt64] = []

    static let maxCachedWord = 256

    /// - Parameters:
    ///   - vocab: the model's vocabulary, token spelling (in the byte alphabet) -> id.
    ///   - merges: the merge rules, best first.
    ///   - added: tokens matched whole before pre-tokenization; their ids may or may not be in `vocab`.
    init(source: String, vocab: [String: Int], merges: [(String, String)], added: [AddedToken], preTokenizer: PreTokenizer,
         ignoreMerges: Bool, addPrefixSpace: Bool, normalizesNFC: Bool, prefixIds: [Int], suffixIds: [Int],
         bos: Int?, eos: Int?, pad: Int?, unk: Int?, modelUnk: Int?, chatTemplate: String?) throws {
        func bad(_ what: String) -> TokenizerError { .invalid(source: source, what: what) }
        let maxId = max(vocab.values.max() ?? -1, added.map(\.id).max() ?? -1)
        guard maxId < Int(Int32.max) / 2, vocab.values.allSatisfy({ $0 >= 0 }), added.allSatisfy({ $0.id >= 0 }) else {
            throw bad("token ids must be in 0..<\(Int32.max / 2)")
        }
        guard maxId >= 0 else { throw bad("empty vocabulary") }
        guard maxId < 2 * (vocab.count + added.count) + 1024 else {
            throw bad("token ids are sparse (largest \(maxId) for \(vocab.count + added.count) tokens)")
        }
        let n = maxId + 1
        var spellings = [String?](repeating: nil, count: n)
        for (t, id) in vocab { spellings[id] = t }
        var special = [Bool](repeating: false, count: n)
        var idsByToken = vocab
        for t in added {
            spellings[t.id] = t.content
            special[t.id] = t.special
            idsByToken[t.content] = t.id
        }
        for (name, id) in [("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk), ("model unk", modelUnk)] {
            if let id, id < 0 || id >= n { throw bad("\(name) id \(id) is outside the vocabulary (\(n) ids)") }
        }
        // Decoding: a token whose scalars are all in the byte alphabet is those bytes, any other its UTF-8.
        var starts = [Int](repeating: 0, count: n + 1)
        var bytes: [UInt8] = []
        for id in 0..<n {
            starts[id] = bytes.count
            if let s = spellings[id] { bytes += ByteLevel.bytes(s) ?? Array(s.utf8) }
        }
        starts[n] = bytes.count
        var byteIds = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { if let id = vocab[String(ByteLevel.scalar[b])] { byteIds[b] = Int32(id) } }

        let table = MergeTable(capacity: merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a], let ib = vocab[b] else { throw bad("merge \(rank) (\"\(a) \(b)\") uses a token missing from the vocabulary") }
            guard let m = vocab[a + b] else { throw bad("merge \(rank) (\"\(a) \(b)\") makes a token missing from the vocabulary") }
            table.insert(Int32(ia), Int32(ib), rank: Int32(rank), merged: Int32(m))
        }
        if ignoreMerges {
            var vb = ByteKeyTable(capacity: vocab.count)
            for (t, id) in vocab {
                guard let raw = ByteLevel.bytes(t), !raw.isEmpty else { continue }
                raw.withUnsafeBufferPointer { p in
                    if vb.find(p.baseAddress!, p.count) == nil { [Int32(id)].withUnsafeBufferPointer { vb.insert(p.baseAddress!, p.count, $0) } }
                }
            }
            vocabByBytes = vb
        } else {
            vocabByBytes = nil
        }
        self.source = source
        self.vocabSize = n
        self.spellings = spellings
        self.idsByToken = idsByToken
        self.specialMask = special
        self.decodeStarts = starts
        self.decodeBytes = bytes
        self.byteIds = byteIds
        self.merges = table
        self.addedTokens = added.sorted { $0.id < $1.id }
        self.rawAdded = AddedTokenMatcher(added.filter { !$0.normalized })
        self.normalizedAdded = AddedTokenMatcher(added.filter { $0.normalized })
        self.preTokenizer = preTokenizer
        self.ignoreMerges = ignoreMerges
        self.addPrefixSpace = addPrefixSpace
        self.normalizesNFC = normalizesNFC
        self.prefixIds = prefixIds
        self.suffixIds = suffixIds
        self.bosTokenId = bos
        self.eosTokenId = eos
        self.padTokenId = pad
        self.unkTokenId = unk
        self.modelUnkId = modelUnk
        self.chatTemplate = chatTemplate
    }

    // MARK: - Lookup

    public func tokenId(_ token: String) -> Int? { idsByToken[token] }
    public func token(_ id: Int) -> String? { id >= 0 && id < vocabSize ? spellings[id] : nil }
    public func isSpecial(_ id: Int) -> Bool { id >= 0 && id < vocabSize && specialMask[id] }

    // MARK: - Decoding

    public func decode(_ ids: [Int], skipSpecial: Bool = true) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        decodeBytes.withUnsafeBufferPointer { db in
            for id in ids where id >= 0 && id < vocabSize && spellings[id] != nil {
                if skipSpecial && specialMask[id] { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: db[decodeStarts[id]..<decodeStarts[id + 1]]))
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The raw bytes of one token (what it contributes to a decoded text), or nil when out of range.
    public func tokenBytes(_ id: Int) -> [UInt8]? {
        guard id >= 0 && id < vocabSize, spellings[id] != nil else { return nil }
        return Array(decodeBytes[decodeStarts[id]..<decodeStarts[id + 1]])
    }

    // MARK: - Encoding

    public func encode(_ text: String, addSpecialTokens: Bool = true, parseSpecial: Bool = true) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3 + 4)
        if addSpecialTokens { out += prefixIds }
        lock.lock()
        var t = text
        t.withUTF8 { buf in
            guard let base = buf.baseAddress, buf.count > 0 else { return }
            if parseSpecial && !rawAdded.isEmpty {
                rawAdded.split(base, 0, buf.count) { s, e, id in
                    if let id { out.append(id) } else { encodeNormalizing(base, s, e, parseSpecial, &out) }
                }
            } else {
                encodeNormalizing(base, 0, buf.count, parseSpecial, &out)
            }
        }
        lock.unlock()
        if addSpecialTokens { out += suffixIds }
        return out
    }

    private func encodeNormalizing(_ base: UnsafePointer<UInt8>, _ s: Int, _ e: Int, _ parseSpecial: Bool, _ out: inout [Int]) {
        if normalizesNFC {
            var text = String(decoding: UnsafeBufferPointer(start: base + s, count: e - s), as: UTF8.self).precomposedStringWithCanonicalMapping
            text.withUTF8 { b in
                if let p = b.baseAddress, b.count > 0 { encodeNormalized(p, 0, b.count, parseSpecial, &out) }
            }
        } else {
            encodeNormalized(base, s, e, parseSpecial, &out)
        }
    }

    private func encodeNormalized(_ base: UnsafePointer<UInt8>, _ s: Int, _ e: Int, _ parseSpecial: Bool, _ out: inout [Int]) {
        if parseSpecial && !normalizedAdded.isEmpty {
            normalizedAdded.split(base, s, e) { s, e, id in
                if let id { out.append(id) } else { encodePlain(base, s, e, &out) }
            }
        } else {
            encodePlain(base, s, e, &out)
        }
    }

    private func encodePlain(_ base: UnsafePointer<UInt8>, _ s: Int, _ e: Int, _ out: inout [Int]) {
        guard e > s else { return }
        if addPrefixSpace && base[s] != UInt8(ascii: " ") {
            var spaced = [UInt8](repeating: UInt8(ascii: " "), count: e - s + 1)
            for i in s..<e { spaced[i - s + 1] = base[i] }
            spaced.withUnsafeBufferPointer { encodePieces($0.baseAddress!, 0, $0.count, &out) }
        } else {
            encodePieces(base, s, e, &out)
        }
    }

    private func encodePieces(_ base: UnsafePointer<UInt8>, _ s: Int, _ e: Int, _ out: inout [Int]) {
        ends.removeAll(keepingCapacity: true)
        preTokenizer.split(base, s, e, ends: &ends, cls: &cls, off: &offs)
        var start = s
        for k in 0..<ends.count {
            let end = ends[k]
            encodeWord(base + start, end - start, &out)
            start = end
        }
    }

    @inline(__always) private func appendByte(_ b: UInt8, _ out: inout [Int]) {
        let id = byteIds[Int(b)]
        if id >= 0 { out.append(Int(id)) } else if let u = modelUnkId { out.append(u) }
    }

    private func encodeWord(_ p: UnsafePointer<UInt8>, _ n: Int, _ out: inout [Int]) {
        if n == 1 { appendByte(p[0], &out); return }
        if let vb = vocabByBytes, let r = vb.find(p, n) { out.append(Int(vb.values[r.lowerBound])); return }
        if n <= Self.maxCachedWord, let r = cache.find(p, n) {
            cache.values.withUnsafeBufferPointer { v in for i in r { out.append(Int(v[i])) } }
            return
        }
        symbols.removeAll(keepingCapacity: true)
        var missing = false
        for i in 0..<n {
            let id = byteIds[Int(p[i])]
            if id >= 0 { symbols.append(id) } else if let u = modelUnkId { symbols.append(Int32(u)) } else { missing = true }
        }
        if symbols.count > 1 {
            if symbols.count <= 64 { mergeSmall() } else { mergeLarge() }
        }
        for id in symbols { out.append(Int(id)) }
        if n <= Self.maxCachedWord && !missing {
            if cache.count >= cache.capacity { cache.removeAll() }
            symbols.withUnsafeBufferPointer { cache.insert(p, n, $0) }
        }
    }

    /// Merges `symbols` in place: repeatedly the leftmost pair of lowest rank (quadratic, for short words).
    private func mergeSmall() {
        let m = merges
        var n = symbols.count
        ranks.removeAll(keepingCapacity: true)
        for i in 0..<(n - 1) { ranks.append(m.lookup(symbols[i], symbols[i + 1])) }
        symbols.withUnsafeMutableBufferPointer { sym in
            ranks.withUnsafeMutableBufferPointer { rk in
                while n > 1 {
                    var best = MergeTable.none
                    var bi = -1
                    for i in 0..<(n - 1) where rk[i] < best { best = rk[i]; bi = i }
                    if bi < 0 { break }
                    sym[bi] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
                    var i = bi + 1
                    while i < n - 1 { sym[i] = sym[i + 1]; rk[i - 1] = rk[i]; i += 1 }
                    n -= 1
                    // rk[bi-1] pairs sym[bi-1] with the new symbol, rk[bi] the new symbol with its right neighbour
                    if bi > 0 { rk[bi - 1] = m.lookup(sym[bi - 1], sym[bi]) }
                    if bi < n - 1 { rk[bi] = m.lookup(sym[bi], sym[bi + 1]) }
                }
            }
        }
        symbols.removeLast(symbols.count - n)
    }

    /// Merges `symbols` in place with a priority queue over a linked list (as `tokenizers` does), for long words.
    private func mergeLarge() {
        let m = merges
        let n = symbols.count
        var prev = [Int](0..<n).map { $0 - 1 }
        var next = [Int](1...n).map { $0 == n ? -1 : $0 }
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            let r = m.lookup(symbols[i], symbols[i + 1])
            if r != MergeTable.none { heap.push(r, i) }
        }
        while let (r, pos) = heap.pop() {
            guard alive[pos], next[pos] >= 0 else { continue }
            let right = next[pos]
            guard m.lookup(symbols[pos], symbols[right]) == r else { continue }   // stale entry
            symbols[pos] = Int32(truncatingIfNeeded: r & 0xFFFF_FFFF)
            alive[right] = false
            next[pos] = next[right]
            if next[pos] >= 0 { prev[next[pos]] = pos }
            if prev[pos] >= 0 {
                let q = m.lookup(symbols[prev[pos]], symbols[pos])
                if q != MergeTable.none { heap.push(q, prev[pos]) }
            }
            if next[pos] >= 0 {
                let q = m.lookup(symbols[pos], symbols[next[pos]])
                if q != MergeTable.none { heap.push(q, pos) }
            }
        }
        var kept: [Int32] = []
        kept.reserveCapacity(n)
        var i = 0
        while i >= 0 && i < n { kept.append(symbols[i]); i = next[i] }
        symbols = kept
    }
}

/// A binary min-heap of (merge value, position), ordered by value then position.
private struct MergeHeap {
    private var items: [(UInt64, Int)] = []

    @inline(__always) private static func less(_ a: (UInt64, Int), _ b: (UInt64, Int)) -> Bool { a.0 < b.0 || (a.0 == b.0 && a.1 < b.1) }

    mutating func push(_ v: UInt64, _ pos: Int) {
        items.append((v, pos))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if Self.less(items[i], items[p]) { items.swapAt(i, p); i = p } else { break }
        }
    }

    mutating func pop() -> (UInt64, Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var s = i
                if l < items.count && Self.less(items[l], items[s]) { s = l }
                if r < items.count && Self.less(items[r], items[s]) { s = r }
                if s == i { break }
                items.swapAt(i, s); i = s
            }
        }
        return top
    }
}
