import MTZCore
import MTZRuntime
import Testing
@testable import MTZCompiler
@testable import MTZTraining

/// The whole zipping pipeline on small real networks (MNIST subsets, debug-build friendly sizes).
@Suite struct ZipperTests {
    /// A LeNet-300-100 trained for one epoch on the first `count` MNIST images (last 200 held out).
    static func trained(seed: UInt64, task: String, dataset: DatasetName, count: Int) throws -> (Model, LabeledImages) {
        let images = try Dataset.load(dataset, split: .train).subset(0..<count)
        let model = Architecture.lenet300.build(task: task, labels: dataset.classNames, mean: Architecture.inputMean,
                                                std: Architecture.inputStd, seed: seed,
                                                metadata: [Evaluation.datasetKey(task: task): dataset.rawValue,
                                                           Evaluation.holdoutKey(task: task): "200"])
        let trainable = try TrainableModel(model)
        _ = try Trainer(model: trainable, options: TrainingOptions(epochs: 2, batchSize: 32, learningRate: 0.02, seed: seed))
            .train([task: TaskData(images: images.subset(0..<(count - 200)))])
        return (try trainable.exportModel().optimized(), images)
    }

    static func options(_ method: ZipMethod, share: ShareSpec = .uniform(1)) -> ZipOptions {
        var options = ZipOptions(share: share, method: method, iterationScale: 0.1, batchSize: 32, hessianImages: 200, seed: 3)
        options.finalIterations = 0
        return options
    }

