// swift-tools-version:6.1
// libFuzzer targets for deepresize's untrusted-input parsers. A separate package so the main build and
// its flags are untouched. The root package exports no library product (only the `deepresize`
// executable), so a path dependency on ".." could not reach its modules; instead Sources/HTTPCore, CEpoll,
// ImageCodecs, CImageCodecs, CJPEG, CPNG, CWebP and CLCMS2 here are symlinks to the root package's directories: the
// fuzzers always build the current code, instrumented. Build and run with scripts/fuzz.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]
// libFuzzer supplies main(); the targets only define LLVMFuzzerTestOneInput.
let fuzzer: [SwiftSetting] = strict + [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "deepresize-fuzz",
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg"),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng"),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebp"),
        .systemLibrary(name: "CLCMS2", pkgConfig: "lcms2"),
        .target(name: "CImageCodecs", dependencies: ["CJPEG", "CPNG", "CWebP", "CLCMS2"]),
        .systemLibrary(name: "CEpoll"),
        .target(name: "HTTPCore", dependencies: ["CEpoll", .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        .target(name: "ImageCodecs", dependencies: ["CImageCodecs"], swiftSettings: strict),

        .target(name: "FuzzSupport", swiftSettings: strict),
        .target(name: "FuzzImageCheck", dependencies: ["ImageCodecs", "FuzzSupport"], swiftSettings: strict),

        .executableTarget(name: "FuzzHTTPParser", dependencies: ["HTTPCore", "FuzzSupport"], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzMultipart", dependencies: ["HTTPCore", "FuzzSupport"], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzJPEG", dependencies: ["ImageCodecs", "FuzzImageCheck"], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzPNG", dependencies: ["ImageCodecs", "FuzzImageCheck"], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzWebP", dependencies: ["ImageCodecs", "FuzzImageCheck"], swiftSettings: fuzzer),
        // The Server's real ResizeOptions.swift (symlinked) with two small stand-ins for what it uses.
        .executableTarget(name: "FuzzQuery", dependencies: ["HTTPCore", "FuzzSupport"], swiftSettings: fuzzer),
    ]
)
