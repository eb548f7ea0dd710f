import Glibc
import Testing
@testable import ImageCodecs

/// Inputs found by the libFuzzer targets in Fuzz/ (scripts/fuzz), kept so the fixes stay fixed.
@Suite struct FuzzRegressionTests {
    /// Found by FuzzPNG: reading the header of a PNG that claims a width of ~1.1e9 allocated and cleared
    /// libpng's row buffers (gigabytes) before the caller could compare the size with its limits.
    /// Now the header read costs nothing and the decode is refused from the header.
    @Test func aVeryWidePNGHeaderCostsNoMemory() throws {
        var ihdr = be32(400_000_000) + be32(1)
        ihdr += [8, 2, 0, 0, 0]    // 8-bit RGB: one row would be 1.2 GB
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr)
            + chunk("IDAT", zlibStored([0, 1, 2, 3])) + chunk("IEND", [])
        let before = peakResidentMegabytes()
        let header = try ImageDecoder.readHeader(png)
        #expect(header.width == 400_000_000 && header.height == 1)
        #expect(throws: ImageCodecError.exceedsLimits("source resolution 400 MP (400000000x1) exceeds 40 MP")) {
            try ImageDecoder.decode(png)
        }
        let grown = peakResidentMegabytes() - before
        #expect(grown < 200, "reading a 70-byte header raised the peak RSS by \(grown) MB")
    }

    private func peakResidentMegabytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss / 1024
    }
}
