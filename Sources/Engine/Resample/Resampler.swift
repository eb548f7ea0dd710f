public import ImageCodecs
import Dispatch

/// The `scale` method: high-quality, antialiased, separable resampling of 8-bit RGB/RGBA images.
///
/// Pipeline: (1) for large shrink factors an exact box (area) average by integer factors, chosen so at
/// least 2× the target remains for (2) a separable Lanczos-3 filter whose support is stretched by the
/// remaining shrink factor. Both run on premultiplied alpha, un-premultiplied at the end, so fully
/// transparent pixels contribute no colour. Work is split into bands of output rows run concurrently.
public enum Resampler {
    /// Returns `image` resampled to exactly `width` x `height` (both ≥ 1; the server validates them).
    public static func resize(_ image: RasterImage, width: Int, height: Int, threads: Int = 2) -> RasterImage {
        resize(image, width: width, height: height, threads: threads, maxBandBytes: 8 << 20)
    }

    /// `maxBandBytes` bounds one band's intermediate (box rows × output width floats); exposed for tests.
    static func resize(_ image: RasterImage, width: Int, height: Int, threads: Int, maxBandBytes: Int) -> RasterImage {
        precondition(width > 0 && height > 0, "target size must be positive")
        if width == image.width && height == image.height { return image }
        let plan = Plan(source: image, width: width, height: height)
        var output = [UInt8](repeating: 0, count: width * height * image.channels)
        let bands = plan.bandCount(threads: max(threads, 1), maxBandBytes: max(maxBandBytes, 1))
        image.pixels.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                let io = BandIO(source: src.baseAddress!, destination: dst.baseAddress!)
                if bands == 1 {
                    plan.run(rows: 0..<height, io: io)
                } else {
                    DispatchQueue.concurrentPerform(iterations: bands) { band in
                        plan.run(rows: (band * height / bands)..<((band + 1) * height / bands), io: io)
                    }
                }
            }
        }
        return RasterImage(width: width, height: height, channels: image.channels, pixels: output)
    }
}

/// Source and destination pixels shared by the bands. Bands write disjoint output rows and only read
/// the source, so sharing the raw pointers across threads is race-free.
private struct BandIO: @unchecked Sendable {
    let source: UnsafePointer<UInt8>
    let destination: UnsafeMutablePointer<UInt8>
}

private struct Plan: Sendable {
    let srcWidth, srcHeight, channels: Int
    let width, height: Int
    /// Box (area) reduction factors and the box-averaged size (last box may be partial).
    let boxX, boxY: Int
    let boxWidth, boxHeight: Int
    let horizontal: FilterWeights
    let vertical: FilterWeights

    init(source: RasterImage, width: Int, height: Int) {
        srcWidth = source.width
        srcHeight = source.height
        channels = source.channels
        self.width = width
        self.height = height
        // Keep ≥ 2× the target after the box stage so Lanczos still has several inputs per output.
        boxX = max(1, source.width / (2 * width))
        boxY = max(1, source.height / (2 * height))
        boxWidth = (source.width + boxX - 1) / boxX
        boxHeight = (source.height + boxY - 1) / boxY
        horizontal = .lanczos3(inputCount: boxWidth, outputCount: width,
                               scale: Double(source.width) / Double(boxX * width))
        vertical = .lanczos3(inputCount: boxHeight, outputCount: height,
                             scale: Double(source.height) / Double(boxY * height))
    }

    /// Enough bands to use the threads, and more when the intermediate (box rows × output width) of one
    /// band would exceed `maxBandBytes` (8 MB by default), which bounds memory for big enlargements.
    func bandCount(threads: Int, maxBandBytes: Int) -> Int {
        let intermediateBytes = boxHeight * width * channels * MemoryLayout<Float>.stride
        let forMemory = (intermediateBytes + maxBandBytes - 1) / maxBandBytes
        let bands = max(threads, forMemory)
        return min(bands, height)
    }

    /// Produces output rows `rows`: horizontal pass over the box rows they need, then vertical pass.
    func run(rows: Range<Int>, io: BandIO) {
        if rows.isEmpty { return }
        let span = vertical.inputSpan(of: rows)
        let rowFloats = width * channels
        let boxRow = UnsafeMutablePointer<Float>.allocate(capacity: boxWidth * channels)
        let intermediate = UnsafeMutablePointer<Float>.allocate(capacity: span.count * rowFloats)
        let accumulator = UnsafeMutablePointer<Float>.allocate(capacity: rowFloats)
        defer {
            boxRow.deallocate()
            intermediate.deallocate()
            accumulator.deallocate()
        }
        for (i, y) in span.enumerated() {
            averageBoxRow(y, source: io.source, into: boxRow)
            filterRow(boxRow, into: intermediate + i * rowFloats)
        }
        vertical.weights.withUnsafeBufferPointer { weights in
            for y in rows {
                accumulator.update(repeating: 0, count: rowFloats)
                let start = vertical.starts[y]
                for t in 0..<vertical.taps {
                    let w = weights[y * vertical.taps + t]
                    if w == 0 { continue }
                    let input = intermediate + (start + t - span.lowerBound) * rowFloats
                    for k in 0..<rowFloats { accumulator[k] += w * input[k] }
                }
                store(accumulator, into: io.destination + y * rowFloats)
            }
        }
    }

