import Testing
import TestSupport
import ImageCodecs

/// WebP in and out through libwebp: container, sizes, alpha, quality, and hostile files.
@Suite struct WebPTests {
    /// A photo-like image (gradients plus seeded noise), so quality changes the size as on a real photo.
    static func textured(width: Int, height: Int, channels: Int = 3, seed: UInt64 = 7) -> RasterImage {
        var image = TestImages.gradient(width: width, height: height, channels: channels)
        var rng = SeededRandom(seed: seed)
        for i in 0..<image.pixels.count where channels == 3 || i % 4 != 3 {
            image.pixels[i] = UInt8(clamping: Int(image.pixels[i]) + Int.random(in: -24...24, using: &rng))
        }
        return image
    }

    @Test func rgbRoundTrip() throws {
        let image = TestImages.gradient(width: 61, height: 37)
        let bytes = try ImageEncoder.webp(image, quality: 90)
        #expect(Array(bytes[0..<4]) == Array("RIFF".utf8) && Array(bytes[8..<12]) == Array("WEBP".utf8))
        // The RIFF size covers the file.
        #expect(Int(bytes[4]) | Int(bytes[5]) << 8 | Int(bytes[6]) << 16 | Int(bytes[7]) << 24 == bytes.count - 8)
        #expect(ImageDecoder.sniff(bytes) == .webp)
        let header = try ImageDecoder.readHeader(bytes)
        #expect(header == ImageHeader(format: .webp, width: 61, height: 37, orientation: 1, hasAlpha: false))
        let decoded = try ImageDecoder.decodeDetailed(bytes)
        #expect(decoded.image.width == 61 && decoded.image.height == 37 && decoded.image.channels == 3)
        #expect(decoded.colour == .none)
        #expect(TestImages.psnr(decoded.image, image) > 35)
    }

    @Test func alphaIsKeptExactly() throws {
        let image = Self.textured(width: 40, height: 30, channels: 4)
        let bytes = try ImageEncoder.webp(image, quality: 75)
        let header = try ImageDecoder.readHeader(bytes)
        #expect(header.hasAlpha)
        let decoded = try ImageDecoder.decode(bytes)
        #expect(decoded.channels == 4)
        // The alpha plane is stored losslessly.
        let alpha = stride(from: 3, to: image.pixels.count, by: 4).map { image.pixels[$0] }
        let decodedAlpha = stride(from: 3, to: decoded.pixels.count, by: 4).map { decoded.pixels[$0] }
        #expect(alpha == decodedAlpha)
    }

    @Test func opaqueRGBAHasNoAlphaPlane() throws {
        var image = Self.textured(width: 20, height: 20, channels: 4)
        for i in stride(from: 3, to: image.pixels.count, by: 4) { image.pixels[i] = 255 }
        let bytes = try ImageEncoder.webp(image)
        #expect(try ImageDecoder.readHeader(bytes).hasAlpha == false)
        #expect(try ImageDecoder.decode(bytes).channels == 3)
    }

    @Test func higherQualityGivesLargerFiles() throws {
        let image = Self.textured(width: 160, height: 120)
        let webp = try [10, 40, 75, 90, 100].map { try ImageEncoder.webp(image, quality: $0).count }
        let jpeg = try [10, 40, 75, 90, 100].map { try ImageEncoder.jpeg(image, quality: $0).count }
        #expect(webp == webp.sorted() && Set(webp).count == webp.count, "WebP sizes \(webp)")
        #expect(jpeg == jpeg.sorted() && Set(jpeg).count == jpeg.count, "JPEG sizes \(jpeg)")
        // And closer to the source.
        let smooth = TestImages.gradient(width: 160, height: 120)
        let low = try ImageDecoder.decode(ImageEncoder.webp(smooth, quality: 10))
        let high = try ImageDecoder.decode(ImageEncoder.webp(smooth, quality: 100))
        #expect(TestImages.psnr(high, smooth) > TestImages.psnr(low, smooth) + 5)
    }

    @Test func everyTruncationIsRefusedCleanly() throws {
        let bytes = try ImageEncoder.webp(Self.textured(width: 24, height: 16, channels: 4), quality: 60)
        for length in 0..<bytes.count {
            let cut = Array(bytes[0..<length])
            do {
                _ = try ImageDecoder.decode(cut)
                Issue.record("a WebP cut to \(length) of \(bytes.count) bytes decoded")
            } catch let error as ImageCodecError {
                switch error {
                case .corrupt(.webp, let message): #expect(!message.isEmpty)
                case .unrecognizedFormat: #expect(length < 12)
                default: Issue.record("cut at \(length): \(error)")
                }
            }
        }
    }

