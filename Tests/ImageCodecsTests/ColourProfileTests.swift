import Foundation
import Testing
import TestSupport
import ImageCodecs

/// Embedded ICC profiles are converted to sRGB right after decoding (lcms2): JPEG APP2, PNG iCCP, WebP
/// ICCP. Expected values come from the profiles' own numbers (ICCMath); Tests/ops/test_colour.py checks
/// the service against lcms2 itself through Pillow's ImageCms.
@Suite struct ColourProfileTests {
    /// Saturated colours (where P3 and sRGB differ most), greys and gradients.
    static func swatches(width: Int = 48, height: Int = 32, channels: Int = 3) -> RasterImage {
        var image = TestImages.gradient(width: width, height: height, channels: channels)
        let colours: [[UInt8]] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255],
                                  [255, 0, 255], [128, 128, 128], [255, 255, 255], [0, 0, 0], [200, 80, 40]]
        for (k, colour) in colours.enumerated() {
            for y in 0..<8 {
                for x in (k * 4)..<min(width, k * 4 + 4) {
                    let i = (y * width + x) * channels
                    image.pixels[i] = colour[0]; image.pixels[i + 1] = colour[1]; image.pixels[i + 2] = colour[2]
                }
            }
        }
        return image
    }

    static let lossless = try! ImageEncoder.png(swatches())

    // MARK: PNG iCCP (lossless, so the expectation is exact up to lcms2's 8-bit interpolation)

    @Test func displayP3PNGIsConvertedToSRGB() throws {
        let source = Self.swatches()
        let tagged = ICCEmbed.png(Self.lossless, profile: ICCBuilder.displayP3.build())
        let decoded = try ImageDecoder.decodeDetailed(tagged)
        #expect(decoded.colour == .converted("Display P3"))
        let d = ICCMath.difference(decoded.image, ICCMath.converted(source, from: .displayP3))
        #expect(d.max <= 1.5 && d.mean < 0.3, "max \(d.max) mean \(d.mean)")
        // P3's pure red is outside sRGB: clipped to sRGB's red, not left as (255, 0, 0) of the wrong red.
        #expect(TestImages.pixel(decoded.image, 0, 0) == [255, 0, 0])
        // A less saturated colour moves: (200, 80, 40) in P3 is more saturated in sRGB.
        let moved = TestImages.pixel(decoded.image, 36, 0)
        #expect(moved[0] > 205 && moved[1] < 75 && moved[2] < 40, "\(moved)")
    }

    @Test func adobeRGBGammaCurveIsApplied() throws {
        let tagged = ICCEmbed.png(Self.lossless, profile: ICCBuilder.adobeRGB.build())
        let decoded = try ImageDecoder.decodeDetailed(tagged)
        #expect(decoded.colour == .converted("Adobe RGB (1998)"))
        let d = ICCMath.difference(decoded.image, ICCMath.converted(Self.swatches(), from: .adobeRGB))
        #expect(d.max <= 1.5 && d.mean < 0.3, "max \(d.max) mean \(d.mean)")
    }

    @Test func alphaIsUntouchedByConversion() throws {
        let source = Self.swatches(channels: 4)
        let tagged = ICCEmbed.png(try ImageEncoder.png(source), profile: ICCBuilder.displayP3.build())
        let decoded = try ImageDecoder.decode(tagged)
        #expect(decoded.channels == 4)
        for i in stride(from: 3, to: source.pixels.count, by: 4) where decoded.pixels[i] != source.pixels[i] {
            Issue.record("alpha changed at \(i / 4)")
            break
        }
        let d = ICCMath.difference(decoded, ICCMath.converted(source, from: .displayP3))
        #expect(d.max <= 1.5, "max \(d.max)")
    }

    @Test func sRGBProfileLeavesPixelsUntouched() throws {
        let tagged = ICCEmbed.png(Self.lossless, profile: ICCBuilder.sRGB.build())
        let decoded = try ImageDecoder.decodeDetailed(tagged)
        #expect(decoded.colour == .sRGB("sRGB IEC61966-2.1"))
        #expect(decoded.image == Self.swatches())
        #expect(try ImageDecoder.decodeDetailed(Self.lossless).colour == ColourProfile.none)
    }

    @Test func greyPNGWithGrayProfile() throws {
        let curve = ICCBuilder.Curve.gamma(1.8)
        let png = PNGBuilder(width: 16, height: 4, colourType: .grey, bitDepth: 8, samples: { x, y in [x * 16 + y] }).build()
        let tagged = ICCEmbed.png(png, profile: ICCBuilder.grey(curve, description: "Gray 1.8").build())
        let decoded = try ImageDecoder.decodeDetailed(tagged)
        #expect(decoded.colour == .converted("Gray 1.8"))
        for y in 0..<4 {
            for x in 0..<16 {
                let p = TestImages.pixel(decoded.image, x, y)
                let expected = ICCMath.greyToSRGB(UInt8(x * 16 + y), curve: curve)
                #expect(p[0] == p[1] && p[1] == p[2])
                #expect(abs(Double(p[0]) - expected) <= 1.5, "grey \(x * 16 + y): \(p[0]) vs \(expected)")
            }
        }
        // A Gray profile with sRGB's curve is sRGB for a grey image: untouched.
        let srgbGrey = ICCEmbed.png(png, profile: ICCBuilder.grey(.sRGB, description: "sGray").build())
        let plain = try ImageDecoder.decode(png)
        let same = try ImageDecoder.decodeDetailed(srgbGrey)
        #expect(same.colour == .sRGB("sGray") && same.image == plain)
    }

    @Test func profileThatDoesNotFitTheImageIsIgnored() throws {
        // libpng itself drops a Gray profile on a colour PNG; lcms2's side refuses it for a JPEG.
        let tagged = ICCEmbed.png(Self.lossless, profile: ICCBuilder.grey(.gamma(2.2)).build())
        let decoded = try ImageDecoder.decodeDetailed(tagged)
        guard case .ignored(let reason) = decoded.colour else { Issue.record("\(decoded.colour)"); return }
        #expect(!reason.isEmpty)
        #expect(decoded.image == Self.swatches())
        let jpeg = try ImageEncoder.jpeg(Self.swatches())
        let grey = try ImageDecoder.decodeDetailed(ICCEmbed.jpeg(jpeg, profile: ICCBuilder.grey(.gamma(2.2)).build()))
        #expect(grey.colour == .ignored("a Gray ICC profile does not fit a colour image"))
        #expect(grey.image == (try ImageDecoder.decode(jpeg)))
    }

    @Test func cmykProfilesAreReportedNotApplied() throws {
        var cmyk = ICCBuilder.grey(.gamma(1.8), description: "CMYK test")
        cmyk.colourSpace = "CMYK"
        cmyk.deviceClass = "prtr"
        let tagged = ICCEmbed.jpeg(JPEGFixtures.cmykQuadrants, profile: cmyk.build())
        let decoded = try ImageDecoder.decodeDetailed(tagged)
        #expect(decoded.colour == .ignored("CMYK ICC profiles are not applied (the inks are converted by formula)"))
        #expect(decoded.image == (try ImageDecoder.decode(JPEGFixtures.cmykQuadrants)))
    }

    // MARK: JPEG APP2

    @Test func displayP3JPEGSingleAndMultiSegment() throws {
        let jpeg = try ImageEncoder.jpeg(Self.swatches(), quality: 95)
        let plain = try ImageDecoder.decode(jpeg)
        let expected = ICCMath.converted(plain, from: .displayP3)
        var profile = ICCBuilder.displayP3
        // A profile over one segment's 65519 bytes, as printer profiles are: a large private tag.
        profile.extraTags = [("zzzz", Array("data".utf8) + [0, 0, 0, 0] + [UInt8](repeating: 0x5A, count: 150_000))]
        let big = profile.build()
        let variants: [(String, [UInt8])] = [
            ("one segment", ICCEmbed.jpeg(jpeg, profile: ICCBuilder.displayP3.build())),
            ("three segments", ICCEmbed.jpeg(jpeg, profile: big, segments: 3)),
            ("three segments out of order", ICCEmbed.jpeg(jpeg, profile: big, segments: 3, order: [3, 1, 2])),
        ]
        for (name, tagged) in variants {
            let decoded = try ImageDecoder.decodeDetailed(tagged)
            #expect(decoded.colour == .converted("Display P3"), "\(name)")
            let d = ICCMath.difference(decoded.image, expected)
            #expect(d.max <= 1.5 && d.mean < 0.3, "\(name): max \(d.max) mean \(d.mean)")
        }
        #expect(try ImageDecoder.iccProfile(variants[1].1) == big)
    }

    @Test func damagedSegmentsAreIgnored() throws {
        let jpeg = try ImageEncoder.jpeg(Self.swatches())
        let plain = try ImageDecoder.decode(jpeg)
        let profile = ICCBuilder.displayP3.build()
        let cases: [([UInt8], String)] = [
            (ICCEmbed.jpeg(jpeg, profile: profile, segments: 3, order: [1, 3]), "ICC_PROFILE segment 2 of 3 is missing"),
            (ICCEmbed.jpeg(jpeg, profile: profile, segments: 2, order: [1, 2, 2]), "ICC_PROFILE segment 2 of 2 appears twice"),
            (ICCEmbed.jpeg(jpeg, profile: profile, segments: 2, count: 0), "ICC_PROFILE segment numbered 1 of 0"),
        ]
        for (tagged, reason) in cases {
            let decoded = try ImageDecoder.decodeDetailed(tagged)
            #expect(decoded.colour == .ignored(reason))
            #expect(decoded.image == plain)
        }
    }

    @Test func brokenProfilesDecodeAsUntagged() throws {
        let jpeg = try ImageEncoder.jpeg(Self.swatches())
        let plain = try ImageDecoder.decode(jpeg)
        var rng = SeededRandom(seed: 5)
        let good = ICCBuilder.displayP3.build()
        var profiles: [[UInt8]] = [Array(good.prefix(100)), (0..<600).map { _ in UInt8.random(in: 0...255, using: &rng) }]
        // A header that claims more bytes than there are, and a tag table pointing past the end.
        var long = good
        long.replaceSubrange(0..<4, with: be32(1 << 30))
        profiles.append(long)
        var badTag = good
        badTag.replaceSubrange(136..<140, with: be32(1 << 20))
        profiles.append(badTag)
        for _ in 0..<200 {
            var damaged = good
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            profiles.append(damaged)
        }
        for profile in profiles {
            let decoded = try ImageDecoder.decodeDetailed(ICCEmbed.jpeg(jpeg, profile: profile))
            switch decoded.colour {
            case .ignored(let reason): #expect(!reason.isEmpty); #expect(decoded.image == plain)
            case .converted, .sRGB: break  // damage lcms2 tolerates (e.g. in the description)
            case .none: Issue.record("profile not found")
            }
        }
    }

    @Test func oversizedProfilesAreIgnoredWithoutAllocating() throws {
        let jpeg = try ImageEncoder.jpeg(Self.swatches())
        let plain = try ImageDecoder.decode(jpeg)
        // The bound itself, small here so the test stays small.
        let tagged = ICCEmbed.jpeg(jpeg, profile: ICCBuilder.displayP3.build())
        #expect(throws: ImageCodecError.exceedsLimits("ICC profile of 508 bytes exceeds 100 bytes")) {
            try ImageDecoder.iccProfile(tagged, maxBytes: 100)
        }
        // JPEG: 9 MB of segments (over the 8 MB bound).
        let huge = [UInt8](repeating: 1, count: 9 << 20)
        let hugeJPEG = ICCEmbed.jpeg(jpeg, profile: huge, segments: 150)
        let decoded = try ImageDecoder.decodeDetailed(hugeJPEG)
        #expect(decoded.colour == .ignored("ICC profile of 9437184 bytes exceeds 8388608 bytes"))
        #expect(decoded.image == plain)
        // PNG: an iCCP whose profile header claims 1 GB, with only those 132 bytes behind it: libpng
        // refuses it from the header, before inflating or allocating.
        var claim = Array(ICCBuilder.displayP3.build().prefix(132))
        claim.replaceSubrange(0..<4, with: be32(1 << 30))
        let png = ICCEmbed.png(Self.lossless, profile: claim)
        let pngDecoded = try ImageDecoder.decodeDetailed(png)
        guard case .ignored(let reason) = pngDecoded.colour else { Issue.record("\(pngDecoded.colour)"); return }
        #expect(reason.contains("iCCP"), "\(reason)")
        #expect(pngDecoded.image == Self.swatches())
        // WebP: an ICCP chunk declaring 4 GB − 1.
        let webp = try ImageEncoder.webp(Self.swatches())
        let hostile = ICCEmbed.webp(webp, profile: Array(claim.prefix(64)), width: 48, height: 32,
                                    iccpDeclaredSize: 0xFFFF_FFFF)
        #expect(throws: ImageCodecError.exceedsLimits("ICC profile of 4294967295 bytes exceeds 8388608 bytes")) {
            try ImageDecoder.iccProfile(hostile)
        }
        // libwebp refuses the container as a whole (the chunk runs past the file).
        #expect(throws: ImageCodecError.corrupt(.webp, "bitstream error")) { try ImageDecoder.decode(hostile) }
    }

    /// A 600-byte profile whose A2B0 table declares a 255³ × 15 CLUT (about 500 MB of 16-bit entries,
    /// under lcms2's own 512 MB cap): the bounded allocator refuses it.
    @Test func hostileLookupTableIsRefusedByTheMemoryBound() throws {
        var profile = ICCBuilder.displayP3
        profile.extraTags = [("A2B0", ICCBuilder.hostileLUT16(points: 255, outputs: 15))]
        let tagged = ICCEmbed.png(Self.lossless, profile: profile.build())
        let clock = ContinuousClock()
        var decoded: DecodedImage?
        let elapsed = try clock.measure { decoded = try ImageDecoder.decodeDetailed(tagged) }
        guard let decoded else { return }
        #expect(decoded.colour == .ignored("the ICC profile needs more than 64 MB to apply"))
        #expect(decoded.image == Self.swatches())
        #expect(elapsed < .seconds(1), "\(elapsed)")
    }

    // MARK: WebP ICCP

    @Test func displayP3WebP() throws {
        let webp = try ImageEncoder.webp(Self.swatches(), quality: 95)
        let plain = try ImageDecoder.decode(webp)
        let tagged = ICCEmbed.webp(webp, profile: ICCBuilder.displayP3.build(), width: 48, height: 32)
        #expect(try ImageDecoder.readHeader(tagged) == ImageDecoder.readHeader(webp))
        let decoded = try ImageDecoder.decodeDetailed(tagged)
        #expect(decoded.colour == .converted("Display P3"))
        let d = ICCMath.difference(decoded.image, ICCMath.converted(plain, from: .displayP3))
        #expect(d.max <= 1.5 && d.mean < 0.3, "max \(d.max) mean \(d.mean)")
        // A file cut inside its ICCP chunk: the profile reader reports the cut (and libwebp refuses the file).
        let cut = Array(tagged.prefix(30 + 8 + 100))
        #expect(throws: ImageCodecError.self) { try ImageDecoder.iccProfile(cut) }
    }

    @Test func orientationAndProfileTogether() throws {
        // EXIF orientation 6 (a quarter turn) plus a P3 profile: upright and converted.
        let jpeg = try ImageEncoder.jpeg(Self.swatches(), quality: 95)
        let exif: [UInt8] = Array("Exif".utf8) + [0, 0] + Array("MM".utf8) + [0, 42, 0, 0, 0, 8, 0, 1]
            + [0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0] + [0, 0, 0, 0]
        let app1 = [0xFF, 0xE1, UInt8((exif.count + 2) >> 8), UInt8((exif.count + 2) & 0xFF)] + exif
        let rotated = Array(jpeg[0..<2]) + app1 + Array(jpeg[2...])
        let plain = try ImageDecoder.decode(rotated)
        #expect(plain.width == 32 && plain.height == 48)
        let decoded = try ImageDecoder.decodeDetailed(ICCEmbed.jpeg(rotated, profile: ICCBuilder.displayP3.build()))
        #expect(decoded.colour == .converted("Display P3"))
        let d = ICCMath.difference(decoded.image, ICCMath.converted(plain, from: .displayP3))
        #expect(d.max <= 1.5, "max \(d.max)")
    }
}
