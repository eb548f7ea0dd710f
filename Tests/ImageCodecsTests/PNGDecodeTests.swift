import Testing
import ImageCodecs
import TestSupport

/// Every PNG colour type and bit depth becomes 8-bit RGB, or straight RGBA when it carries alpha.
@Suite struct PNGDecodeTests {
    static let w = 13, h = 11   // odd sizes exercise partial bytes and short Adam7 passes

    /// 8-bit value libpng produces for a sample of `depth` bits.
    static func to8(_ v: Int, depth: Int) -> UInt8 {
        switch depth {
        case 16: return UInt8((v * 255 + 32_895) >> 16)   // png_set_scale_16: rounds v/257
        case 8: return UInt8(v)
        default: return UInt8(v * 255 / ((1 << depth) - 1))
        }
    }

    func check(_ builder: PNGBuilder, channels: Int, expected: (Int, Int) -> [UInt8]) throws {
        let bytes = builder.build()
        let header = try ImageDecoder.readHeader(bytes)
        #expect(header.width == Self.w && header.height == Self.h && header.hasAlpha == (channels == 4))
        let image = try ImageDecoder.decode(bytes)
        #expect(image.channels == channels)
        var mismatches = 0
        for y in 0..<Self.h { for x in 0..<Self.w where TestImages.pixel(image, x, y) != expected(x, y) { mismatches += 1 } }
        #expect(mismatches == 0, "type \(builder.colourType) depth \(builder.bitDepth) interlaced \(builder.interlaced)")
    }

    @Test(arguments: [1, 2, 4, 8, 16], [false, true])
    func greyscaleBecomesRGB(depth: Int, interlaced: Bool) throws {
        let maxValue = (1 << depth) - 1
        let sample = { (x: Int, y: Int) in (x * 7919 + y * 104_729) % (maxValue + 1) }
        let builder = PNGBuilder(width: Self.w, height: Self.h, colourType: .grey, bitDepth: depth,
                                 interlaced: interlaced, samples: { [sample($0, $1)] })
        try check(builder, channels: 3) { x, y in
            let g = Self.to8(sample(x, y), depth: depth); return [g, g, g]
        }
    }

    @Test(arguments: [8, 16], [false, true])
    func greyAlphaBecomesRGBA(depth: Int, interlaced: Bool) throws {
        let m = (1 << depth) - 1
        let builder = PNGBuilder(width: Self.w, height: Self.h, colourType: .greyAlpha, bitDepth: depth,
                                 interlaced: interlaced,
                                 samples: { x, y in [(x * 40_503 + y) % (m + 1), (y * 977 + x * 13) % (m + 1)] })
        try check(builder, channels: 4) { x, y in
            let g = Self.to8((x * 40_503 + y) % (m + 1), depth: depth)
            return [g, g, g, Self.to8((y * 977 + x * 13) % (m + 1), depth: depth)]
        }
    }

    @Test(arguments: [8, 16], [false, true])
    func rgbAndRGBAKeepTheirChannels(depth: Int, interlaced: Bool) throws {
        let m = (1 << depth) - 1
        let s: (Int, Int, Int) -> Int = { x, y, c in
            let mixed: Int = x * 2_654_435 + y * 40_503 + c * 977
            return mixed % (m + 1)
        }
        let rgb = PNGBuilder(width: Self.w, height: Self.h, colourType: .rgb, bitDepth: depth, interlaced: interlaced,
                             samples: { x, y in (0..<3).map { s(x, y, $0) } })
        try check(rgb, channels: 3) { x, y in (0..<3).map { Self.to8(s(x, y, $0), depth: depth) } }
        let rgba = PNGBuilder(width: Self.w, height: Self.h, colourType: .rgba, bitDepth: depth, interlaced: interlaced,
                              samples: { x, y in (0..<4).map { s(x, y, $0) } })
        try check(rgba, channels: 4) { x, y in (0..<4).map { Self.to8(s(x, y, $0), depth: depth) } }
    }

    static let palette: [(UInt8, UInt8, UInt8)] = (0..<16).map { (i: Int) -> (UInt8, UInt8, UInt8) in
        let r = UInt8(i * 16), g = UInt8(255 - i * 8), b = UInt8(i * 3)
        return (r, g, b)
    }

    @Test(arguments: [1, 2, 4, 8], [false, true])
    func paletteBecomesRGB(depth: Int, interlaced: Bool) throws {
        let entries = min(1 << depth, 16)
        let index = { (x: Int, y: Int) in (x + 2 * y) % entries }
        let builder = PNGBuilder(width: Self.w, height: Self.h, colourType: .palette, bitDepth: depth,
                                 interlaced: interlaced, palette: Array(Self.palette.prefix(entries)),
                                 samples: { [index($0, $1)] })
        try check(builder, channels: 3) { x, y in
            let p = Self.palette[index(x, y)]; return [p.0, p.1, p.2]
        }
    }

    @Test func paletteWithTRNSBecomesRGBA() throws {
        let alphas: [UInt8] = [0, 64, 128, 200]   // entries 4… are opaque (tRNS may be shorter)
        let index = { (x: Int, y: Int) in (x * 3 + y) % 16 }
        let builder = PNGBuilder(width: Self.w, height: Self.h, colourType: .palette, bitDepth: 4,
                                 palette: Self.palette, transparency: alphas, samples: { [index($0, $1)] })
        try check(builder, channels: 4) { x, y in
            let i = index(x, y), p = Self.palette[i]
            return [p.0, p.1, p.2, i < alphas.count ? alphas[i] : 255]
        }
    }

    @Test func greyAndRGBColourKeyBecomeAlpha() throws {
        let grey = PNGBuilder(width: Self.w, height: Self.h, colourType: .grey, bitDepth: 8,
                              transparency: [0, 100], samples: { x, _ in [x * 20] })
        try check(grey, channels: 4) { x, _ in
            let g = UInt8(x * 20); return [g, g, g, g == 100 ? 0 : 255]
        }
        let rgb = PNGBuilder(width: Self.w, height: Self.h, colourType: .rgb, bitDepth: 8,
                             transparency: [0, 10, 0, 20, 0, 30], samples: { x, y in [x * 10, y * 20, 30] })
        try check(rgb, channels: 4) { x, y in
            [UInt8(x * 10), UInt8(y * 20), 30, (x == 1 && y == 1) ? 0 : 255]
        }
    }
}
