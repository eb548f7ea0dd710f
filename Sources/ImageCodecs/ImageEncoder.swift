internal import CImageCodecs

/// `RasterImage` → PNG, JPEG or WebP bytes.
public enum ImageEncoder {
    /// zlib level for PNG output: 4, the first level with lazy matching. On 400x300 photo results it
    /// measured as small as levels 5–9 (LadyBird: 175 KB vs 177 KB at 6) in well under half the time
    /// (18 ms vs 47 ms at 6); levels 1–3 were faster but ~14 % larger (docs/images.md).
    static let pngZlibLevel: Int32 = 4

    /// Lossless; RGB stays RGB, RGBA keeps its (straight) alpha.
    public static func png(_ image: RasterImage) throws -> [UInt8] {
        try encode(image) { pixels, out, length, msg in
            cic_png_encode(pixels, Int32(image.width), Int32(image.height), Int32(image.channels),
                           pngZlibLevel, out, length, msg)
        }
    }

    /// Baseline JPEG, 4:2:0, optimised Huffman tables. JPEG has no alpha: RGBA is composited over white.
    /// At most 65500 pixels a side (libjpeg's limit).
    public static func jpeg(_ image: RasterImage, quality: Int = 90) throws -> [UInt8] {
        let q = Int32(min(max(quality, 1), 100))
        return try encode(image) { pixels, out, length, msg in
            cic_jpeg_encode(pixels, Int32(image.width), Int32(image.height), Int32(image.channels), q,
                            out, length, msg)
        }
    }

    /// Lossy WebP (libwebp, method 4), quality 1…100 like JPEG's; RGBA keeps its alpha (the alpha
    /// plane is lossless; it is left out when every pixel is opaque). Quality 100 is still lossy: see
    /// docs/images.md for why there is no lossless switch. At most 16383 pixels a side (WebP's limit).
    public static func webp(_ image: RasterImage, quality: Int = 90) throws -> [UInt8] {
        let q = Int32(min(max(quality, 1), 100))
        return try encode(image) { pixels, out, length, msg in
            cic_webp_encode(pixels, Int32(image.width), Int32(image.height), Int32(image.channels), q,
                            out, length, msg)
        }
    }

    /// WebP's largest width or height.
    public static let webpMaxDimension = 16383

    /// JPEG's largest width or height in libjpeg (`JPEG_MAX_DIMENSION`; the format's own 16-bit fields
    /// would allow 65535).
    public static let jpegMaxDimension = 65500

    private static func encode(
        _ image: RasterImage,
        _ call: (UnsafePointer<UInt8>?, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>,
                 UnsafeMutablePointer<Int>, UnsafeMutablePointer<CChar>) -> Int32
    ) throws -> [UInt8] {
        var message = MessageBuffer()
        var output: UnsafeMutablePointer<UInt8>? = nil
        var length = 0
        let code = image.pixels.withUnsafeBufferPointer { pixels in
            message.withPointer { msg in call(pixels.baseAddress, &output, &length, msg) }
        }
        defer { cic_free(output) }
        guard code == CIC_OK, let output else { throw ImageCodecError.encodeFailed(message.text) }
        return [UInt8](UnsafeBufferPointer(start: output, count: length))
    }
}
