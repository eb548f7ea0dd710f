import Testing
import TestSupport
import ImageCodecs
import Foundation

/// Untrusted input: wrong formats, damaged files and size bombs give errors, never a crash or a huge
/// allocation.
@Suite struct DecoderSafetyTests {
    @Test func nonImagesAreUnrecognized() {
        // (GIF, AVIF and the like are named in their error: WebPTests.otherFormatsAreNamed.)
        let inputs: [[UInt8]] = [[], [0xFF], [0xFF, 0xD8], Array("<html></html>".utf8),
                                 [0x89, 0x50, 0x4E, 0x47], Array("RIFF....WAVEfmt ".utf8), Array("RIFF....WEB".utf8)]
        for input in inputs {
            #expect(ImageDecoder.sniff(input) == nil)
            #expect(throws: ImageCodecError.unrecognizedFormat) { try ImageDecoder.decode(input) }
            #expect(throws: ImageCodecError.unrecognizedFormat) { try ImageDecoder.readHeader(input) }
        }
    }

    @Test func randomBytesAreRefused() {
        var rng = SeededRandom(seed: 1)
        for prefix in [[], [0xFF, 0xD8, 0xFF], [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]] as [[UInt8]] {
            for length in [1, 10, 100, 1000, 10_000] {
                let bytes = prefix + (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                #expect(throws: ImageCodecError.self) { try ImageDecoder.decode(bytes) }
            }
        }
    }

    static func samples() throws -> [(String, [UInt8])] {
        let rgb = TestImages.gradient(width: 48, height: 40)
        let rgba = TestImages.gradient(width: 48, height: 40, channels: 4)
        let interlaced = PNGBuilder(width: 30, height: 20, colourType: .rgb, bitDepth: 8, interlaced: true,
                                    samples: { x, y in [x * 8, y * 12, 99] }).build()
        return [("jpeg", try ImageEncoder.jpeg(rgb)), ("png", try ImageEncoder.png(rgba)),
                ("interlaced png", interlaced), ("progressive jpeg", JPEGFixtures.progressive),
                ("cmyk jpeg", JPEGFixtures.cmykQuadrants)]
    }

    @Test func truncatedFilesFailAtEveryCutPoint() throws {
        for (name, bytes) in try Self.samples() {
            // Up to the end of the pixel data; only the trailer (JPEG EOI, PNG IEND) may go missing.
            let trailer = name.contains("png") ? 12 : 2
            for cut in 0..<(bytes.count - trailer) {
                #expect(throws: ImageCodecError.self, "\(name) cut at \(cut)") {
                    try ImageDecoder.decode(Array(bytes[..<cut]))
                }
            }
        }
    }

    @Test func baselineJPEGMissingOnlyItsEOIDecodes() throws {
        let jpeg = try ImageEncoder.jpeg(TestImages.gradient(width: 48, height: 40))
        #expect(Array(jpeg.suffix(2)) == [0xFF, 0xD9])
        #expect(try ImageDecoder.decode(Array(jpeg.dropLast(2))) == ImageDecoder.decode(jpeg))
        // A progressive file without its EOI may be missing whole scans: refused.
        #expect(throws: ImageCodecError.corrupt(.jpeg, "Premature end of JPEG file")) {
            try ImageDecoder.decode(Array(JPEGFixtures.progressive.dropLast(2)))
        }
    }

    @Test func corruptedBytesNeverCrash() throws {
        var rng = SeededRandom(seed: 42)
        for (name, bytes) in try Self.samples() {
            var failures = 0
            for _ in 0..<300 {
                var damaged = bytes
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                do {
                    let image = try ImageDecoder.decode(damaged)
                    #expect(image.pixels.count == image.width * image.height * image.channels)
                } catch let error as ImageCodecError {
                    failures += 1
                    if case .corrupt(_, let message) = error { #expect(!message.isEmpty, "\(name)") }
                }
            }
            #expect(failures > 0, "\(name): some damage must be detected")
        }
    }

    @Test func hugePNGHeaderIsRefusedBeforeDecoding() throws {
        var ihdr = be32(100_000) + be32(100_000)
        ihdr += [8, 2, 0, 0, 0]
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr)
            + chunk("IDAT", zlibStored([0, 1, 2, 3])) + chunk("IEND", [])
        let header = try ImageDecoder.readHeader(png)
        #expect(header.width == 100_000 && header.height == 100_000)
        let start = ContinuousClock.now
        #expect(throws: ImageCodecError.exceedsLimits("source resolution 10000 MP (100000x100000) exceeds 40 MP")) {
            try ImageDecoder.decode(png)
        }
        #expect(ContinuousClock.now - start < .milliseconds(200))
    }

    @Test func hugeJPEGFrameIsRefusedBeforeDecoding() throws {
        var jpeg = try ImageEncoder.jpeg(TestImages.gradient(width: 16, height: 16))
        let sof = try #require((0..<(jpeg.count - 9)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg[(sof + 5)...(sof + 8)] = [0xEA, 0x60, 0xEA, 0x60]    // height, width = 60000
        let header = try ImageDecoder.readHeader(jpeg)
        #expect(header.width == 60_000 && header.height == 60_000)
        let start = ContinuousClock.now
        #expect(throws: ImageCodecError.exceedsLimits("source resolution 3600 MP (60000x60000) exceeds 40 MP")) {
            try ImageDecoder.decode(jpeg)
        }
        #expect(ContinuousClock.now - start < .milliseconds(200))
    }

    @Test func customLimitsApply() throws {
        let png = try ImageEncoder.png(TestImages.gradient(width: 300, height: 200))
        #expect(throws: ImageCodecError.exceedsLimits("source size 300x200 exceeds the maximum dimension of 256 pixels")) {
            try ImageDecoder.decode(png, limits: DecodeLimits(maxPixels: 1_000_000, maxDimension: 256))
        }
        #expect(throws: ImageCodecError.exceedsLimits("source resolution 0.1 MP (300x200) exceeds 0.1 MP")) {
            try ImageDecoder.decode(png, limits: DecodeLimits(maxPixels: 50_000))
        }
        #expect(try ImageDecoder.decode(png, limits: DecodeLimits(maxPixels: 60_000, maxDimension: 300)).width == 300)
    }

    @Test func thousandsOfAncillaryChunksStayBounded() throws {
        let base = PNGBuilder(width: 8, height: 8, colourType: .rgb, bitDepth: 8, samples: { x, y in [x, y, 0] }).build()
        var text: [UInt8] = []
        for i in 0..<5_000 { text += chunk("tEXt", Array("Comment\u{0}number \(i)".utf8)) }
        let spam = Array(base[..<33]) + text + Array(base[33...])    // after IHDR
        let start = ContinuousClock.now
        let image = try ImageDecoder.decode(spam)
        #expect(image.width == 8)
        #expect(ContinuousClock.now - start < .seconds(1))
    }
}
