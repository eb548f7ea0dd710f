// swift-tools-version:6.1
// deepresize's benchmarks as code, with package-benchmark (ordo-one): the VGG-16 engine, the `scale` and
// `seam` methods and the job queue, each a benchmark target of its own. A separate package so the main
// build needs neither package-benchmark nor its allocator interposer; it depends on the root package by
// path, so it always measures the current code (built in release). From the repository root:
//   cd Benchmarks && swift package benchmark                      # all (the engine needs the weights)
//   cd Benchmarks && swift package benchmark --target QueueBenchmarks   # one target
//   cd Benchmarks && swift package benchmark --filter 'seam.*'             # by name
// The weights: $DEEPRESIZE_WEIGHTS, else the repository's weights/vgg16-imagenet.safetensors (scripts/fetch-weights).
// The comparisons against peers (PyTorch's VGG-16 and reference, the seam-carving package) are the scripts
// that take the peer kit's folder: scripts/bench-engine --kit DIR speed, scripts/bench-service --kit DIR seam,
// scripts/bench-deep --kit DIR. BENCHMARKS.md has the numbers.
import PackageDescription

let benchmark: [Target.Dependency] = [.product(name: "Benchmark", package: "package-benchmark")]
let plugins: [Target.PluginUsage] = [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]

let package = Package(
    name: "deepresize-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, so the products below find it whatever the clone's directory is called.
        .package(name: "deepresize", path: ".."),
        // Only the malloc interposer (the allocation metrics): no benchmark here counts retains and releases,
        // so the ARC runtime interposer (trait RuntimeInterposer, Linux with Swift 6.3) and its package stay out.
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(name: "EngineBenchmarks", dependencies: benchmark + [.product(name: "Engine", package: "deepresize")],
                          path: "Benchmarks/EngineBenchmarks", plugins: plugins),
        .executableTarget(name: "MethodBenchmarks", dependencies: benchmark + [.product(name: "Engine", package: "deepresize"),
                                                                      .product(name: "ImageCodecs", package: "deepresize")],
                          path: "Benchmarks/MethodBenchmarks", plugins: plugins),
        .executableTarget(name: "QueueBenchmarks", dependencies: benchmark + [.product(name: "Server", package: "deepresize")],
                          path: "Benchmarks/QueueBenchmarks", plugins: plugins),
    ]
)
