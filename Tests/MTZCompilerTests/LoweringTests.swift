import MTZCompiler
import MTZCore
import MTZTestSupport
import MTZTraining
import Testing

// MARK: - Fixtures

/// Small seeded chain networks in deployment form (activations fused), one task each.
enum Chains {
    static func grayInput(_ size: Int, std: Float = 0.25) -> InputSpec {
        InputSpec(width: size, height: size, format: .gray, mean: [0.5], std: [std])
    }

    /// LeNet-5-like: conv 4@3×3 pad 1 → max-pool → conv `conv2Channels`@3×3 → max-pool → flatten →
    /// fc 10 → head fc `classes`, on a 12×12 gray input.
    static func lenet5(task: String, seed: UInt64, conv2Channels: Int = 6, classes: Int = 3, input: InputSpec = grayInput(12)) -> Model {
        var b = ModelBuilder(input: input, seed: seed)
        var x = ValueRef(b.conv("conv1", ValueRef(0), outChannels: 4, window: .square(3, padding: 1), activation: .relu))
        x = ValueRef(b.maxPool("pool1", x, window: .square(2, stride: 2)))                                 // 6×6×4
        x = ValueRef(b.conv("conv2", x, outChannels: conv2Channels, window: .square(3), activation: .relu)) // 4×4×c
        x = ValueRef(b.averagePool("pool2", x, window: .square(2, stride: 2), countIncludePad: false))      // 2×2×c
        x = ValueRef(b.flatten("flatten", x))
        x = ValueRef(b.fullyConnected("fc1", x, outFeatures: 10, activation: .relu))
        x = ValueRef(b.fullyConnected("fc2", x, outFeatures: classes))
        b.task(task, output: b.softmax("softmax", x), summary: "test task \(task)")
        return b.build(metadata: ["architecture": "lenet5-like", "seed": "\(seed)"])
    }

    /// LeNet-300-like with four dense layers: flatten → fc 12 → fc 10 (tanh) → fc 8 → head fc 4,
    /// on a 5×5 gray input; the first layer has no bias.
    static func lenet300(task: String, seed: UInt64) -> Model {
        var b = ModelBuilder(input: grayInput(5), seed: seed)
        var x = ValueRef(b.flatten("flatten", ValueRef(0)))
        x = ValueRef(b.fullyConnected("fc1", x, outFeatures: 12, bias: false, activation: .relu))
        x = ValueRef(b.fullyConnected("fc2", x, outFeatures: 10, activation: .tanh))
        x = ValueRef(b.fullyConnected("fc3", x, outFeatures: 8, activation: .relu))
        x = ValueRef(b.fullyConnected("fc4", x, outFeatures: 4))
        b.task(task, output: b.softmax("softmax", x))
        return b.build(metadata: ["architecture": "lenet300-like"])
    }

    /// `model` with its task renamed: an identical network for another task.
    static func renamed(_ model: Model, to name: String) -> Model {
        var m = model
        m.tasks[0].name = name
        return m
    }
}

