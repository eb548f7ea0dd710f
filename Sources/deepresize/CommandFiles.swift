import ArgumentParser
import Foundation
import Glibc
import ImageCodecs

/// Where a command will write must be a path in an existing directory: checked before the work (a
/// deep run or a benchmark of many seconds), not found missing after it.
func checkOutputPath(_ path: String?, option: String) throws {
    guard let path else { return }
    guard path != "-" else {
        throw ValidationError("\(option) '-' is not a file: give a path (nothing is written to stdout)")
    }
    let directory = (path as NSString).deletingLastPathComponent
    var isDirectory: ObjCBool = false
    guard directory.isEmpty || (FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue) else {
        throw ValidationError("cannot write \(path): the directory \(directory) does not exist")
    }
}

/// The file's bytes, or a failure that says why not ("No such file or directory", "Is a directory"). POSIX
/// calls: Foundation's file errors on Linux say only that the operation could not be completed.
func readInputFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw CommandFailure(.noInput, "cannot read \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw CommandFailure(.noInput, "cannot read \(path): \(String(cString: strerror(errno)))") }
        if n == 0 { return bytes }
        bytes.append(contentsOf: chunk[..<n])
    }
}

/// The image in the file at `path`, or a failure: 66 when it cannot be read, 65 when it is no image.
func readInputImage(_ path: String) throws -> RasterImage {
    let bytes = try readInputFile(path)
    do {
        return try ImageDecoder.decode(bytes)
    } catch {
        throw CommandFailure(.dataError, "\(path): \(error)")
    }
}

/// Writes `bytes` to `path` (replaced whole), or fails saying why ("Is a directory", "Permission denied",
/// "No space left on device"). Written to a temporary file beside it and renamed, so a failure leaves any
/// earlier file as it was and no truncated image.
func writeOutputFile(_ bytes: [UInt8], to path: String) throws {
    func failure(_ about: String = path) -> CommandFailure {
        CommandFailure(.cannotCreate, "cannot write \(about): \(String(cString: strerror(errno)))")
    }
    // A directory given as the output is named as such, not as its temporary sibling.
    var status = stat()
    if stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
        errno = EISDIR
        throw failure()
    }
    let temporary = "\(path).partial-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw failure() }
    do {
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let error = failure()  // before close() sets errno
                close(fd)
                throw error
            }
            written += n
        }
        guard close(fd) == 0 else { throw failure() }
        guard rename(temporary, path) == 0 else { throw failure() }
    } catch {
        unlink(temporary)
        throw error
    }
}
