import ArgumentParser
import MTZCore
import MTZONNX

/// `mtz export`: a `.mtz` model as one ONNX graph.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a .mtz model as one ONNX graph (opset 13) with one output per task.",
        discussion: """
            The graph's input `input` is the preprocessed image, an NCHW float tensor [1, C, H, W] \
            ((pixel/255 - mean) / std, as the model's input spec says); each task is an output named after \
            the task ([1, classes] for classifiers). Weights that several tasks share are stored once. The \
            input spec, task names, labels and metadata are kept in the file's metadata properties, so \
            `mtz import` restores them. onnxruntime reproduces `mtz run` (see scripts/onnx-export-check.sh).
            """
    )

    @Argument(help: "The .mtz model.")
    var model: String

    @Option(name: [.short, .customLong("output")], help: "Where to write the .onnx file.")
    var output: String

    func run() throws {
        let loaded: Model
        do { loaded = try ModelFile.read(contentsOf: model) } catch { throw report(error, context: model) }
        do {
            try ONNXExporter.write(loaded, to: output)
            print("wrote \(output): ONNX opset \(ONNXExporter.opsetVersion), outputs \(loaded.tasks.map(\.name).joined(separator: ", ")), \(loaded.weights.count) weight tensors stored once")
        } catch {
            throw reportImportExport(error, context: output)
        }
    }
}
