@testable import MTZCompiler
import MTZCore
import MTZImage
import MTZRuntime
import MTZTestSupport
@testable import MTZTraining
import Testing

/// Task batch norms: a task's own neurons keep a batch norm while retraining (lowered with
/// `normalizing: true`), folded back into the state afterwards.
@Suite struct TaskBatchNormTests {
    static let labels = (0..<10).map(String.init)

    static func resnets() -> [Model] {
        ["a", "b"].enumerated().map { i, task in
            Architecture.resnet.build(task: task, labels: labels, mean: 0.5, std: 0.5, seed: UInt64(61 + i))
        }
    }

    /// Seeded normalisation values for every hidden layer: means in [-1, 1], deviations in [0.5, 2].
    static func normalized(_ state: ZipState, seed: UInt64) -> ZipState {
        var s = state
        var rng = SeededRandom(seed: seed)
        for l in 0..<s.headLayer {
            s.layers[l].normalization = s.tasks.indices.map { _ in
                let n = s.layers[l].outCount
                return ZipState.Normalization(mean: (0..<n).map { _ in rng.nextFloat(in: -1...1) },
                                              std: (0..<n).map { _ in rng.nextFloat(in: 0.5...2) })
            }
        }
        return s
    }

    /// Shares neurons `neurons[t]` of the stem (and of block1.2, tied to it), merged as averages.
    static func shareStem(_ state: inout ZipState, neurons: [[Int]]) throws {
        for name in ["stem/conv", "block1.2/conv"] {
            let l = state.layers.firstIndex { $0.name == name }!
            let rows = state.tasks.indices.map { state.inputColumns(layer: l, task: $0) }
            let k = neurons[0].count
            var merged = Matrix(rows: k, cols: rows[0].cols)
            for i in 0..<k {
                // block1.2's rows are aligned already (row i is shared neuron i in both tasks).
                let (a, b) = name == "stem/conv" ? (neurons[0][i], neurons[1][i]) : (i, i)
                for c in 0..<merged.cols { merged[i, c] = (rows[0][a, c] + rows[1][b, c]) / 2 }
            }
            if name == "stem/conv" {
                try state.share(layer: l, neurons: neurons, merged: merged)
            } else {
                try state.merge(layer: l, merged: merged)
            }
        }
    }

    static let epsilon: Float = 1e-5
    typealias Trained = (gamma: [Float], beta: [Float], mean: [Float], variance: [Float])

    /// Gives every retraining batch norm of `model` seeded trained values (negative scales too: a
    /// fold must not flip a neuron), set in `model` as the batch norm computes in inference mode.
    static func train(_ model: inout Model, map: LoweringMap, seed: UInt64) -> [Trained] {
        var rng = SeededRandom(seed: seed)
        return map.normalizations.map { rows in
            let n = rows.rows.count
            let gamma = (0..<n).map { _ in rng.nextFloat(in: -1.5...1.5) }
            let beta = (0..<n).map { _ in rng.nextFloat(in: -0.5...0.5) }
            let mean = (0..<n).map { _ in rng.nextFloat(in: -0.2...0.2) }
            let variance = (0..<n).map { _ in rng.nextFloat(in: 0.2...1.2) }
            // In the model's own (inference) semantics a batch norm is a per-channel scale and shift.
            let scale = (0..<n).map { gamma[$0] / (variance[$0] + epsilon).squareRoot() }
            model.weights[rows.gamma] = WeightTensor(name: "g", shape: [n], values: scale)
            model.weights[rows.beta] = WeightTensor(name: "b", shape: [n], values: (0..<n).map { beta[$0] - mean[$0] * scale[$0] })
            return (gamma, beta, mean, variance)
        }
    }

