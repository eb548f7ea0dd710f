import Engine
import ImageCodecs
import Glibc

/// decode → resize → encode, the same for the HTTP path, the workers and the CLI. It holds only limits
/// and settings; the methods themselves live in Engine.
struct ResizePipeline: Sendable {
    var limits: DecodeLimits
    var maxOutputDimension: Int
    var maxDeepOutputPixels: Int
    var maxDeepInputPixels: Int
    var jpegQuality: Int
    var engineThreads: Int
    /// `deep_early_stop`: `DeepResizeOptions.defaultEarlyStop`, or nil (every iteration runs).
    var deepEarlyStop: LBFGSStall?
    /// The shared, read-only VGG-16 of `deep`; nil when the weights could not be loaded (then `deep`
    /// answers 503 and /readyz says why, while `scale` and `seam` keep working).
    var network: VGGNetwork?
    var networkProblem: String?

    init(config: ServiceConfig, network: VGGNetwork? = nil, networkProblem: String? = nil) {
        limits = DecodeLimits(maxPixels: config.maxInputPixels)
        maxOutputDimension = config.maxOutputDimension
        maxDeepOutputPixels = config.maxDeepOutputPixels
        maxDeepInputPixels = config.maxDeepInputPixels
        jpegQuality = config.jpegQuality
        engineThreads = config.engineThreads
        deepEarlyStop = config.deepEarlyStop ? DeepResizeOptions.defaultEarlyStop : nil
        self.network = network
        self.networkProblem = networkProblem
    }

    /// Loads the weights named by the configuration; a failure is kept as text, not thrown, because the
    /// other methods do not need them.
    static func loadNetwork(_ config: ServiceConfig) -> (VGGNetwork?, String?) {
        do {
            // A CPU without AVX512_BF16 keeps the fp32 path, whatever engine_precision asks.
            let precision = EnginePrecision(rawValue: config.enginePrecision).flatMap { $0.isSupported ? $0 : nil } ?? .fp32
            return (try VGGNetwork(weightsPath: config.weightsPath, precision: precision), nil)
        } catch {
            return (nil, String(describing: error))
        }
    }

    /// Wall-clock stages, for `Server-Timing` and the logs.
    struct Timings: Sendable {
        var decode = 0.0, process = 0.0, encode = 0.0
    }

    /// Reads the header (no pixels) and checks the input and output limits: the checks a request can fail
    /// before any work is queued.
    func inspect(_ bytes: [UInt8], options: ResizeOptions) throws -> (header: ImageHeader, width: Int, height: Int) {
        guard ImageDecoder.sniff(bytes) != nil else { throw ImageCodecError.unrecognizedFormat }
        let header = try ImageDecoder.readHeader(bytes)
        if header.width * header.height > limits.maxPixels {
            throw Problem.unprocessable("source resolution \(megapixels(header.width * header.height)) MP (\(header.width)×\(header.height)) exceeds \(megapixels(limits.maxPixels)) MP")
        }
        let size = options.targetSize(sourceWidth: header.width, sourceHeight: header.height)
        try checkOutput(width: size.width, height: size.height, method: options.method)
        return (header, size.width, size.height)
    }

    func checkOutput(width: Int, height: Int, method: ResizeMethod) throws {
        switch method {
        case .scale:
            if width > maxOutputDimension || height > maxOutputDimension {
                throw Problem.unprocessable("output \(width)×\(height) exceeds the largest dimension \(maxOutputDimension) for method=scale")
            }
        case .seam, .deep:
            if width * height > maxDeepOutputPixels {
                throw Problem.unprocessable("output \(width)×\(height) (\(megapixels(width * height)) MP) exceeds \(megapixels(maxDeepOutputPixels)) MP for method=\(method.rawValue)")
            }
        }
    }

    /// `deep` needs the network's weights.
    func checkAvailable(_ method: ResizeMethod) throws {
        if method == .deep && network == nil {
            throw Problem.unavailable("method=deep needs the VGG-16 weights, which are not loaded: \(networkProblem ?? "unknown reason")")
        }
    }

    func decode(_ bytes: [UInt8], for method: ResizeMethod, width: Int, height: Int) throws -> RasterImage {
        // `scale` and `seam` work at most at the size that covers the target (see `workingImage`), so
        // libjpeg may shrink while decoding down to the target size in both axes. `deep` works on the input
        // up to `max_deep_input_pixels`: the decoder may shrink only while the image stays above that.
        try ImageDecoder.decode(bytes, limits: limits, minimumSize: method == .deep ? deepDecodeMinimum(bytes) : (width, height))
    }

    /// What a method produced: the image, and for `deep` its report and the mask drawn over the image it
    /// worked on.
    struct Outcome {
        var image: RasterImage
        var deepReport: DeepResizeReport?
        var maskOverlay: RasterImage?
    }

    /// The smallest decode that still holds `max_deep_input_pixels` (libjpeg's DCT scaling halves the sides).
    private func deepDecodeMinimum(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
        guard let header = try? ImageDecoder.readHeader(bytes) else { return nil }
        return deepDecodeMinimum(width: header.width, height: header.height)
    }

