import MTZCore
import MTZTestSupport
import Testing
@testable import MTZTraining

/// Back-propagation against central finite differences, and gradient summing for shared parameters.
@Suite struct GradientTests {
    /// A small two-task network that uses every trainable op: strided, grouped and 1×1 convolutions,
    /// channel slices, an addend, batch norm (training mode), max and average pooling, residual add,
    /// concat, flatten, global average pooling, FC and softmax heads. Smooth activations keep finite
    /// differences away from kinks.
    static func model(seed: UInt64) -> Model {
        var b = ModelBuilder(input: InputSpec(width: 6, height: 7, format: .gray, mean: [0], std: [1]), seed: seed)
        let x = ValueRef(0)
        let c1 = b.conv("c1", x, outChannels: 4, window: .square(3, padding: 1), activation: .tanh)
        let bn = b.batchNorm("bn", ValueRef(c1))
        let c2 = b.conv("c2", ValueRef(bn), outChannels: 4, window: .square(2), groups: 2, activation: .sigmoid)
        let mp = b.maxPool("mp", ValueRef(c2), window: .square(2))
        let c3 = b.conv("c3", ValueRef(mp, channelOffset: 0, channelCount: 2), outChannels: 4, window: .square(1))
        let add = b.add("add", ValueRef(mp), ValueRef(c3), activation: .tanh)
        let ap = b.averagePool("ap", ValueRef(add), window: .square(3, stride: 2, padding: 1), countIncludePad: false)
        let cat = b.concat("cat", [ValueRef(ap, channelOffset: 1, channelCount: 2), ValueRef(ap)])
        let flat = b.flatten("flat", ValueRef(cat))
        let f1 = b.fullyConnected("f1", ValueRef(flat), outFeatures: 5, activation: .tanh)
        let f2 = b.fullyConnected("f2", ValueRef(f1), outFeatures: 3, bias: false)
        let logitsA = b.fullyConnected("f3", ValueRef(flat), addend: ValueRef(f2), outFeatures: 3)
        b.task("a", output: b.softmax("sa", ValueRef(logitsA)))
        let gap = b.globalAveragePool("gap", ValueRef(add))
        let logitsB = b.fullyConnected("fb", ValueRef(gap), outFeatures: 4)
        b.task("b", output: b.softmax("sb", ValueRef(logitsB)))
        return b.build()
    }

    /// Loss of `task` on a fixed batch, and optionally its gradients (added to `model.gradients`).
    static func loss(_ executor: BatchExecutor, _ task: Int, input: [Float], labels: [Int32], withGradient: Bool) -> Double {
        let model = executor.model
        let softmax = model.structure.tasks[task].output
        let logits = model.structure.nodes[softmax].inputs[0].node
        let steps = executor.steps(for: [logits])
        executor.batch = labels.count
        executor.inputPointer.update(from: input, count: input.count)
        executor.forward(steps, training: true)
        let classes = model.shapes[logits].channels
        let result = labels.withUnsafeBufferPointer {
            SoftmaxCrossEntropy.evaluate(logits: executor.output(logits), labels: $0.baseAddress!, batch: labels.count, classes: classes,
                                         gradient: withGradient ? executor.outputGradient(logits) : nil)
        }
        if withGradient { executor.backward(steps, lossNodes: [logits]) }
        return result.loss
    }