    /// Box row `y` as floats: mean of a boxX × boxY block per sample, colour premultiplied by alpha.
    private func averageBoxRow(_ y: Int, source: UnsafePointer<UInt8>, into row: UnsafeMutablePointer<Float>) {
        let count = boxWidth * channels
        row.update(repeating: 0, count: count)
        let y0 = y * boxY, y1 = min(y0 + boxY, srcHeight)
        let srcStride = srcWidth * channels
        for sy in y0..<y1 {
            let line = source + sy * srcStride
            if channels == 3 {
                for bx in 0..<boxWidth {
                    let x0 = bx * boxX, x1 = min(x0 + boxX, srcWidth)
                    var r: Float = 0, g: Float = 0, b: Float = 0
                    for x in x0..<x1 {
                        let p = line + x * 3
                        r += Float(p[0]); g += Float(p[1]); b += Float(p[2])
                    }
                    row[bx * 3] += r; row[bx * 3 + 1] += g; row[bx * 3 + 2] += b
                }
            } else {
                for bx in 0..<boxWidth {
                    let x0 = bx * boxX, x1 = min(x0 + boxX, srcWidth)
                    var r: Float = 0, g: Float = 0, b: Float = 0, a: Float = 0
                    for x in x0..<x1 {
                        let p = line + x * 4
                        let alpha = Float(p[3])
                        r += Float(p[0]) * alpha; g += Float(p[1]) * alpha; b += Float(p[2]) * alpha
                        a += alpha
                    }
                    row[bx * 4] += r; row[bx * 4 + 1] += g; row[bx * 4 + 2] += b; row[bx * 4 + 3] += a
                }
            }
        }
        // Divide by the block's pixel count (smaller for the partial last block); premultiplied colour
        // also by 255 so it stays on the 0…255 scale.
        let rowsInBox = Float(y1 - y0)
        for bx in 0..<boxWidth {
            let n = rowsInBox * Float(min(bx * boxX + boxX, srcWidth) - bx * boxX)
            let colourScale = channels == 4 ? 1 / (n * 255) : 1 / n
            for c in 0..<3 { row[bx * channels + c] *= colourScale }
            if channels == 4 { row[bx * 4 + 3] *= 1 / n }
        }
    }

    private func filterRow(_ input: UnsafeMutablePointer<Float>, into output: UnsafeMutablePointer<Float>) {
        let taps = horizontal.taps
        horizontal.weights.withUnsafeBufferPointer { weights in
            horizontal.starts.withUnsafeBufferPointer { starts in
                if channels == 3 {
                    for x in 0..<width {
                        var r: Float = 0, g: Float = 0, b: Float = 0
                        let p = input + starts[x] * 3
                        for t in 0..<taps {
                            let w = weights[x * taps + t]
                            r += w * p[t * 3]; g += w * p[t * 3 + 1]; b += w * p[t * 3 + 2]
                        }
                        output[x * 3] = r; output[x * 3 + 1] = g; output[x * 3 + 2] = b
                    }
                } else {
                    for x in 0..<width {
                        var v = SIMD4<Float>(repeating: 0)
                        let p = input + starts[x] * 4
                        for t in 0..<taps {
                            let q = p + t * 4
                            v += weights[x * taps + t] * SIMD4(q[0], q[1], q[2], q[3])
                        }
                        output[x * 4] = v[0]; output[x * 4 + 1] = v[1]; output[x * 4 + 2] = v[2]; output[x * 4 + 3] = v[3]
                    }
                }
            }
        }
    }

    /// Rounds to 8 bits with clamping (Lanczos lobes overshoot); RGBA is un-premultiplied here.
    private func store(_ row: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<UInt8>) {
        if channels == 3 {
            for k in 0..<(width * 3) { out[k] = UInt8(min(max(row[k], 0), 255) + 0.5) }
        } else {
            for x in 0..<width {
                let alpha = min(max(row[x * 4 + 3], 0), 255)
                let a8 = UInt8(alpha + 0.5)
                if a8 == 0 {
                    out[x * 4] = 0; out[x * 4 + 1] = 0; out[x * 4 + 2] = 0; out[x * 4 + 3] = 0
                    continue
                }
                let unpremultiply = 255 / alpha
                for c in 0..<3 {
                    out[x * 4 + c] = UInt8(min(max(row[x * 4 + c] * unpremultiply, 0), 255) + 0.5)
                }
                out[x * 4 + 3] = a8
            }
        }
    }
}
