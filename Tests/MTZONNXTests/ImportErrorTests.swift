import Foundation
import MTZCore
@testable import MTZONNX
import Testing

/// Builds small ONNX graphs by hand for the error paths.
enum GraphFactory {
    static func valueInfo(_ name: String, dims: [Int64?]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = 1
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = d } else { dim.dimParam = "n" }
            return dim
        }
        t.shape = shape
        v.type.tensorType = t
        return v
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String, ints: [String: [Int64]] = [:]) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = name
        for (k, v) in ints.sorted(by: { $0.key < $1.key }) {
            var a = Onnx_AttributeProto()
            a.name = k
            a.type = .ints
            a.ints = v
            n.attribute.append(a)
        }
        return n
    }

    /// A model `x [1, 3, 8, 8] → nodes → y`, serialised.
    static func model(_ nodes: [Onnx_NodeProto], initializers: [Onnx_TensorProto] = [], input: [Int64?] = [1, 3, 8, 8], opset: Int64 = 13) -> Data {
        var g = Onnx_GraphProto()
        g.name = "g"
        g.input = [valueInfo("x", dims: input)]
        g.output = [valueInfo("y", dims: [])]
        g.node = nodes
        g.initializer = initializers
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto()
        o.version = opset
        m.opsetImport = [o]
        m.graph = g
        return try! m.serializedData()
    }
}

/// Corrupt, truncated and unsupported inputs give typed errors naming the node, never a crash.
@Suite("ONNX import errors")
struct ImportErrorTests {
    func importError(_ data: Data) -> ONNXError? {
        do {
            _ = try ONNXImporter.importModel(data)
            return nil
        } catch {
            return error
        }
    }

    @Test("shape arithmetic on extreme integers: INT64_MIN/MAX clamp (ONNX's 'to the end'), others out of range")
    func extremeInts() throws {
        // abs(Int64.min) trapped here before (a FuzzONNX finding).
        let t = ConstTensor(shape: [4], ints: [Int64.min, Int64.max, -5, 1 << 40])
        #expect(try t.smallInts() == [-(1 << 40), 1 << 40, -5, 1 << 40])
        #expect(throws: ONNXError.self) { try ConstTensor(shape: [1], ints: [Int64.min + 1]).smallInts() }
        #expect(throws: ONNXError.self) { try ConstTensor(shape: [1], ints: [(1 << 40) + 1]).smallInts() }
        // The same check on node attributes (the same abs(Int64.min) trap was there).
        var node = Onnx_NodeProto()
        var one = Onnx_AttributeProto(), many = Onnx_AttributeProto()
        (one.name, one.type, one.i) = ("axis", .int, Int64.min)
        (many.name, many.type, many.ints) = ("pads", .ints, [Int64.min, Int64.max, Int64.min + 1])
        node.attribute = [one, many]
        let attributes = try Attributes(node)
        #expect(throws: ONNXError.self) { try attributes.int("axis") }
        #expect(throws: ONNXError.self) { try attributes.ints("pads") }  // Int64.min + 1 is out of range
    }

