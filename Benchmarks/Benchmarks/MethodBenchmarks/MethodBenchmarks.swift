// The classic methods' cores on a real photo (the LadyBird fixture, scaled): `scale` (the antialiased Lanczos
// resampler, 2 threads) 1600×1200 → 400×300, and `seam` (seam carving with forward energy) 400×300 → 300×300
// (100 seams removed) and → 480×300 (80 inserted).
import Benchmark
import Engine
import Foundation
import ImageCodecs

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
                                                warmupIterations: 1, maxDuration: .seconds(10), maxIterations: 50)
    let large = photo(width: 1600, height: 1200)
    let small = photo(width: 400, height: 300)
    Benchmark("scale 1600x1200 to 400x300", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Resampler.resize(large, width: 400, height: 300, threads: 2)) }
    }
    Benchmark("seam 400x300 to 300x300", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try SeamCarving.resize(small, width: 300, height: 300)) }
    }
    Benchmark("seam 400x300 to 480x300", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try SeamCarving.resize(small, width: 480, height: 300)) }
    }
}

/// The repository's own photo fixture (LadyBird, 320×240 JPEG), decoded and scaled to `width`×`height`.
func photo(width: Int, height: Int) -> RasterImage {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    let path = root.appendingPathComponent("Tests/Fixtures/ladybird-320x240.jpg").path
    guard let data = FileManager.default.contents(atPath: path), let image = try? ImageDecoder.decode([UInt8](data)) else {
        fatalError("cannot read the photo fixture \(path)")
    }
    return Resampler.resize(image, width: width, height: height, threads: 2)
}
