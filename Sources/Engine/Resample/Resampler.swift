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
        // +4 floats of slack: the RGB filter loads 4 lanes per 3-channel pixel.
        let columnSums = UnsafeMutablePointer<Float>.allocate(capacity: srcWidth * channels + 4)
        let boxRow = UnsafeMutablePointer<Float>.allocate(capacity: boxWidth * channels + 4)
        let intermediate = UnsafeMutablePointer<Float>.allocate(capacity: span.count * rowFloats)
        let accumulator = UnsafeMutablePointer<Float>.allocate(capacity: rowFloats + 8)
        defer {
            columnSums.deallocate()
            boxRow.deallocate()
            intermediate.deallocate()
            accumulator.deallocate()
        }
        columnSums.update(repeating: 0, count: srcWidth * channels + 4)
        boxRow.update(repeating: 0, count: boxWidth * channels + 4)
        for (i, y) in span.enumerated() {
            averageBoxRow(y, source: io.source, sums: columnSums, into: boxRow)
            filterRow(boxRow, into: intermediate + i * rowFloats)
        }
        let taps = vertical.taps
        vertical.weights.withUnsafeBufferPointer { weights in
            for y in rows {
                // Taps read consecutive intermediate rows starting here.
                let base = UnsafePointer(intermediate + (vertical.starts[y] - span.lowerBound) * rowFloats)
                let w = weights.baseAddress! + y * taps
                // 8 floats at a time held in a register across all taps, one store per chunk.
                var k = 0
                while k + 8 <= rowFloats {
                    var sum = SIMD8<Float>(repeating: 0)
                    var input = base + k
                    for t in 0..<taps {
                        sum += load8(input) * SIMD8(repeating: w[t])
                        input += rowFloats
                    }
                    UnsafeMutableRawPointer(accumulator + k).storeBytes(of: sum, as: SIMD8<Float>.self)
                    k += 8
                }
                while k < rowFloats {
                    var sum: Float = 0
                    for t in 0..<taps { sum += w[t] * base[t * rowFloats + k] }
                    accumulator[k] = sum
                    k += 1
                }
                store(accumulator, into: io.destination + y * rowFloats)
            }
        }
    }

    /// Box row `y` as floats: mean of a boxX × boxY block per sample, colour premultiplied by alpha.
    /// Rows are summed first (contiguous, vectorisable), then groups of boxX columns.
    private func averageBoxRow(_ y: Int, source: UnsafePointer<UInt8>, sums: UnsafeMutablePointer<Float>,
                               into row: UnsafeMutablePointer<Float>) {
        let y0 = y * boxY, y1 = min(y0 + boxY, srcHeight)
        let count = srcWidth * channels
        let target = boxX == 1 ? row : sums   // without column grouping, sum straight into the row
        target.update(repeating: 0, count: count)
        for sy in y0..<y1 {
            let line = source + sy * count
            if channels == 3 {
                for i in 0..<count { target[i] += Float(line[i]) }
            } else {
                for x in 0..<srcWidth {
                    let p = line + x * 4
                    let v = SIMD4<Float>(Float(p[0]), Float(p[1]), Float(p[2]), Float(p[3]))
                    let premultiplied = v * SIMD4(v[3], v[3], v[3], 255)
                    let q = UnsafeMutableRawPointer(target + x * 4)
                    q.storeBytes(of: q.loadUnaligned(as: SIMD4<Float>.self) + premultiplied, as: SIMD4<Float>.self)
                }
            }
        }
        // Divide by the block's pixel count (smaller for the partial last block); everything also by
        // 255 for RGBA (premultiplied colour c·a and alpha·255 go back to the 0…255 scale).
        let rowsInBox = Float(y1 - y0) * (channels == 4 ? 255 : 1)
        if boxX == 1 {
            let scale = 1 / rowsInBox
            for i in 0..<count { row[i] *= scale }
            return
        }
        for bx in 0..<boxWidth {
            let x0 = bx * boxX, x1 = min(x0 + boxX, srcWidth)
            let scale = 1 / (rowsInBox * Float(x1 - x0))
            var v = SIMD4<Float>(repeating: 0)
            for x in x0..<x1 { v += load4(sums + x * channels) }
            v *= scale
            for c in 0..<channels { row[bx * channels + c] = v[c] }
        }
    }

    private func filterRow(_ input: UnsafeMutablePointer<Float>, into output: UnsafeMutablePointer<Float>) {
        let taps = horizontal.taps
        horizontal.weights.withUnsafeBufferPointer { weights in
            horizontal.starts.withUnsafeBufferPointer { starts in
                // Each pixel as one 4-lane vector (RGB reads a 4th lane it ignores; buffers have slack).
                let w = weights.baseAddress!
                if channels == 3 {
                    for x in 0..<width {
                        var v = SIMD4<Float>(repeating: 0)
                        var p = UnsafePointer(input + starts[x] * 3)
                        let wx = w + x * taps
                        for t in 0..<taps {
                            v += load4(p) * SIMD4(repeating: wx[t])
                            p += 3
                        }
                        output[x * 3] = v.x; output[x * 3 + 1] = v.y; output[x * 3 + 2] = v.z
                    }
                } else {
                    for x in 0..<width {
                        var v = SIMD4<Float>(repeating: 0)
                        var p = UnsafePointer(input + starts[x] * 4)
                        let wx = w + x * taps
                        for t in 0..<taps {
                            v += load4(p) * SIMD4(repeating: wx[t])
                            p += 4
                        }
                        UnsafeMutableRawPointer(output + x * 4).storeBytes(of: v, as: SIMD4<Float>.self)
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

@inline(__always) private func load4(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
}

@inline(__always) private func load4(_ p: UnsafeMutablePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
}

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
