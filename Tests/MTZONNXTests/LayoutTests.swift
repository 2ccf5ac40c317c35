import Foundation
import MTZCore
@testable import MTZONNX
import Testing

/// Import paths where ONNX's dimensions and the IR's NHWC values differ: non-image inputs, 1-D
/// pooling through an unsqueeze, channel shuffles. Expected values are computed here in NCHW.
@Suite("ONNX layouts")
struct LayoutTests {
    /// Runs `data` (an ONNX model) on an NCHW input and returns task `y`'s output in NCHW order.
    func run(_ data: Data, _ nchw: [Float], outputShape: ValueShape) throws -> [Float] {
        let model = try ONNXImporter.importModel(data)
        var input = try model.validate()[0]
        if let c = model.metadata[ONNXImporter.packedInputChannelsKey].flatMap(Int.init) {
            input = ValueShape(height: input.height, width: input.width / c, channels: c)
        }
        let out = try runtimeOutputs(model, nchw: nchw, inputShape: input)["y"] ?? []
        return TensorLayout.nhwcToNCHW(out, shape: outputShape)
    }

    func runtimeOutputs(_ model: Model, nchw: [Float], inputShape: ValueShape) throws -> [String: [Float]] {
        try MTZONNXTests.runtimeOutputs(model, nhwc: TensorLayout.nchwToNHWC(nchw, shape: inputShape))
    }

    @Test("a 4-channel input is packed into one channel and unpacked exactly")
    func packedInput() throws {
        let data = GraphFactory.model([GraphFactory.node("Relu", ["x"], ["y"], name: "relu")], input: [1, 4, 3, 5])
        let model = try ONNXImporter.importModel(data)
        #expect(model.input.format == .gray && model.input.width == 20 && model.input.height == 3)
        let x = (0..<60).map { Float($0 % 7) - 3 }
        #expect(try run(data, x, outputShape: ValueShape(height: 3, width: 5, channels: 4)) == x.map { max($0, 0) })
    }

    @Test("1-D average pooling through Unsqueeze to [N, C, L, 1] and Squeeze back")
    func pooling1D() throws {
        let axes = ConstTensor.proto(name: "axes", shape: [1], ints: [3])
        let data = GraphFactory.model([
            GraphFactory.node("Unsqueeze", ["x", "axes"], ["x4"], name: "unsqueeze"),
            GraphFactory.node("AveragePool", ["x4"], ["p"], name: "pool", ints: ["kernel_shape": [2, 1], "strides": [2, 1]]),
            GraphFactory.node("Squeeze", ["p", "axes"], ["y"], name: "squeeze"),
        ], initializers: [axes], input: [1, 3, 6])
        let x = (0..<18).map { Float($0) }
        var want: [Float] = []  // per channel, pairs along L
        for k in 0..<9 { want.append((x[2 * k] + x[2 * k + 1]) / 2) }
        #expect(try run(data, x, outputShape: ValueShape(height: 1, width: 3, channels: 3)) == want)
    }

    @Test("a channel shuffle becomes an exact permutation")
    func channelShuffle() throws {
        let grouped = ConstTensor.proto(name: "grouped", shape: [5], ints: [1, 2, 3, 2, 2])
        let back = ConstTensor.proto(name: "back", shape: [4], ints: [1, 6, 2, 2])
        var transpose = GraphFactory.node("Transpose", ["g"], ["t"], name: "transpose")
        var perm = Onnx_AttributeProto()
        perm.name = "perm"
        perm.type = .ints
        perm.ints = [0, 2, 1, 3, 4]
        transpose.attribute = [perm]
        let data = GraphFactory.model([
            GraphFactory.node("Reshape", ["x", "grouped"], ["g"], name: "group"),
            transpose,
            GraphFactory.node("Reshape", ["t", "back"], ["y"], name: "shuffle"),
        ], initializers: [grouped, back], input: [1, 6, 2, 2])
        let x = (0..<24).map { Float($0) - 7.5 }
        // Output channel o = b·2 + a reads input channel a·3 + b (g = 2 groups of 3).
        let order = [0, 3, 1, 4, 2, 5]
        let want = order.flatMap { c in x[(c * 4)..<(c * 4 + 4)] }
        #expect(try run(data, x, outputShape: ValueShape(height: 2, width: 2, channels: 6)) == want)
    }
}