/// A naive per-task evaluation of the state: each task's full matrices, no splitting at all,
/// following the units' links (inputs and residual addends).
func naiveOutputs(_ state: ZipState, input: [Float]) -> [String: [Float]] {
    var result: [String: [Float]] = [:]
    for (t, task) in state.tasks.enumerated() {
        let image = ReferenceTensor(shape: ValueShape(height: state.input.height, width: state.input.width, channels: state.input.channels), values: input)
        var values: [ReferenceTensor] = []
        for (u, unit) in state.units.enumerated() {
            let x = state.links[u].input.map { values[$0] } ?? image
            let addend = state.links[u].addend.map { values[$0] }
            switch unit {
            case .dense(let l):
                let layer = state.layers[l]
                if let conv = layer.conv {
                    let op = Conv2D(window: conv.window, outChannels: layer.outCount, weight: 0, bias: 0, activation: layer.activation)
                    values.append(ReferenceInterpreter.conv2d(x, op, weight: layer.weights[t], bias: layer.biases[t], addend: addend))
                } else {
                    let op = FullyConnected(outFeatures: layer.outCount, weight: 0, bias: 0, activation: layer.activation)
                    values.append(ReferenceInterpreter.fullyConnected(x, op, weight: layer.weights[t], bias: layer.biases[t], addend: addend))
                }
            case .passThrough(let p):
                switch p.op {
                case .maxPool(let pool): values.append(ReferenceInterpreter.maxPool(x, pool))
                case .averagePool(let pool): values.append(ReferenceInterpreter.averagePool(x, pool))
                case .globalAveragePool: values.append(ReferenceInterpreter.globalAveragePool(x))
                case .activation(let a): values.append(ReferenceInterpreter.activation(x, a))
                case .flatten: values.append(ReferenceInterpreter.flatten(x))
                default:
                    Issue.record("unexpected pass-through \(p.op.name)")
                    values.append(x)
                }
            }
        }
        result[task.name] = ReferenceInterpreter.softmax(values.last!).values
    }
    return result
}

/// Shares `neurons` of `layer` in every task with the merged rows taken from task `source`'s own
/// weights (the same neuron indices in every task).
func shareOwn(_ state: inout ZipState, layer: Int, neurons: [Int], source: Int = 0) throws {
    let rows = state.inputColumns(layer: layer, task: source)
    let merged = Matrix(rows: neurons.count, cols: rows.cols, values: neurons.flatMap { rows.row($0) })
    try state.share(layer: layer, neurons: Array(repeating: neurons, count: state.tasks.count), merged: merged)
}

/// Shares neurons `neurons[t]` of each task, merged as the average of the tasks' own rows.
func shareAveraged(_ state: inout ZipState, layer: Int, neurons: [[Int]]) throws {
    let rows = state.tasks.indices.map { state.inputColumns(layer: layer, task: $0) }
    let k = neurons[0].count, n = rows[0].cols
    var merged = Matrix(rows: k, cols: n)
    for i in 0..<k {
        for t in rows.indices {
            for c in 0..<n { merged[i, c] += rows[t][neurons[t][i], c] / Double(rows.count) }
        }
    }
    try state.share(layer: layer, neurons: neurons, merged: merged)
}

/// `count` distinct indices in `0..<range`, shuffled, from `seed`.
func someNeurons(_ count: Int, of range: Int, seed: UInt64) -> [Int] {
    var rng = SeededRandom(seed: seed)
    var all = Array(0..<range)
    for i in stride(from: all.count - 1, to: 0, by: -1) { all.swapAt(i, rng.nextInt(below: i + 1)) }
    return Array(all.prefix(count))
}

func expectClose(_ actual: [Float]?, _ expected: [Float]?, _ what: String, relative: Float = 1e-4,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    guard let actual, let expected else {
        Issue.record("\(what): missing output", sourceLocation: sourceLocation)
        return
    }
    #expect(isClose(actual, expected, relative: relative, absolute: 1e-6), "\(what): \(FloatComparison(actual, expected))",
            sourceLocation: sourceLocation)
}

private func refusal(_ body: () throws -> Void) -> String {
    do {
        try body()
    } catch {
        return String(describing: error)
    }
    return "(no error)"
}

// MARK: - Tests

