/// An 8-bit image in memory: row-major, interleaved, no row padding.
///
/// `channels` is 3 (RGB) or 4 (RGBA with straight, non-premultiplied alpha). Grey, palette, CMYK and
/// 16-bit inputs are converted to one of these two layouts by the decoders, so everything downstream
/// handles exactly two layouts.
public struct RasterImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "image dimensions must be positive")
        precondition(channels == 3 || channels == 4, "channels must be 3 (RGB) or 4 (RGBA)")
        precondition(pixels.count == width * height * channels, "pixel buffer size does not match dimensions")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A black (or transparent-black) image of the given size.
    public init(width: Int, height: Int, channels: Int = 3) {
        self.init(width: width, height: height, channels: channels,
                  pixels: [UInt8](repeating: 0, count: width * height * channels))
    }

    public var hasAlpha: Bool { channels == 4 }
    public var rowBytes: Int { width * channels }
}
