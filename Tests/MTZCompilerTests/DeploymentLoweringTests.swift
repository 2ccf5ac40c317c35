import MTZCompiler
import MTZCore
import MTZRuntime
import MTZTestSupport
import Testing

/// `ZipState.deployable()`: the model `mtz zip` writes. (That it computes what the state computes is
/// checked beside `lowered()` in `LoweringTests`.)
@Suite struct DeploymentLoweringTests {
    /// Two LeNet-5-like networks with conv1 fully shared, conv2 and fc1 partly shared.
    private func partlyShared() throws -> ZipState {
        var state = try ZipState(models: [Chains.lenet5(task: "a", seed: 71), Chains.lenet5(task: "b", seed: 72)])
        try shareAveraged(&state, layer: 0, neurons: [[0, 1, 2, 3], [2, 0, 3, 1]])
        try shareAveraged(&state, layer: 1, neurons: [[5, 1], [0, 4]])
        try shareAveraged(&state, layer: 2, neurons: [someNeurons(6, of: 10, seed: 1), someNeurons(6, of: 10, seed: 2)])
        return state
    }

    @Test func withoutPartlySharedLayersItIsTheLoweredModel() throws {
        var state = try ZipState(models: [Chains.lenet5(task: "a", seed: 51), Chains.lenet5(task: "b", seed: 52)])
        for l in 0...state.headLayer {
            if l > 0 {
                let n = state.layers[l - 1].outCount
                try shareAveraged(&state, layer: l - 1, neurons: [Array(0..<n), Array((0..<n).reversed())])
            }
            let deployed = try state.deployable(), (lowered, _) = try state.lowered()
            #expect(deployed.nodes == lowered.nodes, "after sharing \(l) layers")
            #expect(deployed.weights.map(\.name) == lowered.weights.map(\.name))
            #expect(deployed.weights.map(\.values.array) == lowered.weights.map(\.values.array))
            #expect(deployed.weights.allSatisfy { $0.assembly == nil })
        }
    }

    @Test func aPartlySharedLayerIsOneNodePerTaskOverAssembledWeights() throws {
        let state = try partlyShared()
        let model = try state.deployable()
        let (split, _) = try state.lowered()
        #expect(model.nodes.filter { $0.layer == "conv1" }.map(\.name) == ["conv1/shared"])
        for layer in ["conv2", "fc1", "fc2"] {
            #expect(model.nodes.filter { $0.layer == layer }.map(\.name) == ["\(layer)/a", "\(layer)/b"])
        }
        // conv2 reads conv1's output, which every task shares: rows [2 shared | 4 own].
        func assembly(_ node: String) throws -> WeightAssembly {
            let weight = try #require(model.nodes.first { $0.name == node }?.op.mainWeight)
            return try #require(model.weights[weight].assembly)
        }
        let conv2 = try assembly("conv2/a")
        #expect(conv2.rowBands == [2, 4] && conv2.channelBands == [4])
        #expect(conv2.parts.map { model.weights[$0].name } == ["conv2.shared.weight", "conv2.a.weight"])
        // fc1 of task a: rows [6 shared | 4 own] × input channels [2 shared | 4 own] at each of 4 pixels.
        let fc1 = try assembly("fc1/a")
        #expect(fc1.rowBands == [6, 4] && fc1.channelBands == [2, 4])
        #expect(fc1.parts.map { model.weights[$0].name } == ["fc1.shared.weight", "fc1.a.inter.weight", "fc1.a.partial.weight", "fc1.a.weight"])
        // The merged block is stored once and read by both tasks' matrices.
        #expect(try assembly("fc1/b").parts.first == fc1.parts.first)

        // Stored, it holds what the split form holds: the same parameters, shared alike.
        let stats = try ModelStatistics(model), splitStats = try ModelStatistics(split)
        #expect(stats.parameters == splitStats.parameters)
        #expect(stats.sharedParameters == splitStats.sharedParameters)
        #expect(stats.separateParameters == splitStats.separateParameters)
        let conv2Stats = try #require(stats.layers.first { $0.name == "conv2" })
        #expect(conv2Stats.sharedChannels == ["a": 2, "b": 2] && conv2Stats.specificChannels == ["a": 4, "b": 4])
        #expect(try #require(stats.layers.first { $0.name == "pool2" }).sharedChannels == ["a": 2, "b": 2])

        // Through a file: the assembled matrices are not stored, and come back whole.
        let bytes = try ModelFile.encode(model)
        var plain = model
        for i in plain.weights.indices { plain.weights[i].assembly = nil }
        let plainBytes = try ModelFile.encode(plain)
        let assembledFloats = model.weights.filter { $0.assembly != nil }.reduce(0) { $0 + $1.elementCount }
        #expect(plainBytes.count - bytes.count >= 4 * assembledFloats - 64 * model.weights.count)
        let read = try ModelFile.decode(bytes)
        #expect(read.weights.map(\.assembly) == model.weights.map(\.assembly))
        #expect(read.weights.map(\.values.array) == model.weights.map(\.values.array))

        // The runtime computes what the state computes.
        let runtime = try InferenceModel(read).makeSession()
        for seed: UInt64 in [3, 4] {
            let input = RandomModels.input(for: read, seed: seed)
            let outputs = try runtime.run(input: input)
            let naive = naiveOutputs(state, input: input)
            expectClose(outputs["a"], naive["a"], "runtime, task a")
            expectClose(outputs["b"], naive["b"], "runtime, task b")
        }

        // Pre-packed (`mtz prepack`), the assembled convolutions are mapped, not packed at load: the
        // reader rebuilds exactly the values they were packed from.
        let variants = try Prepacking.variants(for: model, isas: [.selected])
        let plainFile = try temporaryTestFile("plain.mtz", bytes: bytes, folder: "mtz-deployment")
        let packedFile = try temporaryTestFile("prepacked.mtz", bytes: try ModelFile.encode(model, packedWeights: variants), folder: "mtz-deployment")
        let unpacked = try InferenceModel(contentsOf: plainFile), mapped = try InferenceModel(contentsOf: packedFile)
        #expect(variants.count == 3)
        #expect(mapped.packedWeightBytes == unpacked.packedWeightBytes - 4 * variants.reduce(0) { $0 + $1.values.count })
        let input = RandomModels.input(for: read, seed: 5)
        #expect(try mapped.makeSession().run(input: input) == unpacked.makeSession().run(input: input))
    }
}
