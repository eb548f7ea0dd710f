public import Engine
public import ImageCodecs
import Glibc

/// decode → resize → encode, the same for the HTTP path, the workers and the CLI. It holds only limits
/// and settings; the methods themselves live in Engine. What it refuses, it refuses with a `ResizeRefusal`
/// (the HTTP edge turns that into a problem).
public struct ResizePipeline: Sendable {
    var limits: DecodeLimits
    var maxOutputDimension: Int
    var maxDeepOutputPixels: Int
    var maxDeepInputPixels: Int
    var maxSeamWork: Int
    var maxScaleOutputPixels: Int
    var jpegQuality: Int
    var engineThreads: Int
    /// `deep_early_stop`: `DeepResizeOptions.defaultEarlyStop`, or nil (every iteration runs).
    var deepEarlyStop: LBFGSStall?
    /// The shared, read-only VGG-16 of `deep`; nil when the weights could not be loaded (then `deep`
    /// answers 503 and /readyz says why, while `scale` and `seam` keep working).
    var network: VGGNetwork?
    var networkProblem: String?

    public init(config: ServiceConfig, network: VGGNetwork? = nil, networkProblem: String? = nil) {
        limits = DecodeLimits(maxPixels: config.maxInputPixels)
        maxOutputDimension = config.maxOutputDimension
        maxDeepOutputPixels = config.maxDeepOutputPixels
        maxDeepInputPixels = config.maxDeepInputPixels
        maxSeamWork = config.maxSeamWork
        maxScaleOutputPixels = config.maxScaleOutputPixels
        jpegQuality = config.jpegQuality
        engineThreads = config.engineThreads
        deepEarlyStop = config.deepEarlyStop ? DeepResizeOptions.defaultEarlyStop : nil
        self.network = network
        self.networkProblem = networkProblem
    }

    /// Loads the weights named by the configuration; a failure is kept as text, not thrown, because the
    /// other methods do not need them.
    public static func loadNetwork(_ config: ServiceConfig) -> (VGGNetwork?, String?) {
        do {
            // A CPU without AVX512_BF16 keeps the fp32 path, whatever engine_precision asks.
            let precision = EnginePrecision(rawValue: config.enginePrecision).flatMap { $0.isSupported ? $0 : nil } ?? .fp32
            return (try VGGNetwork(weightsPath: config.weightsPath, precision: precision), nil)
        } catch {
            return (nil, String(describing: error))
        }
    }

    /// What a queued method's bytes depend on beyond the request and the engine version, for the result
    /// cache's keys (`ResultCache.key`): the default JPEG/WebP quality for both; for `deep` also the weights'
    /// fingerprint, the arithmetic as resolved on this CPU, the early stop, the working image's limit and
    /// the compute threads (the order of parallel sums). A restart with other settings misses rather than
    /// answering results this configuration would not make.
    public func cacheIdentity(for method: ResizeMethod, weights: String?) -> String {
        var lines = ["jpeg_quality \(jpegQuality)"]
        if method == .deep {
            lines += ["weights \(weights ?? "none")", "engine_precision \(network?.precision.resolved.rawValue ?? "none")",
                      "deep_early_stop \(deepEarlyStop != nil)", "max_deep_input_pixels \(maxDeepInputPixels)",
                      "engine_threads \(engineThreads)"]
        }
        return lines.joined(separator: "\n")
    }

    /// Wall-clock stages, for `Server-Timing` and the logs.
    public struct Timings: Sendable {
        public var decode = 0.0, process = 0.0, encode = 0.0
    }

    /// Reads the header (no pixels) and checks the input and output limits: the checks a request can fail
    /// before any work is queued.
    public func inspect(_ bytes: [UInt8], options: ResizeOptions) throws -> (header: ImageHeader, width: Int, height: Int) {
        // Not a JPEG, PNG or WebP: unrecognizedFormat, or unsupported naming a known format (GIF, AVIF…).
        let header = try ImageDecoder.readHeader(bytes)
        if header.width * header.height > limits.maxPixels {
            let (size, limit) = megapixels(header.width * header.height, over: limits.maxPixels)
            throw ResizeRefusal.outsideLimits("source resolution \(size) (\(header.width)×\(header.height)) exceeds \(limit)")
        }
        let size = options.targetSize(sourceWidth: header.width, sourceHeight: header.height)
        try checkOutput(width: size.width, height: size.height, method: options.method)
        if let largest = options.format.maxDimension, max(size.width, size.height) > largest {
            let others = OutputFormat.allCases.filter { ($0.maxDimension ?? .max) >= max(size.width, size.height) }
            throw ResizeRefusal.outsideLimits("output \(size.width)×\(size.height) exceeds \(options.format.displayName)'s largest dimension \(largest); ask for "
                                              + others.map { "format=\($0.rawValue)" }.joined(separator: " or "))
        }
        try checkMethodSize(header, width: size.width, height: size.height, method: options.method)
        return (header, size.width, size.height)
    }

