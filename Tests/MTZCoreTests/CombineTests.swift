import MTZCore
import MTZTestSupport
import Testing

@Suite struct CombineTests {
    static func single(_ task: String, seed: UInt64, mean: Float = 0.5) -> Model {
        var b = ModelBuilder(input: InputSpec(width: 6, height: 5, format: .gray, mean: [mean], std: [0.5]), seed: seed)
        let c = b.conv("conv", ValueRef(0), outChannels: 3, window: .square(3, padding: 1), activation: .relu)
        let g = b.globalAveragePool("gap", ValueRef(c))
        let f = b.fullyConnected("fc", ValueRef(g), outFeatures: 4)
        b.task(task, output: b.softmax("softmax", ValueRef(f)))
        return b.build(metadata: ["task.\(task).dataset": "mnist", "description": task])
    }

    @Test("combined models keep every task's outputs and share nothing but the input")
    func combine() throws {
        let a = Self.single("a", seed: 1), b = Self.single("b", seed: 2)
        let ab = try Model.combining([a, b])
        #expect(ab.tasks.map(\.name) == ["a", "b"])
        #expect(ab.metadata["task.b.dataset"] == "mnist")
        #expect(ab.metadata["b.description"] == "b")
        let x = seededFloats(count: 30, seed: 3, range: -1...1)
        let got = try ReferenceInterpreter.outputs(ab, input: x)
        #expect(got["a"] == (try ReferenceInterpreter.outputs(a, input: x))["a"])
        #expect(got["b"] == (try ReferenceInterpreter.outputs(b, input: x))["b"])
        let stats = try ModelStatistics(ab)
        #expect(stats.sharedParameters == 0 && stats.savedBytes == 0)
    }

    @Test("different input specs and duplicate task names are refused, naming the difference")
    func refusals() {
        #expect {
            try Model.combining([Self.single("a", seed: 1), Self.single("b", seed: 2, mean: 0.13)])
        } throws: { error in
            String(describing: error).contains("mean")
        }
        #expect(throws: ModelError.self) { try Model.combining([Self.single("a", seed: 1), Self.single("a", seed: 2)]) }
    }
}
