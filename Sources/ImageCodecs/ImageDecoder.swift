internal import CImageCodecs

/// JPEG/PNG/WebP bytes → `RasterImage` (RGB, or straight RGBA for PNGs and WebPs with alpha), through
/// libjpeg-turbo, libpng and libwebp, in sRGB (an embedded ICC profile is converted with lcms2). Sizes
/// are checked from the header before pixels are allocated; nothing here traps on any input.
public enum ImageDecoder {
    /// Progressive JPEGs with more scans than this are refused (each scan is a pass over the image).
    static let maxProgressiveScans: Int32 = 500
    /// Embedded ICC profiles larger than this are ignored (the pixels are taken as sRGB). Real ones are
    /// 0.5–4 kB for RGB (sRGB, Display P3, Adobe RGB) and up to a few MB for printers' CMYK; this is
    /// also libpng's chunk limit here (docs/images.md, "Colour").
    public static let maxICCProfileBytes = 8 << 20

    public static func sniff(_ bytes: [UInt8]) -> ImageFormat? {
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if bytes.count >= 8, Array(bytes[0..<8]) == pngSignature { return .png }
        if bytes.count >= 12, bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WEBP".utf8) {
            return .webp
        }
        return nil
    }

    /// The name of a common image format deepresize does not read ("a GIF image"), for the 415's
    /// message; nil for anything else.
    public static func unsupportedKind(_ bytes: [UInt8]) -> String? {
        func starts(_ prefix: String, at offset: Int = 0) -> Bool {
            let p = Array(prefix.utf8)
            return bytes.count >= offset + p.count && bytes[offset..<(offset + p.count)].elementsEqual(p)
        }
        if starts("GIF87a") || starts("GIF89a") { return "a GIF image" }
        if starts("ftyp", at: 4) {
            if starts("avif", at: 8) || starts("avis", at: 8) { return "an AVIF image" }
            if ["heic", "heix", "hevc", "heim", "heis", "mif1", "msf1"].contains(where: { starts($0, at: 8) }) {
                return "a HEIF/HEIC image"
            }
        }
        if starts("BM") && bytes.count >= 26 { return "a BMP image" }
        if starts("II*\u{0}") || starts("MM\u{0}*") { return "a TIFF image" }
        if bytes.starts(with: [0xFF, 0x0A]) || starts("JXL ", at: 4) { return "a JPEG XL image" }
        if bytes.starts(with: [0x00, 0x00, 0x01, 0x00]) { return "an ICO image" }
        return nil
    }

    /// `unrecognizedFormat`, or `unsupported` when the bytes are a known format deepresize does not read.
    static func notReadable(_ bytes: [UInt8]) -> ImageCodecError {
        unsupportedKind(bytes).map(ImageCodecError.unsupported) ?? .unrecognizedFormat
    }

    public static func readHeader(_ bytes: [UInt8]) throws -> ImageHeader {
        guard let format = sniff(bytes) else { throw notReadable(bytes) }
        let info = try readInfo(bytes, format: format)
        return header(format: format, info: info)
    }

    /// Decodes to upright sRGB pixels. With `minimumSize` (the size the caller will resample to), a JPEG
    /// is decoded at the smallest DCT scale (1/8 … 8/8) whose upright result is still at least that large
    /// in both axes, so the resampler still shrinks (libvips' shrink-on-load).
    public static func decode(_ bytes: [UInt8], limits: DecodeLimits = .init(),
                              minimumSize: (width: Int, height: Int)? = nil) throws -> RasterImage {
        try decodeDetailed(bytes, limits: limits, minimumSize: minimumSize).image
    }

    /// `decode`, also saying what was done about an embedded ICC profile. A profile that is not sRGB is
    /// converted to sRGB right after decoding (so every method sees sRGB); a damaged or unusable one is
    /// ignored (the pixels are taken as sRGB, as browsers do), never a reason to refuse the image.
    public static func decodeDetailed(_ bytes: [UInt8], limits: DecodeLimits = .init(),
                                      minimumSize: (width: Int, height: Int)? = nil) throws -> DecodedImage {
        guard let format = sniff(bytes) else { throw notReadable(bytes) }
        let info = try readInfo(bytes, format: format)
        let header = header(format: format, info: info)
        try check(header, against: limits)
        var image: RasterImage
        switch format {
        case .jpeg: image = try decodeJPEG(bytes, info: info, minimumSize: minimumSize)
        case .png: image = try decodePNG(bytes, header: header)
        case .webp: image = try decodeWebP(bytes, header: header)
        }
        let colour = convertToSRGB(&image, from: bytes, format: format, grey: info.grey != 0)
        return DecodedImage(image: image, colour: colour)
    }

    /// The embedded ICC profile's bytes (nil when there is none); throws `corrupt` or `exceedsLimits`
    /// with the reason a profile cannot be taken out.
    public static func iccProfile(_ bytes: [UInt8], maxBytes: Int = maxICCProfileBytes) throws -> [UInt8]? {
        guard let format = sniff(bytes) else { throw notReadable(bytes) }
        var message = MessageBuffer()
        var output: UnsafeMutablePointer<UInt8>? = nil
        var length = 0
        let code = bytes.withUnsafeBufferPointer { data in
            message.withPointer { msg in
                switch format {
                case .jpeg: cic_jpeg_icc(data.baseAddress, data.count, maxBytes, &output, &length, msg)
                case .png: cic_png_icc(data.baseAddress, data.count, maxBytes, &output, &length, msg)
                case .webp: cic_webp_icc(data.baseAddress, data.count, maxBytes, &output, &length, msg)
                }
            }
        }
        defer { cic_free(output) }
        try throwIfFailed(code, format: format, message: message)
        guard let output, length > 0 else { return nil }
        return [UInt8](UnsafeBufferPointer(start: output, count: length))
    }

    /// Converts `image` in place from `profile` to sRGB (see `decodeDetailed`); `grey`: the image is a
    /// greyscale source expanded to RGB, which a Gray profile needs.
    public static func convertToSRGB(_ image: inout RasterImage, profile: [UInt8], grey: Bool = false) -> ColourProfile {
        var message = MessageBuffer()
        var description = MessageBuffer()
        let (width, height, channels) = (image.width, image.height, image.channels)
        let code = profile.withUnsafeBufferPointer { icc in
            image.pixels.withUnsafeMutableBufferPointer { pixels in
                message.withPointer { msg in
                    description.withPointer { desc in
                        cic_icc_to_srgb(icc.baseAddress, icc.count, grey ? 1 : 0, pixels.baseAddress, Int32(width),
                                        Int32(height), Int32(channels), desc, msg)
                    }
                }
            }
        }
        let name = description.rawText
        switch Int(code) {
        case Int(CIC_OK): return .converted(name)
        case Int(CIC_SKIPPED): return .sRGB(name)
        default: return .ignored(message.text)
        }
    }

    private static func convertToSRGB(_ image: inout RasterImage, from bytes: [UInt8], format: ImageFormat,
                                      grey: Bool) -> ColourProfile {
        let profile: [UInt8]
        do {
            guard let found = try iccProfile(bytes) else { return .none }
            profile = found
        } catch let error as ImageCodecError {
            switch error {
            case .corrupt(_, let message), .exceedsLimits(let message): return .ignored(message)
            default: return .ignored(error.description)
            }
        } catch {
            return .ignored(String(describing: error))
        }
        return convertToSRGB(&image, profile: profile, grey: grey)
    }

    /// Refuses over-limit images from the header alone.
    public static func check(_ header: ImageHeader, against limits: DecodeLimits) throws {
        // Even with limits set absurdly high, a buffer size must not overflow Int.
        if header.width.multipliedReportingOverflow(by: header.height * 4).overflow {
            throw ImageCodecError.exceedsLimits("source size \(header.width)x\(header.height) is too large to decode")
        }
        if header.pixelCount > limits.maxPixels {
            throw ImageCodecError.exceedsLimits(
                "source resolution \(megapixels(header.pixelCount)) MP (\(header.width)x\(header.height)) exceeds \(megapixels(limits.maxPixels)) MP")
        }
        let longest = max(header.width, header.height)
        if longest > limits.maxDimension {
            throw ImageCodecError.exceedsLimits(
                "source size \(header.width)x\(header.height) exceeds the maximum dimension of \(limits.maxDimension) pixels")
        }
    }

    /// "60.1", "40", "10000": one decimal, dropped when zero.
    static func megapixels(_ pixels: Int) -> String {
        let tenths = (pixels + 50_000) / 100_000
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
    }

    // MARK: - Internals

    private static func header(format: ImageFormat, info: cic_info) -> ImageHeader {
        let quarterTurn = info.orientation >= 5
        let width = Int(quarterTurn ? info.height : info.width)
        let height = Int(quarterTurn ? info.width : info.height)
        return ImageHeader(format: format, width: width, height: height,
                           orientation: Int(info.orientation), hasAlpha: info.has_alpha != 0)
    }

    private static func readInfo(_ bytes: [UInt8], format: ImageFormat) throws -> cic_info {
        var info = cic_info()
        var message = MessageBuffer()
        let code = bytes.withUnsafeBufferPointer { data in
            message.withPointer { msg in
                switch format {
                case .jpeg: return cic_jpeg_info(data.baseAddress, data.count, &info, msg)
                case .png: return cic_png_info(data.baseAddress, data.count, &info, msg)
                case .webp: return cic_webp_info(data.baseAddress, data.count, &info, msg)
                }
            }
        }
        try throwIfFailed(code, format: format, message: message)
        guard info.width > 0, info.height > 0 else {
            throw ImageCodecError.corrupt(format, "image has no pixels (\(info.width)x\(info.height))")
        }
        return info
    }

    private static func decodeJPEG(_ bytes: [UInt8], info: cic_info,
                                   minimumSize: (width: Int, height: Int)?) throws -> RasterImage {
        let quarterTurn = info.orientation >= 5
        func upright(_ i: Int) -> (width: Int, height: Int) {
            let w = Int(tupleElement(info.scaled_width, i)), h = Int(tupleElement(info.scaled_height, i))
            return quarterTurn ? (h, w) : (w, h)
        }
        // scale_num/8: the smallest numerator whose upright output still covers minimumSize.
        var scaleNum = 8
        if let minimum = minimumSize {
            for num in 1...8 {
                let size = upright(num - 1)
                if size.width >= minimum.width && size.height >= minimum.height { scaleNum = num; break }
            }
        }
        let size = upright(scaleNum - 1)
        guard size.width > 0, size.height > 0 else {
            throw ImageCodecError.corrupt(.jpeg, "image has no pixels")
        }
        var message = MessageBuffer()
        var code: Int32 = 0
        let pixels = try [UInt8](unsafeUninitializedCapacity: size.width * size.height * 3) { buffer, count in
            code = bytes.withUnsafeBufferPointer { data in
                message.withPointer { msg in
                    cic_jpeg_decode(data.baseAddress, data.count, Int32(scaleNum), maxProgressiveScans,
                                    buffer.baseAddress, Int32(size.width), Int32(size.height), msg)
                }
            }
            try throwIfFailed(code, format: .jpeg, message: message)
            count = size.width * size.height * 3
        }
        return RasterImage(width: size.width, height: size.height, channels: 3, pixels: pixels)
    }

    private static func decodePNG(_ bytes: [UInt8], header: ImageHeader) throws -> RasterImage {
        let channels = header.hasAlpha ? 4 : 3
        let total = header.width * header.height * channels
        var message = MessageBuffer()
        let pixels = try [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
            let code = bytes.withUnsafeBufferPointer { data in
                message.withPointer { msg in
                    cic_png_decode(data.baseAddress, data.count, buffer.baseAddress, Int32(header.width),
                                   Int32(header.height), Int32(channels), msg)
                }
            }
            try throwIfFailed(code, format: .png, message: message)
            count = total
        }
        return RasterImage(width: header.width, height: header.height, channels: channels, pixels: pixels)
    }

    private static func decodeWebP(_ bytes: [UInt8], header: ImageHeader) throws -> RasterImage {
        let channels = header.hasAlpha ? 4 : 3
        let total = header.width * header.height * channels
        var message = MessageBuffer()
        let pixels = try [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
            let code = bytes.withUnsafeBufferPointer { data in
                message.withPointer { msg in
                    cic_webp_decode(data.baseAddress, data.count, buffer.baseAddress, Int32(header.width),
                                    Int32(header.height), Int32(channels), msg)
                }
            }
            try throwIfFailed(code, format: .webp, message: message)
            count = total
        }
        return RasterImage(width: header.width, height: header.height, channels: channels, pixels: pixels)
    }

    private static func throwIfFailed(_ code: Int32, format: ImageFormat, message: MessageBuffer) throws {
        switch Int(code) {
        case Int(CIC_OK): return
        case Int(CIC_LIMIT): throw ImageCodecError.exceedsLimits(message.text)
        case Int(CIC_UNSUPPORTED): throw ImageCodecError.unsupported("an \(message.text)")
        default: throw ImageCodecError.corrupt(format, message.text)
        }
    }

    private static func tupleElement(_ tuple: (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32),
                                     _ index: Int) -> Int32 {
        withUnsafeBytes(of: tuple) { $0.load(fromByteOffset: index * MemoryLayout<Int32>.stride, as: Int32.self) }
    }
}

/// The C shim's message buffer (CIC_MSG_LEN bytes, NUL-terminated).
struct MessageBuffer {
    private var bytes = [CChar](repeating: 0, count: Int(CIC_MSG_LEN))

    mutating func withPointer<R>(_ body: (UnsafeMutablePointer<CChar>) -> R) -> R {
        bytes.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }

    var text: String {
        let message = rawText
        return message.isEmpty ? "unknown error" : message
    }

    /// The text as written, "" when nothing was.
    var rawText: String {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
