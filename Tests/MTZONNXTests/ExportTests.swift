import Foundation
import MTZCore
@testable import MTZONNX
import MTZRuntime
import MTZTestSupport
import Testing

/// Export → import round trips: the exported graph, read back by the importer, computes what the
/// original model computes (onnxruntime itself is checked by `scripts/onnx-export-check.sh`).
@Suite("ONNX export")
struct ExportTests {
    /// Every op, channel slices, addends, flatten of a spatial value, shared weights.
    static let models: [(String, Model)] = [
        ("everyOp", RandomModels.everyOp(seed: 7)),
        ("zippedTwoTask", RandomModels.zippedTwoTask(seed: 3)),
        ("demo", DemoModel.make()),
        ("assembled", RandomModels.assembledTwoTask(seed: 5)),
    ]

    @Test("export then import computes the same outputs", arguments: 0..<4)
    func roundTrip(index: Int) throws {
        let (name, model) = Self.models[index]
        let data = try ONNXExporter.export(model)
        let back = try ONNXImporter.importModel(data)
        #expect(back.tasks.map(\.name) == model.tasks.map(\.name), "\(name)")
        #expect(back.tasks.map(\.labels) == model.tasks.map(\.labels))
        #expect(back.input == model.input)
        let shapes = try model.validate()
        var rng = SeededRandom(seed: 11)
        let nhwc = rng.floats(count: shapes[0].elementCount, in: -1...1)
        let want = try InferenceModel(model).makeSession().run(input: nhwc)
        let got = try InferenceModel(back).makeSession().run(input: nhwc)
        for task in model.tasks {
            let a = try #require(got[task.name]), b = try #require(want[task.name])
            #expect(isClose(a, b, relative: 1e-4, absolute: 1e-6), "\(name)/\(task.name): \(FloatComparison(a, b))")
        }
    }

    @Test("shared weights are stored once, outputs are named after tasks")
    func sharedWeightsOnce() throws {
        let model = RandomModels.zippedTwoTask(seed: 3)
        let proto = try Onnx_ModelProto(serializedBytes: try ONNXExporter.export(model))
        let floatInitializers = proto.graph.initializer.filter { $0.dataType == 1 && !$0.name.hasPrefix("const.") }
        #expect(floatInitializers.count == model.weights.count)
        let stored = floatInitializers.reduce(0) { $0 + $1.rawData.count / 4 }
        #expect(stored == model.weights.reduce(0) { $0 + $1.elementCount })
        #expect(proto.graph.output.map(\.name) == model.tasks.map(\.name))
        #expect(proto.opsetImport.first?.version == Int64(ONNXExporter.opsetVersion))
    }

    @Test("an assembled weight is Concat nodes over its blocks, each stored once")
    func assembledWeights() throws {
        let model = RandomModels.assembledTwoTask(seed: 5)
        let proto = try Onnx_ModelProto(serializedBytes: try ONNXExporter.export(model))
        let stored = proto.graph.initializer.filter { $0.dataType == 1 && !$0.name.hasPrefix("const.") }.reduce(0) { $0 + $1.rawData.count / 4 }
        #expect(stored == model.weights.filter { $0.assembly == nil }.reduce(0) { $0 + $1.elementCount })
        // Per task: conv weight (2 row bands + the rows), conv bias, fc weight (2 + 1), fc bias.
        #expect(proto.graph.node.filter { $0.opType == "Concat" }.count == 2 * (3 + 1 + 3 + 1))
    }

    @Test("a weight read by two nodes stays one tensor through export and import")
    func sharedAcrossNodes() throws {
        var model = RandomModels.zippedTwoTask(seed: 3)
        let a = try #require(model.nodes.firstIndex { $0.name == "conv4/a" })
        let b = try #require(model.nodes.firstIndex { $0.name == "conv4/b" })
        guard case .conv2d(let ca) = model.nodes[a].op, case .conv2d(var cb) = model.nodes[b].op else { Issue.record("not convs"); return }
        cb.weight = ca.weight
        model.nodes[b].op = .conv2d(cb)
        model = model.pruned()
        let back = try ONNXImporter.importModel(try ONNXExporter.export(model))
        #expect(back.weights.count == model.weights.count)
        #expect(back.weights.reduce(0) { $0 + $1.elementCount } == model.weights.reduce(0) { $0 + $1.elementCount })
    }

    @Test("an invalid model is refused with a typed error")
    func invalidModel() throws {
        var model = RandomModels.zippedTwoTask(seed: 3)
        model.tasks[0].output = 999
        #expect(throws: ONNXError.self) { try ONNXExporter.export(model) }
    }
}