    @Test func randomDamageNeverCrashes() throws {
        let bytes = try ImageEncoder.webp(Self.textured(width: 32, height: 24), quality: 80)
        var rng = SeededRandom(seed: 11)
        for _ in 0..<300 {
            var damaged = bytes
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                damaged[Int.random(in: 12..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if let image = try? ImageDecoder.decode(damaged) {
                #expect(image.width > 0 && image.height > 0)
            }
        }
    }

    /// A lossless (VP8L) header claiming 16384×16384 and no pixel data: refused from the header.
    @Test func hugeDeclaredSizeIsRefusedBeforeDecoding() throws {
        let w = 16384 - 1, h = 16384 - 1
        // VP8L: signature 0x2F, then 14 bits width-1, 14 bits height-1, 1 bit alpha, 3 bits version 0.
        let bits = UInt32(w) | UInt32(h) << 14 | 1 << 28
        let vp8l = [0x2F, UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)]
            + [UInt8](repeating: 0, count: 16)
        let file = Array("RIFF".utf8) + ICCEmbed.le32(4 + 8 + vp8l.count) + Array("WEBP".utf8)
            + ICCEmbed.riffChunk("VP8L", vp8l)
        let header = try ImageDecoder.readHeader(file)
        #expect(header.width == 16384 && header.height == 16384 && header.hasAlpha)
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            #expect(throws: ImageCodecError.exceedsLimits("source resolution 268.4 MP (16384x16384) exceeds 40 MP")) {
                try ImageDecoder.decode(file)
            }
        }
        #expect(elapsed < .milliseconds(50))
        // Within the limits, the missing data is a clean error.
        #expect(throws: ImageCodecError.self) { try ImageDecoder.decode(file, limits: DecodeLimits(maxPixels: 1 << 30)) }
    }

    /// VP8X canvas of 2^24 a side: refused by libwebp (area over 2^32) or by the limits, never allocated.
    @Test func hugeCanvasIsRefused() throws {
        let plain = try ImageEncoder.webp(Self.textured(width: 8, height: 8), quality: 50)
        let file = ICCEmbed.webp(plain, profile: nil, width: 1 << 24, height: 1 << 24)
        #expect(throws: ImageCodecError.self) { try ImageDecoder.decode(file) }
    }

    @Test func animatedWebPIsUnsupported() throws {
        let plain = try ImageEncoder.webp(Self.textured(width: 8, height: 8), quality: 50)
        // VP8X with the animation flag, an ANIM chunk, one ANMF frame holding the image chunk.
        let frame = ICCEmbed.le24(0) + ICCEmbed.le24(0) + ICCEmbed.le24(7) + ICCEmbed.le24(7) + ICCEmbed.le24(100) + [0]
        var body = Array("WEBP".utf8) + ICCEmbed.riffChunk("VP8X", [0x02, 0, 0, 0] + ICCEmbed.le24(7) + ICCEmbed.le24(7))
        body += ICCEmbed.riffChunk("ANIM", [0, 0, 0, 0, 0, 0])
        body += ICCEmbed.riffChunk("ANMF", frame + Array(plain[12...]))
        let file = Array("RIFF".utf8) + ICCEmbed.le32(body.count) + body
        #expect(ImageDecoder.sniff(file) == .webp)
        for attempt in [{ _ = try ImageDecoder.readHeader(file) }, { _ = try ImageDecoder.decode(file) }] {
            do {
                try attempt()
                Issue.record("animated WebP accepted")
            } catch let error as ImageCodecError {
                guard case .unsupported(let what) = error else { Issue.record("\(error)"); continue }
                #expect(what.contains("animated WebP"))
                #expect(error.description.contains("JPEG, PNG or WebP"))
            }
        }
    }

    @Test func otherFormatsAreNamed() {
        let cases: [([UInt8], String)] = [
            (Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0], "GIF"),
            ([0, 0, 0, 0x1C] + Array("ftypavif".utf8) + [0, 0, 0, 0], "AVIF"),
            ([0, 0, 0, 0x18] + Array("ftypheic".utf8) + [0, 0, 0, 0], "HEIF"),
            (Array("II*".utf8) + [0, 8, 0, 0, 0], "TIFF"),
        ]
        for (bytes, name) in cases {
            #expect(ImageDecoder.sniff(bytes) == nil)
            do {
                _ = try ImageDecoder.decode(bytes)
                Issue.record("\(name) decoded")
            } catch let error as ImageCodecError {
                #expect(error == .unsupported(ImageDecoder.unsupportedKind(bytes) ?? ""))
                #expect(error.description.contains(name) && error.description.contains("JPEG, PNG or WebP"), "\(error)")
            } catch {
                Issue.record("\(error)")
            }
        }
        #expect(ImageDecoder.unsupportedKind(Array("<html>".utf8)) == nil)
    }
}
