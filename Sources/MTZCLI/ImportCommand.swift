import ArgumentParser
import Foundation
import MTZCore
import MTZONNX

/// `mtz import`: an ONNX network as a `.mtz` model.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert an ONNX CNN (opsets 6–21) into a .mtz model.",
        discussion: """
            The ONNX graph must take one float tensor [N, C, H, W] ([N, C, L] and [N, F] too; a fixed \
            N > 1 is accepted: the model computes one image at a time). With C = 1 or 3 it takes images; \
            other channel counts are packed into a one-channel row for raw-tensor use (docs/ONNX.md). \
            Supported operators: Conv, Gemm, MatMul(+Add), Add, Sub, Mul, Div (per-channel constants), \
            Sum, Relu, Clip (ReLU/ReLU6), Sigmoid, Tanh, MaxPool, AveragePool, GlobalAveragePool, \
            GlobalMaxPool, BatchNormalization, Flatten, Reshape, Squeeze, Unsqueeze, Concat, Slice and \
            Split (channels), Softmax, Dropout, Identity, Constant, Pad (zeros before a Conv); shape \
            arithmetic on constants (Shape, Gather, Concat, ConstantOfShape, Cast, ...) is folded. \
            Anything else is reported with the node's name and operator. The result is in deployment \
            form (batch norms folded, activations fused).

            Every graph output becomes a task, named after the output unless --task gives names. The \
            ONNX file does not say how images become the input tensor: by default pixels are scaled to \
            [0, 1] (mean 0, std 1), gray for 1 channel and RGB for 3; --input-spec overrides, e.g. \
            --input-spec imagenet (RGB, ImageNet mean/std) or \
            --input-spec format=bgr,mean=0.5:0.5:0.5,std=0.25:0.25:0.25,resize=center-crop,size=224x224 \
            (size only for inputs whose height and width are symbolic). A file written by `mtz export` \
            carries its input spec, task names and labels and needs none of these options.

            To zip networks trained elsewhere, import each with the dataset its task was trained on \
            (--metadata task.NAME.dataset=mnist|fashion) and run mtz zip on the .mtz files \
            (scripts/onnx-zip-demo.sh does this for two PyTorch LeNet-5s).
            """
    )

    @Argument(help: "The .onnx file.")
    var model: String

    @Option(name: [.short, .customLong("output")], help: "Where to write the .mtz model.")
    var output: String

    @Option(name: .long, help: "Task names, one per graph output in order, comma-separated (default: the output names).")
    var task: String?

    @Option(name: .long, help: "Class labels, one per line: FILE for the first task, or TASK=FILE (repeatable).")
    var labels: [String] = []

    @Option(name: .customLong("input-spec"), help: "How images become the input: imagenet, or comma-separated format=gray|rgb|bgr, mean=A:B:C, std=A:B:C, resize=stretch|center-crop, size=WxH.")
    var inputSpec: String?

    @Option(name: .long, help: "Description stored in the model's metadata.")
    var description: String?

    @Option(name: .long, help: "Extra metadata KEY=VALUE (repeatable), e.g. task.digits.dataset=mnist so that mtz eval and mtz zip find the task's dataset.")
    var metadata: [String] = []

    func validate() throws {
        if let inputSpec { _ = try parseInputSpec(inputSpec, into: ONNXImportOptions()) }
        if let task, taskList(task).isEmpty { throw ValidationError("--task is empty") }
        for entry in metadata where !entry.contains("=") || entry.hasPrefix("=") {
            throw ValidationError("--metadata \(entry): expected KEY=VALUE")
        }
    }

    func run() throws {
        var options = ONNXImportOptions()
        if let inputSpec { options = try parseInputSpec(inputSpec, into: options) }
        options.taskNames = task.map(taskList)
        for entry in labels {
            let (name, path) = splitLabelsOption(entry)
            guard let bytes = FileManager.default.contents(atPath: path), let text = String(data: bytes, encoding: .utf8) else {
                var folder: ObjCBool = false
                let why = !FileManager.default.fileExists(atPath: path, isDirectory: &folder) ? "no such file"
                    : folder.boolValue ? "a folder, not a file" : "not readable as UTF-8 text"
                printError("mtz: error: --labels \(path): \(why)")
                throw Exit.data
            }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: "\r") }
            let list = lines.last == "" ? Array(lines.dropLast()) : lines
            options.labels[name ?? options.taskNames?.first ?? "__first__"] = list
        }
        var imported: Model
        do {
            if let first = options.labels.removeValue(forKey: "__first__") {
                // Labels for "the first task" whose name comes from the file: import once to learn it.
                let probe = try ONNXImporter.importModel(contentsOf: model, options: options)
                options.labels[probe.tasks[0].name] = first
            }
            imported = try ONNXImporter.importModel(contentsOf: model, options: options)
            imported.metadata["source"] = URL(fileURLWithPath: model).lastPathComponent
            if let description { imported.metadata["description"] = description }
            for entry in metadata {
                let kv = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                imported.metadata[String(kv[0])] = String(kv[1])
            }
            try ModelFile.write(imported, to: output)
            let stats = try ModelStatistics(imported)
            print("wrote \(output): \(imported.nodes.count) nodes, input \(imported.input.width)x\(imported.input.height) \(imported.input.format.name), tasks \(imported.tasks.map(\.name).joined(separator: ", ")), \(grouped(stats.parameters)) parameters")
        } catch {
            throw reportImportExport(error, context: model)
        }
    }

    private func splitLabelsOption(_ entry: String) -> (String?, String) {
        if let eq = entry.firstIndex(of: "="), !FileManager.default.fileExists(atPath: entry) {
            return (String(entry[..<eq]), String(entry[entry.index(after: eq)...]))
        }
        return (nil, entry)
    }
}