    @Test("analytic gradients match central finite differences", arguments: [0, 1])
    func finiteDifferences(task: Int) throws {
        let model = try TrainableModel(Self.model(seed: 3))
        let batch = 3
        let executor = BatchExecutor(model: model, capacity: batch, seed: 1)
        var rng = SeededRandom(seed: 9)
        let input = rng.floats(count: batch * 42, in: -2...2)
        let classes = task == 0 ? 3 : 4
        let labels = (0..<batch).map { _ in Int32(rng.nextInt(below: classes)) }
        model.zeroGradients()
        _ = Self.loss(executor, task, input: input, labels: labels, withGradient: true)
        let analytic = model.gradients
        let eps: Float = 1e-2
        var checked = 0
        for t in model.values.indices {
            for k in stride(from: 0, to: model.values[t].count, by: max(1, model.values[t].count / 4)) {
                let original = model.values[t][k]
                model.values[t][k] = original + eps
                model.version += 1
                let up = Self.loss(executor, task, input: input, labels: labels, withGradient: false)
                model.values[t][k] = original - eps
                model.version += 1
                let down = Self.loss(executor, task, input: input, labels: labels, withGradient: false)
                model.values[t][k] = original
                model.version += 1
                let numeric = (up - down) / Double(2 * eps)
                let a = Double(analytic[t][k])
                #expect(abs(a - numeric) <= 2e-3 + 2e-2 * abs(numeric),
                        "task \(task), \(model.structure.weights[t].name)[\(k)]: analytic \(a), numeric \(numeric)")
                checked += 1
            }
        }
        #expect(checked > 40)
    }

    @Test("a parameter block shared by two tasks receives the sum of their gradients")
    func sharedGradientsSum() throws {
        let model = try TrainableModel(Self.model(seed: 5))
        let executor = BatchExecutor(model: model, capacity: 2, seed: 1)
        let input = seededFloats(count: 2 * 42, seed: 4, range: -1...1)
        model.zeroGradients()
        _ = Self.loss(executor, 0, input: input, labels: [0, 2], withGradient: true)
        let a = model.gradients
        model.zeroGradients()
        _ = Self.loss(executor, 1, input: input, labels: [3, 1], withGradient: true)
        let b = model.gradients
        model.zeroGradients()
        _ = Self.loss(executor, 0, input: input, labels: [0, 2], withGradient: true)
        _ = Self.loss(executor, 1, input: input, labels: [3, 1], withGradient: true)
        let c1 = model.structure.weights.firstIndex { $0.name == "c1.weight" }!
        #expect(a[c1].contains { $0 != 0 } && b[c1].contains { $0 != 0 }, "the trunk is shared by both tasks")
        for t in model.values.indices {
            for k in model.values[t].indices {
                #expect(abs(model.gradients[t][k] - (a[t][k] + b[t][k])) <= 1e-5 * (1 + abs(a[t][k]) + abs(b[t][k])))
            }
        }
        let fb = model.structure.weights.firstIndex { $0.name == "fb.weight" }!
        #expect(a[fb].allSatisfy { $0 == 0 }, "task a does not touch task b's head")
    }

    @Test("the exported model computes what the trainer computes in inference mode")
    func exportMatchesInference() throws {
        let model = try TrainableModel(Self.model(seed: 7))
        let executor = BatchExecutor(model: model, capacity: 4, seed: 1)
        let input = seededFloats(count: 4 * 42, seed: 2, range: -1...1)
        // A few training passes so the batch-norm running statistics move away from 0/1.
        for _ in 0..<5 { _ = Self.loss(executor, 0, input: input, labels: [0, 1, 2, 0], withGradient: false) }
        let exported = model.exportModel()
        _ = try exported.validate()
        let steps = executor.steps(for: [exported.tasks[0].output])
        executor.batch = 4
        executor.inputPointer.update(from: input, count: input.count)
        executor.forward(steps, training: false)
        let trainerOutput = Array(UnsafeBufferPointer(start: executor.output(exported.tasks[0].output), count: 12))
        for s in 0..<4 {
            let reference = try ReferenceInterpreter.outputs(exported, input: Array(input[(s * 42)..<((s + 1) * 42)]))["a"]!
            for k in 0..<3 { #expect(abs(trainerOutput[s * 3 + k] - reference[k]) < 1e-4) }
        }
    }
}

/// Dropout: inverted dropout in training, identity in inference, and the mask flows backward.
@Suite struct DropoutTests {
    @Test("dropout drops about the rate, rescales the rest, and is the identity in inference")
    func dropout() throws {
        var b = ModelBuilder(input: InputSpec(width: 20, height: 20, format: .gray, mean: [0], std: [1]), seed: 1)
        let flat = b.flatten("flat", ValueRef(0))
        let fc = b.fullyConnected("fc", ValueRef(flat), outFeatures: 3)
        b.task("t", output: b.softmax("s", ValueRef(fc)))
        let model = try TrainableModel(b.build(), dropout: [flat: 0.5])
        let executor = BatchExecutor(model: model, capacity: 2, seed: 5)
        let input = [Float](repeating: 1, count: 800)
        executor.batch = 2
        executor.inputPointer.update(from: input, count: 800)
        let steps = executor.steps(for: [fc])
        executor.forward(steps, training: true)
        let trained = Array(UnsafeBufferPointer(start: executor.output(flat), count: 800))
        let zeros = trained.filter { $0 == 0 }.count
        #expect(trained.allSatisfy { $0 == 0 || $0 == 2 })
        #expect((300...500).contains(zeros), "\(zeros) of 800 dropped at rate 0.5")
        // Backward sees the dropped values: the FC weight gradient is dy · x with x the masked,
        // rescaled input.
        model.zeroGradients()
        let g = executor.outputGradient(fc)
        for k in 0..<6 { g[k] = 1 }
        executor.backward(steps, lossNodes: [fc])
        let w = model.structure.weights.firstIndex { $0.name == "fc.weight" }!
        let row0 = Array(model.gradients[w][0..<400])
        for i in 0..<400 { #expect(row0[i] == trained[i] + trained[400 + i]) }
        executor.forward(steps, training: false)
        let inference = Array(UnsafeBufferPointer(start: executor.output(flat), count: 800))
        #expect(inference == input)
        #expect(throws: ModelError.self) { try TrainableModel(b.build(), dropout: [flat: 1]) }
    }
}
