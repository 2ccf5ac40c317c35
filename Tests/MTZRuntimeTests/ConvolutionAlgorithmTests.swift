import Foundation
import MTZCore
import MTZImage
import MTZRuntime
import MTZTestSupport
import Testing

/// The runtime's choice of convolution algorithm (Winograd vs GEMM), the per-node profile, and the
/// benchmark networks.
@Suite struct ConvolutionAlgorithmTests {
    /// Stated tolerance for Winograd layers, relative to each value's magnitude over the whole node:
    /// max |runtime − reference| ≤ 1e-4 · max |reference| (see WinogradTests in CMTZKernelsTests for why
    /// the bound is per node, not per element).
    static let magnitudeTolerance: Float = 1e-4

    /// `convNet` with every node a task output, so each intermediate value is compared.
    static func everyNodeModel(seed: UInt64) -> Model {
        var model = RandomModels.convNet(seed: seed, inputSize: 18, channels: [8, 24, 40])
        model.tasks = model.nodes.indices.dropFirst().map { TaskHead(name: "n\($0)", output: $0, labels: []) }
        return model
    }

    @Test("automatic takes Winograd for eligible convs; every node matches the reference at every ISA",
          arguments: KernelISA.supported)
    func winogradMatchesReference(isa: KernelISA) throws {
        let model = Self.everyNodeModel(seed: 21)
        let x = RandomModels.input(for: model, seed: 5)
        let values = try ReferenceInterpreter.run(model, input: x)
        let automatic = try InferenceModel(model, isa: isa)
        let gemmOnly = try InferenceModel(model, isa: isa, convolutions: .gemmOnly)
        // 18×18×3 → 8 (3 input channels: GEMM), then 8→8, 8→24, 24→24, 24→40, 40→40 on Winograd.
        #expect(automatic.convolutionAlgorithmCounts == [.gemm: 1, .winograd: 5])
        #expect(gemmOnly.convolutionAlgorithmCounts == [.gemm: 6])
        #expect(automatic.packedWeightBytes > gemmOnly.packedWeightBytes)
        let got = try automatic.makeSession().run(input: x)
        for i in model.nodes.indices.dropFirst() {
            let g = got["n\(i)"]!, e = values[i]
            let magnitude = e.reduce(Float(0)) { max($0, abs($1)) }
            let worst = zip(g, e).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            #expect(worst <= Self.magnitudeTolerance * max(magnitude, 1e-3),
                    "node \(i) '\(model.nodes[i].name)' at \(isa): off by \(worst) (magnitude \(magnitude))")
        }
    }

    @Test("the shipped LeNet-5: F(2x2,5x5) for conv2, GEMM for the 1-channel conv1, the GEMM path's scores")
    func lenetWinograd5x5() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let path = root.appendingPathComponent("Models/lenet5-mnist-fashion-zipped.mtz").path
        let automatic = try InferenceModel(contentsOf: path)
        let gemmOnly = try InferenceModel(contentsOf: path, convolutions: .gemmOnly)
        #expect(automatic.convolutionAlgorithmCounts == [.gemm: 1, .winograd: 1])
        #expect(automatic.winogradVariants == ["F(2x2,5x5)"])
        #expect(gemmOnly.winogradVariants.isEmpty)
        for sample in ["Samples/mnist/test-0000-7.png", "Samples/fashion/test-0000-9.jpg"] {
            let image = try ImageDecoder.decode(contentsOf: root.appendingPathComponent(sample).path)
            let got = try automatic.makeSession().run(image: image)
            let want = try gemmOnly.makeSession().run(image: image)
            for task in ["mnist", "fashion"] {
                let worst = zip(got[task]!, want[task]!).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
                #expect(worst <= 1e-4, "\(sample) \(task): probabilities differ by \(worst)")
            }
        }
    }

    @Test("Winograd results do not depend on the thread count", arguments: [2, 3])
    func winogradThreadInvariance(threads: Int) throws {
        // 64×64×16 (256 tiles: split by tiles at 2 threads), 32×32×40 and 16×16×72 (64 and 16 tiles:
        // split by output-channel panels).
        let model = RandomModels.convNet(seed: 8, inputSize: 64, channels: [16, 40, 72])
        let loaded = try InferenceModel(model, convolutions: .winogradWhereEligible)
        #expect(loaded.convolutionAlgorithmCounts[.winograd] == 6)
        let x = RandomModels.input(for: model, seed: 2)
        let one = try loaded.makeSession(threads: 1).run(input: x)
        let many = try loaded.makeSession(threads: threads).run(input: x)
        #expect(one == many)
    }

    @Test("the profile lists every executed node with its FLOPs and share of the run")
    func profile() throws {
        let loaded = try InferenceModel(RandomModels.convNet(seed: 4))
        let session = try loaded.makeSession()
        let result = try ModelBenchmark.run(session, iterations: 3, warmup: 1, profile: true)
        let nodes = try #require(result.profile)
        #expect(nodes.count == session.executedNodeCount - 1)
        #expect(nodes.contains { $0.op == "conv/winograd" && $0.flops > 0 })
        #expect(nodes.allSatisfy { $0.percentOfRun >= 0 && $0.medianSeconds >= 0 })
        #expect(try ModelBenchmark.run(session, iterations: 2).profile == nil)
        #expect(ModelBenchmark.peakResidentBytes() > 0)
    }

    @Test("benchmark networks have the published amounts of work")
    func benchmarkModels() throws {
        let vgg = try ModelStatistics(BenchmarkModels.make(.vgg16))
        #expect(vgg.parameters == 14_714_688)
        #expect(abs(Double(vgg.flopsTogether) / 1e9 - 30.7) < 0.05)
        let two = BenchmarkModels.make(.vgg16TwoTask)
        #expect(two.tasks.map(\.name) == ["task1", "task2"])
        let twoStats = try ModelStatistics(two)
        #expect(twoStats.flopsTogether < twoStats.flopsSeparate * 51 / 100)
        let resnet = try ModelStatistics(BenchmarkModels.make(.resnet18))
        #expect(resnet.parameters > 11_600_000 && resnet.parameters < 11_800_000)
        #expect(abs(Double(resnet.flopsTogether) / 1e9 - 3.64) < 0.05)
    }
}
