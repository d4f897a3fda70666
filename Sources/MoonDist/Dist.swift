import CMPI
import Foundation
import MoonTensor

/// A failed collective: an MPI error, a timeout (a rank died or stopped answering), or a bad argument.
public struct DistError: Error, CustomStringConvertible {
    public let call: String
    public let message: String
    public init(_ call: String, _ message: String) {
        self.call = call
        self.message = message
    }
    public var description: String { "\(call): \(message)" }
}

/// Element-wise reductions of `Dist.allreduce`.
public enum ReduceOp: String, CaseIterable, Sendable {
    case sum, mean, max
}

/// The process group of a data-parallel job on Open MPI.
///
/// A process started without `mpirun` is a world of size 1 and never touches MPI (Open MPI's singleton start costs
/// about 0.6 s, which the REPL and scripts must not pay). Under `mpirun` (detected by `OMPI_COMM_WORLD_SIZE`, or
/// `PMIX_RANK` for other PMIx launchers, or forced with `MOONLAB_DIST=1`) MPI is initialised on the first call, with
/// `MPI_ERRORS_RETURN` so that errors come back as `DistError`s instead of aborting.
///
/// Every collective is non-blocking underneath and waited on with a deadline (`timeout`, default 600 s, or
/// `MOONLAB_DIST_TIMEOUT`): a rank that never arrives makes the others fail with a clear error instead of hanging.
/// Ranks are MPI's 0-based process ids. Only the main thread may call these functions (`MPI_THREAD_FUNNELED`).
public enum Dist {
    nonisolated(unsafe) private static var initialized = false
    nonisolated(unsafe) private static var finished = false
    nonisolated(unsafe) private static var broken = false
    nonisolated(unsafe) private static var worldRank = 0
    nonisolated(unsafe) private static var worldSize = 1
    /// Seconds a collective waits for the other ranks before failing.
    nonisolated(unsafe) public static var timeout: Double = {
        Knob.number("MOONLAB_DIST_TIMEOUT", in: 0.001...1e9) ?? 600
    }()