@Suite struct LoweringTests {
    @Test(arguments: ["lenet5", "lenet300"])
    func unsharedLoweringComputesEachOriginalModel(architecture: String) throws {
        let make: (String, UInt64) -> Model = architecture == "lenet5" ? { Chains.lenet5(task: $0, seed: $1) } : { Chains.lenet300(task: $0, seed: $1) }
        let originals = [make("digits", 11), make("fashion", 12), make("letters", 13)]
        let state = try ZipState(models: originals)
        #expect(state.layers.allSatisfy { $0.sharedCount == 0 })
        let (model, map) = try state.lowered()
        #expect(map.sources.count == model.weights.count)
        #expect(model.tasks.map(\.name) == ["digits", "fashion", "letters"])
        #expect(model.tasks.map(\.summary) == originals.map { $0.tasks[0].summary })
        #expect(model.tasks.map(\.labels) == originals.map { $0.tasks[0].labels })
        let layerNames = Set(originals[0].nodes.map(\.name))
        #expect(model.nodes.allSatisfy { layerNames.contains($0.layer) })
        for seed: UInt64 in [1, 2] {
            let input = RandomModels.input(for: originals[0], seed: seed)
            let outputs = try ReferenceInterpreter.outputs(model, input: input)
            for original in originals {
                let name = original.tasks[0].name
                expectClose(outputs[name], try ReferenceInterpreter.outputs(original, input: input)[name], name, relative: 1e-6)
            }
        }
    }

    @Test func metadataIsMergedPerTaskWhereItDiffers() throws {
        let state = try ZipState(models: [Chains.lenet5(task: "a", seed: 1), Chains.lenet5(task: "b", seed: 2)])
        #expect(state.metadata["architecture"] == "lenet5-like")
        #expect(state.metadata["a.seed"] == "1" && state.metadata["b.seed"] == "2")
        let (model, _) = try state.lowered()
        #expect(model.metadata == state.metadata)
    }

    @Test func missingBiasBecomesZeros() throws {
        let state = try ZipState(models: [Chains.lenet300(task: "a", seed: 1), Chains.lenet300(task: "b", seed: 2)])
        #expect(state.layers[0].biases.allSatisfy { $0 == [Float](repeating: 0, count: 12) })
    }

    /// Two identical networks: sharing any neurons with their own (equal) weights changes nothing.
    @Test(arguments: [
        [2, 3, 4, 0],   // lenet5: conv1 k=2, conv2 k=3, fc1 k=4, head 0
        [4, 6, 10, 0],  // everything but the head fully shared
        [0, 5, 1, 0],
        [4, 0, 7, 0],
    ])
    func sharingIdenticalNetworksKeepsEveryFunction(counts: [Int]) throws {
        let original = Chains.lenet5(task: "a", seed: 21)
        var state = try ZipState(models: [original, Chains.renamed(original, to: "b")])
        for l in 0..<state.headLayer {
            try shareOwn(&state, layer: l, neurons: someNeurons(counts[l], of: state.layers[l].outCount, seed: UInt64(100 + l)))
        }
        #expect(state.layers.map(\.sharedCount) == counts)
        let (model, _) = try state.lowered()
        for seed: UInt64 in [3, 4] {
            let input = RandomModels.input(for: original, seed: seed)
            let expected = try ReferenceInterpreter.outputs(original, input: input)["a"]
            let outputs = try ReferenceInterpreter.outputs(model, input: input)
            expectClose(outputs["a"], expected, "task a, shares \(counts)")
            expectClose(outputs["b"], expected, "task b, shares \(counts)")
        }
    }

