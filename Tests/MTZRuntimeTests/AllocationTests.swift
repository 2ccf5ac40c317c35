import CMTZAllocationCounter
import MTZCore
import MTZImage
import MTZRuntime
import MTZTestSupport
import Testing

/// After warm-up, a run allocates nothing: activations live in the session's planned arena.
@Suite struct AllocationTests {
    @Test("run(input:) allocates nothing after the first run", .enabled(if: mtz_allocation_counting_supported() != 0),
          arguments: ["everyOp", "zippedTwoTask", "demo"])
    func noAllocationAfterWarmUp(name: String) throws {
        let model = switch name {
        case "everyOp": RandomModels.everyOp(seed: 1)
        case "zippedTwoTask": RandomModels.zippedTwoTask(seed: 1)
        default: DemoModel.make()
        }
        let session = try InferenceModel(model).makeSession(threads: 1)
        let input = seededFloats(count: session.model.inputCount, seed: 1, range: -1...1)
        var sum: Float = 0
        try input.withUnsafeBufferPointer { (p) throws in
            try session.run(input: p)
            mtz_allocation_counting_begin()
            for _ in 0..<10 { try session.run(input: p) }
            let allocations = mtz_allocation_counting_end()
            #expect(allocations == 0, "\(allocations) allocations in 10 runs of \(name)")
            // The counter itself works: reading a result as an array allocates.
            mtz_allocation_counting_begin()
            sum = try session.output(of: session.tasks[0]).reduce(0, +)
            #expect(mtz_allocation_counting_end() > 0)
        }
        #expect(sum.isFinite)
    }
}
