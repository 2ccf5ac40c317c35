import ArgumentParser
import Foundation
import MTZCore
import MTZONNX
import MTZRuntime

/// `mtz run-tensor`: runs a model on raw float tensors (conformance and export checks).
struct RunTensorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-tensor",
        abstract: "Run a model on a raw float32 input tensor and write each task's raw output (for checks against other runtimes).",
        discussion: """
            The input file holds little-endian float32 values of one or more preprocessed inputs back to \
            back (a batch); each is run separately. With --layout nchw (the default) inputs are read and \
            outputs written in ONNX's NCHW order, with nhwc in the runtime's order. Each task's outputs \
            are written to DIR/TASK.f32 ('/' in a task name becomes '_'). A .onnx model is imported first.
            """,
        shouldDisplay: false
    )

    @Argument(help: "A .mtz or .onnx model.")
    var model: String

    @Option(name: .long, help: "Raw little-endian float32 input file.")
    var input: String

    @Option(name: .customLong("output-dir"), help: "Directory for TASK.f32 output files.")
    var outputDir: String

    @Option(name: .long, help: "Tensor layout of the files: nchw or nhwc.")
    var layout: String = "nchw"

    func validate() throws {
        guard layout == "nchw" || layout == "nhwc" else { throw ValidationError("--layout must be nchw or nhwc") }
    }

    func run() throws {
        let loaded: InferenceModel
        do {
            loaded = try InferenceModel(try ModelLoading.loadAnyModel(at: model))
        } catch {
            throw reportImportExport(error, context: model)
        }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: input))
            let perImage = loaded.inputCount
            guard data.count % 4 == 0, data.count > 0, (data.count / 4) % perImage == 0 else {
                printError("mtz: error: \(input): \(data.count) bytes is not a whole number of \(perImage)-value inputs")
                throw Exit.data
            }
            let all: [Float] = data.withUnsafeBytes { raw in
                (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            }
            let session = try loaded.makeSession()
            var inShape = loaded.shapes[0]
            if let packed = loaded.model.metadata[ONNXImporter.packedInputChannelsKey].flatMap(Int.init), packed > 0, inShape.width % packed == 0 {
                // An imported non-image input: the one-channel H×(W·C) row is the NHWC H×W×C tensor.
                inShape = ValueShape(height: inShape.height, width: inShape.width / packed, channels: packed)
            }
            var outputs: [String: [Float]] = [:]
            for b in 0..<(all.count / perImage) {
                var x = Array(all[(b * perImage)..<((b + 1) * perImage)])
                if layout == "nchw" { x = TensorLayout.nchwToNHWC(x, shape: inShape) }
                let result = try session.run(input: x)
                for task in loaded.model.tasks {
                    var y = result[task.name] ?? []
                    if layout == "nchw" { y = TensorLayout.nhwcToNCHW(y, shape: loaded.shapes[task.output]) }
                    outputs[task.name, default: []] += y
                }
            }
            try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
            for (task, values) in outputs {
                var bytes = Data(capacity: values.count * 4)
                for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
                let file = task.map { $0 == "/" ? "_" : $0 }
                try bytes.write(to: URL(fileURLWithPath: outputDir).appendingPathComponent(String(file) + ".f32"))
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw reportImportExport(error, context: input)
        }
    }
}