    /// Different networks: sharing with task 0's own rows keeps task 0's function (only its neurons
    /// are permuted), and every task equals the naive evaluation of the state.
    @Test(arguments: [
        [5, 4, 3, 0],   // partial sums over a common shared input, then per task
        [5, 10, 3, 0],  // fc2 fully shared but its input is not: fc3 reads per-task shared values only
        [0, 4, 2, 0],   // shared neurons without shared inputs (merged bias only)
        [12, 10, 8, 0], // all hidden layers fully shared
        [12, 2, 0, 0],
    ])
    func sharingDifferentNetworksMatchesNaiveEvaluation(counts: [Int]) throws {
        let originals = [Chains.lenet300(task: "a", seed: 31), Chains.lenet300(task: "b", seed: 32), Chains.lenet300(task: "c", seed: 33)]
        var own = try ZipState(models: originals)
        var averaged = own
        for l in 0..<own.headLayer {
            try shareOwn(&own, layer: l, neurons: someNeurons(counts[l], of: own.layers[l].outCount, seed: UInt64(200 + l)))
            let neurons = (0..<3).map { someNeurons(counts[l], of: averaged.layers[l].outCount, seed: UInt64(300 + 10 * l + $0)) }
            try shareAveraged(&averaged, layer: l, neurons: neurons)
        }
        let (ownModel, _) = try own.lowered()
        let (averagedModel, _) = try averaged.lowered()
        for seed: UInt64 in [5, 6] {
            let input = RandomModels.input(for: originals[0], seed: seed)
            let outputs = try ReferenceInterpreter.outputs(ownModel, input: input)
            expectClose(outputs["a"], try ReferenceInterpreter.outputs(originals[0], input: input)["a"], "task a keeps its function")
            let naiveOwn = naiveOutputs(own, input: input)
            let averagedOutputs = try ReferenceInterpreter.outputs(averagedModel, input: input)
            let naiveAveraged = naiveOutputs(averaged, input: input)
            let deployed = try ReferenceInterpreter.outputs(try averaged.deployable(), input: input)
            for task in ["a", "b", "c"] {
                expectClose(outputs[task], naiveOwn[task], "own merge, task \(task)")
                expectClose(averagedOutputs[task], naiveAveraged[task], "averaged merge, task \(task)")
                expectClose(deployed[task], naiveAveraged[task], "deployable, averaged merge, task \(task)")
            }
        }
    }

    @Test func convolutionalSharingWithPairsMatchesNaiveEvaluation() throws {
        let a = Chains.lenet5(task: "a", seed: 41), b = Chains.lenet5(task: "b", seed: 42)
        var state = try ZipState(models: [a, b])
        let plan: [[NeuronPair]] = [
            [(a: 1, b: 3, cost: 0), (a: 0, b: 0, cost: 0), (a: 3, b: 2, cost: 0)],
            [(a: 5, b: 1, cost: 0), (a: 2, b: 2, cost: 0)],
            [(a: 9, b: 0, cost: 0), (a: 4, b: 7, cost: 0), (a: 0, b: 9, cost: 0), (a: 6, b: 6, cost: 0)],
        ]
        for (l, pairs) in plan.enumerated() {
            let wa = state.inputColumns(layer: l, task: 0), wb = state.inputColumns(layer: l, task: 1)
            var merged = Matrix(rows: pairs.count, cols: wa.cols)
            for (i, p) in pairs.enumerated() {
                for c in 0..<wa.cols { merged[i, c] = 0.25 * wa[p.a, c] + 0.75 * wb[p.b, c] }
            }
            try state.share(layer: l, pairs: pairs, merged: merged)
            #expect(state.inputColumns(layer: l, task: 0).row(0) == state.inputColumns(layer: l, task: 1).row(0))
        }
        let (model, map) = try state.lowered()
        for seed: UInt64 in [7, 8] {
            let input = RandomModels.input(for: a, seed: seed)
            let outputs = try ReferenceInterpreter.outputs(model, input: input)
            let naive = naiveOutputs(state, input: input)
            expectClose(outputs["a"], naive["a"], "task a")
            expectClose(outputs["b"], naive["b"], "task b")
            let deployed = try ReferenceInterpreter.outputs(try state.deployable(), input: input)
            expectClose(deployed["a"], naive["a"], "deployable, task a")
            expectClose(deployed["b"], naive["b"], "deployable, task b")
        }
        // conv1 reads the image; conv2's shared input is conv1's shared block, pooled once.
        #expect(map.sharedInput[0] == [ValueRef(0), ValueRef(0)])
        #expect(map.sharedInput[1][0] == map.sharedInput[1][1])
        #expect(model.nodes[map.sharedInput[1][0]!.node].name == "pool1/shared")
        #expect(map.specificInput[0] == [nil, nil])
        // conv2's shared neurons: one partial sum over the shared input, then per task.
        let conv2 = model.nodes.filter { $0.layer == "conv2" }.map(\.name)
        #expect(conv2 == ["conv2/partial", "conv2/a/shared", "conv2/b/shared", "conv2/a/partial", "conv2/a", "conv2/b/partial", "conv2/b"])
        // The Hessian input of fc1 is the flattened shared block; its width matches inputColumns.
        let shapes = try model.validate()
        let fc1Input = try #require(map.sharedInput[2][0])
        #expect(shapes[fc1Input.node].channels + 1 == state.inputColumns(layer: 2, task: 0).cols)
        // The training engine accepts the lowered model.
        let trainable = try TrainableModel(model)
        #expect(trainable.parameterCount == model.weights.reduce(0) { $0 + $1.elementCount })
    }

