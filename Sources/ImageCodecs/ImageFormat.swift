/// The two formats deepresize reads and writes, recognised by content (magic bytes), never by name.
public enum ImageFormat: String, Sendable {
    case jpeg, png
}

/// What the header says, before any pixel is decoded. `width`/`height` are upright: EXIF orientation
/// 5…8 (a quarter turn) swaps them, so they describe the image as `decode` returns it.
public struct ImageHeader: Sendable, Equatable {
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    public var orientation: Int
    public var hasAlpha: Bool

    public init(format: ImageFormat, width: Int, height: Int, orientation: Int, hasAlpha: Bool) {
        self.format = format
        self.width = width
        self.height = height
        self.orientation = orientation
        self.hasAlpha = hasAlpha
    }

    public var pixelCount: Int { width * height }
}

/// Bounds checked against the header before any pixel buffer is allocated.
public struct DecodeLimits: Sendable {
    public var maxPixels: Int
    public var maxDimension: Int

    public init(maxPixels: Int = 40_000_000, maxDimension: Int = 65_535) {
        self.maxPixels = maxPixels
        self.maxDimension = maxDimension
    }
}

public enum ImageCodecError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Not a JPEG or PNG by content (HTTP 415).
    case unrecognizedFormat
    /// Decodable, but larger than the limits; the message names the sizes and the limit (HTTP 422).
    case exceedsLimits(String)
    /// The library rejected the data (truncated, corrupt); carries its message (HTTP 400).
    case corrupt(ImageFormat, String)
    case encodeFailed(String)

    public var description: String {
        switch self {
        case .unrecognizedFormat: return "not a JPEG or PNG image"
        case .exceedsLimits(let message): return message
        case .corrupt(let format, let message): return "invalid \(format.rawValue.uppercased()) data: \(message)"
        case .encodeFailed(let message): return "image encoding failed: \(message)"
        }
    }
}