    func checkOutput(width: Int, height: Int, method: ResizeMethod) throws {
        switch method {
        case .scale:
            if width > maxOutputDimension || height > maxOutputDimension {
                throw ResizeRefusal.outsideLimits("output \(width)×\(height) exceeds the largest dimension \(maxOutputDimension) for method=scale")
            }
            if width * height > maxScaleOutputPixels {
                let (size, limit) = megapixels(width * height, over: maxScaleOutputPixels)
                throw ResizeRefusal.outsideLimits("output \(width)×\(height) (\(size)) exceeds \(limit) for method=scale (max_scale_output_pixels)")
            }
        case .seam, .deep:
            if width * height > maxDeepOutputPixels {
                let (size, limit) = megapixels(width * height, over: maxDeepOutputPixels)
                throw ResizeRefusal.outsideLimits("output \(width)×\(height) (\(size)) exceeds \(limit) for method=\(method.rawValue)")
            }
        }
    }

    /// What the methods themselves cannot do, whatever the configured limits: `deep`, when it changes the
    /// aspect ratio, needs an output of at least 8×8 (VGG's relu4_1 has stride 8) and an image to work on of
    /// at least 16×16 (relu5_1 has stride 16), judged on its geometry after the decoder's DCT scaling (the one
    /// the memory estimate uses); `seam` takes sides up to `SeamCarving.maximumSide` and at most
    /// `max_seam_work` pixels × seams. Checked in `inspect`, so before the memory
    /// estimate and before any pixel is decoded.
    func checkMethodSize(_ header: ImageHeader, width: Int, height: Int, method: ResizeMethod) throws {
        switch method {
        case .scale:
            return
        case .seam:
            if width > SeamCarving.maximumSide || height > SeamCarving.maximumSide {
                throw ResizeRefusal.outsideLimits("output \(width)×\(height) has a side over \(SeamCarving.maximumSide) px, the most method=seam handles")
            }
            let work = seamWork(sourceWidth: header.width, sourceHeight: header.height, sourceFormat: header.format,
                                width: width, height: height)
            if work.pixelSeams > maxSeamWork {
                throw ResizeRefusal.outsideLimits("method=seam from \(header.width)×\(header.height) to \(width)×\(height) carves or inserts \(work.seams) seams through images of up to \(work.pixels) pixels: \(scientific(work.pixelSeams)) pixels × seams, over max_seam_work (\(scientific(maxSeamWork))); ask for a size closer to the input's aspect ratio, or use method=scale")
            }
        case .deep:
            let geometry = decodedGeometry(method: .deep, sourceWidth: header.width, sourceHeight: header.height,
                                           sourceFormat: header.format, width: width, height: height)
            // A request that keeps the aspect ratio is a uniform scale: any size goes.
            guard !geometry.isUniform else { return }
            let least = DeepResizer.minimumOutputSide
            if width < least || height < least {
                throw ResizeRefusal.outsideLimits("output \(width)×\(height) is too small for method=deep to change its aspect ratio: each side needs at least \(least) px; use method=scale or seam")
            }
            // ResizeGeometry keeps the working image at least this large; checked all the same, as the
            // network cannot run below it.
            let side = DeepResizer.minimumInputSide
            if geometry.working.width < side || geometry.working.height < side {
                throw ResizeRefusal.outsideLimits("method=deep works on this image at \(geometry.working) and needs at least \(side)×\(side) px; use method=scale or seam")
            }
        }
    }

    /// The seams `seam` carves or inserts, and the most pixels it searches them through: its cost.
    func seamWork(sourceWidth: Int, sourceHeight: Int, sourceFormat: ImageFormat,
                  width: Int, height: Int) -> (seams: Int, pixels: Int, pixelSeams: Int) {
        let working = decodedGeometry(method: .seam, sourceWidth: sourceWidth, sourceHeight: sourceHeight,
                                      sourceFormat: sourceFormat, width: width, height: height).working
        let seams = abs(working.width - width) + abs(working.height - height)
        let pixels = max(working.width * working.height, width * working.height, width * height)
        let (product, overflow) = seams.multipliedReportingOverflow(by: pixels)
        return (seams, pixels, overflow ? Int.max : product)
    }