    @Test func fullSizeLeNet5MatchesNaiveEvaluation() throws {
        let labels = (0..<10).map(String.init)
        let models = ["digits", "fashion"].enumerated().map { i, task in
            Architecture.lenet5.build(task: task, labels: labels, mean: 0.13, std: 0.31, seed: UInt64(81 + i))
        }
        var state = try ZipState(models: models)
        try shareAveraged(&state, layer: 0, neurons: [Array(0..<20), someNeurons(20, of: 20, seed: 9)])
        try shareAveraged(&state, layer: 1, neurons: [someNeurons(30, of: 50, seed: 10), someNeurons(30, of: 50, seed: 11)])
        try shareAveraged(&state, layer: 2, neurons: [someNeurons(200, of: 500, seed: 12), someNeurons(200, of: 500, seed: 13)])
        let (model, map) = try state.lowered()
        #expect(map.sharedInput[2][0] == map.sharedInput[2][1])
        let input = RandomModels.input(for: models[0], seed: 14)
        let outputs = try ReferenceInterpreter.outputs(model, input: input)
        let naive = naiveOutputs(state, input: input)
        expectClose(outputs["digits"], naive["digits"], "digits")
        expectClose(outputs["fashion"], naive["fashion"], "fashion")
        let deployed = try ReferenceInterpreter.outputs(try state.deployable(), input: input)
        expectClose(deployed["digits"], naive["digits"], "deployable, digits")
        expectClose(deployed["fashion"], naive["fashion"], "deployable, fashion")
    }

