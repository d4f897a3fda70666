#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import Foundation

@inline(__always) private func sysOpen(_ path: String, _ flags: Int32) -> Int32 { open(path, flags) }
@inline(__always) private func sysRead(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) -> Int { read(fd, p, n) }
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

    /// Opens a fresh temporary file next to `path`. An existing `path` that is not a regular file (a device such
    /// as /dev/null, a FIFO, a socket, a directory) is refused, never replaced; a symbolic link to a regular file is
    /// followed (the file it names is replaced, the link stays).
    public init(path requested: String) throws {
        try checkPath(requested)
        let path = try AtomicFile.destination(for: requested)
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
            _ = try AtomicFile.destination(for: path)  // still not a device, FIFO or directory
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

    /// The path to replace for a write to `path`: `path` itself when absent or a regular file, the target of a
    /// symbolic link to a regular file; anything else is an error.
    static func destination(for path: String) throws -> String {
        var st = stat()
        if lstat(path, &st) != 0 { return path }  // absent: created
        let kind = st.st_mode & S_IFMT
        if kind == S_IFREG { return path }
        if kind == S_IFLNK {
            var target = stat()
            guard stat(path, &target) == 0 else { return path }  // dangling link: replaced by the file
            guard target.st_mode & S_IFMT == S_IFREG else {
                throw FileIOError(path: path, message: "is a link to \(FileKind(mode: target.st_mode).phrase), not a regular file; refusing to replace it")
            }
            guard let resolved = realpath(path, nil) else { throw FileIOError.posix(path, "resolving the link") }
            defer { free(resolved) }
            return String(cString: resolved)
        }
        throw FileIOError(path: path, message: "is \(FileKind(mode: st.st_mode).phrase), not a regular file; refusing to replace it")
    }

    /// Removes the temporary files (`.<name>.tmp-<pid>-<random>`) that writers killed before `commit` left in
    /// `directory` (not in its subdirectories); files of writers still running (their pid is alive) are kept.
    /// Returns the names removed. Run directories call it when they are opened.
    @discardableResult
    public static func sweepTemporaries(in directory: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(".") {
            guard let r = name.range(of: ".tmp-", options: .backwards) else { continue }
            let tail = name[r.upperBound...].split(separator: "-")
            guard tail.count == 2, let pid = Int32(tail[0]), pid > 0 else { continue }
            if pid != getpid() && kill(pid, 0) == 0 { continue }  // a live writer (another process)
            if pid == getpid() { continue }                       // one of ours, in flight
            let full = (directory as NSString).appendingPathComponent(name)
            var st = stat()
            guard lstat(full, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            if unlink(full) == 0 { removed.append(name) }
        }
        return removed
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

/// What is at a path, by its stat mode: `rawValue` is the short name (`moon.file_kind` returns it), `phrase` the
/// words for messages ("a FIFO").
public enum FileKind: String, Sendable {
    case file, directory, fifo, socket, character, block, link

    public init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .file
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFCHR: self = .character
        case S_IFBLK: self = .block
        default: self = .link
        }
    }

    /// What is at `path`, following symbolic links (`.link`: a link whose target is missing); nil when nothing is
    /// there or it cannot be reached. A stat, never an open: it cannot block on a FIFO.
    public init?(path: String) {
        guard !path.utf8.contains(0) else { return nil }
        var st = stat()
        if stat(path, &st) == 0 { self.init(mode: st.st_mode); return }
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFLNK else { return nil }
        self = .link
    }

    public var phrase: String {
        switch self {
        case .file: return "a regular file"
        case .directory: return "a directory"
        case .fifo: return "a FIFO"
        case .socket: return "a socket"
        case .character: return "a character device"
        case .block: return "a block device"
        case .link: return "a symbolic link"
        }
    }
}

/// Paths go to the C library as NUL-terminated strings, so a path with a NUL byte would silently name its prefix
/// ("run\0x" would open "run"): every open in this layer refuses one instead.
public func checkPath(_ path: String) throws {
    guard !path.utf8.contains(0) else {
        throw FileIOError(path: path.replacingOccurrences(of: "\0", with: "\\0"), message: "the path contains a NUL byte")
    }
}

/// Reading files named by users without blocking or misreading: only regular files are opened (a FIFO, a device
/// such as /dev/zero, or a directory is an error at once, never a read that blocks or never ends).
public enum RegularFile {
    /// Opens `path` for reading (O_NONBLOCK for the open itself, so a FIFO without a writer cannot block) and checks
    /// with fstat that it is a regular file. Returns the descriptor (blocking again) and the size.
    public static func open(_ path: String) throws -> (fd: Int32, size: Int) {
        try checkPath(path)
        let fd = sysOpen(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { throw FileIOError.posix(path, "open") }
        var st = stat()
        guard fstat(fd, &st) == 0 else { let e = FileIOError.posix(path, "stat"); close(fd); throw e }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw FileIOError(path: path, message: "is \(FileKind(mode: st.st_mode).phrase), not a regular file")
        }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        return (fd, Int(st.st_size))
    }

    /// The first `count` bytes of a regular file (fewer when the file is shorter).
    public static func prefix(_ path: String, count: Int) throws -> [UInt8] {
        let (fd, size) = try open(path)
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: max(0, min(count, size)))
        var got = 0
        try out.withUnsafeMutableBytes { buf in
            while got < buf.count {
                let n = sysRead(fd, buf.baseAddress! + got, buf.count - got)
                if n < 0 { if errno == EINTR { continue }; throw FileIOError.posix(path, "read") }
                if n == 0 { break }
                got += n
            }
        }
        return Array(out.prefix(got))
    }

    /// The contents of a regular file (`limit` bytes at most: larger files are an error).
    public static func read(_ path: String, limit: Int = 1 << 30) throws -> Data {
        let (fd, size) = try open(path)
        defer { close(fd) }
        guard size <= limit else { throw FileIOError(path: path, message: "is \(size) bytes, more than the \(limit) allowed") }
        try Allocation.check(bytes: size)
        var data = Data(count: size)
        var got = 0
        try data.withUnsafeMutableBytes { (buf: UnsafeMutableRawBufferPointer) in
            while got < size {
                let n = sysRead(fd, buf.baseAddress! + got, size - got)
                if n < 0 { if errno == EINTR { continue }; throw FileIOError.posix(path, "read") }
                if n == 0 { break }
                got += n
            }
        }
        if got < size { data.removeSubrange(got...) }
        return data
    }
}

