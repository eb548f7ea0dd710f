import Foundation
import ImageCodecs

/// Generated test inputs, so the suite needs no files beyond one tiny CMYK fixture.
enum TestImages {
    /// A smooth RGB (or RGBA) image: gradients plus a soft diagonal, JPEG-friendly.
    static func gradient(width: Int, height: Int, channels: Int = 3) -> RasterImage {
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * channels
                pixels[i] = UInt8(x * 255 / max(width - 1, 1))
                pixels[i + 1] = UInt8(y * 255 / max(height - 1, 1))
                pixels[i + 2] = UInt8((x + y) * 255 / max(width + height - 2, 1))
                if channels == 4 { pixels[i + 3] = UInt8((x * 3 + y * 5) % 256) }
            }
        }
        return RasterImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// Four flat quadrants: red (top-left), green (top-right), blue (bottom-left), yellow (bottom-right).
    static func quadrants(width: Int, height: Int) -> RasterImage {
        var image = RasterImage(width: width, height: height, channels: 3)
        for y in 0..<height {
            for x in 0..<width {
                let colour: (UInt8, UInt8, UInt8)
                switch (x < width / 2, y < height / 2) {
                case (true, true): colour = (255, 0, 0)
                case (false, true): colour = (0, 255, 0)
                case (true, false): colour = (0, 0, 255)
                case (false, false): colour = (255, 255, 0)
                }
                let i = (y * width + x) * 3
                image.pixels[i] = colour.0
                image.pixels[i + 1] = colour.1
                image.pixels[i + 2] = colour.2
            }
        }
        return image
    }

    static func pixel(_ image: RasterImage, _ x: Int, _ y: Int) -> [UInt8] {
        let i = (y * image.width + x) * image.channels
        return Array(image.pixels[i..<(i + image.channels)])
    }

    /// Peak signal-to-noise ratio in dB between two images of the same layout.
    static func psnr(_ a: RasterImage, _ b: RasterImage) -> Double {
        precondition(a.pixels.count == b.pixels.count)
        var sum = 0.0
        for i in 0..<a.pixels.count {
            let d = Double(a.pixels[i]) - Double(b.pixels[i])
            sum += d * d
        }
        let mse = sum / Double(a.pixels.count)
        return mse == 0 ? .infinity : 10 * (log10(255 * 255 / mse))
    }
}
