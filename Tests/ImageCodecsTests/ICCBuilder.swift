import Foundation
import ImageCodecs

/// Hand-assembled ICC v2 profiles (matrix/TRC RGB and Gray, plus hostile variants) and the containers
/// that embed them (JPEG APP2, PNG iCCP, WebP ICCP), so the colour tests need no profile files. The
/// expected conversions are computed here from the same numbers, independently of lcms2
/// (`ICCMath`); Tests/ops checks the service against lcms2 itself (Pillow's ImageCms).
struct ICCBuilder {
    /// Colorants in the PCS (D50, Bradford-adapted), columns of the RGB → XYZ matrix.
    var red: (Double, Double, Double)
    var green: (Double, Double, Double)
    var blue: (Double, Double, Double)
    var curve: Curve = .sRGB
    var description = "test profile"
    var colourSpace = "RGB "
    var deviceClass = "mntr"
    /// Extra tags (signature, raw tag data including its type signature).
    var extraTags: [(String, [UInt8])] = []

    enum Curve {
        case sRGB
        case gamma(Double)

        func apply(_ v: Double) -> Double {
            switch self {
            case .sRGB: return ICCMath.srgbToLinear(v)
            case .gamma(let g): return pow(v, g)
            }
        }

        var tag: [UInt8] {
            switch self {
            case .sRGB:
                // parametricCurveType, function 3: Y = (aX + b)^g for X >= d, Y = cX below.
                return ascii("para") + [0, 0, 0, 0] + [0, 3, 0, 0]
                    + [2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045].flatMap(s15Fixed16)
            case .gamma(let g):
                return ascii("curv") + [0, 0, 0, 0] + be32(1) + [UInt8(Int(g)), UInt8(Int((g - Double(Int(g))) * 256))]
            }
        }
    }

    /// Display P3 (Apple's profile): P3 primaries, D65 white, sRGB's curve.
    static let displayP3 = ICCBuilder(red: (0.515102, 0.241182, -0.001050), green: (0.291965, 0.692236, 0.041882),
                                      blue: (0.157153, 0.066574, 0.784378), description: "Display P3")
    /// sRGB as ICC profiles carry it.
    static let sRGB = ICCBuilder(red: (0.436066, 0.222488, 0.013916), green: (0.385147, 0.716873, 0.097076),
                                 blue: (0.143066, 0.060608, 0.714096), description: "sRGB IEC61966-2.1")
    /// Adobe RGB (1998): wide-gamut primaries, gamma 563/256.
    static let adobeRGB = ICCBuilder(red: (0.609741, 0.311111, 0.019470), green: (0.205276, 0.625671, 0.060867),
                                     blue: (0.149185, 0.063217, 0.744568), curve: .gamma(2.19921875),
                                     description: "Adobe RGB (1998)")

    /// A Gray profile with this tone curve.
    static func grey(_ curve: Curve, description: String = "Gray test") -> ICCBuilder {
        ICCBuilder(red: (0, 0, 0), green: (0, 0, 0), blue: (0, 0, 0), curve: curve, description: description,
                   colourSpace: "GRAY")
    }

    func build() -> [UInt8] {
        var tags: [(String, [UInt8])] = [("desc", Self.textDescription(description)),
                                         ("wtpt", Self.xyz((0.9642, 1.0, 0.8249)))]
        if colourSpace == "GRAY" {
            tags.append(("kTRC", curve.tag))
        } else {
            tags += [("rXYZ", Self.xyz(red)), ("gXYZ", Self.xyz(green)), ("bXYZ", Self.xyz(blue)),
                     ("rTRC", curve.tag), ("gTRC", curve.tag), ("bTRC", curve.tag)]
        }
        tags += extraTags
        var table = be32(tags.count)
        var data: [UInt8] = []
        let dataStart = 128 + 4 + 12 * tags.count
        for (signature, bytes) in tags {
            while data.count % 4 != 0 { data.append(0) }
            table += ascii(signature) + be32(dataStart + data.count) + be32(bytes.count)
            data += bytes
        }
        while data.count % 4 != 0 { data.append(0) }
        let size = dataStart + data.count
        var header = be32(size) + [0, 0, 0, 0] + [0x02, 0x10, 0, 0] + ascii(deviceClass) + ascii(colourSpace)
        header += ascii("XYZ ") + [UInt8](repeating: 0, count: 12) + ascii("acsp") + [UInt8](repeating: 0, count: 4)
        header += [UInt8](repeating: 0, count: 4 + 4 + 4 + 8) + be32(0)  // flags, manufacturer, model, attributes, intent
        header += Self.s15Fixed16(0.9642) + Self.s15Fixed16(1.0) + Self.s15Fixed16(0.8249)
        header += [UInt8](repeating: 0, count: 4 + 16 + 28)
        precondition(header.count == 128)
        return header + table + data
    }

