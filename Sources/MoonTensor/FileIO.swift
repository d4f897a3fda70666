#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always) private func sysWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

/// An error from a file-system call, carrying the path and errno text.
public struct FileIOError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public init(path: String, message: String) { self.path = path; self.message = message }
    public var description: String { "\(path): \(message)" }

    static func posix(_ path: String, _ what: String) -> FileIOError {
        let code = errno
        return FileIOError(path: path, message: "\(what) failed: \(String(cString: strerror(code))) (errno \(code))")
    }
}

/// Crash-safe file replacement: data goes to a temporary file in the destination's directory, is flushed
/// with fsync, renamed over the destination, and the directory is fsynced. A reader never sees a partial
/// file; if the writer throws (or is dropped without `commit()`), the temporary file is removed and the
/// destination is left untouched.
///
///     try AtomicFile.write(to: "run/config.json", string: json)
///     try AtomicFile.write(to: path) { w in try w.write(bytes) }
public final class AtomicFile {
    public let path: String
    public let tempPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var done = false
    /// Bytes written so far (buffered or not).
    public private(set) var bytesWritten: Int = 0
    private static let bufferCapacity = 1 << 20

    /// Opens a fresh temporary file next to `path`.
    public init(path: String) throws {
        self.path = path
        let dir = AtomicFile.directory(of: path)
        let base = AtomicFile.basename(of: path)
        var rng = SystemRandomNumberGenerator()
        var attempt = 0
        while true {
            let candidate = (dir == "" ? "" : dir + "/") + ".\(base).tmp-\(getpid())-\(String(rng.next() as UInt64, radix: 36))"
            let f = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if f >= 0 { fd = f; tempPath = candidate; break }
            if errno != EEXIST || attempt > 16 { throw FileIOError.posix(candidate, "creating temporary file for \(path)") }
            attempt += 1
        }
        buffer.reserveCapacity(AtomicFile.bufferCapacity)
    }

    deinit { if !done { abort() } }

    /// Appends bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if done { throw FileIOError(path: path, message: "write after the file was committed or aborted") }
        bytesWritten += bytes.count
        if buffer.count + bytes.count <= AtomicFile.bufferCapacity {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        if bytes.count >= AtomicFile.bufferCapacity / 2 {
            try rawWrite(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    public func write(_ string: String) throws { try write(Array(string.utf8)) }
    public func write<T>(contentsOf array: [T]) throws { try array.withUnsafeBytes { try write($0) } }

    private func flush() throws {
        if buffer.isEmpty { return }
        try buffer.withUnsafeBytes { try rawWrite($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func rawWrite(_ bytes: UnsafeRawBufferPointer) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = sysWrite(fd, p, min(left, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError.posix(tempPath, "write")
            }
            p += n
            left -= n
        }
    }

    /// Flushes, fsyncs, renames over the destination and fsyncs the directory.
    public func commit() throws {
        if done { throw FileIOError(path: path, message: "commit after the file was committed or aborted") }
        do {
            try flush()
            if fsync(fd) != 0 { throw FileIOError.posix(tempPath, "fsync") }
            if close(fd) != 0 { fd = -1; throw FileIOError.posix(tempPath, "close") }
            fd = -1
            if rename(tempPath, path) != 0 { throw FileIOError.posix(path, "rename from \(tempPath)") }
        } catch {
            abort()
            throw error
        }
        done = true
        let dir = AtomicFile.directory(of: path)
        let dfd = open(dir == "" ? "." : dir, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)  // best effort: some file systems refuse fsync on directories
            close(dfd)
        }
    }

    /// Discards the temporary file; the destination is untouched.
    public func abort() {
        if done { return }
        done = true
        if fd >= 0 { close(fd); fd = -1 }
        unlink(tempPath)
    }

    // MARK: conveniences

    /// Writes the file through `body`; commits if `body` returns, aborts if it throws.
    public static func write(to path: String, _ body: (AtomicFile) throws -> Void) throws {
        let f = try AtomicFile(path: path)
        do { try body(f) } catch { f.abort(); throw error }
        try f.commit()
    }

    public static func write(to path: String, bytes: [UInt8]) throws {
        try write(to: path) { try $0.write(bytes) }
    }

    public static func write(to path: String, string: String) throws {
        try write(to: path) { try $0.write(string) }
    }

    static func directory(of path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return "" }
        if i == path.startIndex { return "/" }
        return String(path[..<i])
    }

    static func basename(of path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: i)...])
    }
}
