// The query fuzzer (Fuzz/) compiles this file on its own, with a stand-in for Engine's FeatureOperator.
#if canImport(Engine)
public import Engine
#endif

/// The three ways to resize (API.md `method`).
public enum ResizeMethod: String, Sendable, CaseIterable {
    case deep, seam, scale
    /// `scale` answers inline; the others run as queued jobs.
    public var isQueued: Bool { self != .scale }
}

public enum OutputFormat: String, Sendable, CaseIterable {
    case png, jpeg, webp
    public var contentType: String { "image/\(rawValue)" }
    /// Whether `quality` means anything for this format.
    public var isLossy: Bool { self != .png }

    /// The format of an answer whose request names none: WebP when `Accept` lists `image/webp` (q > 0) at
    /// least as high as PNG, else PNG (API.md). Wildcards never select WebP: curl and fetch() send `*/*`
    /// and get the PNG the README promises; browsers list `image/webp` for images.
    public static func negotiated(accept: String?) -> OutputFormat {
        guard let accept else { return .png }
        var webp: Double?, png: Double?, imageAny: Double?, any: Double?
        func trimmed(_ text: Substring) -> String {
            let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
            return String(text.drop(while: blank).reversed().drop(while: blank).reversed()).lowercased()
        }
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";")
            guard let first = parts.first else { continue }
            let type = trimmed(first)
            var q = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                if pair.count == 2, trimmed(pair[0]) == "q" {
                    // A malformed weight counts as 0 (not acceptable), never as a preference.
                    q = Double(trimmed(pair[1])).flatMap { $0.isFinite ? min(max($0, 0), 1) : nil } ?? 0
                }
            }
            switch type {
            case "image/webp": webp = max(webp ?? 0, q)
            case "image/png": png = max(png ?? 0, q)
            case "image/*": imageAny = max(imageAny ?? 0, q)
            case "*/*": any = max(any ?? 0, q)
            default: break
            }
        }
        let webpQ = webp ?? 0
        let pngQ = png ?? imageAny ?? any ?? 0
        return webpQ > 0 && webpQ >= pngQ ? .webp : .png
    }
}

/// The query of `POST /resize`, validated. Every parameter appears at most once; an unknown one or a bad
/// value is a 400 that names the parameter and what it accepts.
public struct ResizeOptions: Sendable, Equatable {
    public var width: Int?
    public var height: Int?
    public var method: ResizeMethod = .deep
    public var featureOperator: FeatureOperator = .seam
    public var protect = true
    public var iterations = DeepResizeOptions.defaultIterations
    public var format: OutputFormat = .png
    /// `format` was absent, so `Accept` chose it: the answer carries `Vary: Accept`.
    public var formatFromAccept = false
    /// JPEG/WebP quality; nil: the configured `jpeg_quality`.
    public var quality: Int?
    public var wait: Double
    /// deep: where the optimiser starts. Not an HTTP parameter: `deepresize resize --start` sets it, for
    /// measuring the start (BENCHMARKS.md).
    public var start: DeepStart = .geometry

    public static let parameterNames = ["w", "h", "method", "operator", "protect", "iterations", "format", "quality", "wait"]
    public static let iterationRange = 1...1000
    public static let qualityRange = 1...100
    /// Dimensions are checked against the configured limits later; this only keeps the numbers sane.
    public static let dimensionRange = 1...1_000_000

    /// `accept`: the request's `Accept` header, which chooses the format when the query names none.
    /// `defaultQuality` (`jpeg_quality`), when given, fills in `quality` for a JPEG or WebP answer.
    public static func parse(_ query: [(name: String, value: String)], accept: String? = nil, defaultQuality: Int? = nil,
                      defaultWait: Double, maxWait: Double) throws -> ResizeOptions {
        var options = ResizeOptions(wait: defaultWait)
        var seen = Set<String>()
        for (name, value) in query {
            guard parameterNames.contains(name) else {
                throw Problem.badRequest("unknown parameter '\(name)'; allowed: \(parameterNames.joined(separator: ", "))")
            }
            guard seen.insert(name).inserted else {
                throw Problem.badRequest("parameter '\(name)' is given more than once")
            }
            switch name {
            case "w": options.width = try integer(name, value, in: dimensionRange)
            case "h": options.height = try integer(name, value, in: dimensionRange)
            case "method": options.method = try choice(name, value, ResizeMethod.self)
            case "operator": options.featureOperator = try choice(name, value, FeatureOperator.self)
            case "protect":
                switch value {
                case "true": options.protect = true
                case "false": options.protect = false
                default: throw Problem.badRequest("protect must be true or false, not '\(value)'")
                }
            case "iterations": options.iterations = try integer(name, value, in: iterationRange)
            case "format": options.format = try choice(name, value, OutputFormat.self)
            case "quality": options.quality = try integer(name, value, in: qualityRange)
            case "wait":
                guard value.utf8.allSatisfy({ $0 == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                      let seconds = Double(value), seconds.isFinite, seconds >= 0, seconds <= maxWait else {
                    throw Problem.badRequest("wait must be a number of seconds from 0 to \(ServiceConfig.formatSeconds(maxWait)), not '\(value)'")
                }
                options.wait = seconds
            default: break
            }
        }
        if options.width == nil && options.height == nil {
            throw Problem.badRequest("give w, h or both (target size in pixels)")
        }
        if seen.contains("format") {
            if options.quality != nil && !options.format.isLossy {
                throw Problem.badRequest("quality applies to format=jpeg or format=webp, not format=\(options.format.rawValue)")
            }
        } else {
            options.format = OutputFormat.negotiated(accept: accept)
            options.formatFromAccept = true
        }
        if options.format.isLossy, options.quality == nil, let defaultQuality { options.quality = defaultQuality }
        if !options.format.isLossy { options.quality = nil }
        return options
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

    private static func integer(_ name: String, _ value: String, in range: ClosedRange<Int>) throws -> Int {
        // Digits only: no sign, no spaces, no hex; at most 9 digits so the conversion cannot overflow.
        guard !value.isEmpty, value.utf8.count <= 9,
              value.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let number = Int(value), range.contains(number) else {
            throw Problem.badRequest("\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(value)'")
        }
        return number
    }

    private static func choice<T: RawRepresentable & CaseIterable>(_ name: String, _ value: String, _ type: T.Type) throws -> T
    where T.RawValue == String {
        guard let parsed = T(rawValue: value) else {
            throw Problem.badRequest("\(name) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not '\(value)'")
        }
        return parsed
    }
}
