import ImageCodecs

/// Pixel-level helpers of the seam carver: grey field, transposition, gathering and seam insertion.
enum PixelPlanes {
    /// The forward-energy grid over ⌊0.2125 R + 0.7154 G + 0.0721 B⌋ in Float, the PyPI package's 8-bit
    /// grey: integer values keep every cost exact in Float, so the search is deterministic.
    static func luminanceGrid(_ image: RasterImage) -> ForwardSeamGrid<Float> {
        let c = image.channels
        return ForwardSeamGrid<Float>(width: image.width, height: image.height, addsGradientEnergy: false,
                                      hasPenalty: false) { grey, _, _ in
            image.pixels.withUnsafeBufferPointer { px in
                for i in 0..<(image.width * image.height) {
                    let p = i * c
                    let value = Float(px[p]) * 0.2125 + Float(px[p + 1]) * 0.7154 + Float(px[p + 2]) * 0.0721
                    grey[i] = value.rounded(.towardZero)
                }
            }
        }
    }

    /// The columns the grid still holds, per row, in order.
    static func gatherColumns(_ image: RasterImage, grid: ForwardSeamGrid<Float>) -> RasterImage {
        let c = image.channels
        let outWidth = grid.width
        var out = [UInt8](repeating: 0, count: outWidth * image.height * c)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<image.height {
                    let kept = grid.keptColumns(row: y)
                    let srcRow = y * image.width * c
                    var d = y * outWidth * c
                    for x in kept {
                        let s = srcRow + Int(x) * c
                        for ch in 0..<c { dst[d + ch] = src[s + ch] }
                        d += c
                    }
                }
            }
        }
        return RasterImage(width: outWidth, height: image.height, channels: c, pixels: out)
    }

    /// Inserts before every marked pixel the average (rounded down) of it and its left neighbour (itself
    /// in column 0). `count` marks per row.
    static func insertingColumns(_ image: RasterImage, before marks: [Bool], count: Int) -> RasterImage {
        let c = image.channels
        let w = image.width
        let outWidth = w + count
        var out = [UInt8](repeating: 0, count: outWidth * image.height * c)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var d = 0
                for y in 0..<image.height {
                    let row = y * w * c
                    for x in 0..<w {
                        let s = row + x * c
                        if marks[y * w + x] {
                            let left = x > 0 ? s - c : s
                            for ch in 0..<c {
                                dst[d + ch] = UInt8((UInt16(src[left + ch]) + UInt16(src[s + ch])) >> 1)
                            }
                            d += c
                        }
                        for ch in 0..<c { dst[d + ch] = src[s + ch] }
                        d += c
                    }
                }
            }
        }
        return RasterImage(width: outWidth, height: image.height, channels: c, pixels: out)
    }

    /// Swaps rows and columns (height seams are width seams of the transposed image).
    static func transposed(_ image: RasterImage) -> RasterImage {
        let c = image.channels
        let w = image.width
        let h = image.height
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                // Blocked so both sides stay in cache on large images.
                let block = 32
                for y0 in Swift.stride(from: 0, to: h, by: block) {
                    for x0 in Swift.stride(from: 0, to: w, by: block) {
                        for y in y0..<min(y0 + block, h) {
                            for x in x0..<min(x0 + block, w) {
                                let s = (y * w + x) * c
                                let d = (x * h + y) * c
                                for ch in 0..<c { dst[d + ch] = src[s + ch] }
                            }
                        }
                    }
                }
            }
        }
        return RasterImage(width: h, height: w, channels: c, pixels: out)
    }
}
