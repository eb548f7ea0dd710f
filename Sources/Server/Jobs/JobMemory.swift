import Engine
import ImageCodecs

/// How much memory one job takes, estimated from what is known before any pixel is decoded: the source's
/// header (size, format), the encoded size and the output size. The worker pool reserves this much of the
/// `MemoryBudget` before it claims a job, and `/resize` refuses a job whose estimate exceeds the whole
/// budget. Measured against real peaks in docs/operations.md ("Memory").
extension ResizePipeline {
    /// Bytes a job holds at its peak on top of the process at rest. `deep`: the network's own peak
    /// (`DeepResizer.estimatedPeakBytes` for the working sizes after `max_deep_input_pixels`) plus the
    /// pipeline's buffers; `seam`: its grid over the working (covering) image; `scale`: the decoded and the
    /// output image and the resampler's bands. Every method adds the encoded input, the decoded image and
    /// the output. A PNG counts 4 channels (it may carry alpha; a queued job's record does not say), so
    /// the number at submission and at the worker is the same.
    func estimatedJobBytes(method: ResizeMethod, sourceWidth: Int, sourceHeight: Int, sourceFormat: ImageFormat,
                           encodedBytes: Int, width: Int, height: Int) -> Int {
        guard sourceWidth > 0, sourceHeight > 0, width > 0, height > 0 else { return 0 }
        let channels = sourceFormat == .png ? 4 : 3
        let decoded = Self.decodedSize(format: sourceFormat, width: sourceWidth, height: sourceHeight,
                                       minimum: method == .deep ? deepDecodeMinimum(width: sourceWidth, height: sourceHeight)
                                                                : (width, height))
        let decodedPixels = decoded.width * decoded.height
        let outputPixels = width * height
        // The encoded input, the decoded image, the output image and its encoding (at most the raster).
        var bytes = max(0, encodedBytes) + decodedPixels * channels + 2 * outputPixels * channels
        switch method {
        case .scale:
            // The resampler's float bands (at most about 8 MB each, two passes).
            bytes += 16 << 20
        case .seam:
            let working = Self.workingSize(imageWidth: decoded.width, imageHeight: decoded.height, width: width, height: height,
                                           coverTarget: true, maxPixels: nil) ?? decoded
            let cells = max(working.width * working.height, outputPixels)
            // The working image, its transposed copy, and the seam grid (energy, costs, origins,
            // back pointers: about 24 B a cell) rounded up to 40 B.
            bytes += 2 * cells * channels + 40 * cells
        case .deep:
            let working = deepWorkingSize(sourceWidth: sourceWidth, sourceHeight: sourceHeight, sourceFormat: sourceFormat,
                                          width: width, height: height)
            let workingPixels = working.width * working.height
            // The working raster, its float tensor (12 B/px) and the mask overlay (RGBA); the output tensor.
            bytes += workingPixels * (channels + 12 + 4) + 12 * outputPixels
            bytes += DeepResizer.estimatedPeakBytes(inputWidth: working.width, inputHeight: working.height,
                                                    outputWidth: width, outputHeight: height, threads: engineThreads)
        }
        return bytes
    }

    /// The size `deep` works at for a source of sourceWidth × sourceHeight (after the decoder's DCT scaling
    /// and `workingImage`): what the memory estimate counts and what `checkMethodSize` holds to the method's
    /// minimum.
    func deepWorkingSize(sourceWidth: Int, sourceHeight: Int, sourceFormat: ImageFormat,
                         width: Int, height: Int) -> (width: Int, height: Int) {
        let decoded = Self.decodedSize(format: sourceFormat, width: sourceWidth, height: sourceHeight,
                                       minimum: deepDecodeMinimum(width: sourceWidth, height: sourceHeight))
        return Self.workingSize(imageWidth: decoded.width, imageHeight: decoded.height, width: width, height: height,
                                coverTarget: false, maxPixels: maxDeepInputPixels) ?? decoded
    }

    /// The estimate for a stored job; 0 when its record names no method this server knows (the run fails
    /// it anyway).
    func estimatedJobBytes(for job: JobRecord, encodedBytes: Int) -> Int {
        guard let method = ResizeMethod(rawValue: job.method), let format = ImageFormat(rawValue: job.inputFormat) else { return 0 }
        return estimatedJobBytes(method: method, sourceWidth: job.inputWidth, sourceHeight: job.inputHeight, sourceFormat: format,
                                 encodedBytes: encodedBytes, width: job.params.width, height: job.params.height)
    }

    /// The size `ImageDecoder.decode` returns: a JPEG at the smallest DCT scale n/8 whose size still covers
    /// `minimum` (libjpeg rounds each side up), a PNG as it is.
    static func decodedSize(format: ImageFormat, width: Int, height: Int,
                            minimum: (width: Int, height: Int)?) -> (width: Int, height: Int) {
        guard format == .jpeg, let minimum else { return (width, height) }
        for num in 1...8 {
            let scaled = ((width * num + 7) / 8, (height * num + 7) / 8)
            if scaled.0 >= minimum.width && scaled.1 >= minimum.height { return scaled }
        }
        return (width, height)
    }
}

/// "2.9 GB", "350 MB", "12 kB": decimal units, as the problem details and logs show sizes.
func formatBytes(_ bytes: Int) -> String {
    let value = Double(bytes)
    if value >= 1e9 { return String((value / 1e8).rounded() / 10) + " GB" }
    if value >= 1e6 { return String(Int((value / 1e6).rounded())) + " MB" }
    return String(Int((value / 1e3).rounded(.up))) + " kB"
}