    @Test("fully zipping two MNIST/Fashion networks shares every hidden layer and keeps both tasks working")
    func fullZip() throws {
        let (a, imagesA) = try Self.trained(seed: 1, task: "digits", dataset: .mnist, count: 1200)
        let (b, imagesB) = try Self.trained(seed: 2, task: "clothes", dataset: .fashion, count: 1200)
        let zipper = try Zipper(models: [a, b], trainingData: ["digits": imagesA, "clothes": imagesB], options: Self.options(.mtz))
        var phases = Set<String>()
        let (model, report) = try zipper.run { phases.insert($0.phase.rawValue) }
        #expect(phases.isSuperset(of: ["Hessians", "pairing", "retraining", "validating"]))
        #expect(report.layers.map(\.name) == ["fc1", "fc2"])
        #expect(report.layers.map(\.shared) == [300, 100])
        for layer in report.layers {
            #expect(layer.iterations > 0 && layer.cost != nil)
            for task in ["digits", "clothes"] { #expect(layer.errorAfterRetraining[task]! < 0.6, "\(layer.name) \(task)") }
        }
        let stats = try ModelStatistics(model)
        let hidden = stats.layers.filter { ["fc1", "fc2"].contains($0.name) }
        #expect(hidden.count == 2 && hidden.allSatisfy { $0.computedOnce })
        #expect(hidden.allSatisfy { $0.specificChannels.values.allSatisfy { $0 == 0 } })
        #expect(stats.savedFraction > 0.45)
        // The zipped model runs in the runtime and still beats chance on both tasks.
        let loaded = try InferenceModel(model)
        let testA = try Dataset.load(.mnist, split: .test).subset(0..<300)
        let testB = try Dataset.load(.fashion, split: .test).subset(0..<300)
        #expect(try Evaluation.topOneError(of: loaded, task: "digits", dataset: .mnist, images: testA).errorRate < 0.5)
        #expect(try Evaluation.topOneError(of: loaded, task: "clothes", dataset: .fashion, images: testB).errorRate < 0.6)
    }

    @Test("partial sharing, baselines and the no-retraining mode all produce valid models", arguments: [ZipMethod.euclidean, .random, .mtzAverage])
    func baselines(method: ZipMethod) throws {
        let (a, imagesA) = try Self.trained(seed: 1, task: "a", dataset: .mnist, count: 700)
        let (b, imagesB) = try Self.trained(seed: 2, task: "b", dataset: .mnist, count: 700)
        var options = Self.options(method, share: .perLayer(["fc1": 0.5, "fc2": 0.25]))
        options.iterationScale = method == .mtzAverage ? 0 : 0.05
        let (model, report) = try Zipper(models: [a, b], trainingData: ["a": imagesA, "b": imagesB], options: options).run()
        #expect(report.layers.map(\.shared) == [150, 25])
        _ = try model.validate()
        let stats = try ModelStatistics(model)
        #expect(stats.sharedParameters > 0 && stats.savedBytes > 0)
    }

    @Test("the automatic mode shares everything under a loose budget and keeps every accepted layer within a tight one")
    func automaticMode() throws {
        let (a, imagesA) = try Self.trained(seed: 1, task: "a", dataset: .mnist, count: 700)
        let (b, imagesB) = try Self.trained(seed: 2, task: "b", dataset: .mnist, count: 700)
        var options = Self.options(.mtz)
        options.iterationScale = 0.05
        options.maxErrorIncrease = 1.0   // 100 pp: anything goes
        let data = ["a": imagesA, "b": imagesB]
        let loose = try Zipper(models: [a, b], trainingData: data, options: options).run().report
        #expect(loose.layers.map(\.shared) == [300, 100])
        #expect(loose.layers.allSatisfy { $0.candidatesTried == [$0.neurons] })
        options.maxErrorIncrease = 0.002   // 0.2 pp
        options.finalIterations = 200      // a candidate over budget gets 200 × 0.05 / 4 ≈ 3 more iterations
        let tight = try Zipper(models: [a, b], trainingData: data, options: options).run().report
        for layer in tight.layers {
            #expect(layer.candidatesTried?.last == layer.shared)
            for task in ["a", "b"] {
                #expect(layer.errorAfterRetraining[task]! - tight.originalError[task]! <= 0.002 + 1e-12, "\(layer.name) \(task)")
            }
        }
        #expect(tight.sharedParameters <= loose.sharedParameters)
    }

    @Test("three networks zip in one after another: every task keeps its head, the trunk is shared by all, final retraining is reported")
    func threeNetworks() throws {
        let (a, imagesA) = try Self.trained(seed: 1, task: "a", dataset: .mnist, count: 700)
        let (b, imagesB) = try Self.trained(seed: 2, task: "b", dataset: .mnist, count: 700)
        let (c, imagesC) = try Self.trained(seed: 3, task: "c", dataset: .fashion, count: 700)
        var options = Self.options(.mtz, share: .perLayer(["fc1": 1, "fc2": 0.5]))
        options.iterationScale = 0.05
        options.finalIterations = 200   // × iterationScale 0.05
        options.schedule = .cosine
        options.momentum = 0.9
        let (model, report) = try Zipper(models: [a, b, c], trainingData: ["a": imagesA, "b": imagesB, "c": imagesC], options: options).run()
        #expect(report.tasks == ["a", "b", "c"])
        #expect(report.layers.map(\.shared) == [300, 50])
        #expect(report.finalRetraining?.iterations == 10)
        #expect(report.totalIterations == report.layers.reduce(10) { $0 + $1.iterations })
        for layer in report.layers { #expect(Set(layer.errorAfterRetraining.keys) == ["a", "b", "c"]) }
        #expect(model.tasks.map(\.name) == ["a", "b", "c"])
        let stats = try ModelStatistics(model)
        let fc1 = try #require(stats.layers.first { $0.name == "fc1" })
        #expect(fc1.computedOnce)
        let fc2 = try #require(stats.layers.first { $0.name == "fc2" })
        #expect(fc2.specificChannels.values.allSatisfy { $0 == 50 })
        // Three networks share what two did and more: fc1 once instead of three times.
        #expect(stats.separateParameters == 3 * (235_500 + 30_100 + 1_010))
        #expect(stats.savedFraction > 0.55)
        // Each task still beats chance clearly.
        let loaded = try InferenceModel(model)
        let test = try Dataset.load(.mnist, split: .test).subset(0..<300)
        for task in ["a", "b"] {
            #expect(try Evaluation.topOneError(of: loaded, task: task, dataset: .mnist, images: test).errorRate < 0.5)
        }
        #expect(throws: ZipError.self) {
            try Zipper(models: [a], trainingData: ["a": imagesA], options: options)
        }
    }

    @Test("residual networks zip end to end: tied layers are retrained with the later one, the trunk is computed once")
    func residualNetworks() throws {
        // Small on purpose (a debug build runs this): 200 images, 40 held out, 2 images per Hessian.
        let images = try Dataset.load(.mnist, split: .train).subset(0..<200)
        let models = ["a", "b"].enumerated().map { i, task in
            Architecture.resnet.build(task: task, labels: DatasetName.mnist.classNames, mean: Architecture.inputMean,
                                      std: Architecture.inputStd, seed: UInt64(7 + i),
                                      metadata: [Evaluation.datasetKey(task: task): "mnist", Evaluation.holdoutKey(task: task): "40"])
        }
        var options = Self.options(.mtz)
        options.iterationScale = 0.01
        options.batchSize = 8
        options.hessianImages = 2
        let (model, report) = try Zipper(models: models, trainingData: ["a": images, "b": images], options: options).run()
        #expect(report.layers.count == 9)
        #expect(report.layers.filter { $0.retrainedWith != nil }.map(\.name) == ["stem/conv", "block1.1/conv", "block2.2/conv", "block3.2/conv"])
        #expect(report.layers.allSatisfy { $0.shared == $0.neurons })
        let stats = try ModelStatistics(model)
        #expect(stats.layers.filter { !["input", "fc", "softmax"].contains($0.name) }.allSatisfy { $0.computedOnce })
        #expect(stats.savedFraction > 0.45)
        // Sharing only the stem still merges the layer tied to it, and nothing else.
        var stemOnly = options
        stemOnly.share = .perLayer(["stem/conv": 1])
        stemOnly.iterationScale = 0
        let (partial, partialReport) = try Zipper(models: models, trainingData: ["a": images, "b": images], options: stemOnly).run()
        #expect(partialReport.layers.map(\.name) == ["stem/conv", "block1.2/conv"])
        _ = try partial.validate()
        var automatic = options
        automatic.maxErrorIncrease = 0.01
        #expect(throws: ZipError.self) { try Zipper(models: models, trainingData: ["a": images, "b": images], options: automatic) }
    }

    @Test("networks of different architectures are refused before any work, naming the difference")
    func refusals() throws {
        let a = Architecture.lenet300.build(task: "a", labels: DatasetName.mnist.classNames, mean: 0.5, std: 0.5, seed: 1)
        let b = Architecture.lenet5.build(task: "b", labels: DatasetName.mnist.classNames, mean: 0.5, std: 0.5, seed: 1)
        let images = try Dataset.load(.mnist, split: .train).subset(0..<500)
        #expect(throws: ModelError.self) {
            try Zipper(models: [a, b], trainingData: ["a": images, "b": images], options: ZipOptions())
        }
        let c = Architecture.lenet300.build(task: "c", labels: DatasetName.mnist.classNames, mean: 0.13, std: 0.3, seed: 1)
        #expect {
            try Zipper(models: [a, c], trainingData: ["a": images, "c": images], options: ZipOptions())
        } throws: { String(describing: $0).contains("mean") }
        #expect(throws: ZipError.self) { try ShareSpec(parsing: "fc1=2") }
        #expect(try ShareSpec(parsing: "conv1=1,fc1=0.25") == .perLayer(["conv1": 1, "fc1": 0.25]))
    }
}

@Suite struct BalancedHessianTests {
    @Test("balancing scales a Hessian to an average diagonal of one and keeps its shape")
    func unitTrace() {
        let h: [Double] = [4, 1, 0, 1, 9, 2, 0, 2, 5]
        let b = Zipper.unitTrace(h, n: 3)
        #expect(abs((b[0] + b[4] + b[8]) / 3 - 1) < 1e-12)
        #expect(abs(b[1] / b[0] - h[1] / h[0]) < 1e-12)
        #expect(Zipper.unitTrace([0, 0, 0, 0], n: 2) == [0, 0, 0, 0])
    }
}
