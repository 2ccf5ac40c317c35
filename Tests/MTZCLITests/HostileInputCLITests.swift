import Foundation
import Testing

/// User errors — missing or damaged files, bad flags, absurd numbers — end with one clean error
/// line and exit 64 (usage) or 65 (bad data), never with a trap, a signal or a stack dump.
@Suite struct HostileInputCLITests {
    /// Files the table below refers to by placeholder, written once per test run.
    struct Files {
        let model = CLITests.defaultModel
        let image: String
        let missing = "/nonexistent/mtz-cli-hostile/file"
        let directory = FileManager.default.temporaryDirectory.path
        let truncatedModel: String
        let corruptModel: String
        let emptyFile: String
        let truncatedPNG: String
        let truncatedJPEG: String
        let textFile: String
        let hugePNG: String
        let corruptONNX: String

        init() throws {
            let root = CLITests.root
            let png = try Data(contentsOf: root.appendingPathComponent("Samples/mnist/test-0000-7.png"))
            let jpeg = try Data(contentsOf: root.appendingPathComponent("Samples/fashion/test-0000-9.jpg"))
            let model = try Data(contentsOf: URL(fileURLWithPath: CLITests.defaultModel))
            image = root.appendingPathComponent("Samples/mnist/test-0000-7.png").path
            truncatedModel = try CLITests.temporaryFile("truncated.mtz", bytes: Array(model.prefix(model.count / 2)))
            var flipped = Array(model)
            flipped[flipped.count / 2] ^= 0xFF
            corruptModel = try CLITests.temporaryFile("corrupt.mtz", bytes: flipped)
            emptyFile = try CLITests.temporaryFile("empty.png", bytes: [])
            truncatedPNG = try CLITests.temporaryFile("truncated.png", bytes: Array(png.prefix(png.count / 2)))
            truncatedJPEG = try CLITests.temporaryFile("truncated.jpg", bytes: Array(jpeg.prefix(jpeg.count / 2)))
            textFile = try CLITests.temporaryFile("text.png", bytes: Array("not an image\n".utf8))
            // A PNG signature and an IHDR chunk claiming 100000 x 100000 pixels, then nothing.
            var huge: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]
            for v in [100_000, 100_000] as [UInt32] { huge += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> $0) } }
            huge += [8, 2, 0, 0, 0]
            huge += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: Self.crc32(huge[12...]) >> $0) }
            hugePNG = try CLITests.temporaryFile("huge.png", bytes: huge)
            corruptONNX = try CLITests.temporaryFile("corrupt.onnx", bytes: (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
        }

        static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var c = ~UInt32(0)
            for b in bytes {
                c ^= UInt32(b)
                for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            }
            return ~c
        }

        /// `args` with the placeholders `MODEL`, `IMAGE`, ... replaced by paths.
        func resolve(_ args: [String]) -> [String] {
            let names = ["MODEL": model, "IMAGE": image, "MISSING": missing, "DIR": directory,
                         "TRUNCATED_MODEL": truncatedModel, "CORRUPT_MODEL": corruptModel, "EMPTY": emptyFile,
                         "TRUNCATED_PNG": truncatedPNG, "TRUNCATED_JPEG": truncatedJPEG, "TEXT": textFile,
                         "HUGE_PNG": hugePNG, "CORRUPT_ONNX": corruptONNX]
            return args.map { names[$0] ?? $0 }
        }
    }

    /// Written once (a static is initialised exactly once, even with tests running in parallel).
    static let files = Result { try Files() }

    /// Invocations and the exit code each must end with (64 usage, 65 bad model/image/data, 1 other).
    static let cases: [(args: [String], status: Int32)] = [
        // Models that are not there, not models, or damaged.
        (["run", "MISSING", "IMAGE"], 65),
        (["run", "DIR", "IMAGE"], 65),
        (["run", "EMPTY", "IMAGE"], 65),
        (["run", "TEXT", "IMAGE"], 65),
        (["run", "TRUNCATED_MODEL", "IMAGE"], 65),
        (["run", "CORRUPT_MODEL", "IMAGE"], 65),
        (["inspect", "TRUNCATED_MODEL"], 65),
        (["inspect", "MISSING"], 65),
        (["bench", "CORRUPT_MODEL", "--iterations", "1"], 65),
        (["export", "CORRUPT_MODEL", "-o", "MISSING"], 65),
        (["pack", "MODEL", "TRUNCATED_MODEL", "-o", "MISSING"], 65),
        (["run-tensor", "CORRUPT_MODEL", "--input", "EMPTY", "--output-dir", "MISSING"], 65),
        (["import", "CORRUPT_ONNX", "-o", "MISSING"], 65),
        (["import", "MISSING", "-o", "MISSING"], 65),
        // Images that are not there, not images, damaged or absurdly large.
        (["run", "MODEL", "MISSING"], 65),
        (["run", "MODEL", "DIR"], 65),
        (["run", "MODEL", "EMPTY"], 65),
        (["run", "MODEL", "TEXT"], 65),
        (["run", "MODEL", "TRUNCATED_PNG"], 65),
        (["run", "MODEL", "TRUNCATED_JPEG"], 65),
        (["run", "MODEL", "HUGE_PNG"], 65),
        (["run", "MODEL", "HUGE_PNG", "--json"], 65),
        // Bad flags and absurd numbers.
        (["run", "MODEL", "IMAGE", "--threads", "100000"], 64),
        (["run", "MODEL", "IMAGE", "--threads", "0"], 64),
        (["run", "MODEL", "IMAGE", "--threads", "-1"], 64),
        (["run", "MODEL", "IMAGE", "--threads", "99999999999999999999999"], 64),
        (["run", "MODEL", "IMAGE", "--top-k", "-1"], 64),
        (["run", "MODEL", "IMAGE", "--tasks", ","], 64),
        (["run", "MODEL", "IMAGE", "--tasks", "no-such-task"], 64),
        (["run", "MODEL", "IMAGE", "--no-such-flag"], 64),
        (["run", "MODEL"], 64),
        (["run"], 64),
        (["no-such-command"], 64),
        (["bench", "MODEL", "--iterations", "-1"], 64),
        (["bench", "MODEL", "--iterations", "0"], 64),
        (["bench", "MODEL", "--warmup", "-5"], 64),
        (["bench", "MODEL", "--threads", "100000"], 64),
        (["bench", "MODEL", "--convolutions", "fastest"], 64),
        (["bench", "--gemm", "-3"], 64),
        (["bench", "--gemm", "100000"], 64),
        (["bench", "--gemm", "64x64"], 64),
        (["bench", "--gemm", "0x8x8"], 64),
        (["bench", "--gemm", "16384x16384x16384"], 64),
        (["bench"], 64),
        (["eval", "MODEL", "--dataset", "imagenet"], 64),
        (["eval", "MODEL", "--threads", "100000"], 64),
        (["train", "--arch", "lenet5", "--dataset", "mnist", "--epochs", "-1", "-o", "MISSING"], 64),
        (["train", "--arch", "lenet5", "--dataset", "mnist", "--batch", "0", "-o", "MISSING"], 64),
        (["train", "--arch", "lenet5", "--dataset", "mnist", "--lr", "nan", "-o", "MISSING"], 64),
        (["train", "--arch", "alexnet", "--dataset", "mnist", "-o", "MISSING"], 64),
        (["pack", "MODEL", "-o", "MISSING"], 64),
        (["zip", "MODEL", "-o", "MISSING"], 64),
        (["import", "CORRUPT_ONNX", "-o", "MISSING", "--input-spec", "size=0x0"], 64),
        (["import", "CORRUPT_ONNX", "-o", "MISSING", "--input-spec", "std=0"], 64),
        (["import", "CORRUPT_ONNX", "-o", "MISSING", "--input-spec", "="], 64),  // was a trap (index out of range)
        (["import", "CORRUPT_ONNX", "-o", "MISSING", "--input-spec", "imagenet,=,"], 64),
        (["import", "CORRUPT_ONNX", "-o", "MISSING", "--metadata", "="], 64),
        (["import", "CORRUPT_ONNX", "-o", "MISSING", "--labels", "MISSING"], 65),  // was exit 1, naming the ONNX file
        (["import", "CORRUPT_ONNX", "-o", "MISSING", "--labels", "DIR"], 65),
        (["zip", "MODEL", "MODEL", "-o", "MISSING", "--share", "="], 64),
        (["zip", "MODEL", "MODEL", "-o", "MISSING", "--share", "conv1=2"], 64),
        (["zip", "MODEL", "MODEL", "-o", "MISSING", "--iterations", "="], 64),
        (["zip", "MODEL", "MODEL", "-o", "MISSING", "--share", "conv1=1,conv1=0"], 64),  // was accepted
        (["prepack", "MODEL", "-o", "MISSING", "--isa", "avx3"], 64),
        (["prepack", "MODEL", "-o", "MISSING", "--isa", "avx2,"], 64),
        (["prepack", "MODEL", "-o", "MISSING", "--convolutions", "fast"], 64),
        (["prepack", "CORRUPT_MODEL", "-o", "MISSING"], 65),
        (["zip", "MODEL", "MODEL", "-o", "MISSING", "--iterations", "fc1=1,fc1=2"], 64),
        (["run-tensor", "MODEL", "--input", "EMPTY", "--output-dir", "MISSING", "--layout", "nwhc"], 64),
    ]

    @Test("an output in a folder that does not exist is named once, with what is wrong")
    func missingOutputFolder() throws {
        for command in ["export", "prepack"] {
            let r = try CLITests.mtz([command, CLITests.defaultModel, "-o", "/nonexistent/mtz-cli-hostile/out"])
            #expect(r.status == 65, "\(r.stderr)")
            #expect(r.stderr == "mtz: error: /nonexistent/mtz-cli-hostile/out: cannot write: '/nonexistent/mtz-cli-hostile' is not an existing folder\n")
        }
    }

    @Test("a negative number is read as the option's value and refused by its range (it was 'Missing value')")
    func negativeNumbers() throws {
        for (args, message) in [(["zip", "MODEL", "MODEL", "-o", "MISSING", "--damping", "-1"], "--damping must be positive"),
                                (["train", "--arch", "lenet5", "--dataset", "mnist", "--epochs", "-2", "-o", "MISSING"], "--epochs"),
                                (["run", "MODEL", "IMAGE", "--top-k", "-1"], "--top-k must be at least 1")] {
            let r = try CLITests.mtz(try Self.files.get().resolve(args))
            #expect(r.status == 64 && r.stderr.contains(message) && !r.stderr.contains("Missing value"), "\(args): \(r.stderr)")
        }
    }

    @Test("user errors exit 64 or 65 with one clean message, never a crash", arguments: cases.indices)
    func cleanError(index: Int) throws {
        let (args, expected) = Self.cases[index]
        let resolved = try Self.files.get().resolve(args)
        let r = try CLITests.mtz(resolved)
        let shown = args.joined(separator: " ")
        #expect(r.status == expected, "mtz \(shown): exit \(r.status), stderr: \(r.stderr)")
        for crash in ["Fatal error", "Stack dump", "Current stack trace", "Illegal instruction", "Segmentation fault",
                      "AddressSanitizer", "ThreadSanitizer"] {
            #expect(!r.stderr.contains(crash), "mtz \(shown) crashed: \(r.stderr)")
        }
        #expect(r.stderr.lowercased().contains("error"), "mtz \(shown): no error message, stderr: \(r.stderr)")
    }
}
