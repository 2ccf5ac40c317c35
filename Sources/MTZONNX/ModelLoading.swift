import Foundation
import MTZCore

/// Loads a model from either kind of file the tools accept.
public enum ModelLoading {
    /// Whether `path` names an ONNX file (by its `.onnx` extension, any case).
    public static func isONNX(_ path: String) -> Bool {
        path.lowercased().hasSuffix(".onnx")
    }

    /// Reads a `.mtz` file (memory-mapped, validated) or imports a `.onnx` file with `options`.
    ///
    /// - Throws: `FormatError` for `.mtz` files, `ONNXError` for `.onnx` files.
    public static func loadAnyModel(at path: String, options: ONNXImportOptions = ONNXImportOptions()) throws -> Model {
        if isONNX(path) {
            return try ONNXImporter.importModel(contentsOf: path, options: options)
        }
        return try ModelFile.read(contentsOf: path)
    }
}

/// Conversions between ONNX's NCHW tensors and the runtime's NHWC values (batch 1).
public enum TensorLayout {
    /// `values` in NCHW order (`channels × height × width`) rearranged to NHWC.
    public static func nchwToNHWC(_ values: [Float], shape: ValueShape) -> [Float] {
        precondition(values.count == shape.elementCount, "nchwToNHWC: \(values.count) values for \(shape)")
        let hw = shape.height * shape.width
        var out = [Float](repeating: 0, count: values.count)
        for c in 0..<shape.channels { for p in 0..<hw { out[p * shape.channels + c] = values[c * hw + p] } }
        return out
    }

    /// `values` in NHWC order rearranged to NCHW.
    public static func nhwcToNCHW(_ values: [Float], shape: ValueShape) -> [Float] {
        precondition(values.count == shape.elementCount, "nhwcToNCHW: \(values.count) values for \(shape)")
        let hw = shape.height * shape.width
        var out = [Float](repeating: 0, count: values.count)
        for c in 0..<shape.channels { for p in 0..<hw { out[c * hw + p] = values[p * shape.channels + c] } }
        return out
    }
}