    /// `deep` needs the network's weights.
    public func checkAvailable(_ method: ResizeMethod) throws {
        if method == .deep && network == nil {
            throw ResizeRefusal.unavailable("method=deep needs the VGG-16 weights, which are not loaded: \(networkProblem ?? "unknown reason")")
        }
    }

    func decode(_ bytes: [UInt8], for method: ResizeMethod, width: Int, height: Int) throws -> RasterImage {
        try decodeDetailed(bytes, for: method, width: width, height: height).image
    }

    /// `decode`, also saying what became of an embedded ICC profile (converted to sRGB, or ignored).
    func decodeDetailed(_ bytes: [UInt8], for method: ResizeMethod, width: Int, height: Int) throws -> DecodedImage {
        // libjpeg may shrink while decoding (DCT scaling) as long as the image still covers what the method
        // works on: the target for `scale`, the uniformly scaled working image for `seam` and `deep`.
        let header = try ImageDecoder.readHeader(bytes)
        return try ImageDecoder.decodeDetailed(bytes, limits: limits,
                                               minimumSize: decodeMinimum(method: method, sourceWidth: header.width,
                                                                          sourceHeight: header.height, width: width,
                                                                          height: height))
    }

    /// The smallest decode that still holds what `method` works on (at most the source itself).
    func decodeMinimum(method: ResizeMethod, sourceWidth: Int, sourceHeight: Int, width: Int, height: Int) -> (width: Int, height: Int) {
        guard method != .scale, sourceWidth > 0, sourceHeight > 0, width > 0, height > 0 else { return (width, height) }
        let working = geometry(method: method, sourceWidth: sourceWidth, sourceHeight: sourceHeight, width: width, height: height).working
        return (min(working.width, sourceWidth), min(working.height, sourceHeight))
    }

    /// How `seam` and `deep` split a request: a uniform scale to the working size, then a content-aware
    /// change of the axis (or axes) still off the target (`ResizeGeometry`). `deep` also caps the working
    /// image at `max_deep_input_pixels`, since its network's memory grows with it.
    func geometry(method: ResizeMethod, sourceWidth: Int, sourceHeight: Int, width: Int, height: Int) -> ResizeGeometry {
        let source = PixelSize(width: sourceWidth, height: sourceHeight), target = PixelSize(width: width, height: height)
        guard method == .deep else { return ResizeGeometry(source: source, target: target) }
        var options = DeepResizeOptions()
        options.maxWorkingPixels = maxDeepInputPixels
        return DeepResizer.geometry(source: source, target: target, options: options)
    }

    /// What a method produced: the image, and for `deep` its report (nil when the uniform scale was the
    /// answer) and the mask drawn over the image it worked on.
    struct Outcome {
        var image: RasterImage
        var deepReport: DeepResizeReport?
        var maskOverlay: RasterImage?
        /// What the method did, in one line (a job's `summary`, the CLI's report).
        var summary: String
    }

    func deepOptions(_ options: ResizeOptions) -> DeepResizeOptions {
        var deep = DeepResizeOptions(featureOperator: options.featureOperator, protect: options.protect,
                                     iterations: options.iterations, threads: engineThreads, earlyStop: deepEarlyStop)
        deep.maxWorkingPixels = maxDeepInputPixels
        deep.start = options.start
        deep.seamTearLimit = options.seamTearLimit
        return deep
    }

    func resize(_ image: RasterImage, method: ResizeMethod, options: ResizeOptions, width: Int, height: Int,
                context: RunContext) throws -> Outcome {
        switch method {
        case .scale:
            // Only when both sides were asked for: with one, the other already keeps the aspect ratio, and
            // a crop would only take the rounding's pixel off.
            let cover = options.fit == .cover && options.width != nil && options.height != nil
            let source = cover ? Self.centreCrop(image, toAspectOf: width, height) : image
            let crop = source.width == image.width && source.height == image.height ? ""
                : " (fit=cover: the centre \(source.width)×\(source.height) first)"
            return Outcome(image: Resampler.resize(source, width: width, height: height),
                           summary: "scale \(image.width)×\(image.height) → \(width)×\(height)" + crop)
        case .seam:
            let geometry = geometry(method: .seam, sourceWidth: image.width, sourceHeight: image.height,
                                    width: width, height: height)
            let working = geometry.working
            let start = working == geometry.source
                ? image : Resampler.resize(image, width: working.width, height: working.height)
            return Outcome(image: try SeamCarving.resize(start, width: width, height: height, context: context),
                           summary: Self.seamSummary(geometry))
        case .deep:
            try checkAvailable(.deep)
            guard let network else { throw ResizeRefusal.unavailable("method=deep needs the VGG-16 weights, which are not loaded") }
            let result = try DeepResizer.resize(image, width: width, height: height, options: deepOptions(options),
                                                network: network, context: context)
            var overlay: RasterImage?
            if let mask = result.mask, let working = result.working { overlay = mask.overlay(on: working) }
            return Outcome(image: result.image, deepReport: result.report, maskOverlay: overlay,
                           summary: result.summary)
        }
    }