    /// The same for a source of width × height; nil when it is within the limit (decode it whole).
    func deepDecodeMinimum(width: Int, height: Int) -> (width: Int, height: Int)? {
        guard width * height > maxDeepInputPixels else { return nil }
        let factor = (Double(maxDeepInputPixels) / Double(width * height)).squareRoot()
        return (Int((Double(width) * factor).rounded(.up)), Int((Double(height) * factor).rounded(.up)))
    }

    func resize(_ image: RasterImage, method: ResizeMethod, options: ResizeOptions, width: Int, height: Int,
                context: RunContext) throws -> Outcome {
        switch method {
        case .scale:
            return Outcome(image: Resampler.resize(image, width: width, height: height))
        case .seam:
            return Outcome(image: try SeamCarving.resize(workingImage(image, width: width, height: height, coverTarget: true, maxPixels: nil),
                                                         width: width, height: height, context: context))
        case .deep:
            try checkAvailable(.deep)
            guard let network else { throw Problem.internal("no network") }
            let source = workingImage(image, width: width, height: height, coverTarget: false, maxPixels: maxDeepInputPixels)
            let deepOptions = DeepResizeOptions(featureOperator: options.featureOperator, protect: options.protect,
                                                iterations: options.iterations, threads: engineThreads,
                                                earlyStop: deepEarlyStop)
            do {
                let result = try DeepResizer.resize(source, width: width, height: height, options: deepOptions,
                                                    network: network, context: context)
                return Outcome(image: result.image, deepReport: result.report, maskOverlay: result.mask.overlay(on: source))
            } catch let error as DeepResizeError {
                throw Problem.unprocessable(error.description)
            }
        }
    }

    /// The image a content-aware method starts from. `seam`: carving thousands of seams out of a
    /// camera-sized photo would take minutes and remove more than it keeps, so when both axes shrink the
    /// image is first scaled uniformly to the smallest size that covers the target (`coverTarget`); the
    /// seams then change only the aspect ratio. `deep` works on the input as given, like the paper and the
    /// reference, but at most at `maxPixels` (its network's memory grows with the working size).
    func workingImage(_ image: RasterImage, width: Int, height: Int, coverTarget: Bool, maxPixels: Int?) -> RasterImage {
        guard let size = Self.workingSize(imageWidth: image.width, imageHeight: image.height, width: width, height: height,
                                          coverTarget: coverTarget, maxPixels: maxPixels) else { return image }
        return Resampler.resize(image, width: size.width, height: size.height)
    }

    /// The size `workingImage` scales an image of imageWidth × imageHeight to; nil when it keeps it as is.
    /// (The memory estimate uses it too.)
    static func workingSize(imageWidth: Int, imageHeight: Int, width: Int, height: Int, coverTarget: Bool,
                            maxPixels: Int?) -> (width: Int, height: Int)? {
        var factor = 1.0
        if coverTarget {
            factor = min(1, max(Double(width) / Double(imageWidth), Double(height) / Double(imageHeight)))
        }
        if let maxPixels, Double(imageWidth * imageHeight) * factor * factor > Double(maxPixels) {
            factor = (Double(maxPixels) / Double(imageWidth * imageHeight)).squareRoot()
        }
        guard factor < 1 else { return nil }
        return (max(1, Int((Double(imageWidth) * factor).rounded())), max(1, Int((Double(imageHeight) * factor).rounded())))
    }

    func encode(_ image: RasterImage, format: OutputFormat) throws -> [UInt8] {
        switch format {
        case .png: try ImageEncoder.png(image)
        case .jpeg: try ImageEncoder.jpeg(image, quality: jpegQuality)
        }
    }

    /// The whole pipeline, timed. `attachments` are the files a job keeps beside its result (the
    /// `deep` mask over its working image, served at `/jobs/{id}/mask`); `deepReport` is `deep`'s losses.
    struct Run {
        var output: [UInt8]
        var timings: Timings
        var attachments: [String: [UInt8]] = [:]
        var deepReport: DeepResizeReport?
    }

    func run(_ bytes: [UInt8], options: ResizeOptions, width: Int, height: Int,
             context: RunContext = .detached) throws -> Run {
        var timings = Timings()
        var start = monotonicSeconds()
        let image = try decode(bytes, for: options.method, width: width, height: height)
        timings.decode = monotonicSeconds() - start
        start = monotonicSeconds()
        let outcome = try resize(image, method: options.method, options: options, width: width, height: height,
                                 context: context)
        timings.process = monotonicSeconds() - start
        start = monotonicSeconds()
        let output = try encode(outcome.image, format: options.format)
        var attachments: [String: [UInt8]] = [:]
        if let mask = outcome.maskOverlay { attachments["mask.png"] = try ImageEncoder.png(mask) }
        timings.encode = monotonicSeconds() - start
        return Run(output: output, timings: timings, attachments: attachments, deepReport: outcome.deepReport)
    }
}

func megapixels(_ pixels: Int) -> String {
    let mp = Double(pixels) / 1_000_000
    let tenths = (mp * 10).rounded() / 10
    return tenths.rounded() == tenths ? String(Int(tenths)) : String(tenths)
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func wallClockSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