/// The whole contents of what a path names when it may be a pipe: a script given as `<(...)` (a pipe under
/// /dev/fd) or `/dev/stdin` as well as a regular file.
public enum FileContents {
    /// A regular file as `RegularFile.read` reads it; a FIFO, pipe or character device read to its end (a FIFO with
    /// no writer reads as empty instead of blocking); anything else (a directory, a socket) is an error. More than
    /// `limit` bytes is an error, so /dev/zero ends.
    public static func read(_ path: String, limit: Int) throws -> Data {
        try checkPath(path)
        switch FileKind(path: path) {
        case .file?: return try RegularFile.read(path, limit: limit)
        case .fifo?, .character?: break
        case let kind?: throw FileIOError(path: path, message: "is \(kind.phrase), not a file to read")
        case nil: errno = ENOENT; throw FileIOError.posix(path, "open")
        }
        let fd = sysOpen(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)  // a FIFO without a writer must not block the open
        if fd < 0 { throw FileIOError.posix(path, "open") }
        defer { close(fd) }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { sysRead(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw FileIOError.posix(path, "read") }
            if n == 0 { return data }
            guard data.count + n <= limit else { throw FileIOError(path: path, message: "is more than the \(limit) bytes allowed") }
            data.append(contentsOf: chunk[0..<n])
        }
    }
}

/// Directories named by users.
public enum Directory {
    /// Creates `path` and its missing parents (mkdir -p). An existing directory (or a link to one) is fine; anything
    /// else in the way is an error naming what it is.
    public static func create(_ path: String) throws {
        try checkPath(path)
        guard !path.isEmpty else { throw FileIOError(path: path, message: "an empty path names no directory") }
        if mkdir(path, 0o755) == 0 { return }
        let code = errno
        if code == ENOENT {
            let parent = AtomicFile.directory(of: path.hasSuffix("/") ? String(path.dropLast()) : path)
            if parent != "" && parent != path {
                try create(parent)
                if mkdir(path, 0o755) == 0 || (errno == EEXIST && FileKind(path: path) == .directory) { return }
                throw FileIOError.posix(path, "mkdir")
            }
        }
        if code == EEXIST {
            let kind = FileKind(path: path)
            if kind == .directory { return }
            throw FileIOError(path: path, message: "is \(kind?.phrase ?? "in the way"), not a directory")
        }
        errno = code
        throw FileIOError.posix(path, "mkdir")
    }
}
