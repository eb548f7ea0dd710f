import Foundation
import ImageCodecs
import Testing
@testable import Engine

@Suite("ZZ debug") struct ZZDebug {
    @Test func dumpR0() throws {
        let env = ProcessInfo.processInfo.environment
        guard let path = env["DBG_IN"] else { return }
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        let image = try ImageDecoder.decode(bytes, limits: DecodeLimits(maxPixels: 50_000_000))
        let w = Int(env["DBG_W"]!)!, h = Int(env["DBG_H"]!)!
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        let input = Tensor(rgbOf: image)
        let ex = try FeatureExtractor(network: network, height: input.height, width: input.width, deepestTap: .relu5_1)
        let feats = try ex.forward(image: input, to: .relu5_1).mapValues { $0.clone() }
        let mask = SemanticMask(features: feats[.relu5_1]!)
        var rec: [Tap: Tensor] = [:]
        for t in DeepObjective.reconstructionTaps { rec[t] = feats[t]! }
        let plans = try FeatureResize.layeredSeamPlans(features: rec, mask: mask, image: input, edgeWeight: 1, outputHeight: h, outputWidth: w)
        let sigma = Double(env["DEV_SIGMA"] ?? "0")!
        let map = try SourceMap(plan: plans[.relu1_1]!, inputHeight: input.height, inputWidth: input.width, outputHeight: h, outputWidth: w)
        let r0 = map.sample(input, stride: 1)
        let t4 = map.sample(rec[.relu4_1]!, stride: 8)
        for yy in stride(from: 0, to: h, by: 60) {
            var line = "row \(yy):"
            for xx in stride(from: 0, to: w - 16, by: 16) { let p = map.coordinates.plane(0); line += String(format: " %.1f", (p[yy*w+xx+16]-p[yy*w+xx])/16) }
            print(line)
        }
        print("map", map.coordinates.plane(0)[0], map.coordinates.plane(0)[100], map.coordinates.plane(0)[383], "t4", t4.width, t4.height)
        let out = env["DBG_OUT"]!
        try Data(try ImageEncoder.png(r0.rgbImage()!)).write(to: URL(fileURLWithPath: out + "-r0.png"))
        // removed-cell maps per level as grey images on the input grid
        for tap in FeatureResize.refinementOrder {
            let f = rec[tap]!
            let plan = plans[tap]!
            var px = [UInt8](repeating: 0, count: f.width * f.height * 3)
            let mean = FeatureResize.meanActivation(f)
            let peak = mean.max()!
            for i in 0..<(f.width * f.height) { let v = UInt8(min(255, 255 * mean[i] / peak)); px[3*i] = v; px[3*i+1] = v; px[3*i+2] = v }
            if let r = plan.width { for i in 0..<r.removed.count where r.removed[i] { px[3*i] = 255; px[3*i+1] = 0; px[3*i+2] = 0 } }
            let img = RasterImage(width: f.width, height: f.height, channels: 3, pixels: px)
            try Data(try ImageEncoder.png(img)).write(to: URL(fileURLWithPath: out + "-\(tap).png"))
        }
    }
}

@Suite("ZZ debug2") struct ZZDebug2 {
    @Test func uniformMapMatchesLinear() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        var rng = SystemRandomNumberGenerator()
        let input = Tensor(channels: 3, height: 96, width: 160)
        for i in 0..<input.count { input.data[i] = Float.random(in: 0...1, using: &rng) }
        let ex = try FeatureExtractor(network: network, height: 96, width: 160, deepestTap: .relu4_1)
        let feats = try ex.forward(image: input, to: .relu4_1).mapValues { $0.clone() }
        let (oh, ow) = (96, 96)
        let coords = Tensor(channels: 2, height: oh, width: ow)
        for y in 0..<oh { for x in 0..<ow {
            coords.plane(0)[y * ow + x] = (Float(x) + 0.5) * 160 / 96 - 0.5
            coords.plane(1)[y * ow + x] = Float(y)
        } }
        let map = SourceMap(coordinates: coords)
        for tap in DeepObjective.reconstructionTaps {
            let f = feats[tap]!
            let t = tap.outputSize(height: oh, width: ow)
            let a = map.sample(f, stride: tap.stride)
            let b = FeatureResize.linear(f, height: t.height, width: t.width)
            var num = 0.0, den = 0.0
            for i in 0..<a.count { num += Double((a.data[i] - b.data[i]) * (a.data[i] - b.data[i])); den += Double(b.data[i] * b.data[i]) }
            print("tap", tap, a.width, b.width, "rel", (num / den).squareRoot())
        }
    }
}
