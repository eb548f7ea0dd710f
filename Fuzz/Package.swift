// swift-tools-version:6.1
// libFuzzer targets for deepresize's untrusted-input parsers. A separate package so the main build and
// its flags are untouched; it depends on the root package by path and imports its libraries (HTTPCore,
// ImageCodecs, Server), so the fuzzers always build the current code, instrumented (the sanitizers apply to
// every module of the build). Build and run with scripts/fuzz.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]
// libFuzzer supplies main(); the targets only define LLVMFuzzerTestOneInput.
let fuzzer: [SwiftSetting] = strict + [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "deepresize-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, so the products below find it whatever the clone's directory is called.
        .package(name: "deepresize", path: ".."),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "TestSupport", package: "deepresize")], swiftSettings: strict),
        .target(name: "FuzzImageCheck", dependencies: [.product(name: "ImageCodecs", package: "deepresize"), "FuzzSupport"],
                swiftSettings: strict),

        .executableTarget(name: "FuzzHTTPParser", dependencies: [.product(name: "HTTPCore", package: "deepresize"), "FuzzSupport"],
                          swiftSettings: fuzzer),
        .executableTarget(name: "FuzzMultipart", dependencies: [.product(name: "HTTPCore", package: "deepresize"), "FuzzSupport"],
                          swiftSettings: fuzzer),
        .executableTarget(name: "FuzzJPEG", dependencies: [.product(name: "ImageCodecs", package: "deepresize"), "FuzzImageCheck"],
                          swiftSettings: fuzzer),
        .executableTarget(name: "FuzzPNG", dependencies: [.product(name: "ImageCodecs", package: "deepresize"), "FuzzImageCheck"],
                          swiftSettings: fuzzer),
        .executableTarget(name: "FuzzWebP", dependencies: [.product(name: "ImageCodecs", package: "deepresize"), "FuzzImageCheck"],
                          swiftSettings: fuzzer),
        // The Server library's query parsing (the real one, not a copy).
        .executableTarget(name: "FuzzQuery", dependencies: [.product(name: "HTTPCore", package: "deepresize"),
                                                            .product(name: "Server", package: "deepresize"), "FuzzSupport"],
                          swiftSettings: fuzzer),
    ]
)
