import Engine
public import ImageCodecs

/// How much memory one job takes, estimated from what is known before any pixel is decoded: the source's
/// header (size, format), the encoded size and the output size. The worker pool reserves this much of the
/// `MemoryBudget` before it claims a job, and `/resize` refuses a job whose estimate exceeds the whole
/// budget. Measured against real peaks in docs/operations.md ("Memory").
extension ResizePipeline {
    /// Bytes a job holds at its peak on top of the process at rest. `deep`: the network's own peak
    /// (`DeepResizer.estimatedPeakBytes` for the working sizes after `max_deep_input_pixels`) plus the
    /// pipeline's buffers; `seam`: its grid over the working (covering) image; `scale`: the decoded and the
    /// output image and the resampler's bands. Every method adds the encoded input, the decoded image and
    /// the output. A PNG or WebP counts 4 channels (it may carry alpha; a queued job's record does not
    /// say), so the number at submission and at the worker is the same.
    public func estimatedJobBytes(method: ResizeMethod, sourceWidth: Int, sourceHeight: Int, sourceFormat: ImageFormat,
                           encodedBytes: Int, width: Int, height: Int) -> Int {
        guard sourceWidth > 0, sourceHeight > 0, width > 0, height > 0 else { return 0 }
        let channels = sourceFormat == .jpeg ? 3 : 4
        let decoded = Self.decodedSize(format: sourceFormat, width: sourceWidth, height: sourceHeight,
                                       minimum: method == .scale ? (width, height)
                                           : decodeMinimum(method: method, sourceWidth: sourceWidth, sourceHeight: sourceHeight,
                                                           width: width, height: height))
        let decodedPixels = decoded.width * decoded.height
        let outputPixels = width * height
        // The encoded input, the decoded image, the output image and its encoding (at most the raster).
        var bytes = max(0, encodedBytes) + decodedPixels * channels + 2 * outputPixels * channels
        let geometry = geometry(method: method, sourceWidth: decoded.width, sourceHeight: decoded.height,
                                width: width, height: height)
        let working = geometry.working
        // The resampler's float bands (at most about 8 MB each, two passes): `scale`, and the uniform scale
        // that `seam` and `deep` start with (small images need far less).
        let resampled = method == .scale ? PixelSize(width: width, height: height) : working
        bytes += min(16 << 20, 8 * channels * decoded.height * resampled.width)
        switch method {
        case .scale:
            break
        case .seam:
            let cells = max(working.area, outputPixels)
            // The working image, its transposed copy, and the seam grid (energy, costs, origins,
            // back pointers: about 24 B a cell) rounded up to 40 B.
            bytes += 2 * cells * channels + 40 * cells
        case .deep where geometry.isUniform:
            break  // answered by the uniform scale alone
        case .deep:
            // The working raster, its float tensor (12 B/px) and the mask overlay (RGBA); the output tensor.
            bytes += working.area * (channels + 12 + 4) + 12 * outputPixels
            bytes += DeepResizer.estimatedPeakBytes(inputWidth: working.width, inputHeight: working.height,
                                                    outputWidth: width, outputHeight: height, threads: engineThreads)
        }
        return bytes
    }

    /// The geometry `seam` or `deep` follows for a source of sourceWidth × sourceHeight, judged on the size
    /// the decoder returns (DCT scaling): what the memory estimate counts and what `checkMethodSize` holds to
    /// the method's limits.
    func decodedGeometry(method: ResizeMethod, sourceWidth: Int, sourceHeight: Int, sourceFormat: ImageFormat,
                         width: Int, height: Int) -> ResizeGeometry {
        let decoded = Self.decodedSize(format: sourceFormat, width: sourceWidth, height: sourceHeight,
                                       minimum: decodeMinimum(method: method, sourceWidth: sourceWidth,
                                                              sourceHeight: sourceHeight, width: width, height: height))
        return geometry(method: method, sourceWidth: decoded.width, sourceHeight: decoded.height, width: width, height: height)
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
