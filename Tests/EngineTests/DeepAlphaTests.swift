import Foundation
import ImageCodecs
import Testing
@testable import Engine

/// An image's alpha follows the colour's geometry (docs/spec.md §3.3's map, or the linear warp), so that what
/// was transparent in the input stays transparent beside what the seams carved.
@Suite("Deep: the alpha plane", .serialized)
struct DeepAlphaTests {
    /// A red disc with a soft edge on a transparent background whose hidden colour is green, 160×120.
    static func disc() -> RasterImage {
        let (w, h) = (160, 120)
        var pixels = [UInt8](repeating: 0, count: w * h * 4)
        for y in 0..<h {
            for x in 0..<w {
                let d = (Double((x - 80) * (x - 80) + (y - 60) * (y - 60))).squareRoot()
                let alpha = min(max((44 - d) / 4 * 255, 0), 255)
                let i = (y * w + x) * 4
                if alpha > 0 {
                    pixels[i] = UInt8(min(max(200 + 40 * sin(Double(x) / 3) * cos(Double(y) / 4), 0), 255))
                    pixels[i + 1] = 30
                    pixels[i + 2] = 30
                } else {
                    pixels[i + 1] = 255
                }
                pixels[i + 3] = UInt8(alpha)
            }
        }
        return RasterImage(width: w, height: h, channels: 4, pixels: pixels)
    }

    /// Pixels whose colour, composited over white, is visibly green: the hidden background showing.
    static func visibleGreen(_ image: RasterImage) -> Int {
        (0..<(image.width * image.height)).filter { i in
            let a = Double(image.pixels[i * 4 + 3]) / 255
            let c = (0..<3).map { Double(image.pixels[i * 4 + $0]) * a + 255 * (1 - a) }
            return c[1] - max(c[0], c[2]) > 20
        }.count
    }

    @Test("the hidden colour of transparent pixels stays hidden: the alpha is carved with the colour, for both operators")
    func transparentStaysTransparent() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        let input = Self.disc()
        #expect(Self.visibleGreen(input) == 0)
        for op in [FeatureOperator.seam, .linear] {
            var options = DeepResizeOptions(featureOperator: op, protect: true, iterations: 2, threads: 2)
            options.earlyStop = nil
            let result = try DeepResizer.resize(input, width: 120, height: 120, options: options, network: network)
            #expect(result.image.channels == 4 && result.image.width == 120 && result.image.height == 120)
            // A plain scale of the alpha beside carved colour showed 592 such pixels (seam), a green crescent.
            #expect(Self.visibleGreen(result.image) == 0, "\(op): \(Self.visibleGreen(result.image)) green pixels")
            // The opaque disc stays where the red is: its opaque pixels are red, not green.
            let opaque = (0..<(120 * 120)).filter { result.image.pixels[$0 * 4 + 3] > 200 }
            #expect(opaque.count > 2000)
            #expect(opaque.allSatisfy { result.image.pixels[$0 * 4] > result.image.pixels[$0 * 4 + 1] + 60 }, "\(op)")
        }
    }
}
