import Foundation
import Glibc

/// Why a weights file was refused. The description always says how to get a good file.
public struct WeightsError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        "VGG weights \(path): \(reason). Run scripts/fetch-weights (writes weights/vgg16-imagenet.safetensors) "
            + "or pass the path of a valid vgg16-imagenet.safetensors."
    }
}

/// A read-only memory map of a whole file. Immutable after init, so sharing it across threads is safe.
final class MappedFile: @unchecked Sendable {  // unchecked: the mapping is PROT_READ and never changes
    let path: String
    let base: UnsafeRawPointer
    let size: Int

    init(path: String) throws(WeightsError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw WeightsError(path: path, reason: "cannot open (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw WeightsError(path: path, reason: "not a regular file")
        }
        size = Int(st.st_size)
        guard size >= 8 else { throw WeightsError(path: path, reason: "truncated (\(size) bytes)") }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw WeightsError(path: path, reason: "mmap failed (\(String(cString: strerror(errno))))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }
}

/// A safetensors file: u64 little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}
/// plus optional "__metadata__", then the raw little-endian data. Only F32 tensors are accepted.
struct SafeTensorsFile: Sendable {
    struct Entry: Sendable {
        let shape: [Int]
        /// Byte offset of the data from the start of the file.
        let offset: Int
        let count: Int
    }

    let file: MappedFile
    let entries: [String: Entry]
    let metadata: [String: String]

    init(path: String) throws(WeightsError) {
        file = try MappedFile(path: path)
        let fail = { (reason: String) in WeightsError(path: path, reason: reason) }
        let headerLength = Int(UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self)))
        guard headerLength > 0, headerLength <= file.size - 8, headerLength < 100_000_000 else {
            throw fail("not a safetensors file or truncated (header length \(headerLength), file \(file.size) bytes)")
        }
        let headerData = Data(bytes: file.base + 8, count: headerLength)
        guard let json = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        let dataSize = file.size - dataStart
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let d = value as? [String: Any], let dtype = d["dtype"] as? String,
                  let shape = d["shape"] as? [Int], let offsets = d["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("malformed header entry \(name)") }
            guard dtype == "F32" else { throw fail("\(name) has dtype \(dtype), expected F32") }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("\(name) has a negative dimension") }
            let count = shape.reduce(1, *)
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end - begin == count * 4 else {
                throw fail("\(name): data_offsets \(offsets) do not match shape \(shape)")
            }
            guard end <= dataSize else {
                throw fail("truncated: \(name) ends at byte \(dataStart + end), file has \(file.size)")
            }
            guard (dataStart + begin) % 4 == 0 else { throw fail("\(name) is not 4-byte aligned") }
            entries[name] = Entry(shape: shape, offset: dataStart + begin, count: count)
        }
        self.entries = entries
        self.metadata = metadata
    }

    /// The tensor's floats, read in place from the mapping (little-endian host assumed: x86-64, arm64).
    func floats(_ name: String) -> UnsafeBufferPointer<Float>? {
        guard let e = entries[name] else { return nil }
        let p = (file.base + e.offset).assumingMemoryBound(to: Float.self)
        return UnsafeBufferPointer(start: p, count: e.count)
    }
}
