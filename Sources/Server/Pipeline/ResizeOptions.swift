public import Engine

/// The three ways to resize (docs/api.md, `method`).
public enum ResizeMethod: String, Sendable, CaseIterable {
    case deep, seam, scale
    /// `scale` answers inline; the others run as queued jobs.
    public var isQueued: Bool { self != .scale }
}

/// The encodings of a result.
public enum OutputFormat: String, Sendable, CaseIterable {
    case png, jpeg, webp
    public var contentType: String { "image/\(rawValue)" }
    /// Whether `quality` means anything for this format.
    public var isLossy: Bool { self != .png }
}

/// What to make of an image: the size, the method and its settings, the encoding. The routes build it from
/// a request's query (`ResizeRequest`), the workers from a stored job (`JobParams`), the CLI from its flags.
public struct ResizeOptions: Sendable, Equatable {
    /// The target size; a missing side keeps the aspect ratio (`targetSize`).
    public var width: Int?
    public var height: Int?
    public var method: ResizeMethod = .deep
    public var featureOperator: FeatureOperator = .seam
    public var protect = true
    public var iterations = DeepResizeOptions.defaultIterations
    public var format: OutputFormat = .png
    /// JPEG/WebP quality; nil: the configured `jpeg_quality`.
    public var quality: Int?
    /// deep: where the optimiser starts. Not an HTTP parameter: `deepresize resize --start` sets it, for
    /// measuring the start (BENCHMARKS.md).
    public var start: DeepStart = .geometry

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

    /// The output size for a source: both given → as given; one given → the other keeps the aspect ratio.
    public func targetSize(sourceWidth: Int, sourceHeight: Int) -> (width: Int, height: Int) {
        switch (width, height) {
        case let (w?, h?): return (w, h)
        case let (w?, nil): return (w, max(1, Int((Double(w) * Double(sourceHeight) / Double(sourceWidth)).rounded())))
        case let (nil, h?): return (max(1, Int((Double(h) * Double(sourceWidth) / Double(sourceHeight)).rounded())), h)
        case (nil, nil): return (sourceWidth, sourceHeight)
        }
    }
}