    @Test("residual networks: tied layers share the same neurons, the lowering matches a naive evaluation, retraining keeps the invariant",
          arguments: [1.0, 0.5])
    func residualNetworks(fraction: Double) throws {
        let labels = (0..<10).map(String.init)
        let models = ["a", "b"].enumerated().map { i, task in
            Architecture.resnet.build(task: task, labels: labels, mean: 0.5, std: 0.5, seed: UInt64(61 + i))
        }
        var state = try ZipState(models: models)
        let names = state.layers.map(\.name)
        func tied(_ name: String) -> [String] { state.tiedLayers(of: names.firstIndex(of: name)!).map { names[$0] } }
        #expect(tied("stem/conv") == ["stem/conv", "block1.2/conv"])
        #expect(tied("block2.2/conv") == ["block2.2/conv", "block2.shortcut/conv"])
        #expect(tied("block1.1/conv") == ["block1.1/conv"])
        // Unshared, the lowering computes each original network.
        let input = RandomModels.input(for: models[0], seed: 5)
        let (unshared, _) = try state.lowered()
        let lowered = try ReferenceInterpreter.outputs(unshared, input: input)
        for (t, task) in ["a", "b"].enumerated() {
            expectClose(lowered[task], try ReferenceInterpreter.outputs(models[t], input: input)[task], "unshared \(task)")
        }
        let images = try Dataset.load(.mnist, split: .train).subset(0..<64)
        for l in 0..<state.headLayer {
            if state.tiedLayers(of: l).first! < l {
                // Paired already with the earlier tied layer: only merged weights (here the average).
                let k = state.layers[l].sharedCount
                let rows = state.tasks.indices.map { state.inputColumns(layer: l, task: $0) }
                var merged = Matrix(rows: k, cols: rows[0].cols)
                for i in 0..<k { for c in 0..<merged.cols { merged[i, c] = (rows[0][i, c] + rows[1][i, c]) / 2 } }
                try state.merge(layer: l, merged: merged)
            } else {
                let n = state.layers[l].outCount, k = Int((Double(n) * fraction).rounded())
                try shareAveraged(&state, layer: l, neurons: [someNeurons(k, of: n, seed: UInt64(l)), someNeurons(k, of: n, seed: UInt64(100 + l))])
            }
            #expect(state.tiedLayers(of: l).allSatisfy { state.layers[$0].sharedCount == state.layers[l].sharedCount })
            let naive = naiveOutputs(state, input: input)
            // A layer tied to a later one waits for it: the state cannot be lowered meanwhile, but
            // each task's own network (what the Hessians are computed on) still computes its function.
            guard state.pending.isEmpty else {
                #expect(throws: ModelError.self) { try state.lowered() }
                for (t, task) in ["a", "b"].enumerated() {
                    expectClose(try ReferenceInterpreter.outputs(try state.taskNetwork(t).0, input: input)[task], naive[task],
                                "\(task)'s network after \(names[l])")
                }
                continue
            }
            let (model, map) = try state.lowered()
            let outputs = try ReferenceInterpreter.outputs(model, input: input)
            expectClose(outputs["a"], naive["a"], "a after \(names[l])")
            expectClose(outputs["b"], naive["b"], "b after \(names[l])")
            let deployed = try ReferenceInterpreter.outputs(try state.deployable(), input: input)
            expectClose(deployed["a"], naive["a"], "deployable, a after \(names[l])")
            expectClose(deployed["b"], naive["b"], "deployable, b after \(names[l])")
            // A few joint training steps on the lowered model, absorbed back: the invariant holds.
            let trainable = try TrainableModel(model)
            let trainer = try Trainer(model: trainable, options: TrainingOptions(epochs: 1, batchSize: 8, learningRate: 0.05, seed: 1))
            _ = try trainer.runIterations(2, data: ["a": TaskData(images: images), "b": TaskData(images: images)], learningRate: 0.05)
            try state.absorb(trainable.exportModel(), map: map)
            try state.checkConsistency()
        }
        let (model, _) = try state.lowered()
        let stats = try ModelStatistics(model)
        if fraction == 1 {
            // Every hidden layer is one shared trunk, computed once.
            #expect(stats.layers.filter { $0.name != "fc" && $0.name != "softmax" && $0.name != "input" }.allSatisfy { $0.computedOnce })
        }
        #expect(stats.sharedParameters > 0)
    }

    @Test func fullySharedLayerIsComputedOnce() throws {
        var state = try ZipState(models: [Chains.lenet5(task: "a", seed: 51), Chains.lenet5(task: "b", seed: 52)])
        try shareAveraged(&state, layer: 0, neurons: [[0, 1, 2, 3], [2, 0, 3, 1]])
        let (model, map) = try state.lowered()
        #expect(model.nodes.filter { $0.layer == "conv1" }.map(\.name) == ["conv1/shared"])
        #expect(model.nodes.filter { $0.layer == "pool1" }.map(\.name) == ["pool1/shared"])
        #expect(model.nodes.filter { $0.layer == "conv2" }.map(\.name) == ["conv2/a", "conv2/b"])
        let stats = try ModelStatistics(model)
        let conv1 = try #require(stats.layers.first { $0.name == "conv1" })
        #expect(conv1.computedOnce)
        #expect(conv1.sharedParameters == 4 * 9 + 4)
        #expect(try #require(stats.layers.first { $0.name == "pool1" }).computedOnce)
        #expect(try #require(stats.layers.first { $0.name == "conv2" }).computedOnce == false)
        #expect(stats.sharedParameters > 0)
        #expect(stats.savedBytes > 0)
        #expect(stats.flopsTogether < stats.flopsSeparate)
        // The merged tensors are stored once and recorded as such.
        #expect(map.sources.filter(\.isMerged).count == 2)
    }

