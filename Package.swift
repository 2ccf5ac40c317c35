// swift-tools-version: 6.1
// mtz — on-device multi-task inference runtime and the MTZ compiler.
import PackageDescription

let package = Package(
    name: "mtz",
    products: [
        .executable(name: "mtz", targets: ["MTZCLI"]),
        .library(name: "MTZRuntime", targets: ["MTZRuntime"]),
        .library(name: "MTZCore", targets: ["MTZCore"]),
        .library(name: "MTZImage", targets: ["MTZImage"]),
        .library(name: "MTZTraining", targets: ["MTZTraining"]),
        .library(name: "MTZCompiler", targets: ["MTZCompiler"]),
        .library(name: "MTZONNX", targets: ["MTZONNX"]),
        // The C API (`Sources/CMTZ/include/mtz.h`) as `libmtz_c.so`: the runtime, image decoding and
        // the .mtz reader, without the training engine, compiler or ONNX. Named `mtz_c` because the
        // `mtz` executable product already holds the name `mtz` (TFLite's C library is
        // `tensorflowlite_c` for the same reason).
        .library(name: "mtz_c", type: .dynamic, targets: ["MTZCAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
    ],
    targets: [
        // C: GEMM microkernels, packing, convolution drivers, pooling, element-wise ops and the
        // once-initialised ISA dispatch. Per-function target attributes; no unsafe flags.
        .target(
            name: "CMTZKernels",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("m")]
        ),
        // C: the system libpng / libjpeg(-turbo), located through pkg-config.
        .systemLibrary(
            name: "CLibPNG",
            path: "Sources/CLibPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        .systemLibrary(
            name: "CLibJPEG",
            path: "Sources/CLibJPEG",
            pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg-dev"])]
        ),
        // C: a thin decoding shim that keeps libpng/libjpeg's setjmp/longjmp error paths inside C.
        .target(name: "CMTZImage", dependencies: ["CLibPNG", "CLibJPEG"]),

        // C: CRC-32 at memory speed (PCLMULQDQ folding, ARMv8 CRC32 instructions, portable tables),
        // chosen at run time; the .mtz reader checks every mapped byte with it.
        .target(name: "CMTZChecksum"),
        // Swift: shapes, the network IR, graph validation and the .mtz reader/writer.
        .target(name: "MTZCore", dependencies: ["CMTZChecksum"]),
        // Swift: image decoding, channel conversion, resizing and normalisation.
        .target(name: "MTZImage", dependencies: ["MTZCore", "CMTZImage"]),
        // Swift: model loading, memory planning, sessions and the multi-head executor.
        .target(name: "MTZRuntime", dependencies: ["MTZCore", "MTZImage", "CMTZKernels"]),
        // Swift: datasets, forward/backward passes, losses, optimisers, trainers; parameters shared
        // between task networks.
        .target(name: "MTZTraining", dependencies: ["MTZCore", "MTZImage", "MTZRuntime", "CMTZKernels"]),
        // Swift: the MTZ compiler — layer-wise Hessians, neuron pairing, weight merging, lowering of
        // zipped networks to multi-head graphs, joint retraining.
        .target(name: "MTZCompiler", dependencies: ["MTZCore", "MTZImage", "MTZRuntime", "MTZTraining", "CMTZKernels"]),
        // Swift: ONNX import (ONNX graph -> IR Model) and export (IR Model -> one ONNX graph with an
        // output per task). `Generated/onnx.pb.swift` is generated once from onnx.proto (docs/ONNX.md).
        .target(
            name: "MTZONNX",
            dependencies: ["MTZCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // C: the C API's header `include/mtz.h` only; the functions are implemented in MTZCAPI.
        .target(name: "CMTZ"),
        // Swift: the C API — opaque handles over InferenceModel and Session, errors turned into
        // status codes (`@_cdecl` entry points; docs/C-API.md).
        .target(name: "MTZCAPI", dependencies: ["CMTZ", "MTZCore", "MTZImage", "MTZRuntime"]),
        // The `mtz` command-line tool: parses, calls the libraries, prints.
        .executableTarget(
            name: "MTZCLI",
            dependencies: [
                "MTZCore", "MTZImage", "MTZRuntime", "MTZTraining", "MTZCompiler", "MTZONNX", "CMTZKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Test-only helpers: naive reference ops and interpreter, seeded tensors, tiny model builders.
        .target(name: "MTZTestSupport", dependencies: ["MTZCore", "CMTZKernels"]),
        // Test-only: counts the calling thread's heap allocations (interposes malloc; glibc).
        .target(name: "CMTZAllocationCounter"),

        .testTarget(name: "CMTZKernelsTests", dependencies: ["CMTZKernels", "MTZTestSupport"]),
        .testTarget(name: "MTZCoreTests", dependencies: ["MTZCore", "CMTZChecksum", "MTZTestSupport"]),
        .testTarget(name: "MTZImageTests", dependencies: ["MTZImage", "MTZCore", "MTZTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MTZRuntimeTests", dependencies: ["MTZRuntime", "MTZCore", "MTZImage", "MTZTestSupport", "CMTZAllocationCounter"]),
        .testTarget(name: "MTZTrainingTests", dependencies: ["MTZTraining", "MTZCore", "MTZImage", "MTZRuntime", "MTZTestSupport", "CMTZKernels"]),
        .testTarget(name: "MTZCompilerTests", dependencies: ["MTZCompiler", "MTZTraining", "MTZCore", "MTZImage", "MTZRuntime", "MTZTestSupport"]),
        .testTarget(name: "MTZONNXTests", dependencies: ["MTZONNX", "MTZCore", "MTZRuntime", "MTZTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MTZCLITests", dependencies: ["MTZCLI", "MTZTestSupport"]),
        .testTarget(name: "MTZCAPITests", dependencies: ["CMTZ", "MTZCAPI", "MTZCore", "MTZImage", "MTZRuntime", "MTZTestSupport"]),
    ]
)
