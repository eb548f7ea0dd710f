import Testing
import ImageCodecs
import TestSupport

/// APP1 Exif segment holding IFD0 with a dummy tag and then Orientation (SHORT).
func exifSegment(orientation: Int, littleEndian: Bool) -> [UInt8] {
    func u16(_ v: Int) -> [UInt8] { littleEndian ? [UInt8(v & 0xFF), UInt8(v >> 8)] : [UInt8(v >> 8), UInt8(v & 0xFF)] }
    func u32(_ v: Int) -> [UInt8] { littleEndian ? be32(v).reversed() : be32(v) }
    var tiff: [UInt8] = (littleEndian ? [0x49, 0x49] : [0x4D, 0x4D]) + u16(42) + u32(8)
    tiff += u16(2)                                                 // two entries
    tiff += u16(0x0100) + u16(4) + u32(1) + u32(640)               // ImageWidth LONG (ignored)
    tiff += u16(0x0112) + u16(3) + u32(1) + u16(orientation) + u16(0)
    tiff += u32(0)                                                 // no next IFD
    let payload = Array("Exif".utf8) + [0, 0] + tiff
    return [0xFF, 0xE1, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload
}

/// Inserts a marker segment right after SOI.
func splice(_ segment: [UInt8], into jpeg: [UInt8]) -> [UInt8] {
    Array(jpeg[0..<2]) + segment + Array(jpeg[2...])
}

@Suite struct JPEGDecodeTests {
    enum Colour: String, CaseIterable { case red, green, blue, yellow }

    static func classify(_ p: [UInt8]) -> Colour? {
        let hi = p.map { $0 > 170 }, lo = p.map { $0 < 85 }
        if hi[0] && lo[1] && lo[2] { return .red }
        if lo[0] && hi[1] && lo[2] { return .green }
        if lo[0] && lo[1] && hi[2] { return .blue }
        if hi[0] && hi[1] && lo[2] { return .yellow }
        return nil
    }

    /// Colours at the upright quadrant centres (TL, TR, BL, BR) for stored red|green / blue|yellow.
    static let expected: [Int: [Colour]] = [
        1: [.red, .green, .blue, .yellow], 2: [.green, .red, .yellow, .blue],
        3: [.yellow, .blue, .green, .red], 4: [.blue, .yellow, .red, .green],
        5: [.red, .blue, .green, .yellow], 6: [.blue, .red, .yellow, .green],
        7: [.yellow, .green, .blue, .red], 8: [.green, .yellow, .red, .blue],
    ]

    static func corners(_ image: RasterImage) -> [Colour?] {
        let xs = [image.width / 4, image.width * 3 / 4], ys = [image.height / 4, image.height * 3 / 4]
        return [(xs[0], ys[0]), (xs[1], ys[0]), (xs[0], ys[1]), (xs[1], ys[1])].map {
            classify(TestImages.pixel(image, $0.0, $0.1))
        }
    }

    @Test(arguments: 1...8, [true, false])
    func exifOrientationIsApplied(orientation: Int, littleEndian: Bool) throws {
        let stored = try ImageEncoder.jpeg(TestImages.quadrants(width: 64, height: 32), quality: 95)
        let jpeg = splice(exifSegment(orientation: orientation, littleEndian: littleEndian), into: stored)
        let quarterTurn = orientation >= 5
        let header = try ImageDecoder.readHeader(jpeg)
        #expect(header.orientation == orientation)
        #expect(header.width == (quarterTurn ? 32 : 64) && header.height == (quarterTurn ? 64 : 32))
        let image = try ImageDecoder.decode(jpeg)
        #expect(image.width == header.width && image.height == header.height)
        #expect(Self.corners(image) == Self.expected[orientation]!.map { Optional($0) })
    }

    @Test func malformedExifIsIgnored() throws {
        let stored = try ImageEncoder.jpeg(TestImages.quadrants(width: 64, height: 32), quality: 95)
        var segment = exifSegment(orientation: 6, littleEndian: true)
        segment[14...17] = [0xFF, 0xFF, 0x00, 0x00]    // IFD0 offset far outside the segment
        let header = try ImageDecoder.readHeader(splice(segment, into: stored))
        #expect(header.orientation == 1 && header.width == 64)
        let short = Array(exifSegment(orientation: 6, littleEndian: false).prefix(12))
        let cut = [0xFF, 0xE1, 0x00, UInt8(short.count - 2)] + short[4...]
        #expect(try ImageDecoder.readHeader(splice(Array(cut), into: stored)).orientation == 1)
    }

    @Test func adobeCMYKBecomesRGB() throws {
        let image = try ImageDecoder.decode(JPEGFixtures.cmykQuadrants)
        #expect(image.width == 32 && image.height == 24 && image.channels == 3)
        #expect(Self.corners(image) == [.red, .green, .blue, .yellow])
    }

    @Test func greyscaleBecomesRGB() throws {
        let image = try ImageDecoder.decode(JPEGFixtures.grey)
        #expect(image.width == 24 && image.height == 16 && image.channels == 3)
        let left = TestImages.pixel(image, 3, 8), right = TestImages.pixel(image, 20, 8)
        #expect(left[0] == left[1] && left[1] == left[2] && abs(Int(left[0]) - 40) <= 3)
        #expect(right[0] == right[1] && right[1] == right[2] && abs(Int(right[0]) - 220) <= 3)
    }

    @Test func progressiveDecodes() throws {
        let image = try ImageDecoder.decode(JPEGFixtures.progressive)
        #expect(image.width == 32 && image.height == 32)
        let p = TestImages.pixel(image, 20, 10)
        #expect(abs(Int(p[0]) - 160) <= 8 && abs(Int(p[1]) - 80) <= 8 && abs(Int(p[2]) - 128) <= 8)
    }

    @Test func tooManyProgressiveScansAreRefused() throws {
        // Repeat the DC refinement scan (Ss = Se = 0, Ah > 0: one raw bit per block, so any copy is
        // valid entropy data) until the file has more than 500 scans.
        let bytes = JPEGFixtures.progressive
        var starts: [Int] = []
        for i in 0..<(bytes.count - 1) where bytes[i] == 0xFF && bytes[i + 1] == 0xDA { starts.append(i) }
        let dcRefinement = try #require(starts.firstIndex { i in
            let n = Int(bytes[i + 4]), params = i + 5 + 2 * n
            return bytes[params] == 0 && bytes[params + 1] == 0 && bytes[params + 2] >> 4 != 0
        })
        let end = dcRefinement + 1 < starts.count ? starts[dcRefinement + 1] : bytes.count - 2
        let scan = Array(bytes[starts[dcRefinement]..<end])
        var bomb = Array(bytes[..<end])
        for _ in 0..<600 { bomb += scan }
        bomb += bytes[end...]
        #expect(throws: ImageCodecError.exceedsLimits("progressive JPEG has more than 500 scans")) {
            try ImageDecoder.decode(bomb)
        }
    }

    @Test func dctScalingKeepsAtLeastTheMinimumSize() throws {
        let jpeg = try ImageEncoder.jpeg(TestImages.gradient(width: 256, height: 192), quality: 90)
        let full = try ImageDecoder.decode(jpeg)
        #expect(full.width == 256)
        let quarter = try ImageDecoder.decode(jpeg, minimumSize: (width: 40, height: 30))
        #expect(quarter.width == 64 && quarter.height == 48)    // 1/8 (32x24) would be too small
        let exact = try ImageDecoder.decode(jpeg, minimumSize: (width: 32, height: 24))
        #expect(exact.width == 32 && exact.height == 24)
        let none = try ImageDecoder.decode(jpeg, minimumSize: (width: 250, height: 10))
        #expect(none.width == 256 && none.height == 192)
        // Same picture: the scaled decode's pixel (x, y) matches the full one at (4x+2, 4y+2).
        let a = TestImages.pixel(quarter, 30, 20), b = TestImages.pixel(full, 122, 82)
        for c in 0..<3 { #expect(abs(Int(a[c]) - Int(b[c])) <= 6) }
    }

    @Test func dctScalingUsesUprightSizes() throws {
        let stored = try ImageEncoder.jpeg(TestImages.quadrants(width: 256, height: 128), quality: 90)
        let jpeg = splice(exifSegment(orientation: 6, littleEndian: true), into: stored)
        // Upright 128x256; 1/8 gives 16x32, 2/8 gives 32x64.
        let image = try ImageDecoder.decode(jpeg, minimumSize: (width: 20, height: 40))
        #expect(image.width == 32 && image.height == 64)
        #expect(Self.corners(image) == [.blue, .red, .yellow, .green])
    }
}