    /// What `seam` does with `geometry`, in one line: "uniform scale 1280×960 → 533×400, then seams 533×400 →
    /// 400×400 (133 columns removed)".
    static func seamSummary(_ geometry: ResizeGeometry) -> String {
        let (source, working, target) = (geometry.source, geometry.working, geometry.target)
        if working == target {
            return source == target ? "nothing to do: the source is \(source) already"
                : "uniform scale \(source) → \(target): the aspect ratio is kept, no seams"
        }
        func change(_ from: Int, _ to: Int, _ noun: String) -> String? {
            from == to ? nil : "\(abs(from - to)) \(noun)\(abs(from - to) == 1 ? "" : "s") \(from > to ? "removed" : "inserted")"
        }
        let changes = [change(working.width, target.width, "column"), change(working.height, target.height, "row")]
        let scaled = working == source ? "" : "uniform scale \(source) → \(working), then "
        return scaled + "seams \(working) → \(target) (" + changes.compactMap { $0 }.joined(separator: ", ") + ")"
    }

    /// `fit=cover`: the largest centred region of `image` with the aspect ratio of `width`×`height` (the
    /// image itself when it has it already, to the pixel).
    static func centreCrop(_ image: RasterImage, toAspectOf width: Int, _ height: Int) -> RasterImage {
        var cropWidth = image.width, cropHeight = image.height
        if image.width * height > width * image.height {
            cropWidth = min(image.width, ResizeOptions.side(image.height, scaledBy: width, over: height))
        } else {
            cropHeight = min(image.height, ResizeOptions.side(image.width, scaledBy: height, over: width))
        }
        guard cropWidth != image.width || cropHeight != image.height else { return image }
        let left = (image.width - cropWidth) / 2, top = (image.height - cropHeight) / 2
        let channels = image.channels
        var pixels = [UInt8]()
        pixels.reserveCapacity(cropWidth * cropHeight * channels)
        for row in top..<(top + cropHeight) {
            let start = (row * image.width + left) * channels
            pixels += image.pixels[start..<(start + cropWidth * channels)]
        }
        return RasterImage(width: cropWidth, height: cropHeight, channels: channels, pixels: pixels)
    }

    /// `quality` (JPEG, WebP): the request's; nil: `jpeg_quality`.
    func encode(_ image: RasterImage, format: OutputFormat, quality: Int? = nil) throws -> [UInt8] {
        switch format {
        case .png: try ImageEncoder.png(image)
        case .jpeg: try ImageEncoder.jpeg(image, quality: quality ?? jpegQuality)
        case .webp: try ImageEncoder.webp(image, quality: quality ?? jpegQuality)
        }
    }

    /// The whole pipeline, timed. `mask` is `deep`'s semantic mask over the image it worked on (PNG; a job
    /// keeps it beside its result, served at `/jobs/{id}/mask`); `deepReport` is `deep`'s losses.
    public struct Run {
        public var output: [UInt8]
        public var timings: Timings
        public var mask: [UInt8]?
        public var deepReport: DeepResizeReport?
        /// What the method did, in one line (`Outcome.summary`).
        public var summary: String
        /// What became of the input's ICC profile.
        public var colour: ColourProfile = .none
    }

    public func run(_ bytes: [UInt8], options: ResizeOptions, width: Int, height: Int,
             context: RunContext = .detached) throws -> Run {
        var timings = Timings()
        var start = monotonicSeconds()
        let decoded = try decodeDetailed(bytes, for: options.method, width: width, height: height)
        let image = decoded.image
        timings.decode = monotonicSeconds() - start
        start = monotonicSeconds()
        let outcome = try resize(image, method: options.method, options: options, width: width, height: height,
                                 context: context)
        timings.process = monotonicSeconds() - start
        start = monotonicSeconds()
        let output = try encode(outcome.image, format: options.format, quality: options.quality)
        let mask = try outcome.maskOverlay.map { try ImageEncoder.png($0) }
        timings.encode = monotonicSeconds() - start
        return Run(output: output, timings: timings, mask: mask, deepReport: outcome.deepReport,
                   summary: outcome.summary, colour: decoded.colour)
    }
}
