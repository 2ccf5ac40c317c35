import ArgumentParser
import Foundation
import MTZCore
import MTZRuntime
import MTZTraining

/// `mtz train`: train a single-task network on MNIST or Fashion-MNIST.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a single-task network on MNIST or Fashion-MNIST and write it as a .mtz model.",
        discussion: """
            Architectures: \(Architecture.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: "; ")).

            Mini-batch SGD with momentum 0.9 and weight decay 5e-4, cosine learning-rate decay by default; \
            deterministic for a given --seed (weights, shuffling). After every epoch the test error (full test \
            split) is printed. The model records its dataset, so `mtz eval MODEL` needs no flags. Every model \
            takes 28x28 gray input normalised as (pixel/255 - 0.5)/0.5, whatever the dataset, so models can be \
            packed or zipped together. Data comes \
            from scripts/fetch-datasets.sh (or --data / MTZ_DATA_DIR).
            """
    )

    @Option(name: .long, help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var arch: String

    @Option(name: .long, help: "Dataset: \(DatasetName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var dataset: String

    @Option(name: .long, help: "Seed of the initial weights and of the shuffling.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Epochs.")
    var epochs: Int = 10

    @Option(name: .long, help: "Mini-batch size.")
    var batch: Int = 64

    @Option(name: .long, help: "Base learning rate.")
    var lr: Float = 0.01

    @Option(name: .long, help: "Learning-rate schedule: \(LearningRateSchedule.allCases.map(\.rawValue).joined(separator: ", ")).")
    var schedule: String = "cosine"

    @Option(name: .long, help: "Weight decay.")
    var weightDecay: Float = 5e-4

    @Option(name: .long, help: "Name of the task (default: the dataset name).")
    var task: String?

    @Option(name: .long, help: "Directory holding the datasets (default: $MTZ_DATA_DIR or ./data).")
    var data: String?

    @Option(name: .long, help: "Use only the first N training and test images (quick experiments).")
    var limit: Int?

    @Option(name: .long, help: "Hold out the last N training images: never trained on, they are the validation set of mtz zip.")
    var holdout: Int = 5000

    @Option(name: [.short, .customLong("output")], help: "Where to write the trained .mtz model.")
    var output: String

    @Flag(name: .long, help: "Print a JSON report on stdout instead of text.")
    var json = false

    func validate() throws {
        guard Architecture(rawValue: arch) != nil else { throw ValidationError("unknown --arch '\(arch)'; choose from \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))") }
        guard DatasetName(rawValue: dataset) != nil else { throw ValidationError("unknown --dataset '\(dataset)'; choose from \(DatasetName.allCases.map(\.rawValue).joined(separator: ", "))") }
        guard LearningRateSchedule(rawValue: schedule) != nil else { throw ValidationError("unknown --schedule '\(schedule)'") }
        guard (1...100_000).contains(epochs) else { throw ValidationError("--epochs must be in 1...100000") }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw ValidationError("--weight-decay must be >= 0") }
        if let task, task.isEmpty { throw ValidationError("--task is empty") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard holdout >= 0 else { throw ValidationError("--holdout must be >= 0") }
    }

    func run() throws {
        let arch = Architecture(rawValue: arch)!
        let dataset = DatasetName(rawValue: dataset)!
        let taskName = task ?? dataset.rawValue
        let test: LabeledImages
        let limited: LabeledImages
        do {
            let fullTrain = try Dataset.load(dataset, split: .train, root: data)
            let fullTest = try Dataset.load(dataset, split: .test, root: data)
            limited = limit.map { fullTrain.subset(0..<min($0, fullTrain.count)) } ?? fullTrain
            test = limit.map { fullTest.subset(0..<min($0, fullTest.count)) } ?? fullTest
        } catch {
            throw report(error)
        }
        guard holdout < limited.count else {
            printError("mtz: error: --holdout \(holdout) leaves no training images (\(limited.count) available)")
            throw Exit.usage
        }
        let train = limited.subset(0..<(limited.count - holdout))
        let command = (["mtz"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        // One input spec for every 28×28 model, so networks trained on different datasets can be
        // packed or zipped together (MTZ shares layers only between tasks with equal input specs).
        let model = arch.build(task: taskName, labels: dataset.classNames, mean: Architecture.inputMean, std: Architecture.inputStd, seed: seed, metadata: [
            Evaluation.datasetKey(task: taskName): dataset.rawValue,
            Evaluation.holdoutKey(task: taskName): String(holdout),
            "description": "\(arch.rawValue) trained on \(dataset.displayName) by mtz train",
            "producer": "mtz train",
            "training.command": command,
        ])
        let options = TrainingOptions(epochs: epochs, batchSize: batch, learningRate: lr, schedule: LearningRateSchedule(rawValue: schedule)!,
                                      weightDecay: weightDecay, seed: seed)
        let trainable: TrainableModel
        let trainer: Trainer
        do {
            trainable = try TrainableModel(model)
            trainer = try Trainer(model: trainable, options: options)
        } catch {
            throw report(error)
        }
        if !json {
            print("training \(arch.rawValue) on \(dataset.displayName): \(train.count) images, \(epochs) epochs, batch \(batch), lr \(lr) (\(schedule)), seed \(seed), \(grouped(trainable.parameterCount)) parameters")
        }
        let line = ProgressLine()
        var epochs: [EpochResult] = []
        do {
            _ = try trainer.train(["\(taskName)": TaskData(images: train)], afterEpoch: { report in
                line.clear()
                let test = (try? trainer.evaluate(task: taskName, images: test)) ?? (error: .nan, loss: .nan)
                let result = EpochResult(epoch: report.epoch, seconds: report.seconds, learningRate: report.learningRate,
                                         trainLoss: report.loss[taskName] ?? 0, trainAccuracy: report.accuracy[taskName] ?? 0,
                                         testError: test.error, testLoss: test.loss)
                epochs.append(result)
                if !json {
                    print(String(format: "epoch %d/%d  %.1f s  loss %.4f  train acc %.2f %%  test error %.2f %%",
                                 report.epoch, self.epochs, report.seconds, result.trainLoss, 100 * result.trainAccuracy, 100 * result.testError))
                }
            }, progress: { p in
                let remaining = Double(p.iterationsPerEpoch - p.iteration) * p.elapsed / Double(max(p.iteration, 1))
                    + Double(p.epochs - p.epoch) * p.elapsed * Double(p.iterationsPerEpoch) / Double(max(p.iteration, 1))
                line.show(String(format: "epoch %d/%d  batch %d/%d  loss %.4f  acc %.2f %%  %.0f img/s  ETA %@",
                                 p.epoch, p.epochs, p.iteration, p.iterationsPerEpoch, p.loss, 100 * p.accuracy, p.imagesPerSecond,
                                 clockString(remaining)))
            })
        } catch {
            line.clear()
            throw report(error)
        }
        let trained: Model
        do {
            trained = try trainable.exportModel().optimized()
            try ModelFile.write(trained, to: output)
        } catch {
            throw report(error, context: output)
        }
        if json {
            try printJSON(TrainReport(architecture: arch.rawValue, dataset: dataset.rawValue, task: taskName, seed: seed, output: output,
                                      parameters: trainable.parameterCount, epochs: epochs))
        } else {
            print("wrote \(output) (test error \(String(format: "%.2f", 100 * (epochs.last?.testError ?? .nan))) %)")
        }
    }
}

/// One epoch in `mtz train --json`.
struct EpochResult: Encodable {
    var epoch: Int
    var seconds: Double
    var learningRate: Float
    var trainLoss: Double
    var trainAccuracy: Double
    var testError: Double
    var testLoss: Double
}

/// JSON shape of `mtz train --json`.
struct TrainReport: Encodable {
    var architecture: String
    var dataset: String
    var task: String
    var seed: UInt64
    var output: String
    var parameters: Int
    var epochs: [EpochResult]
}