    /// Folds `trained` into `state` and expects its deployable model to compute what `model` (with
    /// the batch norms) computes on a seeded input.
    static func expectFoldMatches(_ state: inout ZipState, model: Model, map: LoweringMap, trained: [Trained], seed: UInt64) throws {
        for (rows, t) in zip(map.normalizations, trained) {
            try state.foldNormalization(rows, gamma: t.gamma, beta: t.beta, mean: t.mean, variance: t.variance, epsilon: epsilon)
        }
        let input = RandomModels.input(for: model, seed: seed)
        let withBatchNorms = try ReferenceInterpreter.outputs(model, input: input)
        let folded = try ReferenceInterpreter.outputs(state.lowered().0, input: input)
        for task in ["a", "b"] {
            #expect(isClose(folded[task]!, withBatchNorms[task]!, relative: 1e-4, absolute: 1e-6), "\(task): \(FloatComparison(folded[task]!, withBatchNorms[task]!))")
        }
    }

    @Test("the retraining lowering puts a batch norm after every task's own normalised rows, and nowhere else")
    func normalizingLowering() throws {
        let plain = try ZipState(models: Self.resnets())
        // Without normalisation the retraining lowering is the deployable one.
        let (same, sameMap) = try plain.lowered(normalizing: true)
        #expect(same.nodes.map(\.name) == (try plain.lowered().0.nodes.map(\.name)) && sameMap.normalizations.isEmpty)
        var state = Self.normalized(plain, seed: 3)
        let before = state.layers[0].normalization
        let neurons = [[5, 1, 9, 14], [0, 2, 4, 6]]
        try Self.shareStem(&state, neurons: neurons)
        try state.checkConsistency()
        // The normalisation of the stem's rows moved with its neurons (chosen ones first, then the rest in order).
        for t in 0..<2 {
            let chosen = Set(neurons[t])
            let order = neurons[t] + (0..<16).filter { !chosen.contains($0) }
            #expect(state.layers[0].normalization[t].mean == order.map { before[t].mean[$0] })
            #expect(state.layers[0].normalization[t].std == order.map { before[t].std[$0] })
        }
        let (model, map) = try state.lowered(normalizing: true)
        let expected = state.layers.indices.filter { !state.layers[$0].normalization.isEmpty && state.layers[$0].sharedCount < state.layers[$0].outCount }
        #expect(map.normalizations.count == 2 * expected.count)
        for rows in map.normalizations {
            let layer = state.layers[rows.layer]
            #expect(rows.rows == layer.sharedCount..<layer.outCount)
            guard case .batchNorm(let g, let b) = model.nodes[rows.node].op, g == rows.gamma, b == rows.beta else {
                Issue.record("node \(rows.node) is not the batch norm of \(layer.name)")
                continue
            }
            #expect(model.weights[g].values.array == Array(layer.normalization[rows.tasks[0]].std[rows.rows]))
            #expect(model.weights[b].values.array == Array(layer.normalization[rows.tasks[0]].mean[rows.rows]))
            #expect(map.sources[g].kind == .normalization && map.sources[b].kind == .normalization)
        }
        #expect(model.nodes.filter { if case .batchNorm = $0.op { true } else { false } }.count == map.normalizations.count)
    }