    @Test func absorbingAnUnchangedModelChangesNothing() throws {
        var state = try ZipState(models: [Chains.lenet5(task: "a", seed: 61), Chains.lenet5(task: "b", seed: 62)])
        try shareAveraged(&state, layer: 0, neurons: [[3, 1], [0, 2]])
        try shareAveraged(&state, layer: 1, neurons: [[4, 0, 5], [1, 2, 3]])
        try shareAveraged(&state, layer: 2, neurons: [[7], [2]])
        let (model, map) = try state.lowered()
        var again = state
        try again.absorb(model, map: map)
        for (l, layer) in again.layers.enumerated() {
            #expect(layer.weights == state.layers[l].weights)
            #expect(layer.biases == state.layers[l].biases)
        }
        let (relowered, _) = try again.lowered()
        #expect(relowered.weights.map(\.values.array) == model.weights.map(\.values.array))
        #expect(relowered.nodes == model.nodes)
    }

    @Test func absorbingAChangedMergedBlockChangesEveryTask() throws {
        var state = try ZipState(models: [Chains.lenet5(task: "a", seed: 71), Chains.lenet5(task: "b", seed: 72)])
        try shareAveraged(&state, layer: 0, neurons: [[3, 1], [0, 2]])
        try shareAveraged(&state, layer: 1, neurons: [[4, 0, 5], [1, 2, 3]])
        var (model, map) = try state.lowered()
        let merged = try #require(map.sources.firstIndex { $0.isMerged && $0.kind == .weight && $0.layer == 1 })
        let specific = try #require(map.sources.firstIndex { !$0.isMerged && $0.kind == .weight && $0.layer == 1 && $0.rows.lowerBound == 3 })
        model.weights[merged] = WeightTensor(name: model.weights[merged].name, shape: model.weights[merged].shape,
                                             values: model.weights[merged].values.array.map { $0 + 0.5 })
        var changed = state
        try changed.absorb(model, map: map)
        try changed.checkConsistency()
        for t in 0..<2 {
            let before = state.inputColumns(layer: 1, task: t), after = changed.inputColumns(layer: 1, task: t)
            for i in 0..<3 {
                for c in 0..<(before.cols - 1) { #expect(after[i, c] == Double(Float(before[i, c]) + 0.5)) }
                #expect(after[i, before.cols - 1] == before[i, before.cols - 1])
            }
            #expect(after.row(3) == before.row(3))
        }
        let (relowered, _) = try changed.lowered()
        #expect(relowered.weights[merged].values.array == model.weights[merged].values.array)
        #expect(relowered.weights[specific].values.array == model.weights[specific].values.array)
    }

    @Test func absorbRefusesAModelThatDoesNotMatchTheMap() throws {
        var state = try ZipState(models: [Chains.lenet300(task: "a", seed: 1), Chains.lenet300(task: "b", seed: 2)])
        let (model, map) = try state.lowered()
        var truncated = model
        truncated.weights.removeLast()
        let message = refusal { try state.absorb(truncated, map: map) }
        #expect(message.contains("weight tensors"), "\(message)")
    }

    // MARK: Refusals

    @Test func refusesDifferentInputSpecs() {
        let message = refusal {
            _ = try ZipState(models: [Chains.lenet5(task: "a", seed: 1), Chains.lenet5(task: "b", seed: 2, input: Chains.grayInput(12, std: 0.3))])
        }
        #expect(message.contains("input spec") && message.contains("std"), "\(message)")
    }

    @Test func refusesDifferentArchitectures() {
        let message = refusal {
            _ = try ZipState(models: [Chains.lenet5(task: "a", seed: 1), Chains.lenet5(task: "b", seed: 2, conv2Channels: 5)])
        }
        #expect(message.contains("different architecture") && message.contains("conv2") && message.contains("4x4x5"), "\(message)")
        let classes = refusal {
            _ = try ZipState(models: [Chains.lenet5(task: "a", seed: 1), Chains.lenet5(task: "b", seed: 2, classes: 4)])
        }
        #expect(classes.contains("4 classes"), "\(classes)")
        let lenets = refusal {
            _ = try ZipState(models: [Chains.lenet5(task: "a", seed: 1), Chains.lenet300(task: "b", seed: 2)])
        }
        #expect(lenets.contains("input spec") || lenets.contains("architecture"), "\(lenets)")
    }

    @Test func refusesGraphsItCannotZip() {
        // An add that is not a residual connection into a layer (both operands the same pooled value).
        var a = ModelBuilder(input: Chains.grayInput(6), seed: 3)
        let conv = a.conv("conv1", ValueRef(0), outChannels: 4, window: .square(3), activation: .relu)
        let pool = a.maxPool("pool", ValueRef(conv), window: .square(2, stride: 2))
        let sum = a.add("sum", ValueRef(pool), ValueRef(pool))
        let flat = a.flatten("flatten", ValueRef(sum))
        a.task("s", output: a.softmax("softmax", ValueRef(a.fullyConnected("fc", ValueRef(flat), outFeatures: 2))))
        let add = refusal { _ = try ZipState(models: [a.build()]) }
        #expect(add.contains("'sum'") && add.contains("zipping takes networks of"), "\(add)")

        var b = ModelBuilder(input: Chains.grayInput(5), seed: 3)
        let c1 = b.conv("conv1", ValueRef(0), outChannels: 4, window: .square(3))
        let sliced = b.conv("conv2", ValueRef(c1, channelCount: 2), outChannels: 3, window: .square(3))
        let fc = b.fullyConnected("fc", ValueRef(sliced), addend: nil, outFeatures: 2)
        b.task("s", output: b.softmax("softmax", ValueRef(fc)))
        let slice = refusal { _ = try ZipState(models: [b.build()]) }
        #expect(slice.contains("channel slice") && slice.contains("zipping takes networks of"), "\(slice)")
    }

    @Test func refusesDuplicateTaskNamesAndMultiTaskModels() {
        let duplicate = refusal { _ = try ZipState(models: [Chains.lenet300(task: "a", seed: 1), Chains.lenet300(task: "a", seed: 2)]) }
        #expect(duplicate.contains("'a'") && duplicate.contains("unique"), "\(duplicate)")
        let multi = refusal { _ = try ZipState(models: [RandomModels.everyOp(seed: 1)]) }
        #expect(multi.contains("2 tasks"), "\(multi)")
        let none = refusal { _ = try ZipState(models: []) }
        #expect(none.contains("no models"), "\(none)")
    }

    @Test func refusesSharingTheHeadOrOutOfOrder() throws {
        var state = try ZipState(models: [Chains.lenet300(task: "a", seed: 1), Chains.lenet300(task: "b", seed: 2)])
        let head = refusal { try shareOwn(&state, layer: state.headLayer, neurons: [0]) }
        #expect(head.contains("head"), "\(head)")
        try shareOwn(&state, layer: 1, neurons: [0, 1])
        let order = refusal { try shareOwn(&state, layer: 0, neurons: [0]) }
        #expect(order.contains("fc2") && order.contains("before"), "\(order)")
        let sizes = refusal { try state.share(layer: 2, neurons: [[0], [1]], merged: Matrix(rows: 1, cols: 2)) }
        #expect(sizes.contains("expected 1×"), "\(sizes)")
    }

    @Test func loweringRefusesABrokenInvariant() throws {
        var state = try ZipState(models: [Chains.lenet300(task: "a", seed: 1), Chains.lenet300(task: "b", seed: 2)])
        try shareAveraged(&state, layer: 0, neurons: [[0, 1], [1, 0]])
        state.layers[0].biases[1][0] += 1
        let message = refusal { _ = try state.lowered() }
        #expect(message.contains("fc1") && message.contains("identical"), "\(message)")
    }
}