    @Test("garbage bytes are malformed")
    func garbage() {
        var rng = SystemRandomNumberGenerator()
        let bytes = Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) })
        #expect(importError(bytes) != nil)
        #expect(importError(Data([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]))?.kind == .malformed)
    }

    @Test("every truncation of a real model is refused or imports, without crashing")
    func truncated() throws {
        let data = try Data(contentsOf: try fixtureURL("separable.onnx"))
        var refused = 0
        for length in stride(from: 0, to: data.count, by: 97) {
            if importError(data.prefix(length)) != nil { refused += 1 }
        }
        #expect(refused > 0)
        // Flipping bytes inside the weights or structure never crashes either.
        var flipped = data
        for i in stride(from: 13, to: flipped.count, by: 211) { flipped[i] ^= 0x5A }
        _ = importError(flipped)
    }

    @Test("an unsupported operator names the node and the operator")
    func unsupportedOp() {
        let data = GraphFactory.model([GraphFactory.node("LRN", ["x"], ["y"], name: "norm1")])
        let e = importError(data)
        #expect(e?.kind == .unsupported)
        #expect(e?.node == "norm1" && e?.op == "LRN")
        #expect(e?.description.contains("node 'norm1' (LRN)") == true)
    }

    @Test("dynamic spatial dimensions are refused unless a size is given")
    func dynamicShape() throws {
        let data = GraphFactory.model([GraphFactory.node("Relu", ["x"], ["y"], name: "r")], input: [nil, 3, nil, nil])
        #expect(importError(data)?.kind == .shape)
        let model = try ONNXImporter.importModel(data, options: ONNXImportOptions(size: (width: 5, height: 4)))
        #expect(model.input.width == 5 && model.input.height == 4)
    }

    @Test("external tensor data is refused")
    func externalData() {
        var w = ConstTensor.proto(name: "w", shape: [4, 3, 3, 3], floats: [])
        w.rawData = Data()
        w.dataLocation = .external
        let data = GraphFactory.model([GraphFactory.node("Conv", ["x", "w"], ["y"], name: "conv")], initializers: [w])
        #expect(importError(data)?.kind == .externalData)
    }

    @Test("tensor data that does not match its shape is malformed")
    func shortTensor() {
        let w = ConstTensor.proto(name: "w", shape: [4, 3, 3, 3], floats: [1, 2, 3])
        let data = GraphFactory.model([GraphFactory.node("Conv", ["x", "w"], ["y"], name: "conv")], initializers: [w])
        #expect(importError(data)?.kind == .malformed)
    }

    @Test("absurd sizes are refused before allocating")
    func absurdSize() {
        let shape = ConstTensor.proto(name: "s", shape: [4], ints: [1 << 20, 1 << 20, 1 << 20, 1 << 20])
        let data = GraphFactory.model([
            GraphFactory.node("ConstantOfShape", ["s"], ["big"], name: "fill"),
            GraphFactory.node("Add", ["x", "big"], ["y"], name: "add"),
        ], initializers: [shape])
        #expect(importError(data)?.kind == .limit)
        let huge = GraphFactory.model([GraphFactory.node("Relu", ["x"], ["y"], name: "r")], input: [1, 3, 1 << 40, 8])
        #expect(importError(huge)?.kind == .shape)
    }

    @Test("an unknown input name and an unsupported opset are reported")
    func badReferences() {
        #expect(importError(GraphFactory.model([GraphFactory.node("Relu", ["nope"], ["y"], name: "r")]))?.kind == .malformed)
        #expect(importError(GraphFactory.model([GraphFactory.node("Relu", ["x"], ["y"], name: "r")], opset: 99))?.kind == .unsupported)
    }

    @Test("conv padding not smaller than the kernel is reported as an invalid model, naming the node")
    func convPadding() {
        let w = ConstTensor.proto(name: "w", shape: [2, 3, 1, 1], floats: [Float](repeating: 0.5, count: 6))
        let data = GraphFactory.model([GraphFactory.node("Conv", ["x", "w"], ["y"], name: "c", ints: ["pads": [1, 1, 1, 1]])], initializers: [w])
        let e = importError(data)
        #expect(e?.kind == .invalidModel && e?.message.contains("'c'") == true)
    }

    @Test("shape arithmetic on constants folds: Shape, Gather, Unsqueeze, Concat, ConstantOfShape, Reshape")
    func folding() throws {
        let zero = ConstTensor.proto(name: "zero", shape: [], ints: [0])
        let minusOne = ConstTensor.proto(name: "m1", shape: [1], ints: [-1])
        let one = ConstTensor.proto(name: "one", shape: [1], ints: [3])
        var fill = Onnx_AttributeProto()
        fill.name = "value"
        fill.type = .tensor
        fill.t = ConstTensor.proto(name: "", shape: [1], floats: [0.5])
        var cos = GraphFactory.node("ConstantOfShape", ["three"], ["bias"], name: "bias")
        cos.attribute = [fill]
        let data = GraphFactory.model([
            GraphFactory.node("Shape", ["x"], ["shape"], name: "shape"),
            GraphFactory.node("Gather", ["shape", "zero"], ["n"], name: "n"),
            GraphFactory.node("Unsqueeze", ["n", "zero1"], ["n1"], name: "n1"),
            GraphFactory.node("Concat", ["n1", "m1"], ["target"], name: "target", ints: [:]),
            GraphFactory.node("Reshape", ["x", "target"], ["flat"], name: "flat"),
            GraphFactory.node("Relu", ["flat"], ["y"], name: "relu"),
            cos,
        ], initializers: [zero, minusOne, one, ConstTensor.proto(name: "zero1", shape: [1], ints: [0]), ConstTensor.proto(name: "three", shape: [1], ints: [3])],
           input: [1, 1, 8, 8])
        // Concat needs its axis attribute.
        var proto = try Onnx_ModelProto(serializedBytes: data)
        var axis = Onnx_AttributeProto()
        axis.name = "axis"
        axis.type = .int
        axis.i = 0
        proto.graph.node[3].attribute = [axis]
        let model = try ONNXImporter.importModel(try proto.serializedData())
        #expect(model.nodes.map(\.op.name) == ["input", "flatten", "relu"])  // nothing to fuse relu into
        #expect(try model.validate().last?.channels == 64)
    }

    @Test("a zero Pad is absorbed into the next Conv's padding; before MaxPool it is refused")
    func padIntoConv() throws {
        let w = ConstTensor.proto(name: "w", shape: [2, 3, 3, 3], floats: (0..<54).map { Float($0 % 7) - 3 })
        let pads = ConstTensor.proto(name: "pads", shape: [8], ints: [0, 0, 1, 1, 0, 0, 1, 0])
        let padded = GraphFactory.model([
            GraphFactory.node("Pad", ["x", "pads"], ["xp"], name: "pad"),
            GraphFactory.node("Conv", ["xp", "w"], ["y"], name: "conv", ints: ["pads": [1, 1, 1, 1]]),
        ], initializers: [w, pads])
        let direct = GraphFactory.model([GraphFactory.node("Conv", ["x", "w"], ["y"], name: "conv", ints: ["pads": [2, 2, 2, 1]])], initializers: [w])
        let a = try ONNXImporter.importModel(padded), b = try ONNXImporter.importModel(direct)
        #expect(a.nodes.map(\.op) == b.nodes.map(\.op))
        #expect(try a.validate() == b.validate())
        let maxPool = GraphFactory.model([
            GraphFactory.node("Pad", ["x", "pads"], ["xp"], name: "pad"),
            GraphFactory.node("MaxPool", ["xp"], ["y"], name: "pool", ints: ["kernel_shape": [2, 2]]),
        ], initializers: [pads])
        #expect(importError(maxPool)?.node == "pool")
    }
}
