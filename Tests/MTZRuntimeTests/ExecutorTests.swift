import MTZCore
import MTZRuntime
import MTZTestSupport
import Testing

/// Whole-model results of the runtime against the naive reference interpreter.
@Suite struct ExecutorTests {
    /// Stated tolerance: |runtime − reference| ≤ 1e-4·max(|reference|, 1e-2) per value.
    static let relativeTolerance: Float = 1e-4

    static let models: [(String, Model)] = [
        ("everyOp", RandomModels.everyOp(seed: 1)),
        ("everyOp-seed7", RandomModels.everyOp(seed: 7)),
        ("zippedTwoTask", RandomModels.zippedTwoTask(seed: 3)),
        ("demo", DemoModel.make()),
    ]

    static func input(for model: Model, seed: UInt64) -> [Float] {
        seededFloats(count: model.input.width * model.input.height * model.input.channels, seed: seed, range: -1...1)
    }

    @Test("runtime matches the reference interpreter at every ISA", arguments: KernelISA.supported)
    func matchesReference(isa: KernelISA) throws {
        for (name, model) in Self.models {
            let x = Self.input(for: model, seed: 42)
            let expected = try ReferenceInterpreter.outputs(model, input: x)
            let session = try InferenceModel(model, isa: isa).makeSession()
            let got = try session.run(input: x)
            for task in model.tasks {
                let e = expected[task.name]!
                let g = got[task.name]!
                #expect(g.count == e.count)
                let worst = maxRelativeError(g, e, absFloor: 1e-2)
                #expect(worst.error <= Self.relativeTolerance, "\(name)/\(task.name) at \(isa): value \(worst.index) off by \(worst.error)")
            }
        }
    }

    @Test("every node's value matches the reference, not only the heads")
    func intermediateValuesMatch() throws {
        // A head-only comparison could hide compensating errors; check a model without optimisable
        // nodes at the first ISA, node by node, by making every node a task output.
        var model = RandomModels.everyOp(seed: 5)
        let shapes = try model.validate()
        model.tasks = model.nodes.indices.dropFirst().map { TaskHead(name: "n\($0)", output: $0, labels: []) }
        _ = shapes
        let x = Self.input(for: model, seed: 9)
        let values = try ReferenceInterpreter.run(model, input: x)
        let got = try InferenceModel(model).makeSession().run(input: x)
        for i in model.nodes.indices.dropFirst() {
            let worst = maxRelativeError(got["n\(i)"]!, values[i], absFloor: 1e-2)
            #expect(worst.error <= Self.relativeTolerance, "node \(i) '\(model.nodes[i].name)' off by \(worst.error) at \(worst.index)")
        }
    }

    @Test("results do not depend on the thread count", arguments: [2, 3, 4])
    func threadCountInvariance(threads: Int) throws {
        let model = RandomModels.convNet(seed: 11)
        let loaded = try InferenceModel(model)
        let x = Self.input(for: model, seed: 4)
        let one = try loaded.makeSession(threads: 1).run(input: x)
        let many = try loaded.makeSession(threads: threads).run(input: x)
        #expect(one == many, "outputs differ between 1 and \(threads) threads")
    }

    @Test("asking for a subset of heads executes fewer ops")
    func subsetOfHeads() throws {
        let model = DemoModel.make()
        let loaded = try InferenceModel(model)
        let all = try loaded.makeSession()
        let x = Self.input(for: model, seed: 1)
        let full = try all.run(input: x)
        for task in loaded.taskNames {
            let one = try loaded.makeSession(tasks: [task])
            #expect(one.executedNodeCount < all.executedNodeCount)
            let out = try one.run(input: x)
            #expect(Array(out.keys) == [task])
            #expect(out[task] == full[task], "running \(task) alone changes its result")
        }
    }

    @Test("shared nodes run once and are attributed to the shared part")
    func sharedAttribution() throws {
        let loaded = try InferenceModel(DemoModel.make())
        let session = try loaded.makeSession()
        _ = try session.run(input: Self.input(for: loaded.model, seed: 2))
        #expect(session.timings.shared > 0)
        for t in loaded.taskNames { #expect(session.timings.perTask[t]! > 0) }
        #expect(session.timings.total >= session.timings.shared)
    }

    @Test("unknown tasks and wrong input sizes are errors")
    func errors() throws {
        let loaded = try InferenceModel(DemoModel.make())
        #expect(throws: RuntimeError.self) { try loaded.makeSession(tasks: ["nope"]) }
        #expect(throws: RuntimeError.self) { try loaded.makeSession(threads: 0) }
        let session = try loaded.makeSession()
        #expect(throws: RuntimeError.inputSizeMismatch(expected: loaded.inputCount, got: 3)) { try session.run(input: [1, 2, 3]) }
    }

    @Test("repeated runs give identical results (the arena is fully rewritten)")
    func repeatable() throws {
        let model = RandomModels.everyOp(seed: 2)
        let session = try InferenceModel(model).makeSession()
        let a = try session.run(input: Self.input(for: model, seed: 1))
        _ = try session.run(input: Self.input(for: model, seed: 2))
        let c = try session.run(input: Self.input(for: model, seed: 1))
        #expect(a == c)
    }
}
