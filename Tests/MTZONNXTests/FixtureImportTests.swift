import Foundation
import MTZCore
@testable import MTZONNX
import MTZRuntime
import MTZTestSupport
import Testing

/// Reads a fixture file written by `scripts/make-onnx-fixtures.py`.
func fixtureURL(_ name: String) throws -> URL {
    try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"), "missing fixture \(name)")
}

/// Little-endian float32 values of a fixture file.
func fixtureFloats(_ name: String) throws -> [Float] {
    let data = try Data(contentsOf: try fixtureURL(name))
    return data.littleEndianValues(count: data.count / 4, as: UInt32.self).map { Float(bitPattern: $0) }
}

/// Runs `model` on an NCHW input through the inference runtime and returns each task's output (NHWC).
func runtimeOutputs(_ model: Model, nchw: [Float]) throws -> [String: [Float]] {
    try runtimeOutputs(model, nhwc: TensorLayout.nchwToNHWC(nchw, shape: try model.validate()[0]))
}

/// Runs `model` on an NHWC input through the inference runtime and returns each task's output (NHWC).
func runtimeOutputs(_ model: Model, nhwc: [Float]) throws -> [String: [Float]] {
    try InferenceModel(model).makeSession().run(input: nhwc)
}

/// PyTorch-exported CNNs (see `scripts/make-onnx-fixtures.py`) import and reproduce PyTorch's outputs.
///
/// Tolerance: relative 1e-4 with an absolute floor of 1e-5 (float32 summation order differs
/// between PyTorch and the runtime; observed differences are below 1e-6).
@Suite("ONNX fixtures from PyTorch")
struct FixtureImportTests {
    @Test("imported networks match PyTorch", arguments: ["lenet5", "residual", "separable"])
    func matchesPyTorch(name: String) throws {
        let model = try ONNXImporter.importModel(contentsOf: try fixtureURL("\(name).onnx").path)
        #expect(model.tasks.map(\.name) == ["scores"])
        let outputs = try runtimeOutputs(model, nchw: try fixtureFloats("\(name).input.f32"))
        let expected = try fixtureFloats("\(name).output.f32")
        let got = try #require(outputs["scores"])
        #expect(isClose(got, expected, relative: 1e-4, absolute: 1e-5), "\(name): \(FloatComparison(got, expected))")
        // The naive reference interpreter agrees too (the IR means what the importer thinks).
        let nhwc = TensorLayout.nchwToNHWC(try fixtureFloats("\(name).input.f32"), shape: try model.validate()[0])
        let reference = try ReferenceInterpreter.outputs(model, input: nhwc)["scores"] ?? []
        #expect(isClose(reference, expected, relative: 1e-4, absolute: 1e-5))
    }

    @Test("LeNet-5's dynamic-batch shape arithmetic is folded away")
    func shapeArithmeticFolded() throws {
        let model = try ONNXImporter.importModel(contentsOf: try fixtureURL("lenet5.onnx").path)
        let ops = model.nodes.map(\.op.name)
        #expect(ops == ["input", "conv", "maxpool", "conv", "maxpool", "flatten", "fc", "fc", "fc", "softmax"])
        let activations = model.nodes.compactMap { node -> Activation? in
            if case .fullyConnected(let f) = node.op { return f.activation }
            if case .conv2d(let c) = node.op { return c.activation }
            return nil
        }
        #expect(activations == [.relu, .relu, .tanh, .relu, .none])
        #expect(model.input.format == .gray && model.input.width == 28 && model.input.height == 28)
        #expect(model.metadata["onnx.opset"] == "13")
        #expect(model.nodes.map(\.name).prefix(3) == ["input", "conv1", "MaxPool"])  // from /conv1/Conv, /MaxPool
    }

    @Test("batch norms fold into the convolutions and import options apply")
    func residualOptions() throws {
        var options = ONNXImportOptions(format: .bgr, mean: [0.1, 0.2, 0.3], std: [0.5, 0.5, 0.5], resize: .centerCrop)
        options.taskNames = ["shapes"]
        options.labels = ["shapes": (0..<7).map { "class \($0)" }]
        let model = try ONNXImporter.importModel(contentsOf: try fixtureURL("residual.onnx").path, options: options)
        #expect(!model.nodes.contains { if case .batchNorm = $0.op { true } else { false } })
        #expect(model.input == InputSpec(width: 20, height: 20, format: .bgr, mean: [0.1, 0.2, 0.3], std: [0.5, 0.5, 0.5], resize: .centerCrop))
        #expect(model.tasks[0].name == "shapes" && model.tasks[0].labels.count == 7)
    }
}
