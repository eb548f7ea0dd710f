public import ImageCodecs

extension Tensor {
    /// The image's colour as 3 planes R, G, B in [0,1] (alpha, if any, is not part of the tensor).
    public convenience init(rgbOf image: RasterImage) {
        self.init(channels: 3, height: image.height, width: image.width)
        let n = image.width * image.height, step = image.channels
        image.pixels.withUnsafeBufferPointer { px in
            for c in 0..<3 {
                let plane = data + c * n
                for i in 0..<n { plane[i] = Float(px[i * step + c]) * (1 / 255) }
            }
        }
    }

    /// A 3-channel tensor (R, G, B in [0,1]) as an 8-bit RGB image: clamped to [0,1], rounded.
    /// nil unless the tensor has 3 channels and a positive size.
    public func rgbImage() -> RasterImage? {
        guard channels == 3, width > 0, height > 0 else { return nil }
        let n = width * height
        var pixels = [UInt8](repeating: 0, count: n * 3)
        pixels.withUnsafeMutableBufferPointer { px in
            for c in 0..<3 {
                let plane = data + c * n
                for i in 0..<n {
                    let v = plane[i].isNaN ? 0 : min(max(plane[i], 0), 1)
                    px[i * 3 + c] = UInt8((v * 255).rounded())
                }
            }
        }
        return RasterImage(width: width, height: height, channels: 3, pixels: pixels)
    }
}
