import Foundation
import Testing

/// `mtz import`, `mtz export` and `mtz run-tensor` through the built binary.
@Suite struct ONNXCLITests {
    static let fixtures = CLITests.root.appendingPathComponent("Tests/MTZONNXTests/Fixtures")

    @Test("import a PyTorch LeNet-5, export the zipped default model, run both on raw tensors")
    func importExportRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtz-onnx-cli-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let labels = dir.appendingPathComponent("labels.txt")
        try (0..<10).map { "digit \($0)" }.joined(separator: "\n").write(to: labels, atomically: true, encoding: .utf8)
        let mtzPath = dir.appendingPathComponent("lenet5.mtz").path
        let imported = try CLITests.mtz(["import", Self.fixtures.appendingPathComponent("lenet5.onnx").path, "-o", mtzPath,
                                         "--task", "digits", "--labels", labels.path, "--input-spec", "mean=0.5,std=0.5"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("tasks digits"))
        let inspect = try CLITests.mtz(["inspect", mtzPath])
        #expect(inspect.stdout.contains("mean [0.5], std [0.5]"), "\(inspect.stdout)")

        let out = dir.appendingPathComponent("out")
        let run = try CLITests.mtz(["run-tensor", mtzPath, "--input", Self.fixtures.appendingPathComponent("lenet5.input.f32").path,
                                    "--output-dir", out.path])
        #expect(run.status == 0, "\(run.stderr)")
        let got = try Data(contentsOf: out.appendingPathComponent("digits.f32"))
        let want = try Data(contentsOf: Self.fixtures.appendingPathComponent("lenet5.output.f32"))
        #expect(got.count == want.count)

        let onnxPath = dir.appendingPathComponent("zipped.onnx").path
        let exported = try CLITests.mtz(["export", CLITests.root.appendingPathComponent("Models/lenet5-mnist-fashion-zipped.mtz").path, "-o", onnxPath])
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(exported.stdout.contains("outputs mnist, fashion"))
        // The exported file imports back with its tasks and labels.
        let back = try CLITests.mtz(["import", onnxPath, "-o", dir.appendingPathComponent("back.mtz").path])
        #expect(back.status == 0, "\(back.stderr)")
        #expect(back.stdout.contains("input 28x28 gray, tasks mnist, fashion"), "\(back.stdout)")
    }

    @Test("bad input files exit 65 with the node or problem named; bad options exit 64")
    func errors() throws {
        let garbage = try CLITests.temporaryFile("garbage.onnx", bytes: Array("not a protobuf at all".utf8))
        let r = try CLITests.mtz(["import", garbage, "-o", garbage + ".mtz"])
        #expect(r.status == 65)
        #expect(r.stderr.contains("not a readable ONNX model"), "\(r.stderr)")
        let spec = try CLITests.mtz(["import", garbage, "-o", "x.mtz", "--input-spec", "format=cmyk"])
        #expect(spec.status == 64)
        let missing = try CLITests.mtz(["export", "/nonexistent/model.mtz", "-o", "/tmp/x.onnx"])
        #expect(missing.status == 65)
    }
}
