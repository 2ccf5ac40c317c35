import MTZCore
import MTZRuntime
import MTZTestSupport
import Testing
@testable import MTZTraining

/// `TrainingOptions.jointBatches`: every task's mini-batch runs through the network as one batch,
/// so a batch norm shared by the tasks normalises over all their images.
@Suite struct JointBatchTests {
    /// `count` seeded images of the gradient-test model's 6×7 input, with labels below `classes`.
    static func images(count: Int, classes: Int, seed: UInt64) -> LabeledImages {
        var rng = SeededRandom(seed: seed)
        let pixels = (0..<(count * 42)).map { _ in UInt8(rng.nextInt(below: 256)) }
        return LabeledImages(rows: 7, cols: 6, pixels: pixels, labels: (0..<count).map { _ in UInt8(rng.nextInt(below: classes)) })
    }

    /// A shared convolution trunk and two fully connected heads, without batch norms.
    static func plainModel(seed: UInt64) -> Model {
        var b = ModelBuilder(input: InputSpec(width: 6, height: 7, format: .gray, mean: [0], std: [1]), seed: seed)
        let c1 = b.conv("c1", ValueRef(0), outChannels: 4, window: .square(3, padding: 1), activation: .tanh)
        let flat = b.flatten("flat", ValueRef(c1))
        b.task("a", output: b.softmax("sa", ValueRef(b.fullyConnected("fa", ValueRef(flat), outFeatures: 3))))
        b.task("b", output: b.softmax("sb", ValueRef(b.fullyConnected("fb", ValueRef(flat), outFeatures: 4))))
        return b.build()
    }

    /// Both tasks' mean losses, summed, with each task's images (a's first) in one training-mode batch.
    static func jointLoss(_ executor: BatchExecutor, a: LabeledImages, b: LabeledImages) -> Double {
        let model = executor.model
        let logits = model.structure.tasks.map { model.structure.nodes[$0.output].inputs[0].node }
        executor.batch = a.count + b.count
        for (s, pixel) in (a.pixels + b.pixels).enumerated() { executor.inputPointer[s] = Float(pixel) / 255 }
        executor.forward(executor.steps(for: logits), training: true)
        var total = 0.0, offset = 0
        for (images, node) in zip([a, b], logits) {
            let classes = model.shapes[node].channels
            let labels = images.labels.map(Int32.init)
            total += labels.withUnsafeBufferPointer {
                SoftmaxCrossEntropy.evaluate(logits: executor.output(node) + offset * classes, labels: $0.baseAddress!,
                                             batch: images.count, classes: classes, gradient: nil).loss
            }
            offset += images.count
        }
        return total
    }

