// swift-tools-version:5.4
// libFuzzer targets for mtz's parsers of untrusted bytes (docs/ROBUSTNESS.md, scripts/fuzz.sh).
//
// A separate package so that the root package keeps no fuzzing flags: build it with
//   swift build -c release --package-path Fuzz --scratch-path .build-fuzz \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xcc -fsanitize=fuzzer-no-link,address
// Each executable's entry point is libFuzzer's `main`; the targets define
// `LLVMFuzzerTestOneInput` and nothing else runs at top level.
//
// Tools version 5.4 on purpose: from 5.5 on SwiftPM links an executable with `main` redirected to
// `<Target>_main` (so that tests can import executables), which a libFuzzer target does not define.
import Foundation
import PackageDescription

// A path dependency's identity is the name of its directory, which depends on where the repository
// was checked out; compute it rather than spelling it.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let rootPackage = root.lastPathComponent

let package = Package(
    name: "mtz-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        // Shared by the targets: checksum repair for .mtz inputs, loading and one run on zeros.
        .target(
            name: "FuzzSupport",
            dependencies: [
                .product(name: "MTZCore", package: rootPackage),
                .product(name: "MTZRuntime", package: rootPackage),
            ]
        ),
        .executableTarget(name: "FuzzModelFile", dependencies: ["FuzzSupport"]),
        .executableTarget(
            name: "FuzzONNX",
            dependencies: ["FuzzSupport", .product(name: "MTZONNX", package: rootPackage)]
        ),
        .executableTarget(
            name: "FuzzPNG",
            dependencies: ["FuzzSupport", .product(name: "MTZImage", package: rootPackage)]
        ),
        .executableTarget(
            name: "FuzzJPEG",
            dependencies: ["FuzzSupport", .product(name: "MTZImage", package: rootPackage)]
        ),
    ]
)
