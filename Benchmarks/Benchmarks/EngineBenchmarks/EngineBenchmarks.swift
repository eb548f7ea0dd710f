// The VGG-16 engine of `deep`: one forward pass to relu4_1, and forward + backward to the pixels (the work
// of one evaluation of the objective, loss ½‖F‖²/n over the taps as the peer kit's torch_vgg.py does), on 2
// threads at 224×224 and 400×300. Needs the weights; without them the target registers nothing.
import Benchmark
import Dispatch
import Engine
import Foundation

let benchmarks: @Sendable () -> Void = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    let path = ProcessInfo.processInfo.environment["DEEPRESIZE_WEIGHTS"].flatMap { $0.isEmpty ? nil : $0 }
        ?? root.appendingPathComponent("weights/vgg16-imagenet.safetensors").path
    guard let network = try? VGGNetwork(weightsPath: path, deepestTap: .relu4_1) else {
        print("Engine: no weights at \(path) (set DEEPRESIZE_WEIGHTS, or run scripts/fetch-weights): skipped")
        return
    }
    let threads = 2
    let configuration = Benchmark.Configuration(metrics: [.wallClock, .peakMemoryResident], warmupIterations: 1,
                                                maxDuration: .seconds(10), maxIterations: 20)
    for (width, height) in [(224, 224), (400, 300)] {
        Benchmark("vgg16 forward to relu4_1 \(width)x\(height)", configuration: configuration) { benchmark in
            let extractor = try FeatureExtractor(network: network, height: height, width: width, deepestTap: .relu4_1,
                                                 threads: threads)
            let image = randomImage(width: width, height: height)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try extractor.forward(image: image, to: .relu4_1)) }
        }
        Benchmark("vgg16 forward+backward to relu4_1 \(width)x\(height)", configuration: configuration) { benchmark in
            let extractor = try FeatureExtractor(network: network, height: height, width: width, deepestTap: .relu4_1,
                                                 threads: threads)
            let image = randomImage(width: width, height: height)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let features = try extractor.forward(image: image, to: .relu4_1)
                var gradients: [Tap: Tensor] = [:]
                for (tap, feature) in features {
                    let gradient = Tensor(channels: feature.channels, height: feature.height, width: feature.width)
                    let scale = 1 / Float(feature.count)
                    for i in 0..<feature.count { gradient.data[i] = feature.data[i] * scale }
                    gradients[tap] = gradient
                }
                blackHole(try extractor.backward(gradients: gradients))
            }
        }
    }
}

/// Pixels in [0, 1] from a fixed sequence, so every run sees the same input.
func randomImage(width: Int, height: Int) -> Tensor {
    let image = Tensor(channels: 3, height: height, width: width)
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for i in 0..<image.count {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        image.data[i] = Float(state >> 40) / Float(1 << 24)
    }
    return image
}
