// Crash-safe file primitives for the job directory. A file is either absent or complete: we write a
// temp file in the same directory, fsync it, rename it over the final name (atomic on POSIX), then
// fsync the directory so the rename itself survives a power loss.
import Glibc

enum JobFiles {
    /// Temp files start with this prefix; start-up recovery deletes any it finds.
    static let tempPrefix = ".tmp-"

    static func fail(_ operation: String, _ path: String, _ code: Int32 = errno) -> JobStoreError {
        .fileSystem(operation: operation, path: path, errno: code)
    }

    /// Creates a directory (mode 0755) if missing and fsyncs its parent so the entry is durable.
    static func makeDirectory(_ path: String, parent: String) throws {
        if mkdir(path, 0o755) != 0 {
            let code = errno
            guard code == EEXIST, isDirectory(path) else { throw fail("creating directory", path, code) }
            return
        }
        try syncDirectory(parent)
    }

    /// `mkdir -p`: creates every missing component of `path`. Components that exist may be symlinks to
    /// directories (a data directory on another volume, linked into place).
    static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            let parent = prefix.isEmpty ? "/" : prefix
            prefix += "/" + component
            var info = stat()
            if stat(prefix, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR { continue }
            try makeDirectory(prefix, parent: parent)
        }
    }

    /// `path` with symlinks and `.`/`..` resolved (realpath); `path` itself when that fails.
    static func resolved(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw fail("opening directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw fail("syncing directory", path) }
    }

    /// Writes `bytes` to a new temp file in `directory` and fsyncs it; returns the temp path.
    /// The caller publishes it with `publish` (or removes it).
    static func writeTemp(_ bytes: [UInt8], in directory: String) throws -> String {
        let path = directory + "/" + tempPrefix + JobID.generate()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw fail("creating", path) }
        var ok = false
        defer {
            if !ok { close(fd); unlink(path) }
        }
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw fail("writing", path)
                }
                offset += written
            }
        }
        guard fsync(fd) == 0 else { throw fail("syncing", path) }
        ok = true
        guard close(fd) == 0 else {
            let code = errno
            unlink(path)
            throw fail("closing", path, code)
        }
        return path
    }

    /// Renames a synced temp file over `path` and fsyncs the directory. Removes the temp on failure.
    static func publish(temp: String, as path: String, directory: String) throws {
        guard rename(temp, path) == 0 else {
            let code = errno
            unlink(temp)
            throw fail("renaming into place", path, code)
        }
        try syncDirectory(directory)
    }

    /// write temp + fsync + rename + fsync dir.
    static func writeAtomically(_ bytes: [UInt8], to path: String, directory: String) throws {
        let temp = try writeTemp(bytes, in: directory)
        try publish(temp: temp, as: path, directory: directory)
    }

    /// Reads a whole regular file; nil when it does not exist.
    static func read(_ path: String) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw fail("opening", path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw fail("reading size of", path) }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while offset < buffer.count {
                let got = Glibc.read(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if got < 0 {
                    if errno == EINTR { continue }
                    throw fail("reading", path)
                }
                if got == 0 { break }  // file shrank under us; return what exists
                offset += got
            }
        }
        if offset < bytes.count { bytes.removeSubrange(offset...) }
        return bytes
    }

    /// Names in a directory (without "." and ".."); empty when it does not exist.
    static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw fail("listing", path)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Bytes of the regular files under `path` (symlinks not followed); 0 when it does not exist.
    static func treeSize(_ path: String) throws -> Int {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : 0 }
        var total = 0
        for name in try list(path) { total += try treeSize(path + "/" + name) }
        return total
    }

    /// Removes a file; a missing file is fine.
    static func removeFile(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw fail("removing", path) }
    }

    /// Removes a job directory: its markers (`.pending`, `.expired`) last, so a crash half-way never leaves
    /// an unmarked directory with some of its files (which the start-up sweep would have to keep).
    static func removeJobDirectory(_ path: String) throws {
        guard isDirectory(path) else { return try removeTree(path) }
        let names = try list(path)
        for name in names where !name.hasPrefix(".") || name.hasPrefix(tempPrefix) { try removeTree(path + "/" + name) }
        for name in try list(path) { try removeTree(path + "/" + name) }
        if rmdir(path) != 0 && errno != ENOENT { throw fail("removing directory", path) }
    }

    /// Moves `path` into `directory` as `name` (or `name.2`, `name.3` … when taken), fsyncing both parents.
    static func moveAside(_ path: String, into directory: String, name: String) throws {
        var target = directory + "/" + name
        var suffix = 1
        while exists(target) {
            suffix += 1
            target = directory + "/" + name + "." + String(suffix)
        }
        guard rename(path, target) == 0 else { throw fail("moving aside", path) }
        try syncDirectory(directory)
        if let slash = path.lastIndex(of: "/") { try syncDirectory(String(path[..<slash])) }
    }

    /// Removes a directory and everything in it (we only ever create one level of plain files, but
    /// a stray subdirectory is handled too). Symlinks are removed, never followed.
    static func removeTree(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw fail("inspecting", path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try list(path) { try removeTree(path + "/" + name) }
            if rmdir(path) != 0 && errno != ENOENT { throw fail("removing directory", path) }
        } else {
            try removeFile(path)
        }
    }
}

/// An exclusive advisory lock (`flock`) on the data directory itself, held for the store's lifetime, so a
/// second server on the same data directory (by any path to it, symlinks included) fails at start instead of
/// requeueing the first one's running jobs. It is on the directory's inode, not on a file in it: deleting a
/// file cannot undo it (a lock on `DIR/jobs.lock` could: a second server made a new file and locked that).
/// The kernel drops it when the process dies, so a crash never leaves it stale.
final class DirectoryLock: Sendable {
    private let fd: Int32

    init(directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw JobFiles.fail("opening data directory", directory) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw JobStoreError.directoryInUse(path: directory) }
            throw JobFiles.fail("locking", directory, code)
        }
        self.fd = fd
    }

    deinit { close(fd) }
}
