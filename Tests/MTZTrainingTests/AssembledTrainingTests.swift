import MTZCore
import MTZTestSupport
import Testing
@testable import MTZTraining

/// Training a model whose weight matrices are assembled from blocks (`WeightAssembly`): the blocks
/// are the parameters, an assembled matrix follows them.
@Suite struct AssembledTrainingTests {
    /// Where element `e` of assembled tensor `tensor` lives, found the slow way: the part and the
    /// index in it of the `[r][m][c]` element.
    static func location(of e: Int, in tensor: WeightTensor) -> (part: Int, index: Int) {
        let a = tensor.assembly!
        let rows = a.rowBands.reduce(0, +), channels = a.channelBands.reduce(0, +)
        let inner = tensor.elementCount / (rows * channels)
        let r = e / (inner * channels), m = (e / channels) % inner, c = e % channels
        var i = 0, r0 = 0
        while r >= r0 + a.rowBands[i] { r0 += a.rowBands[i]; i += 1 }
        var j = 0, c0 = 0
        while c >= c0 + a.channelBands[j] { c0 += a.channelBands[j]; j += 1 }
        return (a.parts[i * a.channelBands.count + j], ((r - r0) * inner + m) * a.channelBands[j] + (c - c0))
    }

    @Test("an assembled tensor's gradient goes to its parts, each element to the one it was assembled from; the parts are the parameters")
    func gradientsGoToTheParts() throws {
        let model = try TrainableModel(RandomModels.assembledTwoTask(seed: 5))
        let weights = model.structure.weights
        #expect(model.assembled == weights.indices.filter { weights[$0].assembly != nil } && model.assembled.count == 8)
        #expect(model.parameterCount == weights.filter { $0.assembly == nil }.reduce(0) { $0 + $1.elementCount })

        var rng = SeededRandom(seed: 8)
        for i in weights.indices { model.gradients[i] = rng.floats(count: weights[i].elementCount, in: -1...1) }
        var expected = model.gradients
        for a in model.assembled {
            for e in 0..<weights[a].elementCount {
                let (part, index) = Self.location(of: e, in: weights[a])
                expected[part][index] += model.gradients[a][e]
            }
            expected[a] = [Float](repeating: 0, count: weights[a].elementCount)
        }
        model.foldAssembledGradients()
        for i in weights.indices {
            #expect(zip(model.gradients[i], expected[i]).allSatisfy { abs($0 - $1) <= 1e-6 }, "\(weights[i].name)")
        }

        // A step moves the parts and assembles the matrices again from them; no weight decay or
        // momentum reaches an assembled tensor of its own.
        let before = model.values
        var sgd = SGD(momentum: 0.9, weightDecay: 0.1)
        sgd.step(model, learningRate: 0.5)
        for i in weights.indices where weights[i].assembly == nil {
            let moved = (0..<before[i].count).map { before[i][$0] - 0.5 * (expected[i][$0] + 0.1 * before[i][$0]) }
            #expect(zip(model.values[i], moved).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(weights[i].name)")
        }
        for a in model.assembled {
            let assembled = (0..<weights[a].elementCount).map { e in
                let (part, index) = Self.location(of: e, in: weights[a])
                return model.values[part][index]
            }
            #expect(model.values[a] == assembled, "\(weights[a].name)")
        }
        #expect(model.gradients.allSatisfy { $0.allSatisfy { $0 == 0 } })
        // The exported model keeps the assemblies, so it is stored block by block again.
        let exported = model.exportModel()
        #expect(exported.weights.map(\.assembly) == weights.map(\.assembly))
        #expect(exported.weights.map(\.values.array) == model.values)
    }

    @Test("back-propagation through assembled matrices matches central finite differences in their parts", arguments: [0, 1])
    func finiteDifferences(task: Int) throws {
        // tanh instead of relu keeps finite differences away from kinks.
        var smooth = RandomModels.assembledTwoTask(seed: 3)
        for i in smooth.nodes.indices {
            if case .conv2d(var c) = smooth.nodes[i].op {
                c.activation = .tanh
                smooth.nodes[i].op = .conv2d(c)
            }
        }
        let model = try TrainableModel(smooth)
        let batch = 2
        let executor = BatchExecutor(model: model, capacity: batch, seed: 1)
        var rng = SeededRandom(seed: 11)
        let input = rng.floats(count: batch * 108, in: -1...1)
        let labels: [Int32] = [Int32(task), 2]
        model.zeroGradients()
        _ = GradientTests.loss(executor, task, input: input, labels: labels, withGradient: true)
        model.foldAssembledGradients()
        let analytic = model.gradients
        let eps: Float = 1e-3
        var checked = 0
        for p in model.values.indices where model.structure.weights[p].assembly == nil {
            for k in stride(from: 0, to: model.values[p].count, by: max(1, model.values[p].count / 3)) {
                func loss(at value: Float) -> Double {
                    model.values[p][k] = value
                    model.assembleValues()
                    return GradientTests.loss(executor, task, input: input, labels: labels, withGradient: false)
                }
                let original = model.values[p][k]
                let numeric = (loss(at: original + eps) - loss(at: original - eps)) / Double(2 * eps)
                _ = loss(at: original)
                let a = Double(analytic[p][k])
                #expect(abs(a - numeric) <= 2e-3 + 2e-2 * abs(numeric),
                        "task \(task), \(model.structure.weights[p].name)[\(k)]: analytic \(a), numeric \(numeric)")
                checked += 1
            }
        }
        #expect(checked > 40)
        // The other task's own blocks get nothing; the shared blocks get this task's gradient.
        let other = task == 0 ? "b" : "a", mine = task == 0 ? "a" : "b"
        for (i, w) in model.structure.weights.enumerated() where w.assembly == nil {
            if w.name.contains(".\(other).") { #expect(analytic[i].allSatisfy { $0 == 0 }, "\(w.name)") }
            if w.name.contains(".\(mine).") || w.name.contains(".shared.") { #expect(analytic[i].contains { $0 != 0 }, "\(w.name)") }
        }
    }
}
