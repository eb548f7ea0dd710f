public import ImageCodecs

extension SemanticMask {
    /// The mask drawn over the image it was computed from: protected pixels keep their colour, the rest
    /// are dimmed to a third and tinted blue, so what the method protects is visible at a glance.
    public func overlay(on image: RasterImage) -> RasterImage {
        let protected = resampled(toStride: 1, width: image.width, height: image.height)
        var pixels = [UInt8](repeating: 0, count: image.width * image.height * 3)
        for i in 0..<(image.width * image.height) {
            for c in 0..<3 {
                let value = Int(image.pixels[i * image.channels + c])
                pixels[i * 3 + c] = protected[i] ? UInt8(value) : UInt8(value / 3 + (c == 2 ? 60 : 20))
            }
        }
        return RasterImage(width: image.width, height: image.height, channels: 3, pixels: pixels)
    }
}
