import Foundation
import MTZTestSupport
import Testing
@testable import MTZCore

/// Two tasks, each a 3×3 convolution (4 outputs over 3 input channels) whose weights and bias are
/// assembled from a block both share (1 row × 2 input channels, and 1 bias) and the task's own
/// blocks, then a global average pool and a softmax.
///
/// Weights: 0 shared.weight, 1 shared.bias; per task (a at 2, b at 8): inter, partial, own, bias,
/// full.weight (assembled), full.bias (assembled).
private func assembledModel() -> Model {
    var weights = [
        WeightTensor(name: "shared.weight", shape: [1, 3, 3, 2], values: seededValues(18, seed: 1)),
        WeightTensor(name: "shared.bias", shape: [1], values: [0.25]),
    ]
    for (t, task) in ["a", "b"].enumerated() {
        let base = weights.count, seed = UInt64(10 * t + 10)
        weights += [
            WeightTensor(name: "\(task).inter", shape: [1, 3, 3, 1], values: seededValues(9, seed: seed)),
            WeightTensor(name: "\(task).partial", shape: [3, 3, 3, 2], values: seededValues(54, seed: seed + 1)),
            WeightTensor(name: "\(task).own", shape: [3, 3, 3, 1], values: seededValues(27, seed: seed + 2)),
            WeightTensor(name: "\(task).bias", shape: [3], values: seededValues(3, seed: seed + 3)),
        ]
        let w = WeightAssembly(rowBands: [1, 3], channelBands: [2, 1], parts: [0, base, base + 1, base + 2])
        let b = WeightAssembly(rowBands: [1, 3], channelBands: [1], parts: [1, base + 3])
        for (name, shape, assembly) in [("\(task).full.weight", [4, 3, 3, 3], w), ("\(task).full.bias", [4], b)] {
            var tensor = WeightTensor(name: name, shape: shape, values: assembly.assemble(elementCount: shape.reduce(1, *)) { weights[$0].values })
            tensor.assembly = assembly
            weights.append(tensor)
        }
    }
    let nodes = [
        Node(name: "input", op: .input, inputs: []),
        Node(name: "conv/a", layer: "conv", op: .conv2d(Conv2D(window: .square(3, padding: 1), outChannels: 4, weight: 6, bias: 7, activation: .relu)),
             inputs: [ValueRef(0)]),
        Node(name: "conv/b", layer: "conv", op: .conv2d(Conv2D(window: .square(3, padding: 1), outChannels: 4, weight: 12, bias: 13, activation: .relu)),
             inputs: [ValueRef(0)]),
        Node(name: "gap/a", layer: "gap", op: .globalAveragePool, inputs: [ValueRef(1)]),
        Node(name: "gap/b", layer: "gap", op: .globalAveragePool, inputs: [ValueRef(2)]),
        Node(name: "softmax/a", layer: "softmax", op: .softmax, inputs: [ValueRef(3)]),
        Node(name: "softmax/b", layer: "softmax", op: .softmax, inputs: [ValueRef(4)]),
    ]
    let tasks = [TaskHead(name: "a", output: 5, labels: ["0", "1", "2", "3"]), TaskHead(name: "b", output: 6, labels: ["0", "1", "2", "3"])]
    return Model(input: InputSpec(width: 4, height: 4, format: .rgb, mean: [0, 0, 0], std: [1, 1, 1]), nodes: nodes, weights: weights, tasks: tasks)
}

@Suite struct WeightAssemblyTests {
    @Test func blocksAreLaidOutRowBandByRowBand() {
        // [R=3][M=2][C=3]: rows [1 | 2], channels [2 | 1].
        let parts: [FloatStorage] = [FloatStorage([1, 2, 3, 4]), FloatStorage([5, 6]), FloatStorage(Array(7...14).map(Float.init)),
                                     FloatStorage([15, 16, 17, 18])]
        let a = WeightAssembly(rowBands: [1, 2], channelBands: [2, 1], parts: [0, 1, 2, 3])
        #expect(a.problem(rows: 3, elementCount: 18) { [4, 2, 8, 4][$0] } == nil)
        #expect(a.assemble(elementCount: 18) { parts[$0] } == [1, 2, 5, 3, 4, 6, 7, 8, 15, 9, 10, 16, 11, 12, 17, 13, 14, 18])
    }

