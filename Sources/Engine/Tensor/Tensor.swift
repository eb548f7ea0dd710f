import Glibc

/// A float32 tensor in CHW order, contiguous, its storage 64-byte aligned (one cache line, one AVX-512
/// vector). A reference type on purpose: the engine hands out tensors that live in a reusable workspace,
/// so an optimiser step reads and writes the same memory instead of allocating per layer.
/// Not Sendable: its contents are mutable through `data`.
public final class Tensor {
    public let channels: Int
    public let height: Int
    public let width: Int
    /// channels · height · width.
    public let count: Int
    /// The first element; `count` valid floats follow.
    public let data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor.
    public init(channels: Int, height: Int, width: Int) {
        precondition(channels >= 0 && height >= 0 && width >= 0, "tensor dimensions must be non-negative")
        self.channels = channels
        self.height = height
        self.width = width
        count = channels * height * width
        data = zeroedFloats(count)
    }

    /// A tensor holding `values` (CHW order); their count must be channels · height · width.
    public convenience init(channels: Int, height: Int, width: Int, values: [Float]) {
        self.init(channels: channels, height: height, width: width)
        precondition(values.count == count, "values.count \(values.count) != \(channels)x\(height)x\(width)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { releaseZeroedFloats(data, count: count) }

    public var shape: (channels: Int, height: Int, width: Int) { (channels, height, width) }

    public subscript(channel: Int, y: Int, x: Int) -> Float {
        get { data[(channel * height + y) * width + x] }
        set { data[(channel * height + y) * width + x] = newValue }
    }

    /// The buffer of all elements, for bulk reads and writes.
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    /// One channel plane (height · width floats).
    public func plane(_ channel: Int) -> UnsafeMutablePointer<Float> { data + channel * height * width }

    public func toArray() -> [Float] { Array(buffer) }

    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// Copies `other` (same shape) into this tensor.
    public func copy(from other: Tensor) {
        precondition(other.channels == channels && other.height == height && other.width == width,
                     "copy between tensors of different shapes")
        data.update(from: other.data, count: count)
    }

    /// A new tensor with the same contents.
    public func clone() -> Tensor {
        let t = Tensor(channels: channels, height: height, width: width)
        t.copy(from: self)
        return t
    }

    /// Σ x² in Double.
    public func sumOfSquares() -> Double {
        var s = 0.0
        for i in 0..<count { s += Double(data[i]) * Double(data[i]) }
        return s
    }
}

/// `count` zeroed floats (at least one) at a 64-byte aligned address; release with `releaseZeroedFloats`.
/// Blocks of 1 MiB and more come straight from the kernel (mmap), already zero: their pages are faulted
/// in by whoever first writes them, on whichever thread, instead of by a memset here. A deep job allocates
/// a few hundred MB of workspace per pass size; zeroing it in the allocating thread took 0.3 s of the
/// setup at 640×480 (its page faults made serial).
func zeroedFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    let bytes = max(1, count) * MemoryLayout<Float>.stride
    guard bytes >= mappedBlockBytes else {
        let p = alignedFloats(count)
        p.initialize(repeating: 0, count: max(1, count))
        return p
    }
    guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
        fatalError("out of memory allocating \(bytes) bytes")
    }
    return raw.bindMemory(to: Float.self, capacity: max(1, count))
}

/// Releases what `zeroedFloats(count)` returned (the same count).
func releaseZeroedFloats(_ p: UnsafeMutablePointer<Float>, count: Int) {
    let bytes = max(1, count) * MemoryLayout<Float>.stride
    if bytes >= mappedBlockBytes { munmap(p, bytes) } else { free(p) }
}

private let mappedBlockBytes = 1 << 20

/// Whether `zeroedFloats(count)` maps its block (pages resident only once written) rather than zeroing it
/// (resident at once): what a memory estimate may leave out for a buffer nothing writes.
func zeroedFloatsAreMapped(_ count: Int) -> Bool { max(1, count) * MemoryLayout<Float>.stride >= mappedBlockBytes }

/// `count` floats (at least one) at a 64-byte aligned address, not initialised; free with `free`.
func alignedFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    var raw: UnsafeMutableRawPointer?
    let bytes = max(1, count) * MemoryLayout<Float>.stride
    guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
        fatalError("out of memory allocating \(bytes) bytes")
    }
    return raw.bindMemory(to: Float.self, capacity: max(1, count))
}
