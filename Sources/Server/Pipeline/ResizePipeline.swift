import Engine
import ImageCodecs
import Glibc

/// decode → resize → encode, the same for the HTTP path, the workers and the CLI. It holds only limits
/// and settings; the methods themselves live in Engine.
struct ResizePipeline: Sendable {
    var limits: DecodeLimits
    var maxOutputDimension: Int
    var maxDeepOutputPixels: Int
    var jpegQuality: Int

    init(config: ServiceConfig) {
        limits = DecodeLimits(maxPixels: config.maxInputPixels)
        maxOutputDimension = config.maxOutputDimension
        maxDeepOutputPixels = config.maxDeepOutputPixels
        jpegQuality = config.jpegQuality
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

    /// `deep` needs the network, which this build does not have yet.
    func checkAvailable(_ method: ResizeMethod) throws {
        if method == .deep {
            throw Problem(status: 501, title: "Not Implemented",
                          detail: "method=deep is not available in this build yet; use method=scale or method=seam")
        }
    }

    func decode(_ bytes: [UInt8], for method: ResizeMethod, width: Int, height: Int) throws -> RasterImage {
        // Only `scale` may let libjpeg shrink while decoding: the other methods look at the full detail
        // up to their own working size, which is the output size at most for seams.
        let minimum: (width: Int, height: Int)? = (width, height)
        return try ImageDecoder.decode(bytes, limits: limits, minimumSize: method == .deep ? nil : minimum)
    }

    func resize(_ image: RasterImage, method: ResizeMethod, options: ResizeOptions, width: Int, height: Int,
                context: RunContext) throws -> RasterImage {
        switch method {
        case .scale:
            return Resampler.resize(image, width: width, height: height)
        case .seam:
            // Carving thousands of seams out of a camera-sized photo would take minutes and remove more than
            // it keeps, so when both axes shrink the image is first scaled uniformly to the smallest size that
            // covers the target; seams then change only the aspect ratio.
            let factor = max(Double(width) / Double(image.width), Double(height) / Double(image.height))
            var source = image
            if factor < 1 {
                let coverWidth = max(width, Int((Double(image.width) * factor).rounded()))
                let coverHeight = max(height, Int((Double(image.height) * factor).rounded()))
                source = Resampler.resize(image, width: coverWidth, height: coverHeight)
            }
            return try SeamCarving.resize(source, width: width, height: height, context: context)
        case .deep:
            try checkAvailable(.deep)
            return image
        }
    }

    func encode(_ image: RasterImage, format: OutputFormat) throws -> [UInt8] {
        switch format {
        case .png: try ImageEncoder.png(image)
        case .jpeg: try ImageEncoder.jpeg(image, quality: jpegQuality)
        }
    }

    /// The whole pipeline, timed.
    func run(_ bytes: [UInt8], options: ResizeOptions, width: Int, height: Int,
             context: RunContext = .detached) throws -> (output: [UInt8], timings: Timings) {
        var timings = Timings()
        var start = monotonicSeconds()
        let image = try decode(bytes, for: options.method, width: width, height: height)
        timings.decode = monotonicSeconds() - start
        start = monotonicSeconds()
        let resized = try resize(image, method: options.method, options: options, width: width, height: height, context: context)
        timings.process = monotonicSeconds() - start
        start = monotonicSeconds()
        let output = try encode(resized, format: options.format)
        timings.encode = monotonicSeconds() - start
        return (output, timings)
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