    @Test func validationNamesABrokenAssembly() {
        #expect(throws: Never.self) { try assembledModel().validate() }
        func refusal(_ change: (inout WeightAssembly) -> Void) -> String {
            var m = assembledModel()
            change(&m.weights[6].assembly!)
            do { _ = try m.validate() } catch { return error.message }
            return "(accepted)"
        }
        #expect(refusal { $0.parts[0] = 99 }.contains("names part 99, which is not a plain weight tensor"))
        #expect(refusal { $0.parts[0] = 6 }.contains("names part 6"))                   // itself
        #expect(refusal { $0.parts[0] = 13 }.contains("names part 13"))                 // assembled
        #expect(refusal { $0.rowBands = [2, 3] }.contains("row bands summing to more than 4"))
        #expect(refusal { $0.channelBands = [2, 2] }.contains("channel bands summing to 4"))
        #expect(refusal { $0.parts.swapAt(0, 2) }.contains("cell (0, 0) needs 1×9×2 = 18 elements, part 3 has 54"))
        #expect(refusal { $0.parts.removeLast() }.contains("has 3 parts for 2×2 bands"))
        #expect(refusal { $0.rowBands = [0, 4] }.contains("empty band"))
    }

    @Test func assembledTensorsAreLimitedInTotal() {
        var m = assembledModel()
        let n = 1 << 20, big = m.weights.count
        m.weights.append(WeightTensor(name: "big", shape: [n], values: [Float](repeating: 1, count: n)))
        var copy = WeightTensor(name: "", shape: [n], values: m.weights[big].values)
        copy.assembly = WeightAssembly(rowBands: [n], channelBands: [1], parts: [big])
        for i in 0...(ModelLimits.maxAssembledElements / n) {
            copy.name = "copy\(i)"
            m.weights.append(copy)
        }
        #expect(throws: ModelError.self) { try m.validate() }
    }

    @Test func aFileStoresThePartsOnly() throws {
        let model = assembledModel()
        let bytes = try ModelFile.encode(model)
        #expect(u32(bytes, 8) == 1 | 1 << 16)                                         // version 1.1
        #expect(u32(bytes, section(bytes, "ASMB").entryOffset + 4) == 1)               // required
        var plain = model
        for i in plain.weights.indices { plain.weights[i].assembly = nil }
        let plainBytes = try ModelFile.encode(plain)
        #expect(u32(plainBytes, 8) == 1)                                              // version 1.0
        #expect(entries(plainBytes).allSatisfy { $0.kind != "ASMB" })
        // Smaller by the assembled tensors' floats, less the section that describes them.
        #expect(plainBytes.count - bytes.count >= 4 * (2 * 108 + 2 * 4) - section(bytes, "ASMB").size - 32)
        let read = try ModelFile.decode(bytes)
        #expect(read.weights.map(\.assembly) == model.weights.map(\.assembly))
        #expect(read.weights.map(\.values.array) == model.weights.map(\.values.array))
        #expect(try ModelFile.decode(plainBytes).weights.map(\.values.array) == model.weights.map(\.values.array))

        // A tensor changed after it was assembled is stored as it is.
        var changed = model
        changed.weights[6].values = FloatStorage(changed.weights[6].values.array.map { $0 + 1 })
        let reread = try ModelFile.decode(try ModelFile.encode(changed))
        #expect(reread.weights[6].assembly == nil && reread.weights[12].assembly != nil)
        #expect(reread.weights[6].values.array == changed.weights[6].values.array)
    }