    @Test("folding trained batch norms computes what the batch norms computed in inference mode, and keeps what they learned")
    func foldingMatchesInferenceBatchNorm() throws {
        var state = Self.normalized(try ZipState(models: Self.resnets()), seed: 4)
        try Self.shareStem(&state, neurons: [[3, 7], [12, 0]])
        var (model, map) = try state.lowered(normalizing: true)
        let trained = Self.train(&model, map: map, seed: 9)
        try Self.expectFoldMatches(&state, model: model, map: map, trained: trained, seed: 5)
        for (rows, t) in zip(map.normalizations, trained) {
            let n = state.layers[rows.layer].normalization[rows.tasks[0]]
            #expect(Array(n.mean[rows.rows]) == t.beta)
            #expect(Array(n.std[rows.rows]) == t.gamma.map(abs))
        }
        // Rows that do not fit are refused and change nothing.
        let copy = state
        var wrong = map.normalizations[0]
        wrong.rows = 0..<wrong.rows.upperBound
        #expect(throws: ModelError.self) {
            try state.foldNormalization(wrong, gamma: [1], beta: [0], mean: [0], variance: [1], epsilon: Self.epsilon)
        }
        #expect(state.layers.map(\.weights) == copy.layers.map(\.weights))
    }

    @Test("a normalisation without one mean and deviation per neuron of every task is inconsistent")
    func inconsistentNormalizationIsRefused() throws {
        var state = Self.normalized(try ZipState(models: Self.resnets()), seed: 5)
        state.layers[2].normalization[1].std.removeLast()
        #expect(throws: ModelError.self) { try state.checkConsistency() }
        state.layers[2].normalization.removeLast()
        #expect(throws: ModelError.self) { try state.checkConsistency() }
    }

    @Test("the targets are the statistics of each hidden layer's output before its activation and residual add: a batch norm's output before folding")
    func targetsAreOutputStatistics() throws {
        // Trained networks keep their batch norms as nodes until export; the zip reads the folded form.
        let model = Self.resnets()[0]
        let images = try Dataset.load(.mnist, split: .train).subset(0..<6)
        let state = try ZipState(models: [model, { var m = model; m.tasks[0].name = "b"; return m }()])
        let (network, map) = try state.taskNetwork(0)
        let targets = try BatchNormTargets.measure(network, map: map, excluded: [state.headLayer], images: images, count: 5)
        #expect(Set(targets.keys) == Set(0..<state.headLayer))
        let shapes = try model.validate()
        let preprocessor = Preprocessor(spec: model.input)
        let batchNorms = model.nodes.indices.filter { if case .batchNorm = model.nodes[$0].op { true } else { false } }
        #expect(batchNorms.count == state.headLayer)
        var sums: [Int: [Double]] = [:], squares: [Int: [Double]] = [:]
        for i in 0..<5 {
            var input = [Float](repeating: 0, count: 28 * 28)
            input.withUnsafeMutableBufferPointer { preprocessor.run(images.grayImage(at: i), into: $0) }
            let values = try ReferenceInterpreter.runTensors(model, input: input)
            for node in batchNorms {
                let c = shapes[node].channels
                for (j, v) in values[node].values.enumerated() {
                    sums[node, default: [Double](repeating: 0, count: c)][j % c] += Double(v)
                    squares[node, default: [Double](repeating: 0, count: c)][j % c] += Double(v) * Double(v)
                }
            }
        }
        for node in batchNorms {
            let layerName = model.nodes[model.nodes[node].inputs[0].node].name
            let target = try #require(state.layers.firstIndex { $0.name == layerName }.flatMap { targets[$0] })
            let n = Double(5 * shapes[node].pixels)
            let mean = sums[node]!.map { Float($0 / n) }
            let std = zip(squares[node]!, sums[node]!).map { Float(($0 / n - ($1 / n) * ($1 / n)).squareRoot()) }
            #expect(isClose(target.mean, mean, relative: 1e-3, absolute: 1e-4), "\(layerName) mean: \(FloatComparison(target.mean, mean))")
            #expect(isClose(target.std, std, relative: 1e-3, absolute: 1e-4), "\(layerName) std: \(FloatComparison(target.std, std))")
        }
    }

    @Test("after a merge, calibrating and folding the task batch norms brings the layers above it back to the original statistics")
    func renormalizingRestoresTheOriginalStatistics() throws {
        let images = try Dataset.load(.mnist, split: .train).subset(0..<64)
        var state = try ZipState(models: Self.resnets())
        func statistics(_ state: ZipState, task t: Int) throws -> [Int: ZipState.Normalization] {
            let (network, map) = try state.taskNetwork(t)
            return try BatchNormTargets.measure(network, map: map, excluded: [state.headLayer], images: images, count: 64)
        }
        let targets = try [0, 1].map { try statistics(state, task: $0) }
        for l in 0..<state.headLayer { state.layers[l].normalization = [targets[0][l]!, targets[1][l]!] }
        try Self.shareStem(&state, neurons: [Array(0..<16), Array(0..<16)])
        /// Largest distance of a channel's mean and deviation from the target's, in target deviations.
        func drift(_ state: ZipState, layer l: Int) throws -> Float {
            (0..<2).map { t -> Float in
                let now = try! statistics(state, task: t)[l]!, target = targets[t][l]!
                return (0..<now.mean.count).map { c in
                    max(abs(now.mean[c] - target.mean[c]), abs(now.std[c] - target.std[c])) / max(target.std[c], 1e-3)
                }.max()!
            }.max()!
        }
        let block21 = state.layers.firstIndex { $0.name == "block2.1/conv" }!
        let merged = try drift(state, layer: block21)
        // What Zipper does before validating a merge: batch norms on the task-specific rows,
        // statistics calibrated on each task's images, folded back.
        let (model, map) = try state.lowered(normalizing: true)
        let trainable = try TrainableModel(model)
        let trainer = try Trainer(model: trainable, options: TrainingOptions(batchSize: 16, seed: 1))
        try trainer.calibrateBatchNorms(["a": TaskData(images: images), "b": TaskData(images: images)], batches: 50)
        for rows in map.normalizations {
            let s = try #require(trainable.batchNormStatistics(node: rows.node))
            try state.foldNormalization(rows, gamma: trainable.values[rows.gamma], beta: trainable.values[rows.beta],
                                        mean: s.mean, variance: s.variance, epsilon: trainable.batchNormEpsilon)
        }
        let renormalized = try drift(state, layer: block21)
        #expect(merged > 0.3, "merging the stem moved block2.1's statistics (\(merged))")
        #expect(renormalized < 0.1, "renormalising brought them back (\(renormalized) of a deviation)")
    }

    /// Shares every hidden layer fully, neuron i of one task with neuron i of the other, merged as averages.
    static func shareAll(_ state: inout ZipState) throws {
        for l in 0..<state.headLayer {
            let n = state.layers[l].outCount
            let rows = state.tasks.indices.map { state.inputColumns(layer: l, task: $0) }
            var merged = Matrix(rows: n, cols: rows[0].cols)
            for i in 0..<n {
                for c in 0..<merged.cols { merged[i, c] = (rows[0][i, c] + rows[1][i, c]) / 2 }
            }
            if state.tiedLayers(of: l).first! < l {
                try state.merge(layer: l, merged: merged)
            } else {
                try state.share(layer: l, neurons: [Array(0..<n), Array(0..<n)], merged: merged)
            }
        }
    }

    @Test("pooled normalisations are the statistics of the tasks' images mixed in equal numbers")
    func pooledNormalization() {
        var layer = ZipState.Layer(name: "l", conv: nil, outCount: 2, sharedCount: 2, weights: [], biases: [], activation: .relu)
        layer.normalization = [ZipState.Normalization(mean: [1, 0], std: [1, 2]), ZipState.Normalization(mean: [3, 0], std: [1, 0])]
        let pooled = layer.pooledNormalization(rows: 0..<2)
        // Row 0: mean 2, variance (1 + 1 + 1 + 9) / 2 - 4 = 2. Row 1: mean 0, variance (4 + 0) / 2.
        #expect(pooled.mean == [2, 0])
        #expect(isClose(pooled.std, [Float(2).squareRoot(), Float(2).squareRoot()], relative: 1e-6, absolute: 0))
        #expect(layer.pooledNormalization(rows: 1..<2).mean == [0])
    }

    @Test("a fully shared trunk lowered with shared batch norms: one per normalised layer, for every task, at the pooled statistics; folding it computes what it computed")
    func sharedBatchNorms() throws {
        var state = Self.normalized(try ZipState(models: Self.resnets()), seed: 6)
        try Self.shareAll(&state)
        try state.checkConsistency()
        // Task batch norms alone: nothing is task-specific any more.
        #expect(try state.lowered(normalizing: true).1.normalizations.isEmpty)
        #expect(try state.lowered(sharedBatchNorms: true).1.normalizations.isEmpty, "only with normalizing")
        var (model, map) = try state.lowered(normalizing: true, sharedBatchNorms: true)
        #expect(map.normalizations.map(\.layer) == Array(0..<state.headLayer))
        for rows in map.normalizations {
            let layer = state.layers[rows.layer]
            #expect(rows.tasks == [0, 1] && rows.rows == 0..<layer.outCount)
            let pooled = layer.pooledNormalization(rows: rows.rows)
            #expect(model.weights[rows.gamma].values.array == pooled.std && model.weights[rows.beta].values.array == pooled.mean)
            #expect(model.nodes[rows.node].name == "\(layer.name)/shared/bn")
        }
        // The trunk is still one computation for both tasks.
        #expect(model.nodes.filter { $0.name.contains("/a/") || $0.name.contains("/b/") }.isEmpty)

        let trained = Self.train(&model, map: map, seed: 10)
        // One task's fold of shared rows is refused.
        var alone = map.normalizations[0]
        alone.tasks = [0]
        #expect(throws: ModelError.self) {
            try state.foldNormalization(alone, gamma: trained[0].gamma, beta: trained[0].beta, mean: trained[0].mean,
                                        variance: trained[0].variance, epsilon: Self.epsilon)
        }
        try Self.expectFoldMatches(&state, model: model, map: map, trained: trained, seed: 11)
        try state.checkConsistency()
        for (rows, t) in zip(map.normalizations, trained) {
            for task in 0..<2 {
                #expect(state.layers[rows.layer].normalization[task].mean == t.beta)
                #expect(state.layers[rows.layer].normalization[task].std == t.gamma.map(abs))
            }
        }
    }

    @Test("a partly shared trunk lowered with shared batch norms: shared rows that differ by task get one batch norm with an input per task; folding computes what each task computed")
    func partlySharedBatchNorms() throws {
        var state = Self.normalized(try ZipState(models: Self.resnets()), seed: 7)
        try Self.shareStem(&state, neurons: [[0, 2, 4, 6], [7, 5, 3, 1]])
        try state.checkConsistency()
        var (model, map) = try state.lowered(normalizing: true, sharedBatchNorms: true)
        let shared = map.normalizations.filter { $0.tasks == [0, 1] }
        // The stem's shared rows read the image: one node for both tasks, one input. block1.2's
        // shared rows also read each task's own block1.1 (inter weights): one input per task.
        #expect(shared.map { state.layers[$0.layer].name } == ["stem/conv", "block1.2/conv"])
        #expect(shared.map { model.nodes[$0.node].inputs.count } == [1, 2])
        #expect(shared.allSatisfy { $0.rows == 0..<4 && model.nodes[$0.node].name == "\(state.layers[$0.layer].name)/shared/bn" })
        let pooled = state.layers[shared[1].layer].pooledNormalization(rows: 0..<4)
        #expect(model.weights[shared[1].gamma].values.array == pooled.std && model.weights[shared[1].beta].values.array == pooled.mean)
        // Every task's own rows of every normalised layer keep their task batch norm.
        for l in 0..<state.headLayer {
            let own = map.normalizations.filter { $0.layer == l && $0.tasks.count == 1 }
            #expect(own.map(\.tasks) == [[0], [1]] && own.allSatisfy { $0.rows == state.layers[l].sharedCount..<state.layers[l].outCount })
        }
        #expect(throws: RuntimeError.self, "a batch norm with an input per task exists only while training") { try InferenceModel(model) }

        // Folded, each task computes what it computed through its own input of the shared batch norm.
        let trained = Self.train(&model, map: map, seed: 12)
        for (rows, t) in zip(map.normalizations, trained) {
            try state.foldNormalization(rows, gamma: t.gamma, beta: t.beta, mean: t.mean, variance: t.variance, epsilon: Self.epsilon)
        }
        try state.checkConsistency()
        let input = RandomModels.input(for: model, seed: 13)
        let folded = try ReferenceInterpreter.outputs(state.lowered().0, input: input)
        for (t, task) in ["a", "b"].enumerated() {
            var alone = model
            for rows in shared { alone.nodes[rows.node].inputs = [model.nodes[rows.node].inputs[model.nodes[rows.node].inputs.count > 1 ? t : 0]] }
            let expected = try ReferenceInterpreter.outputs(alone, input: input)[task]!
            let same = isClose(folded[task]!, expected, relative: 1e-4, absolute: 1e-6)
            #expect(same, "\(task): \(FloatComparison(folded[task]!, expected))")
        }
    }

    /// Seeded 28 × 28 images with labels, per task.
    static func randomData(seed: UInt64) -> [String: TaskData] {
        var rng = SeededRandom(seed: seed)
        return Dictionary(uniqueKeysWithValues: ["a", "b"].map { task in
            let count = 24
            let pixels = (0..<(count * 784)).map { _ in UInt8(rng.nextInt(below: 256)) }
            return (task, TaskData(images: LabeledImages(rows: 28, cols: 28, pixels: pixels, labels: (0..<count).map { _ in UInt8(rng.nextInt(below: 10)) })))
        })
    }

    /// Retrains `form` (a retraining lowering of `state`; `joint` when it has shared batch norms) as
    /// the zipper does — calibrate, shared batch norms to the identity, a few iterations — and folds
    /// the result into `state`.
    static func retrain(_ state: ZipState, form: (Model, LoweringMap), joint: Bool, data: [String: TaskData]) throws -> (ZipState, [[String: Double]]) {
        let (model, map) = form
        let trainable = try TrainableModel(model)
        let trainer = try Trainer(model: trainable, options: TrainingOptions(epochs: 1, batchSize: 6, learningRate: 0.05, seed: 4,
                                                                             jointBatches: joint))
        try trainer.calibrateBatchNorms(data, batches: 3)
        for rows in map.normalizations where rows.tasks.count > 1 { trainable.startAtIdentity(batchNorm: rows.node) }
        let losses = try (0..<4).map { _ in try trainer.runIterations(1, data: data, learningRate: 0.05) }
        var trained = model
        trained.weights = zip(model.weights, trainable.values).map { WeightTensor(name: $0.name, shape: $0.shape, values: $1) }
        var result = state
        try result.absorb(trained, map: map)
        for rows in map.normalizations {
            let statistics = trainable.batchNormStatistics(node: rows.node)!
            try result.foldNormalization(rows, gamma: trainable.values[rows.gamma], beta: trainable.values[rows.beta], mean: statistics.mean,
                                         variance: statistics.variance, epsilon: trainable.batchNormEpsilon)
        }
        try result.checkConsistency()
        return (result, losses)
    }

    @Test("retraining the assembled form (one convolution per task and layer) trains what the split form trains, with the same batch norms",
          arguments: [true, false])
    func assembledFormRetrainsLikeTheSplitForm(sharedBatchNorms: Bool) throws {
        var state = Self.normalized(try ZipState(models: Self.resnets()), seed: 7)
        try Self.shareStem(&state, neurons: [[0, 2, 4, 6], [7, 5, 3, 1]])
        #expect(state.splitsLayers)
        let split = try state.lowered(normalizing: true, sharedBatchNorms: sharedBatchNorms)
        let assembled = try state.deployable(normalizing: true, sharedBatchNorms: sharedBatchNorms)
        func convolutions(_ model: Model, _ layer: String) -> Int {
            model.nodes.filter { if case .conv2d = $0.op { $0.layer == layer } else { false } }.count
        }
        // The stem's shared rows are one block, its own rows another, per task; block1.1 reads both.
        #expect(convolutions(split.0, "stem/conv") == 3 && convolutions(split.0, "block1.1/conv") == 4)
        #expect(convolutions(assembled.0, "stem/conv") == 2 && convolutions(assembled.0, "block1.1/conv") == 2)
        // The same batch norms over the same rows, started at the same values.
        func normalizations(_ form: (Model, LoweringMap)) -> [String] {
            form.1.normalizations.map { "\($0.layer) \($0.tasks) \($0.rows) \(form.0.weights[$0.gamma].values.array) \(form.0.weights[$0.beta].values.array)" }.sorted()
        }
        #expect(normalizations(split) == normalizations(assembled))

        // A task's own nodes are on its path only: in a joint batch they compute, and its batch
        // norms count, only its images (a batch norm shared by the tasks reads each task's input).
        for form in [split.0, assembled.0] {
            for (t, task) in ["a", "b"].enumerated() {
                let logits = form.nodes[form.tasks[t].output].inputs[0].node
                let path = Trainer.path(of: t, from: logits, in: form).map { form.nodes[$0].name.split(separator: "/") }
                #expect(!path.contains { $0.contains(Substring(["a", "b"][1 - t])) }, "\(task)'s path")
            }
        }

        let data = Self.randomData(seed: 21)
        let (a, lossesA) = try Self.retrain(state, form: split, joint: sharedBatchNorms, data: data)
        let (b, lossesB) = try Self.retrain(state, form: assembled, joint: sharedBatchNorms, data: data)
        for (x, y) in zip(lossesA, lossesB) {
            for task in ["a", "b"] { #expect(abs(x[task]! - y[task]!) <= 1e-4 * (1 + abs(x[task]!)), "loss \(task): \(x[task]!) vs \(y[task]!)") }
        }
        var moved = false
        for l in state.layers.indices {
            for t in 0..<2 {
                let (wa, wb) = (a.layers[l].weights[t], b.layers[l].weights[t])
                #expect(isClose(wb, wa, relative: 1e-3, absolute: 1e-5), "\(state.layers[l].name) task \(t): \(FloatComparison(wb, wa))")
                #expect(isClose(b.layers[l].biases[t], a.layers[l].biases[t], relative: 1e-3, absolute: 1e-5))
                moved = moved || wa != state.layers[l].weights[t]
            }
        }
        #expect(moved, "retraining changed the weights")
    }

    @Test("the shared trunk of freshly built networks with batch norms keeps each hidden layer's batch norm once, on every task's path, at gamma 1 and beta 0")
    func sharedTrunkBatchNorms() throws {
        func batchNorms(_ model: Model) -> [(scale: Int, shift: Int)] {
            model.nodes.compactMap { if case .batchNorm(let s, let t) = $0.op { (s, t) } else { nil } }
        }
        let singles = Self.resnets()
        let trunk = try ZipState.sharedTrunk(singles)
        let norms = batchNorms(trunk)
        #expect(norms.count == batchNorms(singles[0]).count && !norms.isEmpty)
        for (scale, shift) in norms {
            #expect(trunk.weights[scale].values.array.allSatisfy { $0 == 1 })
            #expect(trunk.weights[shift].values.array.allSatisfy { $0 == 0 })
        }
        #expect(trunk.tasks.count == 2)
        // Joint batches need every batch norm on every task's path.
        _ = try Trainer(model: TrainableModel(trunk), options: TrainingOptions(batchSize: 4, jointBatches: true))
        // Networks without batch norms get none.
        let lenets = ["a", "b"].map { Architecture.lenet5.build(task: $0, labels: Self.labels, mean: 0.5, std: 0.5, seed: 3) }
        #expect(batchNorms(try ZipState.sharedTrunk(lenets)).isEmpty)
    }
}