    /// Whether this process was started by an MPI launcher (or `MOONLAB_DIST=1`).
    public static var isLaunched: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["MOONLAB_DIST"] == "1"
    }

    /// Ranks on this node (`OMPI_COMM_WORLD_LOCAL_SIZE`; 1 outside mpirun): they share its cores.
    public static var localSize: Int {
        guard isLaunched, let s = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"], let n = Int(s), n > 0 else { return 1 }
        return n
    }

    /// Whether MPI has been initialised in this process.
    public static var isInitialized: Bool { initialized && !finished }

    /// This process's rank (0-based); 0 outside mpirun.
    public static func rank() throws -> Int { try start("rank"); return worldRank }
    /// Number of processes; 1 outside mpirun.
    public static func size() throws -> Int { try start("size"); return worldSize }

    /// Initialises MPI once, if launched.
    static func start(_ call: String) throws {
        if initialized || !isLaunched { return }
        if finished { throw DistError(call, "MPI was already finalised") }
        var provided: Int32 = 0
        let rc = MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided)
        guard rc == cmpi_success() else { throw DistError(call, "MPI_Init_thread failed: \(errorString(rc))") }
        initialized = true
        MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return())
        var r: Int32 = 0, n: Int32 = 0
        MPI_Comm_rank(cmpi_comm_world(), &r)
        MPI_Comm_size(cmpi_comm_world(), &n)
        worldRank = Int(r); worldSize = Int(n)
        installTerminationMessage(rank: worldRank)
        atexit { Dist.finish(success: false) }
    }

    /// Ends MPI at exit: `MPI_Finalize` after success, `MPI_Abort` (which stops every rank) after a failure, so a
    /// rank that fails never leaves the others waiting. Does nothing if MPI was not initialised.
    public static func finish(success: Bool) {
        guard initialized, !finished else { return }
        finished = true
        fflush(stdout); fflush(stderr)
        if success && !broken { MPI_Finalize() } else { MPI_Abort(cmpi_comm_world(), 1) }
    }

    // MARK: collectives

    /// Waits for every rank.
    public static func barrier() throws {
        try start("barrier")
        guard worldSize > 1 else { return }
        var req = cmpi_request_null()
        try check("barrier", MPI_Ibarrier(cmpi_comm_world(), &req))
        try wait("barrier", &req)
    }

    /// Reduces `count` floats in place over all ranks (mean = sum / size).
    public static func allreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp, call: String = "allreduce") throws {
        try start(call)
        guard worldSize > 1, count > 0 else { return }
        if count * 4 >= ringThresholdBytes && count >= worldSize {
            try ringAllreduce(buffer, count: count, op: op, call: call)
        } else {
            try nonblockingAllreduce(buffer, count: count, op: op, call: call)
        }
        if op == .mean {
            let s = 1 / Float(worldSize)
            for i in 0..<count { buffer[i] *= s }
        }
    }

    /// Buffers from this size on use the ring allreduce (measured: Open MPI's MPI_Iallreduce is 2-3x slower than its
    /// blocking MPI_Allreduce from 1 MB on, the ring matches the blocking one).
    nonisolated(unsafe) public static var ringThresholdBytes = 256 << 10

    private static func nonblockingAllreduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp, call: String) throws {
        var done = 0
        while done < count {
            let n = Swift.min(count - done, 1 << 30)
            var req = cmpi_request_null()
            try check(call, MPI_Iallreduce(cmpi_in_place(), buffer + done, Int32(n), cmpi_float(),
                                           op == .max ? cmpi_op_max() : cmpi_op_sum(), cmpi_comm_world(), &req))
            try wait(call, &req)
            done += n
        }
    }

    /// Ring allreduce over non-blocking point-to-point messages (reduce-scatter, then allgather; each rank sends and
    /// receives 2 (p - 1) / p of the buffer, the bandwidth-optimal schedule MPI_Allreduce uses for large buffers),
    /// polled against the deadline like every collective. Each chunk is reduced on one rank in one fixed order and
    /// then copied, so every rank ends with bit-identical values (data-parallel replicas must not drift apart).
    private static func ringAllreduce(_ buf: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp, call: String) throws {
        let p = worldSize, r = worldRank
        let right = Int32((r + 1) % p), left = Int32((r + p - 1) % p)
        let base = count / p, extra = count % p
        func chunk(_ c: Int) -> (start: Int, count: Int) {
            let c = ((c % p) + p) % p
            return (c * base + Swift.min(c, extra), base + (c < extra ? 1 : 0))
        }
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: base + 1)
        defer { tmp.deallocate() }
        let tag: Int32 = 7311
        func exchange(send: (start: Int, count: Int), into dst: UnsafeMutablePointer<Float>, receive n: Int) throws {
            var reqs = [cmpi_request_null(), cmpi_request_null()]
            try check(call, MPI_Irecv(dst, Int32(n), cmpi_float(), left, tag, cmpi_comm_world(), &reqs[0]))
            try check(call, MPI_Isend(buf + send.start, Int32(send.count), cmpi_float(), right, tag, cmpi_comm_world(), &reqs[1]))
            try waitAll(call, &reqs)
        }
        for s in 0..<(p - 1) {  // reduce-scatter: afterwards rank r holds the reduced chunk r + 1
            let recv = chunk(r - s - 1)
            try exchange(send: chunk(r - s), into: tmp, receive: recv.count)
            let d = buf + recv.start
            if op == .max {
                for i in 0..<recv.count where tmp[i] > d[i] || tmp[i].isNaN { d[i] = tmp[i] }
            } else {
                for i in 0..<recv.count { d[i] += tmp[i] }
            }
        }
        for s in 0..<(p - 1) {  // allgather of the reduced chunks
            let recv = chunk(r - s)
            try exchange(send: chunk(r + 1 - s), into: buf + recv.start, receive: recv.count)
        }
    }

    /// Copies `bytes` bytes from rank `root` into the buffer of every other rank.
    public static func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int, call: String = "broadcast") throws {
        try start(call)
        guard root >= 0 && root < worldSize else { throw DistError(call, "root \(root) is not a rank (0...\(worldSize - 1))") }
        guard worldSize > 1, bytes > 0 else { return }
        var done = 0
        while done < bytes {
            let n = Swift.min(bytes - done, 1 << 30)
            var req = cmpi_request_null()
            try check(call, MPI_Ibcast(buffer + done, Int32(n), cmpi_byte(), Int32(root), cmpi_comm_world(), &req))
            try wait(call, &req)
            done += n
        }
    }

    /// Broadcasts a byte string from `root` (other ranks' `bytes` are ignored) and returns it on every rank.
    public static func broadcast(bytes: [UInt8], root: Int, call: String = "broadcast") throws -> [UInt8] {
        try start(call)
        guard worldSize > 1 else { return bytes }
        var n = Int64(bytes.count)
        try broadcast(&n, bytes: 8, root: root, call: call)
        guard n >= 0 && n < 1 << 40 else { throw DistError(call, "bad message length \(n)") }
        var out = worldRank == root ? bytes : [UInt8](repeating: 0, count: Int(n))
        try out.withUnsafeMutableBytes { b in
            if let base = b.baseAddress { try broadcast(base, bytes: Int(n), root: root, call: call) }
        }
        return out
    }

    /// Gathers one byte string per rank (of any lengths) on every rank, in rank order.
    public static func allgather(bytes: [UInt8], call: String = "allgather") throws -> [[UInt8]] {
        try start(call)
        guard worldSize > 1 else { return [bytes] }
        var lengths = [Int64](repeating: 0, count: worldSize)
        var mine = Int64(bytes.count)
        var req = cmpi_request_null()
        try lengths.withUnsafeMutableBytes { all in
            try check(call, MPI_Iallgather(&mine, 1, cmpi_int64(), all.baseAddress, 1, cmpi_int64(), cmpi_comm_world(), &req))
            try wait(call, &req)
        }
        let total = lengths.reduce(0, +)
        guard total < Int64(Int32.max) else {
            throw DistError(call, "\(total) bytes in all exceed MPI's 2 GiB limit of one allgather; gather less at a time")
        }
        var counts = lengths.map { Int32($0) }
        var displs = [Int32](repeating: 0, count: worldSize)
        for i in 1..<worldSize { displs[i] = displs[i - 1] + counts[i - 1] }
        var out = [UInt8](repeating: 0, count: Int(total))
        var send = bytes
        try send.withUnsafeMutableBytes { s in
            try out.withUnsafeMutableBytes { o in
                try check(call, MPI_Iallgatherv(s.baseAddress, Int32(bytes.count), cmpi_byte(), o.baseAddress, &counts, &displs,
                                                cmpi_byte(), cmpi_comm_world(), &req))
                try wait(call, &req)
            }
        }
        return (0..<worldSize).map { i in Array(out[Int(displs[i]) ..< Int(displs[i]) + Int(counts[i])]) }
    }

    // MARK: plumbing

    private static func check(_ call: String, _ rc: Int32) throws {
        guard rc != cmpi_success() else { return }
        broken = true
        throw DistError(call, "MPI error: \(errorString(rc))")
    }

    /// Polls a request until it completes or the deadline passes: spins briefly (latency), then sleeps with a
    /// growing pause up to 1 ms (so that a waiting rank leaves the CPU to ranks still computing on the same node).
    private static func wait(_ call: String, _ req: inout MPI_Request?) throws {
        try poll(call) { flag in try check(call, MPI_Test(&req, &flag, cmpi_status_ignore())) }
    }

    /// `wait` for several requests.
    private static func waitAll(_ call: String, _ reqs: inout [MPI_Request?]) throws {
        try poll(call) { flag in try check(call, MPI_Testall(Int32(reqs.count), &reqs, &flag, cmpi_statuses_ignore())) }
    }

    /// Calls `test` (which sets its flag when the requests completed) until it does: spinning first, then with a
    /// growing pause up to 1 ms; past the timeout, `timedOut(call)`.
    private static func poll(_ call: String, _ test: (inout Int32) throws -> Void) throws {
        let deadline = monotonic() + timeout
        var flag: Int32 = 0
        var spins = 0
        var pause: UInt32 = 20
        while true {
            try test(&flag)
            if flag != 0 { return }
            spins += 1
            if spins > 2000 {
                usleep(pause)
                pause = Swift.min(pause * 2, 1000)
                if monotonic() > deadline { throw timedOut(call) }
            }
        }
    }

    private static func timedOut(_ call: String) -> DistError {
        broken = true
        return DistError(call, String(format: "timed out after %.0f s waiting for the other ranks (rank %d of %d): a rank died, hangs, or is far behind; moon.dist.timeout(seconds) or MOONLAB_DIST_TIMEOUT sets the limit", timeout, worldRank, worldSize))
    }

    private static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    private static func errorString(_ rc: Int32) -> String {
        var buf = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var len: Int32 = 0
        MPI_Error_string(rc, &buf, &len)
        return "\(String(cString: buf)) (code \(rc))"
    }
}

/// mpirun stops the surviving ranks with SIGTERM when one rank dies; say so before going.
nonisolated(unsafe) private var terminationMessage: [CChar] = []

private func installTerminationMessage(rank: Int) {
    terminationMessage = Array("moonlab: rank \(rank) stopped by SIGTERM (mpirun ends the job when a rank fails; see its message)\n".utf8CString)
    signal(SIGTERM) { _ in
        terminationMessage.withUnsafeBufferPointer { b in _ = write(2, b.baseAddress, b.count - 1) }
        _exit(143)
    }
}
