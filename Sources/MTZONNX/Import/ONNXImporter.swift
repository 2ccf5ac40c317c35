import Foundation
import MTZCore

/// Choices the ONNX file does not record: how images become the input tensor, task names, labels.
public struct ONNXImportOptions: Sendable {
    /// Channel order of the input image; nil: gray for 1 channel, RGB for 3 (or what an mtz export recorded).
    public var format: InputSpec.ColorFormat?
    /// Per-channel mean subtracted after scaling pixels to [0, 1]; nil: 0 (or what an mtz export recorded).
    public var mean: [Float]?
    /// Per-channel standard deviation; nil: 1 (or what an mtz export recorded).
    public var std: [Float]?
    /// How images of another size are fitted; nil: stretch.
    public var resize: InputSpec.ResizeMode?
    /// Width and height for an input whose spatial dimensions are symbolic in the file.
    public var size: (width: Int, height: Int)?
    /// Task names, one per graph output in order; nil: the output names (or what an mtz export recorded).
    public var taskNames: [String]?
    /// Labels per task name (one per output element).
    public var labels: [String: [String]]

    /// Creates options; every field defaults to "decide from the file".
    public init(format: InputSpec.ColorFormat? = nil, mean: [Float]? = nil, std: [Float]? = nil,
                resize: InputSpec.ResizeMode? = nil, size: (width: Int, height: Int)? = nil,
                taskNames: [String]? = nil, labels: [String: [String]] = [:]) {
        self.format = format
        self.mean = mean
        self.std = std
        self.resize = resize
        self.size = size
        self.taskNames = taskNames
        self.labels = labels
    }
}

/// Imports ONNX models (opsets 6–21) into the network IR.
///
/// The network must be a CNN on one float tensor (`[N, C, H, W]`, `[N, C, L]` or `[N, F]`; with C = 1
/// or 3 it takes images, other channel counts are packed into a one-channel row, see
/// `packedInputChannelsKey`) whose every operator is supported (see `docs/ONNX.md`); shape arithmetic on constants
/// (`Shape`, `Gather`, `Unsqueeze`, `Concat`, `ConstantOfShape`, ...) is folded while importing. A
/// static batch size N > 1 is accepted: the imported model computes one image at a time. Each graph
/// output becomes a task. The result is in deployment form (`Model.optimized()`: batch norms folded,
/// activations fused). Everything unsupported is reported as an `ONNXError` naming the node.
public enum ONNXImporter {
    /// Metadata key set when the ONNX input has C ∉ {1, 3} channels: the model's input is then a
    /// one-channel `H × (W·C)` value holding the `H × W × C` tensor in NHWC order (see `docs/ONNX.md`).
    public static let packedInputChannelsKey = "onnx.input.packed-channels"

    /// Imports the `.onnx` file at `path`.
    ///
    /// - Throws: `ONNXError` (its `path` set) for I/O, corrupt bytes, unsupported content or an
    ///   invalid result.
    public static func importModel(contentsOf path: String, options: ONNXImportOptions = ONNXImportOptions()) throws -> Model {
        do {
            let data = try readFile(path)
            return try importModel(data, options: options)
        } catch let e as ONNXError {
            throw e.at(path: path)
        }
    }

    /// Imports an ONNX model from its serialised bytes.
    ///
    /// - Throws: `ONNXError`.
    public static func importModel(_ data: Data, options: ONNXImportOptions = ONNXImportOptions()) throws(ONNXError) -> Model {
        guard data.count <= ImportLimits.maxFileBytes else {
            throw ONNXError(.limit, "\(data.count) bytes is larger than an ONNX protobuf can be (2 GiB)")
        }
        let proto: Onnx_ModelProto
        do {
            proto = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw ONNXError(.malformed, "not a readable ONNX model (protobuf decoding failed: \(error))")
        }
        var importer = try GraphImporter(model: proto, options: options)
        return try importer.run()
    }

    static func readFile(_ path: String) throws(ONNXError) -> Data {
        let url = URL(fileURLWithPath: path)
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if let size = attributes[.size] as? Int, size > ImportLimits.maxFileBytes {
                throw ONNXError(.limit, "the file has \(size) bytes, more than an ONNX protobuf can hold (2 GiB)")
            }
            return try Data(contentsOf: url)
        } catch let e as ONNXError {
            throw e
        } catch {
            throw ONNXError(.io, "cannot read the file: \((error as NSError).localizedDescription)")
        }
    }
}

/// Metadata keys the exporter writes so that an exported model imports back with its input spec,
/// task names and labels.
enum MetadataKeys {
    static let inputFormat = "mtz.input.format"
    static let inputMean = "mtz.input.mean"
    static let inputStd = "mtz.input.std"
    static let inputResize = "mtz.input.resize"
    static let taskName = "mtz.task."  // + output name → task name
    static let labels = "mtz.labels."  // + task name → labels joined by newlines
    static let summary = "mtz.summary." // + task name
    static let metadata = "mtz.meta."  // + key → model metadata
}