    /// Expects a step from `before` to `after` (lr 1, no momentum or decay) to be minus the gradient
    /// of `jointLoss` over `a` and `b`, by central differences on a quarter of each tensor's values
    /// (`reference` holds the model at `before`; `executor` runs it).
    static func expectStepIsMinusGradient(before: [[Float]], after: [[Float]], reference: TrainableModel, executor: BatchExecutor,
                                          a: LabeledImages, b: LabeledImages) {
        // Smaller than GradientTests' step: a batch norm over six images curves the loss enough
        // that 1e-2 misses c1's gradient by 2e-3.
        let eps: Float = 3e-3
        var checked = 0
        for t in before.indices {
            for k in stride(from: 0, to: before[t].count, by: max(1, before[t].count / 4)) {
                reference.values[t][k] = before[t][k] + eps
                reference.version += 1
                let up = jointLoss(executor, a: a, b: b)
                reference.values[t][k] = before[t][k] - eps
                reference.version += 1
                let down = jointLoss(executor, a: a, b: b)
                reference.values[t][k] = before[t][k]
                reference.version += 1
                let numeric = (up - down) / Double(2 * eps)
                let analytic = Double(before[t][k] - after[t][k])
                #expect(abs(analytic - numeric) <= 5e-4 + 1e-2 * abs(numeric),
                        "\(reference.structure.weights[t].name)[\(k)]: step \(analytic), numeric gradient \(numeric)")
                checked += 1
            }
        }
        #expect(checked > 40)
    }

    @Test("a joint step moves every parameter by minus the gradient of the summed losses, batch norms normalising over both tasks' images")
    func jointGradient() throws {
        let a = Self.images(count: 3, classes: 3, seed: 1), b = Self.images(count: 3, classes: 4, seed: 2)
        let data = ["a": TaskData(images: a), "b": TaskData(images: b)]
        // One epoch of one iteration, lr 1, no momentum or decay: the update is the gradient.
        func step(joint: Bool) throws -> (before: [[Float]], after: [[Float]]) {
            let model = try TrainableModel(GradientTests.model(seed: 3))
            let before = model.values
            _ = try Trainer(model: model, options: TrainingOptions(epochs: 1, batchSize: 3, learningRate: 1, schedule: .constant,
                                                                   momentum: 0, weightDecay: 0, jointBatches: joint)).train(data)
            return (before, model.values)
        }
        let (before, after) = try step(joint: true)
        let reference = try TrainableModel(GradientTests.model(seed: 3))
        let executor = BatchExecutor(model: reference, capacity: 6, seed: 1)
        Self.expectStepIsMinusGradient(before: before, after: after, reference: reference, executor: executor, a: a, b: b)
        // Separate batches normalise each task's images alone: another update.
        let separate = try step(joint: false).after
        let bn = reference.structure.weights.firstIndex { $0.name.hasPrefix("bn") }!
        #expect(separate[bn] != after[bn])
    }

    @Test("without batch norms, joint batches make the same updates as one batch per task")
    func jointEqualsSeparateWithoutBatchNorms() throws {
        let data = ["a": TaskData(images: Self.images(count: 20, classes: 3, seed: 3)),
                    "b": TaskData(images: Self.images(count: 30, classes: 4, seed: 4))]
        func run(joint: Bool) throws -> [[Float]] {
            let model = try TrainableModel(Self.plainModel(seed: 5))
            let trainer = try Trainer(model: model, options: TrainingOptions(batchSize: 8, seed: 6, jointBatches: joint))
            _ = try trainer.runIterations(5, data: data, learningRate: 0.05)
            return model.values
        }
        let joint = try run(joint: true), separate = try run(joint: false)
        let initial = try TrainableModel(Self.plainModel(seed: 5)).values
        #expect(joint != initial)
        for t in joint.indices {
            for k in joint[t].indices {
                #expect(abs(joint[t][k] - separate[t][k]) <= 1e-5 * (1 + abs(separate[t][k])))
            }
        }
    }

    @Test("in a joint batch a task's own batch norm counts only its task's images: the same updates as one batch per task")
    func taskBatchNormCountsItsTask() throws {
        var b = ModelBuilder(input: InputSpec(width: 6, height: 7, format: .gray, mean: [0], std: [1]), seed: 1)
        let c1 = b.conv("c1", ValueRef(0), outChannels: 4, window: .square(3, padding: 1), activation: .tanh)
        let flat = b.flatten("flat", ValueRef(c1))
        let fa = b.fullyConnected("fa", ValueRef(flat), outFeatures: 5)
        let bn = b.batchNorm("a/bn", ValueRef(fa))
        b.task("a", output: b.softmax("sa", ValueRef(b.fullyConnected("ha", ValueRef(bn), outFeatures: 3))))
        b.task("b", output: b.softmax("sb", ValueRef(b.fullyConnected("fb", ValueRef(flat), outFeatures: 4))))
        let structure = b.build()
        let data = ["a": TaskData(images: Self.images(count: 20, classes: 3, seed: 3)),
                    "b": TaskData(images: Self.images(count: 30, classes: 4, seed: 4))]
        func run(joint: Bool) throws -> (values: [[Float]], mean: [Float]) {
            let model = try TrainableModel(structure)
            let trainer = try Trainer(model: model, options: TrainingOptions(batchSize: 8, momentum: 0, weightDecay: 0, seed: 6, jointBatches: joint))
            _ = try trainer.runIterations(5, data: data, learningRate: 0.05)
            return (model.values, model.batchNormStatistics(node: bn)!.mean)
        }
        let joint = try run(joint: true), separate = try run(joint: false)
        #expect(joint.values != (try TrainableModel(structure)).values)
        for t in joint.values.indices {
            for k in joint.values[t].indices {
                #expect(abs(joint.values[t][k] - separate.values[t][k]) <= 1e-5 * (1 + abs(separate.values[t][k])),
                        "\(structure.weights[t].name)[\(k)]")
            }
        }
        for (j, s) in zip(joint.mean, separate.mean) { #expect(abs(j - s) <= 1e-5 * (1 + abs(s)), "running mean") }
    }

    /// Two task paths of one shape into one batch norm shared by both (one input per task), and a
    /// head per task over its output.
    static func pooledModel(seed: UInt64) -> (model: Model, bn: Int, inputs: [Int]) {
        var b = ModelBuilder(input: InputSpec(width: 6, height: 7, format: .gray, mean: [0], std: [1]), seed: seed)
        let c1 = b.conv("c1", ValueRef(0), outChannels: 3, window: .square(3, padding: 1), activation: .tanh)
        let xa = b.conv("a/c2", ValueRef(c1), outChannels: 4, window: .square(3, padding: 1))
        let xb = b.conv("b/c2", ValueRef(c1), outChannels: 4, window: .square(3, padding: 1))
        let bn = b.batchNorm("shared/bn", ValueRef(xa))
        let flat = b.flatten("flat", ValueRef(b.activation("shared/act", ValueRef(bn), .tanh)))
        b.task("a", output: b.softmax("sa", ValueRef(b.fullyConnected("ha", ValueRef(flat), outFeatures: 3))))
        b.task("b", output: b.softmax("sb", ValueRef(b.fullyConnected("hb", ValueRef(flat), outFeatures: 4))))
        var model = b.build()
        model.nodes[bn].inputs.append(ValueRef(xb))
        return (model, bn, [xa, xb])
    }

    @Test("a batch norm shared by two task paths normalises each task's images from its own path with statistics over both; its step is minus the gradient")
    func pooledBatchNorm() throws {
        let (structure, bn, inputs) = Self.pooledModel(seed: 7)
        let a = Self.images(count: 3, classes: 3, seed: 1), b = Self.images(count: 3, classes: 4, seed: 2)
        // Forward: sample s of task t is (x_t[s] − μ)/σ·γ + β, μ and σ over a's rows of x_a and b's of x_b.
        let reference = try TrainableModel(structure)
        let executor = BatchExecutor(model: reference, capacity: 6, seed: 1)
        executor.sampleRanges = [0..<3, 3..<6]
        _ = Self.jointLoss(executor, a: a, b: b)
        let channels = reference.shapes[bn].channels, size = reference.shapes[bn].elementCount
        let routed = (0..<6).map { s in Array(UnsafeBufferPointer(start: executor.output(inputs[s < 3 ? 0 : 1]) + s * size, count: size)) }
        guard case .batchNorm(let gamma, let beta) = structure.nodes[bn].op else { Issue.record("not a batch norm"); return }
        for c in 0..<channels {
            let column = routed.flatMap { sample in stride(from: c, to: size, by: channels).map { Double(sample[$0]) } }
            let mean = column.reduce(0, +) / Double(column.count)
            let variance = column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(column.count)
            for s in [1, 4] {
                let x = Double(routed[s][c])
                let expected = (x - mean) / (variance + 1e-5).squareRoot() * Double(reference.values[gamma][c]) + Double(reference.values[beta][c])
                let got = Double(executor.output(bn)[s * size + c])
                #expect(abs(got - expected) <= 1e-4 * (1 + abs(expected)), "channel \(c), sample \(s)")
            }
        }

        // Backward: one joint step of both tasks' three images at lr 1, no momentum or decay, is
        // minus the gradient of the summed losses (central differences).
        let trained = try TrainableModel(structure)
        let before = trained.values
        _ = try Trainer(model: trained, options: TrainingOptions(epochs: 1, batchSize: 3, learningRate: 1, schedule: .constant,
                                                                 momentum: 0, weightDecay: 0, jointBatches: true))
            .train(["a": TaskData(images: a), "b": TaskData(images: b)])
        Self.expectStepIsMinusGradient(before: before, after: trained.values, reference: reference, executor: executor, a: a, b: b)
        // Each task's path gets the gradient of its own images only: both convolutions moved.
        let wa = structure.weights.firstIndex { $0.name.hasPrefix("a/c2") }!, wb = structure.weights.firstIndex { $0.name.hasPrefix("b/c2") }!
        #expect(trained.values[wa] != before[wa] && trained.values[wb] != before[wb])
    }

    @Test("below a batch norm shared by the tasks, each task's own nodes are on its path only, so they compute and count only its images")
    func pathsStopAtSharedBatchNorms() throws {
        let (model, bn, inputs) = Self.pooledModel(seed: 7)
        let names = model.nodes.map(\.name)
        for (t, task) in ["a", "b"].enumerated() {
            let logits = model.nodes[model.tasks[t].output].inputs[0].node
            let path = Trainer.path(of: t, from: logits, in: model)
            let other = ["a", "b"][1 - t]
            #expect(path.contains(bn) && path.contains(inputs[t]) && !path.contains(inputs[1 - t]), "\(task): \(path.map { names[$0] }.sorted())")
            #expect(Set(path.map { names[$0] }) == ["input", "c1", "\(task)/c2", "shared/bn", "shared/act", "flat", "h\(task)"],
                    "\(task)'s path reaches \(path.map { names[$0] }.filter { $0.hasPrefix("\(other)/") })")
        }
        // The trainer runs each node on the images of the tasks whose path it is on.
        let trainer = try Trainer(model: TrainableModel(model), options: TrainingOptions(batchSize: 3, jointBatches: true))
        #expect(trainer.nodeTasks[inputs[0]] == [0] && trainer.nodeTasks[inputs[1]] == [1] && trainer.nodeTasks[bn] == [0, 1])
    }

    @Test("a batch norm shared by tasks cannot run for inference, nor be exported")
    func pooledBatchNormIsTrainingOnly() throws {
        let (structure, _, _) = Self.pooledModel(seed: 7)
        _ = try structure.validate()
        #expect { _ = try InferenceModel(structure) } throws: { "\($0)".contains("shared/bn") && "\($0)".contains("only while training") }
    }
}