    static func xyz(_ v: (Double, Double, Double)) -> [UInt8] {
        ascii("XYZ ") + [0, 0, 0, 0] + s15Fixed16(v.0) + s15Fixed16(v.1) + s15Fixed16(v.2)
    }

    static func s15Fixed16(_ v: Double) -> [UInt8] {
        be32(Int((v * 65536).rounded()))  // two's complement bytes for negative values
    }

    /// v2 textDescriptionType: ASCII, then empty Unicode and ScriptCode parts.
    static func textDescription(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8) + [0]
        return ascii("desc") + [0, 0, 0, 0] + be32(bytes.count) + bytes + [0, 0, 0, 0] + [0, 0, 0, 0]
            + [0, 0, 0] + [UInt8](repeating: 0, count: 67)
    }

    /// A lut16Type (mft2) tag whose CLUT declares `points`^3 grid points of `outputs` channels: 3 inputs,
    /// as an RGB profile's A2B0 would. Only the header and the input tables are present; the CLUT itself
    /// is missing, as in a hostile file that hopes the reader allocates first.
    static func hostileLUT16(points: UInt8, outputs: UInt8) -> [UInt8] {
        var tag = ascii("mft2") + [0, 0, 0, 0] + [3, outputs, points, 0]
        for i in 0..<9 { tag += s15Fixed16(i % 4 == 0 ? 1 : 0) }  // identity matrix
        tag += [0, 2, 0, 2]  // 2 input and 2 output table entries
        for _ in 0..<3 { tag += [0, 0, 0xFF, 0xFF] }
        return tag
    }
}

private func ascii(_ s: String) -> [UInt8] { Array(s.utf8) }

