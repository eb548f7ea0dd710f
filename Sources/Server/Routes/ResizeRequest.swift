import Engine

/// `POST /resize`'s query and `Accept` header, validated: the options of the resize plus what only the HTTP
/// request has (how long to wait for a job, whether `Accept` chose the format). Every parameter appears at
/// most once; an unknown one or a bad value is a 400 that names the parameter and what it accepts.
@dynamicMemberLookup
public struct ResizeRequest: Sendable, Equatable {
    public var options: ResizeOptions
    /// Seconds to wait for a queued job before answering 202 (`wait`, else `default_wait`).
    public var wait: Double
    /// `format` was absent, so `Accept` chose it: the answer carries `Vary: Accept`.
    public var formatFromAccept = false

    public init(options: ResizeOptions, wait: Double, formatFromAccept: Bool = false) {
        self.options = options
        self.wait = wait
        self.formatFromAccept = formatFromAccept
    }

    public subscript<T>(dynamicMember keyPath: KeyPath<ResizeOptions, T>) -> T { options[keyPath: keyPath] }

    public static let parameterNames = ["w", "h", "method", "fit", "operator", "protect", "iterations", "format", "quality", "wait"]

    /// Parameters only some methods use; any other method would ignore them, so naming one there is a 400.
    static let methodParameters: [(name: String, methods: [ResizeMethod])] = [
        ("fit", [.scale]), ("operator", [.deep]), ("protect", [.deep]), ("iterations", [.deep]),
    ]

    /// `accept`: the request's `Accept` header, which chooses the format when the query names none.
    /// `defaultQuality` (`jpeg_quality`), when given, fills in `quality` for a JPEG or WebP answer.
    public static func parse(_ query: [(name: String, value: String)], accept: String? = nil, defaultQuality: Int? = nil,
                             defaultWait: Double, maxWait: Double) throws(Problem) -> ResizeRequest {
        var request = ResizeRequest(options: ResizeOptions(), wait: defaultWait)
        var seen = Set<String>()
        for (name, value) in query {
            guard parameterNames.contains(name) else {
                throw .badRequest("unknown parameter '\(name)'; allowed: \(parameterNames.joined(separator: ", "))")
            }
            guard seen.insert(name).inserted else {
                throw .badRequest("parameter '\(name)' is given more than once")
            }
            switch name {
            case "w": request.options.width = try integer(name, value, in: ResizeOptions.dimensionRange)
            case "h": request.options.height = try integer(name, value, in: ResizeOptions.dimensionRange)
            case "method": request.options.method = try choice(name, value, ResizeMethod.self)
            case "fit": request.options.fit = try choice(name, value, FitMode.self)
            case "operator": request.options.featureOperator = try choice(name, value, FeatureOperator.self)
            case "protect":
                switch value {
                case "true": request.options.protect = true
                case "false": request.options.protect = false
                default: throw .badRequest("protect must be true or false, not '\(value)'")
                }
            case "iterations": request.options.iterations = try integer(name, value, in: ResizeOptions.iterationRange)
            case "format": request.options.format = try choice(name, value, OutputFormat.self)
            case "quality": request.options.quality = try integer(name, value, in: ResizeOptions.qualityRange)
            case "wait":
                guard value.utf8.allSatisfy({ $0 == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                      let seconds = Double(value), seconds.isFinite, seconds >= 0, seconds <= maxWait else {
                    throw .badRequest("wait must be a number of seconds from 0 to \(formatSeconds(maxWait)), not '\(value)'")
                }
                request.wait = seconds
            default: break
            }
        }
        if request.options.width == nil && request.options.height == nil {
            throw .badRequest("give w, h or both (target size in pixels)")
        }
        let method = request.options.method
        for (name, methods) in methodParameters where seen.contains(name) && !methods.contains(method) {
            let users = methods.map { "method=\($0.rawValue)" }.joined(separator: " or ")
            throw .badRequest("parameter '\(name)' applies to \(users) only; method=\(method.rawValue)\(seen.contains("method") ? "" : " (the default)") would ignore it")
        }
        if seen.contains("format") {
            if request.options.quality != nil && !request.options.format.isLossy {
                throw .badRequest("quality applies to format=jpeg or format=webp, not format=\(request.options.format.rawValue)")
            }
        } else {
            request.options.format = OutputFormat.negotiated(accept: accept)
            request.formatFromAccept = true
        }
        if request.options.format.isLossy, request.options.quality == nil, let defaultQuality {
            request.options.quality = defaultQuality
        }
        if !request.options.format.isLossy { request.options.quality = nil }
        return request
    }

    private static func integer(_ name: String, _ value: String, in range: ClosedRange<Int>) throws(Problem) -> Int {
        // Digits only: no sign, no spaces, no hex; at most 9 digits so the conversion cannot overflow.
        guard !value.isEmpty, value.utf8.count <= 9,
              value.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let number = Int(value), range.contains(number) else {
            throw .badRequest("\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(value)'")
        }
        return number
    }

    private static func choice<T: RawRepresentable & CaseIterable>(_ name: String, _ value: String, _ type: T.Type) throws(Problem) -> T
    where T.RawValue == String {
        guard let parsed = T(rawValue: value) else {
            throw .badRequest("\(name) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not '\(value)'")
        }
        return parsed
    }
}

extension OutputFormat {
    /// The format of an answer whose request names none: WebP when `Accept` lists `image/webp` (q > 0) at
    /// least as high as PNG, else PNG (docs/api.md). Wildcards never select WebP: curl and fetch() send `*/*`
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
                    q = qvalue(trimmed(pair[1])) ?? 0
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

    /// RFC 9110's qvalue: "0" or "1", or either with up to three decimals, none above 1 ("1.5" and
    /// "0.0001" are malformed, not clamped).
    static func qvalue(_ text: String) -> Double? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, whole == "0" || whole == "1" else { return nil }
        let decimals = parts.count == 2 ? parts[1] : ""
        guard decimals.count <= 3, decimals.allSatisfy({ $0.isASCII && $0.isNumber }),
              whole == "0" || decimals.allSatisfy({ $0 == "0" }) else { return nil }
        return Double(text)
    }
}
