import Foundation
import ImageCodecs
import TestSupport

/// Images made in code, so the tests need no files: a smooth background with a textured disc, like a
/// simple photo with one object in it.
enum TestImages {
    static func scene(width: Int, height: Int, seed: UInt64 = 1) -> RasterImage {
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
    static func noise(width: Int, height: Int, seed: UInt64 = 7) -> RasterImage {
        var generator = SeededRandom(seed: seed)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: generator.next() >> 24) }
        return RasterImage(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// Writes PNG bytes to a temporary file and returns its path.
    static func file(_ image: RasterImage, name: String = "input") throws -> String {
        let path = NSTemporaryDirectory() + "deepresize-\(name)-\(UUID().uuidString.prefix(8)).png"
        try Data(try ImageEncoder.png(image)).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func write(_ bytes: [UInt8], suffix: String) throws -> String {
        let path = NSTemporaryDirectory() + "deepresize-\(UUID().uuidString.prefix(8)).\(suffix)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
