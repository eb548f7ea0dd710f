import Testing
import ImageCodecs
@testable import Engine

@Suite struct ResamplerTests {
    static func constant(width: Int, height: Int, _ value: [UInt8]) -> RasterImage {
        RasterImage(width: width, height: height, channels: value.count,
                    pixels: (0..<(width * height)).flatMap { _ in value })
    }

    static func checkerboard(width: Int, height: Int) -> RasterImage {
        var pixels: [UInt8] = []
        pixels.reserveCapacity(width * height * 3)
        for y in 0..<height { for x in 0..<width { pixels += (x + y) % 2 == 0 ? [0, 0, 0] : [255, 255, 255] } }
        return RasterImage(width: width, height: height, channels: 3, pixels: pixels)
    }

    static func stats(_ image: RasterImage, channel: Int = 0) -> (mean: Double, std: Double) {
        let values = stride(from: channel, to: image.pixels.count, by: image.channels).map { Double(image.pixels[$0]) }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        return (mean, variance.squareRoot())
    }

    @Test(arguments: [(320, 240, 200, 150), (640, 480, 37, 29), (3000, 200, 40, 40), (50, 40, 333, 251), (7, 5, 7, 90)])
    func constantImagesStayConstant(sizes: (Int, Int, Int, Int)) {
        for value: [UInt8] in [[0, 0, 0], [255, 255, 255], [17, 130, 250], [17, 130, 250, 255], [90, 10, 200, 77]] {
            let image = Self.constant(width: sizes.0, height: sizes.1, value)
            let out = Resampler.resize(image, width: sizes.2, height: sizes.3)
            #expect(out.width == sizes.2 && out.height == sizes.3 && out.channels == value.count)
            #expect(out.pixels == Self.constant(width: sizes.2, height: sizes.3, value).pixels, "\(value) \(sizes)")
        }
    }

    @Test(arguments: [(400, 300, 37, 29), (500, 400, 50, 40), (255, 255, 100, 100), (64, 64, 31, 29)])
    func checkerboardShrinksToFlatGreyWithoutAliasing(sizes: (Int, Int, Int, Int)) {
        let out = Resampler.resize(Self.checkerboard(width: sizes.0, height: sizes.1), width: sizes.2, height: sizes.3)
        let (mean, std) = Self.stats(out)
        #expect(abs(mean - 127.5) < 1.5)
        #expect(std < 3, "moiré: std \(std) for \(sizes)")
    }

    @Test func sizesAreExactIncludingExtremes() {
        let source = RasterImage(width: 301, height: 17, channels: 3,
                                 pixels: (0..<(301 * 17 * 3)).map { UInt8($0 % 251) })
        for (w, h) in [(1, 1), (1, 500), (2000, 1), (300, 17), (302, 18), (3, 7), (8192, 2), (150, 8)] {
            let out = Resampler.resize(source, width: w, height: h)
            #expect(out.width == w && out.height == h && out.pixels.count == w * h * 3)
        }
        let tiny = RasterImage(width: 1, height: 1, channels: 4, pixels: [10, 20, 30, 40])
        #expect(Resampler.resize(tiny, width: 5, height: 3).pixels == Self.constant(width: 5, height: 3, [10, 20, 30, 40]).pixels)
        let line = Self.constant(width: 10_000, height: 1, [200, 100, 50])
        #expect(Resampler.resize(line, width: 1, height: 1).pixels == [200, 100, 50])
    }

    @Test func sameSizeIsIdentity() {
        let image = RasterImage(width: 40, height: 30, channels: 4, pixels: (0..<4800).map { UInt8($0 % 256) })
        #expect(Resampler.resize(image, width: 40, height: 30) == image)
    }

    @Test func transparentPixelsDoNotBleedColour() {
        // Left half fully transparent red, right half opaque green: without premultiplication the
        // edge would turn brown/red.
        var image = RasterImage(width: 200, height: 50, channels: 4)
        for y in 0..<50 { for x in 0..<200 {
            let i = (y * 200 + x) * 4
            image.pixels[i..<(i + 4)] = x < 100 ? [255, 0, 0, 0] : [0, 255, 0, 255]
        } }
        for (w, h) in [(30, 10), (67, 13), (400, 100)] {
            let out = Resampler.resize(image, width: w, height: h)
            var edgeSeen = false
            for p in stride(from: 0, to: out.pixels.count, by: 4) where out.pixels[p + 3] > 0 {
                #expect(out.pixels[p] <= 1 && out.pixels[p + 1] >= 254, "colour \(out.pixels[p..<(p + 4)])")
                if out.pixels[p + 3] < 250 { edgeSeen = true }
            }
            #expect(edgeSeen, "alpha must be resampled too")
        }
    }

    @Test func shrinkingPreservesTheMeanOfDetailedImages() {
        var seed: UInt32 = 7
        let image = RasterImage(width: 600, height: 450, channels: 3, pixels: (0..<(600 * 450 * 3)).map { _ in
            seed = seed &* 1_664_525 &+ 1_013_904_223; return UInt8(seed >> 24)
        })
        let out = Resampler.resize(image, width: 97, height: 61)
        for c in 0..<3 { #expect(abs(Self.stats(out, channel: c).mean - Self.stats(image, channel: c).mean) < 1) }
    }

    @Test func orientationOfContentIsKept() {
        // Horizontal gradient: output must increase left to right and be flat vertically.
        var image = RasterImage(width: 512, height: 256, channels: 3)
        for y in 0..<256 { for x in 0..<512 { for c in 0..<3 { image.pixels[(y * 512 + x) * 3 + c] = UInt8(x / 2) } } }
        for (w, h) in [(40, 20), (1024, 512)] {
            let out = Resampler.resize(image, width: w, height: h)
            let row = (0..<w).map { Int(out.pixels[((h / 2) * w + $0) * 3]) }
            #expect(zip(row, row.dropFirst()).allSatisfy { $0 <= $1 + 1 })
            #expect(row.first! < 10 && row.last! > 245)
            let column = (0..<h).map { out.pixels[($0 * w + w / 3) * 3] }
            #expect(Set(column).count == 1)
        }
    }

    @Test func bandsAndThreadsGiveIdenticalResults() {
        let image = RasterImage(width: 640, height: 480, channels: 4, pixels: (0..<(640 * 480 * 4)).map { UInt8(($0 * 31) % 256) })
        let one = Resampler.resize(image, width: 150, height: 113, threads: 1)
        let two = Resampler.resize(image, width: 150, height: 113, threads: 2)
        #expect(one == two)
        // Large enlargements are split into many bands to bound memory; the seams must not show.
        let source = RasterImage(width: 300, height: 200, channels: 3, pixels: (0..<(300 * 200 * 3)).map { UInt8(($0 * 7) % 256) })
        let banded = Resampler.resize(source, width: 450, height: 420, threads: 2, maxBandBytes: 4096)
        #expect(banded == Resampler.resize(source, width: 450, height: 420, threads: 1))
    }
}
