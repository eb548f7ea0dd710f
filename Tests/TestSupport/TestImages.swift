public import ImageCodecs
import Foundation

/// Images made in code, so the suites need no files beyond one tiny CMYK fixture: smooth gradients and flat
/// quadrants (codec round trips), a scene with one object (resizing), random pixels (incompressible uploads),
/// and their comparisons.
public enum TestImages {
    /// A smooth RGB (or RGBA) image: gradients plus a soft diagonal, JPEG-friendly.
    public static func gradient(width: Int, height: Int, channels: Int = 3) -> RasterImage {
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
    public static func quadrants(width: Int, height: Int) -> RasterImage {
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

    public static func pixel(_ image: RasterImage, _ x: Int, _ y: Int) -> [UInt8] {
        let i = (y * image.width + x) * image.channels
        return Array(image.pixels[i..<(i + image.channels)])
    }

    /// Peak signal-to-noise ratio in dB between two images of the same layout.
    public static func psnr(_ a: RasterImage, _ b: RasterImage) -> Double {
        precondition(a.pixels.count == b.pixels.count)
        var sum = 0.0
        for i in 0..<a.pixels.count {
            let d = Double(a.pixels[i]) - Double(b.pixels[i])
            sum += d * d
        }
        let mse = sum / Double(a.pixels.count)
        return mse == 0 ? .infinity : 10 * (log10(255 * 255 / mse))
    }

    public static func scene(width: Int, height: Int, seed: UInt64 = 1) -> RasterImage {
        var generator = SeededRandom(seed: seed)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let cx = Double(width) * 0.55, cy = Double(height) * 0.5, radius = Double(min(width, height)) * 0.3
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                let dx = Double(x) - cx, dy = Double(y) - cy
                if dx * dx + dy * dy < radius * radius {
                    let noise = UInt8(truncatingIfNeeded: generator.next() & 0x3F)
                    pixels[i] = 180 &+ noise
                    pixels[i + 1] = 40 &+ noise / 2
                    pixels[i + 2] = 30
                } else {
                    pixels[i] = UInt8(40 + 100 * y / max(1, height - 1))
                    pixels[i + 1] = UInt8(90 + 60 * x / max(1, width - 1))
                    pixels[i + 2] = 200
                }
            }
        }
        return RasterImage(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// Random pixels: incompressible, for upload-size tests.
    public static func noise(width: Int, height: Int, seed: UInt64 = 7) -> RasterImage {
        var generator = SeededRandom(seed: seed)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: generator.next() >> 24) }
        return RasterImage(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// Writes PNG bytes to a temporary file and returns its path.
    public static func file(_ image: RasterImage, name: String = "input") throws -> String {
        let path = NSTemporaryDirectory() + "deepresize-\(name)-\(UUID().uuidString.prefix(8)).png"
        try Data(try ImageEncoder.png(image)).write(to: URL(fileURLWithPath: path))
        return path
    }

    public static func write(_ bytes: [UInt8], suffix: String) throws -> String {
        let path = NSTemporaryDirectory() + "deepresize-\(UUID().uuidString.prefix(8)).\(suffix)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
