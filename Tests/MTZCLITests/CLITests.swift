import Foundation
import MTZTestSupport
import Testing

/// Runs the built `mtz` binary and checks output and exit codes.
@Suite struct CLITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let defaultModel = root.appendingPathComponent("Models/demo-untrained.mtz").path

    static func samples(_ ext: String) -> [String] {
        let dir = root.appendingPathComponent("Samples")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix("." + ext) }.sorted().map { dir.appendingPathComponent($0).path }
    }

    /// The `mtz` binary next to the test bundle.
    static var binary: String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // XCTest bundles on Linux are `*.xctest` files in the products directory.
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("mtz").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("mtz").path
    }

    typealias Result = ProcessOutput

    static func mtz(_ args: [String]) throws -> Result { try runProcess(binary, args) }

    static func temporaryFile(_ name: String, bytes: [UInt8]) throws -> String {
        try temporaryTestFile(name, bytes: bytes, folder: "mtz-cli-tests")
    }

    @Test("run on a PNG and a JPEG prints a prediction for every task")
    func runAllTasks() throws {
        let png = try #require(Self.samples("png").first)
        let jpg = try #require(Self.samples("jpg").first)
        let r = try Self.mtz(["run", Self.defaultModel, png, jpg])
        #expect(r.status == 0, "\(r.stderr)")
        for image in [png, jpg] { #expect(r.stdout.contains(image)) }
        #expect(r.stdout.components(separatedBy: "objects").count - 1 == 2)
        #expect(r.stdout.components(separatedBy: "scene").count - 1 == 2)
        #expect(r.stdout.contains("shared"))
    }

    @Test("the README's main command: the zipped default model gets the dataset samples right")
    func defaultModelOnSamples() throws {
        let model = Self.root.appendingPathComponent("Models/lenet5-mnist-fashion-zipped.mtz").path
        let mnist = Self.root.appendingPathComponent("Samples/mnist/test-0000-7.png").path
        let fashion = Self.root.appendingPathComponent("Samples/fashion/test-0000-9.jpg").path
        let r = try Self.mtz(["run", model, mnist, fashion, "--top-k", "1", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let images = try #require(json["images"] as? [[String: Any]])
        func top(_ image: Int, _ task: String) -> String? {
            let tasks = images[image]["tasks"] as? [[String: Any]]
            let t = tasks?.first { $0["task"] as? String == task }
            return (t?["top"] as? [[String: Any]])?.first?["label"] as? String
        }
        #expect(top(0, "mnist") == "7")
        #expect(top(1, "fashion") == "Ankle boot")
        #expect((images[0]["sharedSeconds"] as? Double ?? 0) > 0, "the zipped trunk is shared")
    }

    @Test("mtz prepack: the copy maps its convolution weights, inspect lists them, results unchanged")
    func prepack() throws {
        let source = Self.root.appendingPathComponent("Models/lenet5-mnist-fashion-packed.mtz").path // no PACK section
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mtz-prepack-\(getpid()).mtz").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let made = try Self.mtz(["prepack", source, "-o", out, "--isa", "all"])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("16 packed convolution weights for scalar, avx2, avx512, neon"), "\(made.stdout)")
        let inspect = try Self.mtz(["inspect", out])
        #expect(inspect.stdout.contains("pre-packed convolution weights (mtz prepack): 16 for scalar, avx2, avx512, neon"), "\(inspect.stdout)")
        let bench = try Self.mtz(["bench", out, "--iterations", "2", "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any])
        #expect(json["packedWeightBytes"] as? Int == 0, "every convolution mapped, every FC layer read in place")
        let mnist = Self.root.appendingPathComponent("Samples/mnist/test-0000-7.png").path
        let a = try Self.mtz(["run", source, mnist, "--json"]), b = try Self.mtz(["run", out, mnist, "--json"])
        func scores(_ text: String) throws -> String {  // the JSON without its timings
            text.split(separator: "\n").filter { !$0.lowercased().contains("seconds") && !$0.contains("\"model\"") }.joined(separator: "\n")
        }
        #expect(try scores(a.stdout) == scores(b.stdout))
    }

    @Test("--tasks with one task prints only that task")
    func runOneTask() throws {
        let png = try #require(Self.samples("png").first)
        let r = try Self.mtz(["run", Self.defaultModel, png, "--tasks", "scene", "--top-k", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("scene"))
        #expect(!r.stdout.contains("objects"))
    }

    @Test("--json is valid JSON with top-k per task and timings")
    func runJSON() throws {
        let images = Self.samples("png").prefix(1) + Self.samples("jpg").prefix(1)
        let r = try Self.mtz(["run", Self.defaultModel] + images + ["--json", "--top-k", "4"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let results = try #require(json["images"] as? [[String: Any]])
        #expect(results.count == images.count)
        for result in results {
            let tasks = try #require(result["tasks"] as? [[String: Any]])
            #expect(tasks.map { $0["task"] as? String } == ["objects", "scene"])
            for t in tasks {
                let top = try #require(t["top"] as? [[String: Any]])
                #expect(top.count == 4)
                let p = top.compactMap { $0["probability"] as? Double }
                #expect(p == p.sorted(by: >))
            }
            #expect(result["sharedSeconds"] is Double)
        }
    }

    @Test("a bad image is reported and the other images still run (exit 65)")
    func badImageKeepsGoing() throws {
        let png = try #require(Self.samples("png").first)
        let bad = try Self.temporaryFile("broken.png", bytes: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3])
        let r = try Self.mtz(["run", Self.defaultModel, bad, png])
        #expect(r.status == 65)
        #expect(r.stderr.contains("broken.png"))
        #expect(r.stdout.contains(png))
        #expect(!r.stderr.contains("Fatal error"))
    }

    @Test("usage errors exit 64", arguments: [
        ["run"],
        ["run", "Models/demo-untrained.mtz"],
        ["run", "Models/demo-untrained.mtz", "x.png", "--top-k", "0"],
        ["run", "Models/demo-untrained.mtz", "x.png", "--threads", "0"],
        ["inspect"],
        ["bench"],
        ["frobnicate"],
    ])
    func usageErrors(args: [String]) throws {
        let r = try Self.mtz(args.map { $0 == "Models/demo-untrained.mtz" ? Self.defaultModel : $0 })
        #expect(r.status == 64, "\(args): \(r.stderr)")
        #expect(!r.stderr.isEmpty)
    }

    @Test("an unknown task is a usage error naming the available tasks")
    func unknownTask() throws {
        let png = try #require(Self.samples("png").first)
        let r = try Self.mtz(["run", Self.defaultModel, png, "--tasks", "nope"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("nope") && r.stderr.contains("objects"))
    }

    @Test("missing, truncated and corrupt models exit 65 with a message, never a crash")
    func badModels() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.defaultModel)))
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        let cases = [
            "/nonexistent/model.mtz",
            try Self.temporaryFile("truncated.mtz", bytes: Array(bytes.prefix(bytes.count / 3))),
            try Self.temporaryFile("flipped.mtz", bytes: flipped),
            try Self.temporaryFile("empty.mtz", bytes: []),
            try Self.temporaryFile("text.mtz", bytes: Array("not a model".utf8)),
        ]
        let png = try #require(Self.samples("png").first)
        for path in cases {
            for args in [["run", path, png], ["inspect", path]] {
                let r = try Self.mtz(args)
                #expect(r.status == 65, "\(args): \(r.status) \(r.stderr)")
                #expect(r.stderr.hasPrefix("mtz: error:"), "\(r.stderr)")
            }
        }
    }

    @Test("inspect --json reports shared and per-task parameters and the memory saving")
    func inspectJSON() throws {
        let r = try Self.mtz(["inspect", Self.defaultModel, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let stats = try #require(json["statistics"] as? [String: Any])
        let shared = try #require(stats["sharedParameters"] as? Int)
        let perTask = try #require(stats["parametersPerTask"] as? [String: Int])
        let saved = try #require(stats["savedBytes"] as? Int)
        #expect(shared > 0)
        #expect(Set(perTask.keys) == ["objects", "scene"])
        #expect(saved == 4 * (perTask.values.reduce(0, +) - (stats["parameters"] as? Int ?? 0)))
        #expect((stats["layers"] as? [Any])?.isEmpty == false)
    }

    @Test("inspect prints the layer table and the saving")
    func inspectText() throws {
        let r = try Self.mtz(["inspect", Self.defaultModel])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("saves"))
        #expect(r.stdout.contains("FLOPs per image"))
    }

    @Test("bench --gemm prints GFLOP/s per ISA next to the FMA peak")
    func benchGEMM() throws {
        let r = try Self.mtz(["bench", "--gemm", "64", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(rows.contains { $0["isa"] as? String == "scalar" })
        for row in rows { #expect((row["peakGflops"] as? Double ?? 0) > 0) }

        // M×N×K: the shape of a narrow layer's weight gradient (edge tiles in both M and N).
        let shaped = try Self.mtz(["bench", "--gemm", "9x20x300", "--json"])
        #expect(shaped.status == 0, "\(shaped.stderr)")
        let shapedRows = try #require(try JSONSerialization.jsonObject(with: Data(shaped.stdout.utf8)) as? [[String: Any]])
        #expect(!shapedRows.isEmpty)
        for row in shapedRows { #expect(row["m"] as? Int == 9 && row["n"] as? Int == 20 && row["k"] as? Int == 300) }
    }

    @Test("bench on a model prints latency")
    func benchModel() throws {
        let r = try Self.mtz(["bench", Self.defaultModel, "--iterations", "5"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("median"))
    }

    @Test("bench --profile --json reports every node, memory, readiness and the kernels chosen")
    func benchProfileJSON() throws {
        let r = try Self.mtz(["bench", Self.defaultModel, "--iterations", "3", "--warmup", "1", "--threads", "2",
                              "--tasks", "scene", "--profile", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(report["tasks"] as? [String] == ["scene"])
        #expect(report["threads"] as? Int == 2)
        for key in ["loadSeconds", "readySeconds"] { #expect((report[key] as? Double ?? 0) > 0, "\(key)") }
        for key in ["packedWeightBytes", "arenaBytes", "peakRSSBytes"] { #expect((report[key] as? Int ?? 0) > 0, "\(key)") }
        #expect(report["isa"] is String && report["tile"] is String && report["convolutionAlgorithms"] is [String: Int])
        let latency = try #require(report["latency"] as? [String: Any])
        #expect(latency["iterations"] as? Int == 3 && latency["warmup"] as? Int == 1)
        let nodes = try #require(latency["profile"] as? [[String: Any]])
        #expect(nodes.contains { ($0["op"] as? String ?? "").hasPrefix("conv") && ($0["gflops"] as? Double ?? 0) > 0 })
    }

    @Test("bench refuses an unknown convolution policy")
    func benchBadPolicy() throws {
        let r = try Self.mtz(["bench", Self.defaultModel, "--convolutions", "fast"])
        #expect(r.status == 64)
    }
}

/// `mtz train`, `mtz eval` and `mtz pack` on real (small) data.
@Suite struct TrainingCLITests {
    static func path(_ name: String) throws -> String {
        try scratchFolder("mtz-train-cli").appendingPathComponent(name).path
    }

    @Test("train a small model, evaluate it, pack two of them")
    func trainEvalPack() throws {
        let a = try Self.path("a.mtz"), b = try Self.path("b.mtz"), ab = try Self.path("ab.mtz")
        var r = try CLITests.mtz(["train", "--arch", "lenet300", "--dataset", "mnist", "--limit", "300", "--holdout", "50", "--epochs", "1", "-o", a])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("test error"))
        r = try CLITests.mtz(["train", "--arch", "lenet300", "--dataset", "fashion", "--limit", "300", "--holdout", "50", "--epochs", "1", "--json", "-o", b])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((report["epochs"] as? [[String: Any]])?.first?["seconds"] is Double)

        r = try CLITests.mtz(["eval", a, "--limit", "200"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("mnist") && r.stdout.contains("% error"))

        r = try CLITests.mtz(["pack", a, b, "-o", ab])
        #expect(r.status == 0, "\(r.stderr)")
        r = try CLITests.mtz(["eval", ab, "--limit", "100", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let eval = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let tasks = try #require(eval["tasks"] as? [[String: Any]])
        #expect(tasks.map { $0["dataset"] as? String } == ["mnist", "fashion"])
        // --dataset overrides every task's; a task trained on another dataset is pointed out.
        r = try CLITests.mtz(["eval", ab, "--limit", "20", "--dataset", "fashion"])
        #expect(r.status == 0 && r.stderr.contains("task 'mnist' was trained on mnist; evaluating it on fashion"), "\(r.stderr)")
        #expect(!r.stderr.contains("task 'fashion'"), "\(r.stderr)")
        let png = try #require(CLITests.samples("png").first)
        r = try CLITests.mtz(["run", ab, png])
        #expect(r.status == 0 && r.stdout.contains("mnist") && r.stdout.contains("fashion"), "\(r.stderr)")
        // Zipping the two: every hidden layer shared, the report written, inspect shows the sharing.
        let z = try Self.path("z.mtz"), reportPath = try Self.path("z.json")
        r = try CLITests.mtz(["zip", a, b, "--iteration-scale", "0.05", "--hessian-images", "100", "--report", reportPath, "-o", z])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("fc1: 300/300 shared"), "\(r.stdout)")
        // Not on a terminal, each layer's end is logged as it comes.
        #expect(r.stdout.contains("] layer 1/2 fc1: validation error fashion ") && r.stdout.contains("] layer 2/2 fc2: validation error"), "\(r.stdout)")
        #expect(r.stdout.contains("distilling the originals (weight 0.5, temperature 4)"), "\(r.stdout)")
        let zipReport = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reportPath))) as? [String: Any])
        #expect((zipReport["layers"] as? [[String: Any]])?.count == 2)
        #expect(zipReport["distillation"] as? Double == 0.5 && zipReport["temperature"] as? Double == 4)
        r = try CLITests.mtz(["zip", a, b, "--distill", "1.5", "-o", z])
        #expect(r.status == 64 && r.stderr.contains("--distill"), "\(r.stderr)")
        // A network trained to imitate a teacher (besides its labels); teachers must be single-task, one per dataset.
        r = try CLITests.mtz(["train", "--arch", "lenet300", "--dataset", "mnist", "--limit", "300", "--holdout", "50", "--epochs", "1",
                              "--teachers", a, "-o", try Self.path("student.mtz")])
        #expect(r.status == 0 && r.stdout.contains("distilling \(a)"), "\(r.stdout) \(r.stderr)")
        r = try CLITests.mtz(["train", "--arch", "lenet300", "--dataset", "fashion", "--limit", "300", "--holdout", "50", "--epochs", "1",
                              "--teachers", a, "-o", try Self.path("student.mtz")])
        #expect(r.status == 64 && r.stderr.contains("trained on mnist but would teach the fashion task"), "\(r.stderr)")
        r = try CLITests.mtz(["train", "--arch", "lenet300", "--dataset", "mnist", "--teachers", "\(a),\(b)", "-o", try Self.path("student.mtz")])
        #expect(r.status == 64 && r.stderr.contains("one model per dataset"), "\(r.stderr)")
        r = try CLITests.mtz(["train", "--arch", "lenet300", "--dataset", "mnist", "--limit", "300", "--holdout", "50", "--epochs", "1",
                              "--teachers", ab, "-o", try Self.path("student.mtz")])
        #expect(r.status == 64 && r.stderr.contains("single-task"), "\(r.stderr)")
        // The zipped model against the two originals packed, image by image.
        r = try CLITests.mtz(["eval", z, "--against", ab, "--limit", "100", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let compared = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let comparisons = try #require(compared["comparisons"] as? [[String: Any]])
        #expect(comparisons.map { $0["task"] as? String } == ["mnist", "fashion"])
        for (c, packed) in zip(comparisons, tasks) {
            let paired = try #require(c["paired"] as? [String: Any])
            let other = try #require(c["result"] as? [String: Any])
            #expect(paired["images"] as? Int == 100 && other["errors"] as? Int == packed["errors"] as? Int)
            let p = try #require(paired["pValue"] as? Double)
            #expect(p > 0 && p <= 1)
        }
        let pooled = try #require(compared["pooled"] as? [String: Any])
        let perTask = comparisons.compactMap { $0["paired"] as? [String: Any] }
        #expect(pooled["images"] as? Int == 200)
        #expect(pooled["onlyA"] as? Int == perTask.compactMap { $0["onlyA"] as? Int }.reduce(0, +))
        r = try CLITests.mtz(["eval", z, "--against", ab, "--limit", "100"])
        #expect(r.status == 0 && r.stdout.contains("all tasks (200 images)"), "\(r.stdout) \(r.stderr)")
        r = try CLITests.mtz(["eval", z, "--against", ab, "--limit", "100", "--tasks", "mnist"])
        #expect(r.status == 0 && r.stdout.contains("wrong only here") && r.stdout.contains("McNemar p ="), "\(r.stdout) \(r.stderr)")
        #expect(!r.stdout.contains("all tasks"), "one task, nothing to pool: \(r.stdout)")
        r = try CLITests.mtz(["eval", z, "--against", a, "--limit", "100"])
        #expect(r.status == 64 && r.stderr.contains("fashion") && r.stderr.contains(a), "\(r.stderr)")
        r = try CLITests.mtz(["inspect", z, "--json"])
        let inspected = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let stats = try #require(inspected["statistics"] as? [String: Any])
        #expect((stats["savedFraction"] as? Double ?? 0) > 0.45)
        // The model records the command that made it.
        let zipCommand = (inspected["metadata"] as? [String: String])?["zip.command"]
        #expect(zipCommand?.hasPrefix("mtz zip \(a) \(b) --iteration-scale 0.05") == true, "\(zipCommand ?? "none")")
        r = try CLITests.mtz(["zip", a, b, "--share", "fc1=2", "-o", z])
        #expect(r.status == 64, "\(r.stderr)")
        // Layer names are checked against the networks before any work (they were ignored).
        r = try CLITests.mtz(["zip", a, b, "--share", "fc1=1,fc9=0.5", "-o", z])
        #expect(r.status == 64 && r.stderr.contains("no hidden layer 'fc9'") && r.stderr.contains("fc1, fc2"), "\(r.stderr)")
        r = try CLITests.mtz(["zip", a, b, "--share", "fc2=1", "-o", z])
        #expect(r.status == 64 && r.stderr.contains("fc2 cannot share while fc1 below it shares no neuron"), "\(r.stderr)")
        // --validation-images is for models that do not record their holdout; these do.
        // (Labels only: distilling would first run both originals over the whole training split.)
        r = try CLITests.mtz(["zip", a, b, "--iterations", "fc1=1,fc2=0", "--final-iterations", "0", "--distill", "0", "--hessian-images", "20",
                              "--validation-images", "70", "-o", try Self.path("z0.mtz")])
        #expect(r.status == 0 && r.stderr.contains("--validation-images does not apply to \(a)"), "\(r.stderr)")
        #expect(r.stdout.contains("after 1 iteration\n") && r.stdout.contains("after 0 iterations\n") && r.stdout.contains("; 1 retraining iteration\n"),
                "\(r.stdout)")
        // ONNX networks zip directly; they do not record their dataset, so --datasets names it.
        let onnx = CLITests.root.appendingPathComponent("Tests/MTZONNXTests/Fixtures/lenet5.onnx").path
        r = try CLITests.mtz(["zip", onnx, onnx, "-o", z])
        #expect(r.status == 64 && r.stderr.contains("--datasets"), "\(r.stderr)")
        r = try CLITests.mtz(["zip", onnx, onnx, "--datasets", "mnist,fashion", "--iteration-scale", "0", "--hessian-images", "20",
                              "--validation-images", "50", "-o", z])
        #expect(r.status == 0 && r.stdout.contains("fc2: 84/84 shared"), "\(r.stderr)")
        r = try CLITests.mtz(["run", z, png, "--json"])
        #expect(r.status == 0 && r.stdout.contains("scores-1") && r.stdout.contains("scores-2"), "\(r.stderr)")
        // Or a folder with one sub-directory of images per class (here the MNIST samples by label).
        let folder = try Self.path("digits")
        let mnistDir = CLITests.root.appendingPathComponent("Samples/mnist").path
        for name in try FileManager.default.contentsOfDirectory(atPath: mnistDir) where name.hasPrefix("test-") {
            let sample = "\(mnistDir)/\(name)"
            let label = String(URL(fileURLWithPath: sample).deletingPathExtension().lastPathComponent.split(separator: "-").last!)
            try FileManager.default.createDirectory(atPath: "\(folder)/\(label)", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: sample, toPath: "\(folder)/\(label)/\(URL(fileURLWithPath: sample).lastPathComponent)")
        }
        r = try CLITests.mtz(["zip", onnx, onnx, "--datasets", "\(folder),fashion", "--iteration-scale", "0", "--hessian-images", "4",
                              "--batch", "2", "--validation-images", "2", "-o", z])
        #expect(r.status == 0 && r.stdout.contains("scores-1"), "\(r.stderr)")
        r = try CLITests.mtz(["zip", onnx, onnx, "--datasets", "\(folder)/nothing-here,fashion", "-o", z])
        #expect(r.status == 65 && r.stderr.contains("not a directory"), "\(r.stderr)")
        // Packing with a model of another input spec is refused.
        r = try CLITests.mtz(["pack", a, CLITests.defaultModel, "-o", try Self.path("bad.mtz")])
        #expect(r.status == 65 && r.stderr.contains("input spec"), "\(r.stderr)")
    }

    @Test("several datasets train one shared-trunk network with a head per task")
    func multiTaskTraining() throws {
        let m = try Self.path("mt.mtz")
        var r = try CLITests.mtz(["train", "--arch", "lenet300", "--dataset", "mnist,fashion", "--limit", "300", "--holdout", "50",
                                  "--epochs", "1", "--eval-every", "2", "--json", "-o", m])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((report["checkpoints"] as? [Any])?.isEmpty == false)
        r = try CLITests.mtz(["inspect", m, "--json"])
        let stats = try #require((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["statistics"] as? [String: Any])
        #expect((stats["savedFraction"] as? Double ?? 0) > 0.45)
        r = try CLITests.mtz(["eval", m, "--limit", "50"])
        #expect(r.status == 0 && r.stdout.contains("mnist") && r.stdout.contains("fashion"), "\(r.stderr)")
        r = try CLITests.mtz(["train", "--arch", "lenet300", "--dataset", "mnist,mnist", "-o", m])
        #expect(r.status == 64)
    }

    @Test("a shared trunk with batch norms trains the tasks' mini-batches as one batch")
    func multiTaskResidualTraining() throws {
        let m = try Self.path("mt-resnet.mtz")
        var r = try CLITests.mtz(["train", "--arch", "resnet", "--dataset", "mnist,fashion", "--limit", "160", "--holdout", "32",
                                  "--epochs", "1", "--batch", "32", "-o", m])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("one joint batch through the shared batch norms"), "\(r.stdout)")
        r = try CLITests.mtz(["eval", m, "--limit", "50"])
        #expect(r.status == 0 && r.stdout.contains("mnist") && r.stdout.contains("fashion"), "\(r.stderr)")
        // Without batch norms the tasks' batches stay separate.
        r = try CLITests.mtz(["train", "--arch", "lenet300", "--dataset", "mnist,fashion", "--limit", "100", "--holdout", "20",
                              "--epochs", "1", "-o", m])
        #expect(r.status == 0 && !r.stdout.contains("joint batch"), "\(r.stdout)")
    }

    @Test("training usage errors exit 64; missing data exits 65 naming the fetch script")
    func trainErrors() throws {
        for args in [["train", "--arch", "nope", "--dataset", "mnist", "-o", "/tmp/x.mtz"],
                     ["train", "--arch", "lenet5", "--dataset", "cifar", "-o", "/tmp/x.mtz"],
                     ["train", "--arch", "lenet5", "--dataset", "mnist"],
                     ["train", "--arch", "lenet5", "--dataset", "mnist", "--epochs", "0", "-o", "/tmp/x.mtz"]] {
            let r = try CLITests.mtz(args)
            #expect(r.status == 64, "\(args): \(r.stderr)")
        }
        let r = try CLITests.mtz(["train", "--arch", "lenet5", "--dataset", "mnist", "--data", "/nonexistent", "-o", "/tmp/x.mtz"])
        #expect(r.status == 65)
        #expect(r.stderr.contains("fetch-datasets.sh"), "\(r.stderr)")
        let e = try CLITests.mtz(["eval", CLITests.defaultModel])
        #expect(e.status == 64 && e.stderr.contains("--dataset"), "\(e.stderr)")
    }
}
