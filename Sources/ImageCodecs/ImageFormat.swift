/// The formats deepresize reads and writes, recognised by content (magic bytes), never by name.
public enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg, png, webp

    /// "JPEG", "PNG", "WebP".
    public var displayName: String {
        switch self {
        case .jpeg: "JPEG"
        case .png: "PNG"
        case .webp: "WebP"
        }
    }

    /// "JPEG, PNG or WebP": what a 415 names as accepted.
    public static var acceptedNames: String {
        let names = allCases.map(\.displayName)
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }
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
    /// Not a JPEG, PNG or WebP by content (HTTP 415).
    case unrecognizedFormat
    /// Recognised, but not something deepresize reads: "a GIF image", "an animated WebP" (HTTP 415).
    case unsupported(String)
    /// Decodable, but larger than the limits; the message names the sizes and the limit (HTTP 422).
    case exceedsLimits(String)
    /// The library rejected the data (truncated, corrupt); carries its message (HTTP 400).
    case corrupt(ImageFormat, String)
    case encodeFailed(String)

    public var description: String {
        switch self {
        case .unrecognizedFormat: return "not a \(ImageFormat.acceptedNames) image"
        case .unsupported(let what): return "\(what) is not supported; send a \(ImageFormat.acceptedNames) image"
        case .exceedsLimits(let message): return message
        case .corrupt(let format, let message): return "invalid \(format.displayName) data: \(message)"
        case .encodeFailed(let message): return "image encoding failed: \(message)"
        }
    }
}

/// What happened to the ICC profile a file embeds (docs/images.md, "Colour"). Every outcome leaves sRGB
/// pixels: converted, already sRGB, or taken as sRGB.
public enum ColourProfile: Sendable, Equatable, CustomStringConvertible {
    /// No embedded profile: the pixels are taken as sRGB, untouched.
    case none
    /// An sRGB profile (by its primaries and tone curves; the description is the profile's own):
    /// nothing to convert, pixels untouched.
    case sRGB(String)
    /// Converted with lcms2 from the profile named by this description to sRGB.
    case converted(String)
    /// A profile that could not be used (damaged, too large, a colour space that does not fit the
    /// image, lcms2 refused it): the pixels are taken as sRGB, untouched. The text says why.
    case ignored(String)

    public var description: String {
        switch self {
        case .none: "no ICC profile"
        case .sRGB(let name): "ICC profile \(name.isEmpty ? "sRGB" : "'\(name)'") is sRGB"
        case .converted(let name): "converted from ICC profile '\(name)' to sRGB"
        case .ignored(let reason): "ICC profile ignored (pixels taken as sRGB): \(reason)"
        }
    }
}

/// A decoded image and what was done about its colour profile.
public struct DecodedImage: Sendable, Equatable {
    public var image: RasterImage
    public var colour: ColourProfile

    public init(image: RasterImage, colour: ColourProfile) {
        self.image = image
        self.colour = colour
    }
}
