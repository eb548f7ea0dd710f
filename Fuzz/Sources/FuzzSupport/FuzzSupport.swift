// Helpers shared by the fuzz targets.
import TestSupport

/// Deterministic split points derived from the input itself, so a crash reproduces from the saved
/// input alone (libFuzzer replays the file; no other state).
/// The generator is the test suites' `SeededRandom` (the root package's TestSupport), seeded with the
/// input's FNV-1a hash.
public struct Splitter {
    private var random: SeededRandom

    public init(seed bytes: some Collection<UInt8>) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        random = SeededRandom(seed: hash)
    }

    public mutating func next() -> UInt64 { random.next() }

    /// `bytes` cut into pieces of 1…maxPiece bytes (mostly tiny, sometimes large).
    public mutating func pieces(_ bytes: [UInt8], maxPiece: Int = 64) -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var start = 0
        while start < bytes.count {
            let r = next()
            let length = r & 3 == 0 ? 1 + Int((r >> 8) % UInt64(maxPiece)) : 1 + Int((r >> 8) % 4)
            let end = min(bytes.count, start + length)
            out.append(bytes[start..<end])
            start = end
        }
        return out
    }
}

/// Stops the fuzzer with a message: a broken invariant is a finding, like a crash.
public func fuzzFailure(_ message: String, file: StaticString = #file, line: UInt = #line) -> Never {
    fatalError("FUZZ INVARIANT: \(message)", file: file, line: line)
}
