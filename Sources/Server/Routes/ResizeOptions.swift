// The query fuzzer (Fuzz/) compiles this file on its own, with a stand-in for Engine's FeatureOperator.
#if canImport(Engine)
import Engine
#endif

/// The three ways to resize (API.md `method`).
enum ResizeMethod: String, Sendable, CaseIterable {
    case deep, seam, scale
    /// `scale` answers inline; the others run as queued jobs.
    var isQueued: Bool { self != .scale }
}

enum OutputFormat: String, Sendable, CaseIterable {
    case png, jpeg
    var contentType: String { "image/\(rawValue)" }
}

/// The query of `POST /resize`, validated. Every parameter appears at most once; an unknown one or a bad
/// value is a 400 that names the parameter and what it accepts.
struct ResizeOptions: Sendable, Equatable {
    var width: Int?
    var height: Int?
    var method: ResizeMethod = .deep
    var featureOperator: FeatureOperator = .seam
    var protect = true
    var iterations = DeepResizeOptions.defaultIterations
    var format: OutputFormat = .png
    var wait: Double

    static let parameterNames = ["w", "h", "method", "operator", "protect", "iterations", "format", "wait"]
    static let iterationRange = 1...1000
    /// Dimensions are checked against the configured limits later; this only keeps the numbers sane.
    static let dimensionRange = 1...1_000_000

    static func parse(_ query: [(name: String, value: String)], defaultWait: Double, maxWait: Double) throws -> ResizeOptions {
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
        return options
    }

    /// The output size for a source: both given → as given; one given → the other keeps the aspect ratio.
    func targetSize(sourceWidth: Int, sourceHeight: Int) -> (width: Int, height: Int) {
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
