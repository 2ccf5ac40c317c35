import Foundation
import MTZTestSupport
import Testing

/// Builds `Samples/c/classify.c` with the system C compiler against the `libmtz_c.so` that this
/// test run built, and checks its predictions on the shipped default model.
///
/// `swift test` builds every product, the dynamic library included, into the directory that holds
/// the test bundle; linking against it there needs no second `swift build` (which would wait for
/// the lock `swift test` holds on the build directory) and adds about a second.
@Suite struct SampleProgramTests {
    /// The C compiler: `$CC`, else `cc` on the PATH.
    static let compiler: String? = {
        let name = ProcessInfo.processInfo.environment["CC"] ?? "cc"
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// The build products directory holding `libmtz_c`: the test bundle's directory or one above it.
    static func libraryDirectory() -> String? {
        var dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path != "/" {
            for name in ["libmtz_c.so", "libmtz_c.dylib"] where FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path) {
                return dir.path
            }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    @Test("Samples/c/classify.c compiles with cc -std=c11 -Wall -Wextra -Werror and gets the samples right",
          .enabled(if: compiler != nil, "no C compiler (cc or $CC) on this machine: the C sample is not built"))
    func classifySample() throws {
        let cc = try #require(Self.compiler)
        let lib = try #require(Self.libraryDirectory(), "libmtz_c.so is not next to the test bundle; swift test should have built it")
        let root = Repository.root
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtz-capi-sample-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let program = dir.appendingPathComponent("classify").path

        let build = try runProcess(cc, ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic",
                                      "-I", root + "/Sources/CMTZ/include", root + "/Samples/c/classify.c",
                                      "-L", lib, "-lmtz_c", "-Wl,-rpath," + lib, "-o", program])
        try #require(build.status == 0, "cc failed:\n\(build.stderr)")

        let result = try runProcess(program, [Repository.zippedModel, Repository.mnistSeven, Repository.fashionBoot])
        #expect(result.status == 0, "\(result.stderr)")
        let top = Self.topLabels(result.stdout)
        #expect(top[Repository.mnistSeven]?["mnist"] == "7", "\(result.stdout)")
        #expect(top[Repository.fashionBoot]?["fashion"] == "Ankle boot", "\(result.stdout)")
        #expect(top[Repository.mnistSeven]?.count == 2 && top[Repository.fashionBoot]?.count == 2, "both tasks printed")

        let failure = try runProcess(program, [Repository.zippedModel, "/nonexistent/image.png"])
        #expect(failure.status == 1)
        #expect(failure.stderr.contains("/nonexistent/image.png") && failure.stderr.contains("MTZ_ERROR_IO"), "\(failure.stderr)")
    }

    /// Per image, per task, the best label in classify's output:
    /// `IMAGE` then lines `  TASK: LABEL SCORE, LABEL SCORE, ...`.
    static func topLabels(_ output: String) -> [String: [String: String]] {
        var result: [String: [String: String]] = [:]
        var image = ""
        for line in output.split(separator: "\n") {
            guard line.hasPrefix("  ") else {
                image = String(line)
                continue
            }
            let parts = line.dropFirst(2).split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let best = parts[1].split(separator: ",").first else { continue }
            // "LABEL SCORE": labels may contain spaces, scores do not.
            let words = best.split(separator: " ")
            result[image, default: [:]][String(parts[0])] = words.dropLast().joined(separator: " ")
        }
        return result
    }
}
