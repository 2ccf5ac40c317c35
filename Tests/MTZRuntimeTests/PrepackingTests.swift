import Foundation
import MTZCore
import MTZRuntime
import MTZTestSupport
import Testing

/// Pre-packed convolution weights (`PACK`, `mtz prepack`): used in place when they match, ignored when
/// they do not, and never a change in results.
@Suite struct PrepackingTests {
    /// A model with GEMM, Winograd, depthwise and grouped convolutions and folded batch norms.
    static func models() -> [(String, Model)] {
        [("everyOp", RandomModels.everyOp(seed: 11)), ("convNet", RandomModels.convNet(seed: 12, inputSize: 20, channels: [8, 24]))]
    }

    static func write(_ model: Model, packedWeights: [PackedWeights], name: String) throws -> String {
        try temporaryTestFile(name, bytes: try ModelFile.encode(model, packedWeights: packedWeights), folder: "mtz-prepack")
    }

    @Test("matching variants are mapped: nothing packed at load, the same results bit for bit", arguments: [0, 1])
    func mappedAndIdentical(index: Int) throws {
        let (name, model) = Self.models()[index]
        let plainPath = try Self.write(model, packedWeights: [], name: "\(name)-plain.mtz")
        let variants = try Prepacking.variants(for: model, isas: [.selected])
        #expect(!variants.isEmpty)
        let packedPath = try Self.write(model, packedWeights: variants, name: "\(name)-packed.mtz")
        let plain = try InferenceModel(contentsOf: plainPath)
        let prepacked = try InferenceModel(contentsOf: packedPath)
        let convFloats = variants.reduce(0) { $0 + $1.values.count }
        // Only the batch-norm scale/shift copies (if any) remain packed; the convolutions are mapped.
        #expect(prepacked.packedWeightBytes <= plain.packedWeightBytes - 4 * convFloats)
        #expect(prepacked.mappedWeightBytes == plain.mappedWeightBytes + 4 * convFloats)
        let x = RandomModels.input(for: model, seed: 3)
        #expect(try prepacked.makeSession().run(input: x) == plain.makeSession().run(input: x))
    }

    @Test("variants of other weights, another ISA or another algorithm are ignored")
    func mismatchesAreIgnored() throws {
        let model = RandomModels.convNet(seed: 13, inputSize: 16, channels: [8, 16])
        let other = RandomModels.convNet(seed: 14, inputSize: 16, channels: [8, 16]) // same shapes, other weights
        let x = RandomModels.input(for: model, seed: 4)
        let otherISA: KernelISA = KernelISA.selected == .scalar ? .avx2 : .scalar
        let cases: [(String, [PackedWeights], ConvolutionPolicy)] = [
            ("other weights", try Prepacking.variants(for: other, isas: [.selected]), .automatic),
            ("other ISA", try Prepacking.variants(for: model, isas: [otherISA]), .automatic),
            ("other algorithm", try Prepacking.variants(for: model, isas: [.selected], convolutions: .gemmOnly), .winogradWhereEligible),
        ]
        for (what, variants, policy) in cases {
            let path = try Self.write(model, packedWeights: variants, name: "mismatch.mtz")
            let loaded = try InferenceModel(contentsOf: path, convolutions: policy)
            let reference = try InferenceModel(contentsOf: try Self.write(model, packedWeights: [], name: "plain.mtz"), convolutions: policy)
            #expect(loaded.packedWeightBytes == reference.packedWeightBytes, "\(what): something was mapped")
            #expect(try loaded.makeSession().run(input: x) == reference.makeSession().run(input: x), "\(what)")
        }
    }

    @Test("the shipped default model carries packed weights for avx512, avx2 and neon")
    func shippedModelIsPrepacked() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let (_, packed) = try ModelFile.readWithPackedWeights(contentsOf: root.appendingPathComponent("Models/lenet5-mnist-fashion-zipped.mtz").path)
        let isas = Set(packed.map(\.isa))
        #expect(isas.count == 3 && packed.count == 6)
        if [KernelISA.avx512, .avx2, .neon].contains(KernelISA.selected) {
            let loaded = try InferenceModel(contentsOf: root.appendingPathComponent("Models/lenet5-mnist-fashion-zipped.mtz").path)
            #expect(loaded.packedWeightBytes == 0) // conv1 and conv2 mapped, the FC layers read in place
        }
    }
}
