import MTZCore
import MTZRuntime
import MTZTestSupport
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
        #expect(report.distillation == 0.5 && report.temperature == 4, "chains distil their originals by default")
        #expect(report.taskBatchNorms == nil && report.sharedBatchNorms == nil, "chains retrain without task batch norms by default")
        #expect(report.layers.allSatisfy { $0.damping == 1 }, "chains damp the merge by 1 × trace/dimension by default")
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

    @Test("distillation retrains towards the original networks: with every training label wrong, distilling alone keeps both tasks working")
    func distillation() throws {
        let (a, imagesA) = try Self.trained(seed: 1, task: "digits", dataset: .mnist, count: 1200)
        let (b, imagesB) = try Self.trained(seed: 2, task: "clothes", dataset: .fashion, count: 1200)
        func shifted(_ x: LabeledImages) -> LabeledImages {
            LabeledImages(rows: x.rows, cols: x.cols, pixels: x.pixels, labels: x.labels.map { ($0 + 1) % 10 })
        }
        let data = ["digits": shifted(imagesA), "clothes": shifted(imagesB)]
        let testA = try Dataset.load(.mnist, split: .test).subset(0..<300)
        let testB = try Dataset.load(.fashion, split: .test).subset(0..<300)
        func zipped(distill: Float) throws -> (digits: Double, clothes: Double, report: ZipReport) {
            var options = Self.options(.mtz)
            options.iterationScale = 0.5
            options.distillation = distill
            options.temperature = 2
            let (model, report) = try Zipper(models: [a, b], trainingData: data, options: options).run()
            let loaded = try InferenceModel(model)
            return (try Evaluation.topOneError(of: loaded, task: "digits", dataset: .mnist, images: testA).errorRate,
                    try Evaluation.topOneError(of: loaded, task: "clothes", dataset: .fashion, images: testB).errorRate, report)
        }
        let taught = try zipped(distill: 1), labelled = try zipped(distill: 0)
        #expect(taught.report.distillation == 1 && taught.report.temperature == 2 && labelled.report.distillation == nil)
        #expect(taught.digits < 0.3 && taught.clothes < 0.45, "distilled: \(taught.digits), \(taught.clothes)")
        #expect(labelled.digits > taught.digits + 0.2 && labelled.clothes > taught.clothes + 0.2,
                "the wrong labels alone: \(labelled.digits), \(labelled.clothes); distilled: \(taught.digits), \(taught.clothes)")
        var bad = Self.options(.mtz)
        bad.distillation = 1.5
        #expect(throws: ZipError.self) { try Zipper(models: [a, b], trainingData: data, options: bad) }
        bad.distillation = 0.5
        bad.temperature = 0
        #expect(throws: ZipError.self) { try Zipper(models: [a, b], trainingData: data, options: bad) }
    }

    @Test("partial sharing, baselines and the no-retraining mode all produce valid models", arguments: [ZipMethod.euclidean, .random, .mtzAverage])
    func baselines(method: ZipMethod) throws {
        let (a, imagesA) = try Self.trained(seed: 1, task: "a", dataset: .mnist, count: 700)
        let (b, imagesB) = try Self.trained(seed: 2, task: "b", dataset: .mnist, count: 700)
        var options = Self.options(method, share: .perLayer(["fc1": 0.5, "fc2": 0.25]))
        options.iterationScale = method == .mtzAverage ? 0 : 0.05
        let (model, report) = try Zipper(models: [a, b], trainingData: ["a": imagesA, "b": imagesB], options: options).run()
        #expect(report.layers.map(\.shared) == [150, 25])
        #expect((report.distillation == nil) == (options.iterationScale == 0), "only a retraining distils")
        _ = try model.validate()
        let stats = try ModelStatistics(model)
        #expect(stats.sharedParameters > 0 && stats.savedBytes > 0)
    }

    @Test("the automatic mode shares everything under a loose budget and keeps the best candidate within a tight one")
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
        #expect(loose.search?.candidates.count == 1 && loose.search?.chosen == 0)
        options.maxErrorIncrease = 0.002   // 0.2 pp
        options.finalIterations = 100
        options.maxCandidates = 3
        let tight = try Zipper(models: [a, b], trainingData: data, options: options).run().report
        let search = try #require(tight.search)
        #expect((1...3).contains(search.candidates.count))
        #expect(search.iterations == search.candidates.reduce(0) { $0 + $1.iterations })
        guard let chosen = search.chosen.map({ search.candidates[$0] }) else {
            // Nothing fitted: nothing is shared.
            #expect(tight.layers.isEmpty && tight.sharedParameters == 0)
            return
        }
        // The written model is the chosen candidate: its counts, its validation errors, within budget.
        #expect(tight.layers.map(\.shared) == search.layers.prefix(tight.layers.count).map { chosen.shared[$0]! })
        #expect(tight.finalRetraining?.errorAfter == chosen.validationError)
        for task in ["a", "b"] { #expect(chosen.validationError[task]! - tight.originalError[task]! <= 0.002 + 1e-12) }
        #expect(tight.sharedParameters == chosen.sharedParameters)
        // No candidate within the budget shares more.
        #expect(search.candidates.filter(\.withinBudget).allSatisfy { $0.sharedParameters <= chosen.sharedParameters })
    }

    @Test("the automatic mode backs off the layer that hurts on validation images and keeps the harmless one fully shared")
    func automaticModeBacksOff() throws {
        // Two hand-made networks over 2×2 images, one bright pixel (class = which) or none (class 4):
        // fc1 is the same in both (sharing it is free); sharing any fc2 neuron makes both tasks
        // answer "a pixel is bright" for every dark image. The retraining part of the data holds no
        // dark image, only the held-out validation part does: only validation can show the harm.
        let (a, b) = (Self.bitNetwork(task: "a", inverted: false), Self.bitNetwork(task: "b", inverted: true))
        var pixels: [UInt8] = [], labels: [UInt8] = []
        for i in 0..<100 {
            let dark = i >= 60 && i % 5 == 0   // 8 of the 40 validation images
            let bright = dark ? -1 : i % 4
            pixels += (0..<4).map { $0 == bright ? 255 : 0 }
            labels.append(dark ? 4 : UInt8(bright))
        }
        let images = LabeledImages(rows: 2, cols: 2, pixels: pixels, labels: labels)
        var options = ZipOptions(iterationScale: 0, batchSize: 4, hessianImages: 20, maxErrorIncrease: 0.05)
        options.finalIterations = 0
        options.maxCandidates = 12
        let (model, report) = try Zipper(models: [a, b], trainingData: ["a": images, "b": images], options: options).run()
        #expect(report.originalError == ["a": 0, "b": 0])
        let search = try #require(report.search)
        #expect(search.layers == ["fc1", "fc2"])
        // Every level from the fully shared end down fails (fc2 shares too), then fc1 rises alone
        // to all of its neurons and the last raise of fc2 fails.
        #expect(search.candidates.map(\.label) == ["every layer 8/8", "every layer 6/8", "every layer 4/8", "every layer 2/8",
                                                    "raise fc1 to 1/4", "raise fc1 to 2/4", "raise fc1 to 3/4", "raise fc1 to 4/4",
                                                    "raise fc2 to 1/4"])
        #expect(search.candidates.map(\.withinBudget) == [false, false, false, false, true, true, true, true, false])
        for c in search.candidates where !c.withinBudget { #expect(c.validationError["a"]! >= 0.2 && c.validationError["b"]! >= 0.2) }
        #expect(search.chosen == 7)
        #expect(report.layers.map(\.name) == ["fc1"] && report.layers[0].shared == 4)
        #expect(report.layers[0].candidatesTried == [4, 3, 2, 1])
        // Later raises resumed from the best candidate's checkpoint after the layers they share alike.
        #expect(search.candidates[8].reusedLayers == 1)
        let stats = try ModelStatistics(model)
        #expect(stats.layers.first { $0.name == "fc1" }?.computedOnce == true)
        #expect(report.sharedParameters == 4 * 4 + 4)
    }

    /// A network over 2×2 grey images (pixels −1 or +1 after normalisation): fc1 4 (relu) with
    /// h_i = relu(x_i + 1), fc2 4 (relu) passing h on, or its inverse 2 − h when `inverted`, head 5:
    /// which pixel is bright, or class 4 if none is. Exact on such images.
    static func bitNetwork(task: String, inverted: Bool) -> Model {
        var builder = ModelBuilder(input: InputSpec(width: 2, height: 2, format: .gray, mean: [0.5], std: [0.5]), seed: 1)
        var x = ValueRef(builder.flatten("flatten", ValueRef(0)))
        x = ValueRef(builder.fullyConnected("fc1", x, outFeatures: 4, activation: .relu))
        x = ValueRef(builder.fullyConnected("fc2", x, outFeatures: 4, activation: .relu))
        x = ValueRef(builder.fullyConnected("head", x, outFeatures: 5))
        builder.task(task, output: builder.softmax("softmax", x))
        var model = builder.build(metadata: [Evaluation.datasetKey(task: task): "mnist", Evaluation.holdoutKey(task: task): "40"])
        let identity: [Float] = (0..<16).map { $0 % 5 == 0 ? 1 : 0 }
        let sign: Float = inverted ? -1 : 1
        let values: [String: [Float]] = [
            "fc1.weight": identity, "fc1.bias": [1, 1, 1, 1],
            "fc2.weight": identity.map { sign * $0 }, "fc2.bias": inverted ? [2, 2, 2, 2] : [0, 0, 0, 0],
            // Bright pixel k: logit k is 4 (a dark one's 0); class 4's logit is 1.
            "head.weight": (0..<20).map { $0 < 16 && $0 % 5 == 0 ? 2 * sign : 0 },
            "head.bias": inverted ? [4, 4, 4, 4, 1] : [0, 0, 0, 0, 1],
        ]
        for i in model.weights.indices {
            model.weights[i] = WeightTensor(name: model.weights[i].name, shape: model.weights[i].shape, values: values[model.weights[i].name]!)
        }
        return model
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
        options.calibrationBatches = 2
        let (model, report) = try Zipper(models: models, trainingData: ["a": images, "b": images], options: options).run()
        #expect(report.layers.count == 9)
        #expect(report.distillation == 0.5, "residual networks distil their originals by default too")
        #expect(report.taskBatchNorms == true, "residual networks keep task batch norms while retraining by default")
        #expect(report.sharedBatchNorms == true, "and once the trunk is fully shared, one batch norm for all tasks")
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
        #expect(partialReport.sharedBatchNorms == nil, "no retraining: no report of batch norms it kept")
        _ = try partial.validate()
        // Shared batch norms start as the identity: calibrated and folded without training, they
        // leave the shared rows as the merge made them (the stem's over the image, block1.2's over
        // each task's own block1.1).
        var plainShared = stemOnly
        plainShared.sharedBatchNorms = false
        let unnormalizedShared = try Zipper(models: models, trainingData: ["a": images, "b": images], options: plainShared).run().model
        for name in ["stem/conv.shared.weight", "stem/conv.shared.bias", "block1.2/conv.shared.bias", "block1.2/conv.a.inter.weight"] {
            let with = try #require(partial.weights.first { $0.name == name }).values.array
            let without = try #require(unnormalizedShared.weights.first { $0.name == name }).values.array
            let unchanged = isClose(with, without, relative: 1e-5, absolute: 1e-6)
            #expect(unchanged, "\(name): \(FloatComparison(with, without))")
        }
        // Retrained, the partly shared trunk keeps one batch norm for both tasks on its shared rows.
        var stemRetrained = stemOnly
        stemRetrained.iterationScale = 0.01
        let (retrained, retrainedReport) = try Zipper(models: models, trainingData: ["a": images, "b": images], options: stemRetrained).run()
        #expect(retrainedReport.sharedBatchNorms == true && retrainedReport.totalIterations > 0)
        _ = try InferenceModel(retrained)
        // Without retraining, the task batch norms (on by default for residual networks) still
        // renormalise the task-specific layers above the merge; without them those keep the
        // original weights.
        var folded = stemOnly
        folded.taskBatchNorms = false
        var sharedAlone = folded
        sharedAlone.sharedBatchNorms = true
        #expect(throws: ZipError.self, "shared batch norms start from what task batch norms measure") {
            try Zipper(models: models, trainingData: ["a": images, "b": images], options: sharedAlone)
        }
        let unnormalized = try Zipper(models: models, trainingData: ["a": images, "b": images], options: folded).run().model
        let original = try ZipState(models: models).layers.first { $0.name == "block3.1/conv" }!.weights[0]
        func block31(_ model: Model) -> [Float]? { model.weights.first { $0.name == "block3.1/conv.a.weight" }?.values.array }
        #expect(block31(unnormalized) == original)
        #expect(block31(partial) != nil && block31(partial) != original)
        // The automatic mode searches the first layer of each tied group; the others follow it.
        var automatic = options
        automatic.maxErrorIncrease = 1.0
        let auto = try Zipper(models: models, trainingData: ["a": images, "b": images], options: automatic).run().report
        #expect(auto.search?.layers == ["stem/conv", "block1.1/conv", "block2.1/conv", "block2.2/conv", "block3.1/conv", "block3.2/conv"])
        #expect(auto.search?.chosen == 0 && auto.layers.allSatisfy { $0.shared == $0.neurons })
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
        #expect(throws: ZipError.self) { try ShareSpec(parsing: "conv1=1,conv1=0") } // a layer named twice
        #expect(try ShareSpec(parsing: "conv1=1,fc1=0.25") == .perLayer(["conv1": 1, "fc1": 0.25]))
    }

    @Test("retraining that diverges is a clear numerical error in the fixed mode and a candidate over budget in the automatic mode")
    func divergence() throws {
        let models = ["a", "b"].map { Architecture.lenet300.build(task: $0, labels: DatasetName.mnist.classNames, mean: 0.5, std: 0.5, seed: 1) }
        let images = try Dataset.load(.mnist, split: .train).subset(0..<300)
        var options = Self.options(.mtz)
        options.learningRate = 1e9
        options.validationImages = 50
        #expect {
            try Zipper(models: models, trainingData: ["a": images, "b": images], options: options).run()
        } throws: { error in
            guard case ZipError.numerical(let why) = error else { return false }
            return why.contains("retraining diverged") && why.contains("at learning rate 1e+09, 3.3333334e+08, 1.1111111e+08") && why.contains("--lr")
        }
        options.maxErrorIncrease = 1
        options.maxCandidates = 2
        let (model, report) = try Zipper(models: models, trainingData: ["a": images, "b": images], options: options).run()
        let search = try #require(report.search)
        #expect(search.candidates.count == 2 && search.chosen == nil)
        #expect(search.candidates.allSatisfy { !$0.withinBudget && $0.failure?.contains("retraining diverged") == true })
        #expect(try ModelStatistics(model).sharedParameters == 0, "no candidate fitted: nothing is shared")
    }

    @Test("a retraining that diverges starts again from the same state at a third of the learning rate, at most twice")
    func divergenceRestart() throws {
        let (a, imagesA) = try Self.trained(seed: 1, task: "digits", dataset: .mnist, count: 600)
        let (b, imagesB) = try Self.trained(seed: 2, task: "clothes", dataset: .fashion, count: 600)
        let data = ["digits": imagesA, "clothes": imagesB]
        var options = Self.options(.mtz, share: .perLayer(["fc1": 1]))
        options.learningRate = 0.03
        // fc1's retraining diverges once (injected): it runs again at 0.01 from the merged state.
        let restarted = try Zipper(models: [a, b], trainingData: data, options: options)
        restarted.injectedDivergences = 1
        var restarts: [ZipProgress] = []
        let (model, report) = try restarted.run { if $0.phase == .restarting { restarts.append($0) } }
        #expect(restarts.count == 1 && restarts.first?.layer == "fc1")
        #expect(restarts.first?.divergedLearningRate == 0.03 && restarts.first?.learningRate == 0.03 / 3)
        #expect(report.layers.map(\.learningRate) == [0.03 / 3], "the report names the rate that trained fc1")
        // The attempt that diverged left no trace: the same as retraining at 0.01 in the first place.
        options.learningRate = 0.03 / 3
        let (direct, directReport) = try Zipper(models: [a, b], trainingData: data, options: options).run()
        #expect(model.weights.map(\.values.array) == direct.weights.map(\.values.array) && model.weights.map(\.name) == direct.weights.map(\.name))
        #expect(directReport.layers.map(\.learningRate) == [nil])

        // Three divergences in a row: the zip fails naming every rate tried.
        options.learningRate = 0.03
        let failing = try Zipper(models: [a, b], trainingData: data, options: options)
        failing.injectedDivergences = 3
        #expect {
            try failing.run()
        } throws: { error in
            guard case ZipError.numerical(let why) = error else { return false }
            return why.contains("retraining diverged") && why.contains("at learning rate 0.03, 0.01, 0.00333") && why.contains("--lr")
        }
    }

    @Test("--share and --iterations name hidden layers: heads, unknown names, layers above an unshared one and tied layers are refused before any work")
    func layerNames() throws {
        let lenet = ["a", "b"].map { Architecture.lenet5.build(task: $0, labels: DatasetName.mnist.classNames, mean: 0.5, std: 0.5, seed: 1) }
        let images = try Dataset.load(.mnist, split: .train).subset(0..<300)
        func refusal(_ share: ShareSpec, iterations: [String: Int] = [:], models: [Model]) -> String? {
            var options = ZipOptions(share: share, iterations: iterations)
            options.validationImages = 50
            do { _ = try Zipper(models: models, trainingData: ["a": images, "b": images], options: options) } catch { return "\(error)" }
            return nil
        }
        #expect(refusal(.perLayer(["conv1": 1, "conv2": 0.5]), iterations: ["fc1": 10], models: lenet) == nil)
        #expect(refusal(.perLayer(["conv9": 1]), models: lenet)?.contains("no hidden layer 'conv9'") == true)
        #expect(refusal(.perLayer(["fc2": 1]), models: lenet)?.contains("'fc2' is a task head") == true)
        #expect(refusal(.uniform(1), iterations: ["fc2": 5], models: lenet)?.contains("'fc2' is a task head") == true)
        #expect(refusal(.perLayer(["conv1": 1, "fc1": 1]), models: lenet)?.contains("fc1 cannot share while conv2") == true)
        // 0.02 of conv1's 20 neurons rounds to none, of conv2's 50 to one.
        #expect(refusal(.uniform(0.02), models: lenet)?.contains("give at least 0.025") == true)
        #expect(refusal(.uniform(0), models: lenet) == nil, "nothing shared anywhere is a consistent request")

        // Residual networks: mtz inspect's layer names (stem) stand for the node (stem/conv); a layer
        // tied to an earlier one by a residual add follows it.
        let hidden: [ZipOptions.NamedLayer] = [
            .init(name: "stem/conv", group: "stem", neurons: 16),
            .init(name: "block1.1/conv", group: "block1.1", neurons: 16),
            .init(name: "block1.2/conv", group: "block1.2", neurons: 16, tiedTo: 0),
        ]
        let resolved = try ZipOptions(share: .perLayer(["stem": 1, "block1.1": 0.5]), iterations: ["block1.2": 7])
            .resolvingLayerNames(hidden: hidden, heads: ["fc"])
        #expect(resolved.share == .perLayer(["stem/conv": 1, "block1.1/conv": 0.5]))
        #expect(resolved.iterations == ["block1.2/conv": 7])
        #expect(throws: ZipError.invalidOption("--share names layer 'stem/conv' twice")) {
            try ZipOptions(share: .perLayer(["stem": 1, "stem/conv": 1])).resolvingLayerNames(hidden: hidden, heads: ["fc"])
        }
        #expect(try ZipOptions(share: .perLayer(["stem": 0.5, "block1.2": 0.5])).resolvingLayerNames(hidden: hidden, heads: []).share
                == .perLayer(["stem/conv": 0.5, "block1.2/conv": 0.5]), "a tied layer may repeat its leader's fraction")
        #expect {
            try ZipOptions(share: .perLayer(["stem": 1, "block1.2": 0.5])).resolvingLayerNames(hidden: hidden, heads: [])
        } throws: { "\($0)".contains("block1.2 is tied to stem") }
        #expect {
            try ZipOptions(share: .perLayer(["block1.2": 1])).resolvingLayerNames(hidden: hidden, heads: [])
        } throws: { "\($0)".contains("while stem shares 0") }
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