/// Applies an `--input-spec` text to import options.
func parseInputSpec(_ text: String, into base: ONNXImportOptions) throws(ValidationError) -> ONNXImportOptions {
    var o = base
    func floats(_ s: Substring, _ key: String) throws(ValidationError) -> [Float] {
        let parts = s.split(separator: ":").map { Float($0) }
        guard !parts.isEmpty, parts.allSatisfy({ $0?.isFinite == true }) else {
            throw ValidationError("--input-spec \(key)=\(s): expected numbers separated by ':'")
        }
        return parts.map { $0! }
    }
    for item in text.split(separator: ",") {
        // Keeping empty parts: an item "=" gives key "" (refused below) instead of no parts at all.
        let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let key = kv[0].trimmingCharacters(in: " ")
        let value = kv.count > 1 ? kv[1] : ""
        switch key {
        case "imagenet":
            o.format = .rgb
            o.mean = [0.485, 0.456, 0.406]
            o.std = [0.229, 0.224, 0.225]
        case "gray", "rgb", "bgr":
            o.format = InputSpec.ColorFormat.allCases.first { $0.name == key }
        case "format":
            guard let f = InputSpec.ColorFormat.allCases.first(where: { $0.name == value }) else {
                throw ValidationError("--input-spec format=\(value): expected gray, rgb or bgr")
            }
            o.format = f
        case "mean": o.mean = try floats(value, key)
        case "std":
            o.std = try floats(value, key)
            guard o.std!.allSatisfy({ $0 != 0 }) else { throw ValidationError("--input-spec std must not be 0") }
        case "resize":
            guard let r = InputSpec.ResizeMode.allCases.first(where: { $0.name == value }) else {
                throw ValidationError("--input-spec resize=\(value): expected stretch or center-crop")
            }
            o.resize = r
        case "size":
            let wh = value.split(separator: "x").compactMap { Int($0) }
            guard wh.count == 2, (1...ModelLimits.maxInputExtent).contains(wh[0]), (1...ModelLimits.maxInputExtent).contains(wh[1]) else {
                throw ValidationError("--input-spec size=\(value): expected WIDTHxHEIGHT")
            }
            o.size = (width: wh[0], height: wh[1])
        default:
            throw ValidationError("--input-spec: unknown item '\(item)' (imagenet, format=, mean=, std=, resize=, size=)")
        }
    }
    return o
}

/// Prints an import/export error (an `ONNXError` with a path is printed as is) and returns the exit code.
func reportImportExport(_ error: any Error, context: String) -> ExitCode {
    if let e = error as? ONNXError, e.path != nil {
        printError("mtz: error: \(e)")
        return exitCode(for: e)
    }
    if error is CocoaError || error is POSIXError {
        printError("mtz: error: \(context): \(error.localizedDescription)")
        return Exit.other
    }
    return report(error, context: context)
}
