public import Engine
import ImageCodecs

/// The three ways to resize (docs/api.md, `method`).
public enum ResizeMethod: String, Sendable, CaseIterable {
    case deep, seam, scale
    /// `scale` answers inline; the others run as queued jobs.
    public var isQueued: Bool { self != .scale }
}

/// How `scale` fits the source into `w`×`h` when both are given (as imgproxy and thumbor name it).
public enum FitMode: String, Sendable, CaseIterable {
    /// Exactly `w`×`h`, the aspect ratio changed to fit.
    case fill
    /// Inside `w`×`h`, the aspect ratio kept: one side is `w` or `h`, the other at most its bound.
    case contain
    /// Exactly `w`×`h`, the aspect ratio kept: scaled to cover both, the overflow cropped around the centre.
    case cover
}

/// The encodings of a result.
public enum OutputFormat: String, Sendable, CaseIterable {
    case png, jpeg, webp
    public var contentType: String { "image/\(rawValue)" }
    /// Whether `quality` means anything for this format.
    public var isLossy: Bool { self != .png }
    /// The largest width or height the encoder can write (WebP's 16383, libjpeg's 65500); nil for PNG,
    /// whose limit is far above any size the service makes.
    public var maxDimension: Int? {
        switch self {
        case .png: nil
        case .jpeg: ImageEncoder.jpegMaxDimension
        case .webp: ImageEncoder.webpMaxDimension
        }
    }
    /// "PNG", "JPEG", "WebP": the codec's name for the same format.
    var displayName: String { ImageFormat(rawValue: rawValue)!.displayName }
}

/// What to make of an image: the size, the method and its settings, the encoding. The routes build it from
/// a request's query (`ResizeRequest`), the workers from a stored job (`JobParams`), the CLI from its flags.
public struct ResizeOptions: Sendable, Equatable {
    /// The target size; a missing side keeps the aspect ratio (`targetSize`).
    public var width: Int?
    public var height: Int?
    public var method: ResizeMethod = .deep
    /// `scale` only (`seam` and `deep` always make exactly `w`×`h`).
    public var fit: FitMode = .fill
    public var featureOperator: FeatureOperator = .seam
    public var protect = true
    public var iterations = DeepResizeOptions.defaultIterations
    public var format: OutputFormat = .png
    /// JPEG/WebP quality; nil: the configured `jpeg_quality`.
    public var quality: Int?
    /// deep: where the optimiser starts. Not an HTTP parameter: `deepresize resize --start` sets it, for
    /// measuring the start (BENCHMARKS.md).
    public var start: DeepStart = .geometry
    /// deep with seams: where removing seams stops for the protected scale (`SeamTears`); nil, the seams do
    /// the whole change. Not an HTTP parameter: `deepresize resize --tear-limit` sets it, for comparisons.
    public var seamTearLimit: Double? = SeamTears.limit

    public static let iterationRange = 1...1000
    public static let qualityRange = 1...100
    /// Dimensions are checked against the configured limits later; this only keeps the numbers sane.
    public static let dimensionRange = 1...1_000_000

    public init(width: Int? = nil, height: Int? = nil, method: ResizeMethod = .deep, format: OutputFormat = .png) {
        self.width = width
        self.height = height
        self.method = method
        self.format = format
    }

    /// The output size for a source: both given → as given (with `fit=contain`: the largest size inside
    /// them that keeps the aspect ratio); one given → the other keeps the aspect ratio.
    public func targetSize(sourceWidth: Int, sourceHeight: Int) -> (width: Int, height: Int) {
        switch (width, height) {
        case let (w?, h?) where fit == .contain:
            // The side whose bound binds first is exact; the other is rounded and kept within its bound.
            if Double(w) / Double(sourceWidth) <= Double(h) / Double(sourceHeight) {
                return (w, min(h, Self.side(w, scaledBy: sourceHeight, over: sourceWidth)))
            }
            return (min(w, Self.side(h, scaledBy: sourceWidth, over: sourceHeight)), h)
        case let (w?, h?): return (w, h)
        case let (w?, nil): return (w, Self.side(w, scaledBy: sourceHeight, over: sourceWidth))
        case let (nil, h?): return (Self.side(h, scaledBy: sourceWidth, over: sourceHeight), h)
        case (nil, nil): return (sourceWidth, sourceHeight)
        }
    }

    /// `length` · numerator / denominator, rounded, at least 1: the other side of a size that keeps an aspect ratio.
    static func side(_ length: Int, scaledBy numerator: Int, over denominator: Int) -> Int {
        max(1, Int((Double(length) * Double(numerator) / Double(denominator)).rounded()))
    }
}
