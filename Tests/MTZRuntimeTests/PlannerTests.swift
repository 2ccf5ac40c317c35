@testable import MTZRuntime
import MTZCore
import MTZTestSupport
import Testing

@Suite struct PlannerTests {
    typealias Request = MemoryPlanner.Request

    /// True if no two tensors alive at the same time overlap in the arena.
    static func isValid(_ requests: [Request], _ offsets: [Int], _ arena: Int) -> Bool {
        for i in requests.indices {
            guard offsets[i] % MemoryPlanner.alignment == 0, offsets[i] + requests[i].size <= arena else { return false }
            for j in requests.indices where j != i {
                let live = requests[i].first <= requests[j].last && requests[j].first <= requests[i].last
                let overlap = offsets[i] < offsets[j] + requests[j].size && offsets[j] < offsets[i] + requests[i].size
                if live && overlap { return false }
            }
        }
        return true
    }

    @Test("a chain reuses memory: arena holds the two largest neighbours, not everything")
    func chainReuse() {
        let sizes = [1000, 4000, 2000, 3000, 500]
        let requests = sizes.indices.map { Request(size: sizes[$0], first: $0, last: $0 + 1) }
        let (offsets, arena) = MemoryPlanner.plan(requests)
        #expect(Self.isValid(requests, offsets, arena))
        #expect(arena < sizes.reduce(0, +))
        #expect(arena <= 4000 + 3008)
    }

    @Test("a 65,536-tensor chain plans into two slots (per-step lists, not a scan of every placed tensor)")
    func longChain() {
        let n = 65_536
        let requests = (0..<n).map { Request(size: 16 + ($0 % 3) * 16, first: $0, last: $0 + 1) }
        let (offsets, arena) = MemoryPlanner.plan(requests)
        #expect(arena <= 2 * 48)
        for i in 1..<n {  // neighbours are alive together: they must not overlap
            let a = offsets[i - 1], b = offsets[i]
            #expect(a + requests[i - 1].size <= b || b + requests[i].size <= a, "tensors \(i - 1) and \(i) overlap")
        }
    }

    @Test("random lifetimes never overlap", arguments: 0..<20)
    func randomLifetimes(seed: Int) {
        var rng = SeededRandom(seed: UInt64(seed))
        let requests = (0..<40).map { _ -> Request in
            let first = Int.random(in: 0..<30, using: &rng)
            return Request(size: Int.random(in: 1...5000, using: &rng), first: first, last: first + Int.random(in: 0..<8, using: &rng))
        }
        let (offsets, arena) = MemoryPlanner.plan(requests)
        #expect(Self.isValid(requests, offsets, arena))
    }

    @Test("the plan of a model keeps every live value apart")
    func modelPlan() throws {
        let model = try RandomModels.everyOp(seed: 3).optimized()
        let shapes = try model.validate()
        let plan = ExecutionPlan(model: model, shapes: shapes, taskIndices: Array(model.tasks.indices))
        #expect(plan.steps.first == 0)
        #expect(plan.arenaSize < shapes.reduce(0) { $0 + $1.elementCount + 16 })
    }
}

@Suite struct OptimizerTests {
    @Test("batch norm folds into the convolution and activations fuse, with the same outputs")
    func foldAndFuse() throws {
        let model = RandomModels.everyOp(seed: 4)
        let optimized = try model.optimized()
        let before = model.nodes.filter { if case .batchNorm = $0.op { return true } else { return false } }.count
        let after = optimized.nodes.filter { if case .batchNorm = $0.op { return true } else { return false } }.count
        #expect(optimized.nodes.count <= model.nodes.count)
        #expect(after <= before)
        let x = seededFloats(count: model.input.width * model.input.height * model.input.channels, seed: 1, range: -1...1)
        let a = try ReferenceInterpreter.outputs(model, input: x)
        let b = try ReferenceInterpreter.outputs(optimized, input: x)
        for t in model.tasks {
            #expect(maxRelativeError(b[t.name]!, a[t.name]!, absFloor: 1e-2).error < 1e-4)
        }
    }

    @Test("conv → batch norm → relu becomes one node")
    func convBatchNormRelu() throws {
        let w = WeightTensor(name: "w", shape: [4, 3, 3, 2], values: seededFloats(count: 72, seed: 1, range: -1...1))
        let s = WeightTensor(name: "s", shape: [4], values: [0.5, 2, -1, 1.5])
        let t = WeightTensor(name: "t", shape: [4], values: [0.1, -0.2, 0.3, 0])
        let model = Model(
            input: InputSpec(width: 6, height: 5, format: .gray, mean: [0], std: [1]),
            nodes: [
                Node(name: "in", op: .input, inputs: []),
                Node(name: "conv", op: .conv2d(Conv2D(window: .square(3, padding: 1), outChannels: 4, weight: 0, bias: nil)), inputs: [ValueRef(0)]),
                Node(name: "bn", op: .batchNorm(scale: 1, shift: 2), inputs: [ValueRef(1)]),
                Node(name: "relu", op: .activation(.relu), inputs: [ValueRef(2)]),
                Node(name: "gap", op: .globalAveragePool, inputs: [ValueRef(3)]),
            ],
            weights: [w, s, t],
            tasks: [TaskHead(name: "t", output: 4, labels: ["a", "b", "c", "d"])])
        // The input has 1 channel but the conv expects 2: the model is invalid and must be refused.
        #expect(throws: ModelError.self) { try model.optimized() }
        var fixed = model
        fixed.input = InputSpec(width: 6, height: 5, format: .gray, mean: [0], std: [1])
        fixed.weights[0] = WeightTensor(name: "w", shape: [4, 3, 3, 1], values: seededFloats(count: 36, seed: 1, range: -1...1))
        let optimized = try fixed.optimized()
        #expect(optimized.nodes.map(\.op.name) == ["input", "conv", "gavgpool"])
        if case .conv2d(let c) = optimized.nodes[1].op { #expect(c.activation == .relu) } else { Issue.record("no conv") }
        let x = seededFloats(count: 30, seed: 2, range: -1...1)
        let a = try ReferenceInterpreter.outputs(fixed, input: x)["t"]!
        let b = try ReferenceInterpreter.outputs(optimized, input: x)["t"]!
        #expect(maxRelativeError(b, a, absFloor: 1e-3).error < 1e-5)
    }
}

@Suite struct StatisticsTests {
    @Test("a zipped model shares parameters and saves memory; a model with nothing shared saves none")
    func sharing() throws {
        let zipped = try ModelStatistics(RandomModels.zippedTwoTask(seed: 1))
        #expect(zipped.sharedParameters > 0)
        #expect(zipped.separateParameters == zipped.parametersPerTask.values.reduce(0, +))
        #expect(zipped.savedBytes == 4 * (zipped.separateParameters - zipped.parameters))
        #expect(zipped.savedBytes > 0)
        #expect(zipped.flopsTogether < zipped.flopsSeparate)
        #expect(zipped.layers.contains { $0.computedOnce })
        #expect(zipped.layers.contains { l in l.sharedChannels.values.contains { $0 > 0 } })
    }

    @Test("demo model: the trunk is computed once, heads are task-specific")
    func demo() throws {
        let s = try ModelStatistics(DemoModel.make())
        #expect(s.tasks == ["objects", "scene"])
        let first = try #require(s.layers.first)
        #expect(first.computedOnce)
        #expect(first.sharedChannels["objects"] == first.sharedChannels["scene"])
        let last = try #require(s.layers.last)
        #expect(!last.computedOnce)
        #expect(s.savedFraction > 0 && s.savedFraction < 1)
    }
}