/// The conversions the tests expect, from the profiles' own numbers (double precision).
enum ICCMath {
    static func srgbToLinear(_ v: Double) -> Double { v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4) }
    static func linearToSRGB(_ v: Double) -> Double {
        let c = min(max(v, 0), 1)
        return c <= 0.0031308 ? c * 12.92 : 1.055 * pow(c, 1 / 2.4) - 0.055
    }

    typealias Matrix = [[Double]]

    static func matrix(_ p: ICCBuilder) -> Matrix {
        // Quantised as the profile stores them.
        func q(_ v: Double) -> Double { (v * 65536).rounded() / 65536 }
        return [[q(p.red.0), q(p.green.0), q(p.blue.0)], [q(p.red.1), q(p.green.1), q(p.blue.1)],
                [q(p.red.2), q(p.green.2), q(p.blue.2)]]
    }

    static func inverse(_ m: Matrix) -> Matrix {
        let a = m[0][0], b = m[0][1], c = m[0][2], d = m[1][0], e = m[1][1], f = m[1][2]
        let g = m[2][0], h = m[2][1], i = m[2][2]
        let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
        return [[(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
                [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
                [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det]]
    }

    static func multiply(_ m: Matrix, _ v: [Double]) -> [Double] {
        (0..<3).map { r in m[r][0] * v[0] + m[r][1] * v[1] + m[r][2] * v[2] }
    }

    /// One 8-bit RGB pixel from the profile's space to sRGB (relative colorimetric, no clipping before the
    /// final encode), as 0…255 doubles.
    static func toSRGB(_ rgb: [UInt8], from profile: ICCBuilder) -> [Double] {
        let srgbInverse = inverse(matrix(.sRGB))
        let linear = rgb.prefix(3).map { profile.curve.apply(Double($0) / 255) }
        let xyz = multiply(matrix(profile), linear)
        return multiply(srgbInverse, xyz).map { linearToSRGB($0) * 255 }
    }

    /// A grey level through a Gray profile's curve to sRGB (grey stays grey: Y → sRGB's curve).
    static func greyToSRGB(_ value: UInt8, curve: ICCBuilder.Curve) -> Double {
        linearToSRGB(curve.apply(Double(value) / 255)) * 255
    }

    /// The image as a P3 (or other matrix/TRC) source would look once converted.
    static func converted(_ image: RasterImage, from profile: ICCBuilder) -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(image.width * image.height * 3)
        for i in stride(from: 0, to: image.pixels.count, by: image.channels) {
            out += toSRGB(Array(image.pixels[i..<(i + 3)]), from: profile)
        }
        return out
    }

    /// Largest and mean absolute difference over the colour channels of `image` against `expected` (3
    /// values per pixel).
    static func difference(_ image: RasterImage, _ expected: [Double]) -> (max: Double, mean: Double) {
        var worst = 0.0, sum = 0.0, n = 0
        for p in 0..<(image.width * image.height) {
            for c in 0..<3 {
                let d = abs(Double(image.pixels[p * image.channels + c]) - expected[p * 3 + c])
                worst = max(worst, d)
                sum += d
                n += 1
            }
        }
        return (worst, sum / Double(max(n, 1)))
    }
}

/// Embedding a profile the way each format does.
enum ICCEmbed {
    /// APP2 ICC_PROFILE segments right after SOI, the profile cut into `segments` parts (in `order`, a
    /// permutation of 1…segments, or 1…segments when nil). `count` overrides the declared total.
    static func jpeg(_ file: [UInt8], profile: [UInt8], segments: Int = 1, order: [Int]? = nil,
                     count: Int? = nil) -> [UInt8] {
        let size = (profile.count + segments - 1) / segments
        var parts: [[UInt8]] = []
        for s in 0..<segments {
            let part = Array(profile[min(s * size, profile.count)..<min((s + 1) * size, profile.count)])
            parts.append(part)
        }
        var markers: [UInt8] = []
        for seq in order ?? Array(1...segments) {
            let payload = Array("ICC_PROFILE".utf8) + [0, UInt8(seq), UInt8(count ?? segments)] + parts[seq - 1]
            let length = payload.count + 2
            precondition(length <= 0xFFFF, "segment too long")
            markers += [0xFF, 0xE2, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
        }
        return Array(file[0..<2]) + markers + Array(file[2...])
    }

    /// An iCCP chunk (name, compression method 0, zlib stream) right after IHDR.
    static func png(_ file: [UInt8], profile: [UInt8], name: String = "ICC Profile") -> [UInt8] {
        png(file, iccpPayload: Array(name.utf8) + [0, 0] + zlibStored(profile))
    }

    static func png(_ file: [UInt8], iccpPayload: [UInt8]) -> [UInt8] {
        let ihdrEnd = 8 + 8 + 13 + 4
        return Array(file[0..<ihdrEnd]) + chunk("iCCP", iccpPayload) + Array(file[ihdrEnd...])
    }

    /// A simple-format WebP (one VP8/VP8L chunk) turned into the extended format: VP8X with the ICC flag,
    /// the ICCP chunk, then the image chunk.
    static func webp(_ file: [UInt8], profile: [UInt8]?, width: Int, height: Int, extraFlags: UInt8 = 0,
                     iccpDeclaredSize: Int? = nil) -> [UInt8] {
        let image = Array(file[12...])
        var flags: UInt8 = extraFlags
        if profile != nil { flags |= 0x20 }
        var body = Array("WEBP".utf8)
        body += riffChunk("VP8X", [flags, 0, 0, 0] + le24(width - 1) + le24(height - 1))
        if let profile {
            if let declared = iccpDeclaredSize {
                body += Array("ICCP".utf8) + le32(declared) + profile
            } else {
                body += riffChunk("ICCP", profile)
            }
        }
        body += image
        return Array("RIFF".utf8) + le32(body.count) + body
    }

    static func riffChunk(_ fourcc: String, _ payload: [UInt8]) -> [UInt8] {
        Array(fourcc.utf8) + le32(payload.count) + payload + (payload.count % 2 == 1 ? [0] : [])
    }

    static func le32(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24 & 0xFF)] }
    static func le24(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF)] }
}
