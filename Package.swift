// swift-tools-version:6.1
// deepresize: an HTTP image-resizing service built around "Image Resizing by Reconstruction from
// Deep Features" (Arar et al., arXiv 1904.08475). Module map: HTTPCore knows HTTP, ImageCodecs knows
// JPEG/PNG/WebP bytes, Engine knows pixels and tensors, Server is the service as a library (config, routes,
// jobs, queue, pipeline, metrics, web page) and `deepresize` the executable with the CLI commands.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// The numeric modules are optimised even in debug builds: the tests drive real seam carving and
// convolutions, which run 10-50x slower at -Onone.
let optimized: [SwiftSetting] = strict + [.unsafeFlags(["-O"])]

let package = Package(
    name: "deepresize",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "deepresize", targets: ["deepresize"]),
        // For the packages beside this one (Benchmarks/, Fuzz/), which depend on it by path.
        .library(name: "Server", targets: ["Server"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "ImageCodecs", targets: ["ImageCodecs"]),
        .library(name: "HTTPCore", targets: ["HTTPCore"]),
        // The test suites' helpers (SeededRandom, TestImages, RawClient), for the fuzzers' seeded mutations.
        .library(name: "TestSupport", targets: ["TestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        // SHA-256 for the result cache's keys (BoringSSL's, not a hand-written one).
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        // Debian's C libraries, through pkg-config.
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // libpq, for the job store shared by replicas (queue_url postgres://…).
        .systemLibrary(name: "CPostgreSQL", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebp", providers: [.apt(["libwebp-dev"])]),
        .systemLibrary(name: "CLCMS2", pkgConfig: "lcms2", providers: [.apt(["liblcms2-dev"])]),
        // epoll and eventfd from the C library (not in Swift's Glibc module), for HTTPCore's event loops.
        .systemLibrary(name: "CEpoll"),

        // The setjmp owner: libjpeg and libpng report fatal errors by longjmp, which Swift cannot catch.
        // It also holds the libwebp codec and the lcms2 conversion of embedded ICC profiles to sRGB.
        .target(name: "CImageCodecs", dependencies: ["CJPEG", "CPNG", "CWebP", "CLCMS2"],
                cSettings: [.unsafeFlags(["-O2"])]),

        .target(name: "HTTPCore", dependencies: ["CEpoll", .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        .target(name: "ImageCodecs", dependencies: ["CImageCodecs"], swiftSettings: optimized),
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Engine", dependencies: ["ImageCodecs", "COpenBLAS", "CKernels"], swiftSettings: optimized),
        // The service: configuration, routes, jobs, the job store, the pipeline, metrics and the web page.
        .target(
            name: "Server",
            dependencies: [
                "HTTPCore", "ImageCodecs", "Engine", "CSQLite", "CPostgreSQL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // The `deepresize` executable: the command line (serve, resize, bench, healthcheck, backup) and nothing else.
        .executableTarget(
            name: "deepresize",
            dependencies: [
                "Server", "Engine", "ImageCodecs",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        // Helpers shared by the test suites: a seeded random generator, images made in code (TestImages) and a
        // raw-socket HTTP client (RawClient, independent of HTTPCore so it can test HTTPCore's parser and writer).
        .target(name: "TestSupport", dependencies: ["ImageCodecs"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "HTTPCoreTests", dependencies: ["HTTPCore", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ImageCodecsTests", dependencies: ["ImageCodecs", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "ImageCodecs", "TestSupport"], exclude: ["python"], swiftSettings: strict),
        .testTarget(name: "ServerTests", dependencies: ["Server", "HTTPCore", "Engine", "ImageCodecs", "TestSupport"],
                    swiftSettings: strict),
    ]
)
