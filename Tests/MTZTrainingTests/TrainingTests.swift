import MTZCore
import MTZImage
import MTZRuntime
import MTZTestSupport
import Testing
@testable import MTZTraining

/// Training on real data, determinism, joint multi-task training, and the deployed result.
@Suite struct TrainingTests {
    static func mnist(_ split: DatasetSplit, _ count: Int) throws -> LabeledImages {
        let all = try Dataset.load(.mnist, split: split)
        return all.subset(0..<count)
    }

    static func lenet300(seed: UInt64, task: String = "digits") -> Model {
        Architecture.lenet300.build(task: task, labels: DatasetName.mnist.classNames, mean: Architecture.inputMean,
                                    std: Architecture.inputStd, seed: seed)
    }

    @Test("a short real MNIST run clearly beats chance, and the deployed model agrees with the trainer")
    func realDataBeatsChance() throws {
        let train = try Self.mnist(.train, 2000)
        let test = try Self.mnist(.test, 500)
        let model = try TrainableModel(Self.lenet300(seed: 1))
        let trainer = try Trainer(model: model, options: TrainingOptions(epochs: 2, batchSize: 32, learningRate: 0.02, seed: 1))
        let reports = try trainer.train(["digits": TaskData(images: train)])
        #expect(reports.count == 2)
        #expect(reports[1].loss["digits"]! < reports[0].loss["digits"]!)
        let (error, _) = try trainer.evaluate(task: "digits", images: test)
        #expect(error < 0.25, "test error \(error) after 2 epochs on 2000 images (chance: 0.9)")

        // The exported model, run by the inference runtime, makes the same predictions.
        let deployed = try InferenceModel(try model.exportModel().optimized())
        let result = try Evaluation.topOneError(of: deployed, task: "digits", dataset: .mnist, images: test)
        #expect(abs(result.errorRate - error) <= 0.002, "runtime \(result.errorRate) vs trainer \(error)")
    }

    @Test("training is deterministic for a seed")
    func deterministic() throws {
        let train = try Self.mnist(.train, 256)
        func run() throws -> [[Float]] {
            let model = try TrainableModel(Self.lenet300(seed: 3))
            _ = try Trainer(model: model, options: TrainingOptions(epochs: 1, batchSize: 50, seed: 7)).train(["digits": TaskData(images: train)])
            return model.values
        }
        #expect(try run() == run())
    }

    @Test("two tasks train jointly: one mini-batch per task per step, both losses fall")
    func jointTraining() throws {
        let train = try Self.mnist(.train, 1000)
        // Task "even" learns the digit, task "copy" too but on other images: two heads over two
        // trunks packed in one model; then the same with a shared trunk via a shared weight index.
        let packed = try Model.combining([Self.lenet300(seed: 1, task: "a"), Self.lenet300(seed: 2, task: "b")])
        let model = try TrainableModel(packed)
        let trainer = try Trainer(model: model, options: TrainingOptions(epochs: 1, batchSize: 32, learningRate: 0.02, seed: 1))
        let data = ["a": TaskData(images: train.subset(0..<500)), "b": TaskData(images: train.subset(500..<1000))]
        let before = try trainer.runIterations(1, data: data, learningRate: 0)
        let after = try trainer.runIterations(40, data: data, learningRate: 0.02)
        #expect(after["a"]! < before["a"]! && after["b"]! < before["b"]!)
        #expect(throws: TrainingError.self) { try trainer.runIterations(1, data: ["c": data["a"]!], learningRate: 0.01) }
    }

    @Test("calibrating batch norms sets their running statistics to the data's, without changing a parameter")
    func calibrationMeasuresTheData() throws {
        let images = try Self.mnist(.train, 128)
        let model = Architecture.resnet.build(task: "digits", labels: DatasetName.mnist.classNames, mean: Architecture.inputMean,
                                              std: Architecture.inputStd, seed: 3)
        let trainable = try TrainableModel(model)
        let trainer = try Trainer(model: trainable, options: TrainingOptions(batchSize: 32, seed: 2))
        let before = trainable.values
        try trainer.calibrateBatchNorms(["digits": TaskData(images: images)], batches: 60)
        #expect(trainable.values == before)
        // The statistics of the stem batch norm's input (the stem convolution) over the 128 images.
        let bn = model.nodes.firstIndex { $0.name == "stem/bn" }!
        let conv = model.nodes[bn].inputs[0].node
        let preprocessor = Preprocessor(spec: model.input)
        var sum = [Double](repeating: 0, count: 16), squares = sum
        for i in 0..<images.count {
            var input = [Float](repeating: 0, count: 28 * 28)
            input.withUnsafeMutableBufferPointer { preprocessor.run(images.grayImage(at: i), into: $0) }
            for (j, v) in try ReferenceInterpreter.runTensors(model, input: input)[conv].values.enumerated() {
                sum[j % 16] += Double(v)
                squares[j % 16] += Double(v) * Double(v)
            }
        }
        let n = Double(images.count * 28 * 28)
        let statistics = try #require(trainable.batchNormStatistics(node: bn))
        #expect(trainable.batchNormStatistics(node: conv) == nil)
        for c in 0..<16 {
            let mean = sum[c] / n, variance = squares[c] / n - mean * mean
            // A running average over random batches of 32: within a few percent of the whole set.
            #expect(abs(Double(statistics.mean[c]) - mean) <= 0.1 * variance.squareRoot() + 1e-4, "channel \(c) mean")
            #expect(abs(Double(statistics.variance[c]) - variance) <= 0.15 * variance + 1e-6, "channel \(c) variance")
        }
    }

    @Test("bad options are refused")
    func badOptions() throws {
        let model = try TrainableModel(Self.lenet300(seed: 1))
        #expect(throws: TrainingError.self) { try Trainer(model: model, options: TrainingOptions(batchSize: 0)) }
        #expect(throws: TrainingError.self) { try Trainer(model: model, options: TrainingOptions(learningRate: -1)) }
        let trainer = try Trainer(model: model, options: TrainingOptions(epochs: 1))
        let wrongSize = LabeledImages(rows: 4, cols: 4, pixels: [UInt8](repeating: 0, count: 16), labels: [1])
        #expect(throws: TrainingError.self) { try trainer.train(["digits": TaskData(images: wrongSize)]) }
        let badLabel = LabeledImages(rows: 28, cols: 28, pixels: [UInt8](repeating: 0, count: 784), labels: [12])
        #expect(throws: TrainingError.self) { try trainer.train(["digits": TaskData(images: badLabel)]) }
    }
}