    @Test func brokenAssemblySectionsAreRefused() throws {
        let bytes = try ModelFile.encode(assembledModel())
        let asmb = section(bytes, "ASMB").offset
        // Entry 0 (tensor 6): index, 2 row bands (1, 3), 2 channel bands (2, 1), 4 parts; entry 1 follows.
        let entry0 = asmb + 4, entry1 = entry0 + 44
        func broken(_ change: (inout [UInt8]) -> Void, _ text: String, section expected: String = "ASMB",
                    sourceLocation: SourceLocation = #_sourceLocation) {
            var b = bytes
            change(&b)
            reseal(&b)
            let e = refused(b, sourceLocation: sourceLocation)
            #expect(e?.section == expected, sourceLocation: sourceLocation)
            #expect(e?.description.contains(text) == true, "\(e?.description ?? "accepted")", sourceLocation: sourceLocation)
        }
        broken({ put32(&$0, entry0, 99) }, "names tensor 99, but the directory has 14")
        broken({ put32(&$0, entry0, 0) }, "stored in the data section too")
        broken({ put32(&$0, entry1, 6) }, "has two assemblies")
        broken({ put32(&$0, entry0 + 4, 0) }, "has no row bands")
        broken({ put32(&$0, entry0 + 8, 0) }, "has a row band of 0")
        broken({ put32(&$0, entry0 + 8, 2) }, "row bands summing to more than 4")
        broken({ put32(&$0, entry0 + 28, 99) }, "names part 99")
        broken({ put32(&$0, entry0 + 28, 12) }, "names part 12")                     // an assembled tensor
        broken({ put32(&$0, entry0 + 28, 3) }, "part 3 has 54")
        broken({ put32(&$0, asmb, 1000) }, "exceeds the limit of 14")
        broken({ put32(&$0, asmb, 1) }, "unexpected bytes at the end")
        // Without the section, the tensors it assembles have no values.
        broken({ b in
            let e = section(b, "ASMB").entryOffset
            for (i, c) in "XXXX".utf8.enumerated() { b[e + i] = c }
            put32(&b, e + 4, 0)
        }, "byte size of 0 and no assembly", section: "TDIR")
        // Every truncation is refused.
        for n in stride(from: 0, to: bytes.count, by: 7) { _ = refused(Array(bytes[0..<n])) }
    }

    /// The fuzzer's seed with an `ASMB` section is this fixture's file (so mutations reach the
    /// section). `MTZ_WRITE_FUZZ_SEEDS=1` writes it again after a format change.
    @Test func theFuzzSeedIsThisFixture() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("Fuzz/Corpus/FuzzModelFile/assembled.mtz").path
        let bytes = try ModelFile.encode(assembledModel())
        if ProcessInfo.processInfo.environment["MTZ_WRITE_FUZZ_SEEDS"] == "1" { try AtomicFile.write(bytes, to: path) }
        #expect(FileManager.default.contents(atPath: path).map([UInt8].init) == bytes, "run with MTZ_WRITE_FUZZ_SEEDS=1 to write \(path)")
    }

    @Test func pruningAndCombiningKeepTheParts() throws {
        var onlyB = assembledModel()
        onlyB.tasks.removeFirst()
        let pruned = onlyB.pruned()
        #expect(pruned.weights.map(\.name) == ["shared.weight", "shared.bias", "b.inter", "b.partial", "b.own", "b.bias", "b.full.weight", "b.full.bias"])
        #expect(pruned.weights[6].assembly?.parts == [0, 2, 3, 4] && pruned.weights[7].assembly?.parts == [1, 5])
        #expect(throws: Never.self) { try pruned.validate() }

        var other = assembledModel()
        other = other.renamingTask("a", to: "c").renamingTask("b", to: "d")
        let combined = try Model.combining([assembledModel(), other])
        #expect(combined.weights[14 + 6].assembly?.parts == [14, 16, 17, 18])
        #expect(ModelWriter.assembledTensors(combined).filter { $0 }.count == 8)
    }

    @Test func statisticsCountThePartsSharedOnce() throws {
        let stats = try ModelStatistics(assembledModel())
        #expect(stats.parameters == 18 + 1 + 2 * (9 + 54 + 27 + 3))
        #expect(stats.sharedParameters == 19)
        #expect(stats.separateParameters == 2 * 112)
        let conv = try #require(stats.layers.first { $0.name == "conv" })
        #expect(conv.sharedChannels == ["a": 1, "b": 1] && conv.specificChannels == ["a": 3, "b": 3])
        #expect(try #require(stats.layers.first { $0.name == "gap" }).sharedChannels == ["a": 1, "b": 1])
    }
}
