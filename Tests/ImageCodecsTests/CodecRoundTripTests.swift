import Testing
import ImageCodecs
import TestSupport

@Suite struct CodecRoundTripTests {
    @Test func pngRoundTripIsExactForRGBAndRGBA() throws {
        for channels in [3, 4] {
            let image = TestImages.gradient(width: 37, height: 23, channels: channels)
            let bytes = try ImageEncoder.png(image)
            #expect(ImageDecoder.sniff(bytes) == .png)
            let header = try ImageDecoder.readHeader(bytes)
            #expect(header == ImageHeader(format: .png, width: 37, height: 23, orientation: 1, hasAlpha: channels == 4))
            #expect(try ImageDecoder.decode(bytes) == image)
        }
    }

    @Test func jpegRoundTripStaysClose() throws {
        let image = TestImages.gradient(width: 64, height: 48)
        let bytes = try ImageEncoder.jpeg(image, quality: 95)
        #expect(ImageDecoder.sniff(bytes) == .jpeg)
        let header = try ImageDecoder.readHeader(bytes)
        #expect(header == ImageHeader(format: .jpeg, width: 64, height: 48, orientation: 1, hasAlpha: false))
        let decoded = try ImageDecoder.decode(bytes)
        #expect(decoded.width == 64 && decoded.height == 48 && decoded.channels == 3)
        #expect(TestImages.psnr(decoded, image) > 38)
    }

    @Test func lowerJPEGQualityGivesSmallerFiles() throws {
        let image = TestImages.gradient(width: 128, height: 96)
        let high = try ImageEncoder.jpeg(image, quality: 95)
        let low = try ImageEncoder.jpeg(image, quality: 30)
        #expect(low.count < high.count)
        #expect(TestImages.psnr(try ImageDecoder.decode(low), image) > 28)
    }

    @Test func jpegOfRGBAIsCompositedOverWhite() throws {
        // Left half transparent red, right half opaque blue.
        var image = RasterImage(width: 32, height: 16, channels: 4)
        for y in 0..<16 {
            for x in 0..<32 {
                let i = (y * 32 + x) * 4
                image.pixels[i..<(i + 4)] = x < 16 ? [255, 0, 0, 0] : [0, 0, 255, 255]
            }
        }
        let decoded = try ImageDecoder.decode(try ImageEncoder.jpeg(image, quality: 95))
        #expect(decoded.channels == 3)
        let left = TestImages.pixel(decoded, 4, 8), right = TestImages.pixel(decoded, 28, 8)
        #expect(left.allSatisfy { $0 > 245 })                          // white, not red
        #expect(right[2] > 240 && right[0] < 15 && right[1] < 15)      // blue
    }

    @Test func halfTransparentCompositesToTheMidpoint() throws {
        let image = RasterImage(width: 16, height: 16, channels: 4,
                                pixels: [UInt8](repeating: 0, count: 16 * 16 * 4).enumerated().map { $0.offset % 4 == 3 ? 128 : 0 })
        let decoded = try ImageDecoder.decode(try ImageEncoder.jpeg(image, quality: 100))
        for value in TestImages.pixel(decoded, 8, 8) { #expect(abs(Int(value) - 127) <= 2) }
    }
}
