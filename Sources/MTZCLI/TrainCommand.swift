import ArgumentParser
import Foundation
import MTZCompiler
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

    @Option(name: .long, help: "Dataset: \(DatasetName.allCases.map(\.rawValue).joined(separator: ", ")); several, comma-separated, train one network with a shared trunk and a head per dataset (a trunk with batch norms runs every task's mini-batch as one batch, so its statistics cover all tasks).")
    var dataset: String

    @Option(name: .long, parsing: .unconditional, help: "Seed of the initial weights and of the shuffling.")
    var seed: UInt64 = 1

    @Option(name: .long, parsing: .unconditional, help: "Epochs.")
    var epochs: Int = 10

    @Option(name: .long, parsing: .unconditional, help: "Mini-batch size.")
    var batch: Int = 64

    @Option(name: .long, parsing: .unconditional, help: "Base learning rate.")
    var lr: Float = 0.01

    @Option(name: .long, help: "Learning-rate schedule: \(LearningRateSchedule.allCases.map(\.rawValue).joined(separator: ", ")).")
    var schedule: String = "cosine"

    @Option(name: .long, parsing: .unconditional, help: "Weight decay.")
    var weightDecay: Float = 5e-4

    @Option(name: .long, help: "Name of the task (default: the dataset name).")
    var task: String?

    @Option(name: .long, help: "Directory holding the datasets (default: $MTZ_DATA_DIR or ./data).")
    var data: String?

    @Option(name: .long, parsing: .unconditional, help: "Use only the first N training and test images (quick experiments).")
    var limit: Int?

    @Option(name: .long, parsing: .unconditional, help: "Hold out the last N training images: never trained on, they are the validation set of mtz zip.")
    var holdout: Int = 5000

    @Option(name: [.short, .customLong("output")], help: "Where to write the trained .mtz model.")
    var output: String

    @Option(name: .long, parsing: .unconditional, help: "Every N iterations, record each task's error on the held-out images (reported with --json).")
    var evalEvery: Int?

    @Option(name: .long, help: "Distil teachers: one trained single-task .mtz per dataset, in --dataset order, whose outputs each task learns besides its labels (--distill, --temperature).")
    var teachers: String?

    @Option(name: .long, parsing: .unconditional, help: "With --teachers: the share (0...1) of each task's loss that learns its teacher's class probabilities; the labels get the rest.")
    var distill: Float = 0.5

    @Option(name: .long, parsing: .unconditional, help: "With --teachers: softening temperature of the distillation.")
    var temperature: Float = 4

    @Flag(name: .long, help: "Print a JSON report on stdout instead of text.")
    var json = false

    func validate() throws {
        guard Architecture(rawValue: arch) != nil else { throw ValidationError("unknown --arch '\(arch)'; choose from \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))") }
        let sets = taskList(dataset)
        guard !sets.isEmpty, Set(sets).count == sets.count else { throw ValidationError("--dataset needs one or more distinct names") }
        for name in sets where DatasetName(rawValue: name) == nil {
            throw ValidationError("unknown --dataset '\(name)'; choose from \(DatasetName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if sets.count > 1, task != nil { throw ValidationError("--task names a single task; with several datasets the tasks are named after them") }
        if let evalEvery, evalEvery < 1 { throw ValidationError("--eval-every must be at least 1") }
        guard LearningRateSchedule(rawValue: schedule) != nil else { throw ValidationError("unknown --schedule '\(schedule)'") }
        guard (1...100_000).contains(epochs) else { throw ValidationError("--epochs must be in 1...100000") }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw ValidationError("--weight-decay must be >= 0") }
        if let task, task.isEmpty { throw ValidationError("--task is empty") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard holdout >= 0 else { throw ValidationError("--holdout must be >= 0") }
        if let teachers, taskList(teachers).count != sets.count {
            throw ValidationError("--teachers needs one model per dataset (\(sets.count)), got \(taskList(teachers).count)")
        }
        guard (0...1).contains(distill) else { throw ValidationError("--distill must be in 0...1") }
        guard temperature > 0, temperature <= 100 else { throw ValidationError("--temperature must be in (0, 100]") }
    }

    func run() throws {
        let arch = Architecture(rawValue: arch)!
        let datasets = taskList(dataset).map { DatasetName(rawValue: $0)! }
        let names = datasets.count == 1 ? [task ?? datasets[0].rawValue] : datasets.map(\.rawValue)
        var train: [String: LabeledImages] = [:], test: [String: LabeledImages] = [:], validation: [String: LabeledImages] = [:]
        for (name, set) in zip(names, datasets) {
            let limited: LabeledImages
            do {
                let fullTrain = try Dataset.load(set, split: .train, root: data)
                let fullTest = try Dataset.load(set, split: .test, root: data)
                limited = fullTrain.prefix(limit)
                test[name] = fullTest.prefix(limit)
            } catch {
                throw report(error)
            }
            guard holdout < limited.count else {
                printError("mtz: error: --holdout \(holdout) leaves no training images (\(limited.count) available)")
                throw Exit.usage
            }
            train[name] = limited.subset(0..<(limited.count - holdout))
            validation[name] = limited.subset((limited.count - holdout)..<limited.count)
        }
        let command = (["mtz"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        // One input spec for every 28×28 model, so networks trained on different datasets can be
        // packed or zipped together (MTZ shares layers only between tasks with equal input specs).
        let singles = zip(names, datasets).enumerated().map { k, pair in
            arch.build(task: pair.0, labels: pair.1.classNames, mean: Architecture.inputMean, std: Architecture.inputStd,
                       seed: seed &+ UInt64(k), metadata: [
                           Evaluation.datasetKey(task: pair.0): pair.1.rawValue,
                           Evaluation.holdoutKey(task: pair.0): String(holdout),
                           "description": "\(arch.rawValue) trained on \(pair.1.displayName) by mtz train",
                           "producer": "mtz train",
                           "training.command": command,
                       ])
        }
        var model = singles[0]
        if singles.count > 1 {
            // Several datasets: one network whose hidden layers all tasks share, a head per task.
            do { model = try ZipState.sharedTrunk(singles) } catch { throw report(error) }
            model.metadata["description"] = "\(arch.rawValue) with a shared trunk and one head per task, trained jointly on \(datasets.map(\.displayName).joined(separator: " and ")) by mtz train"
            model.metadata["producer"] = "mtz train"
            model.metadata["training.command"] = command
        }
        // A trunk that several tasks share and that has batch norms normalises each iteration's
        // batch over every task's images, as its folded statistics will at inference.
        let joint = singles.count > 1 && model.nodes.contains { if case .batchNorm = $0.op { true } else { false } }
        let options = TrainingOptions(epochs: epochs, batchSize: batch, learningRate: lr, schedule: LearningRateSchedule(rawValue: schedule)!,
                                      weightDecay: weightDecay, seed: seed, jointBatches: joint)
        let trainable: TrainableModel
        let trainer: Trainer
        do {
            trainable = try TrainableModel(model)
            trainer = try Trainer(model: trainable, options: options)
        } catch {
            throw report(error)
        }
        if !json {
            let sizes = names.map { "\($0) \(train[$0]!.count)" }.joined(separator: ", ")
            print("training \(arch.rawValue)\(names.count > 1 ? " (shared trunk, \(names.count) heads)" : "") on \(sizes) images, \(epochs) epochs, batch \(batch)\(names.count > 1 ? " per task" : "")\(joint ? " (one joint batch through the shared batch norms)" : ""), lr \(lr) (\(schedule)), seed \(seed), \(grouped(trainable.parameterCount)) parameters")
        }
        var taskData = train.mapValues { TaskData(images: $0) }
        if let teachers {
            for (k, (name, path)) in zip(names, taskList(teachers)).enumerated() {
                let teacher = try loadModel(path)
                let tasks = teacher.model.tasks
                guard tasks.count == 1 else {
                    throw report(TrainingError.invalidOption("it has \(tasks.count) tasks; --teachers takes single-task models"), context: path)
                }
                // A teacher of another dataset would teach its own classes' probabilities as these.
                if let taught = Evaluation.recordedDataset(of: tasks[0].name, in: teacher.model), taught != datasets[k] {
                    throw report(TrainingError.invalidOption("it was trained on \(taught.rawValue) but would teach the \(datasets[k].rawValue) task (--teachers go in --dataset order)"), context: path)
                }
                do {
                    let (values, classes) = try Distillation.teacherLogProbabilities(
                        of: teacher, task: tasks[0].name, images: train[name]!, threads: 2)
                    taskData[name]!.distillation = try Distillation(teacher: values, classes: classes, weight: distill, temperature: temperature)
                } catch {
                    throw report(error, context: path)
                }
            }
            if !json { print("distilling \(taskList(teachers).joined(separator: ", ")) (weight \(distill), temperature \(temperature))") }
        }
        let line = ProgressLine()
        var epochResults: [EpochResult] = []
        var checkpoints: [Checkpoint] = []
        var iterations = 0
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }
        do {
            _ = try trainer.train(taskData, afterEpoch: { report in
                line.clear()
                var perTask: [String: TaskEpoch] = [:]
                for name in names {
                    let t = (try? trainer.evaluate(task: name, images: test[name]!)) ?? (error: .nan, loss: .nan)
                    perTask[name] = TaskEpoch(trainLoss: report.loss[name] ?? 0, trainAccuracy: report.accuracy[name] ?? 0, testError: t.error, testLoss: t.loss)
                }
                let tasks = names.map { perTask[$0]! }
                let result = EpochResult(epoch: report.epoch, seconds: report.seconds, learningRate: report.learningRate,
                                         trainLoss: mean(tasks.map(\.trainLoss)), trainAccuracy: mean(tasks.map(\.trainAccuracy)),
                                         testError: mean(tasks.map(\.testError)), testLoss: mean(tasks.map(\.testLoss)),
                                         tasks: names.count > 1 ? perTask : nil)
                epochResults.append(result)
                if !json {
                    let errors = names.map { String(format: "%@ %.2f %%", $0, 100 * perTask[$0]!.testError) }.joined(separator: ", ")
                    print(String(format: "epoch %d/%d  %.1f s  loss %.4f  train acc %.2f %%  test error %@",
                                 report.epoch, self.epochs, report.seconds, result.trainLoss, 100 * result.trainAccuracy,
                                 names.count > 1 ? errors : String(format: "%.2f %%", 100 * result.testError)))
                }
            }, progress: { p in
                iterations += 1
                if let every = evalEvery, iterations % every == 0, holdout > 0 {
                    var errors: [String: Double] = [:]
                    for name in names { errors[name] = (try? trainer.evaluate(task: name, images: validation[name]!))?.error }
                    checkpoints.append(Checkpoint(iteration: iterations, validationError: errors))
                }
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
            try printJSON(TrainReport(architecture: arch.rawValue, dataset: dataset, task: names.joined(separator: ","), seed: seed, output: output,
                                      parameters: trainable.parameterCount, iterations: iterations, epochs: epochResults,
                                      checkpoints: evalEvery == nil ? nil : checkpoints))
        } else {
            print("wrote \(output) (test error \(names.count > 1 ? "mean " : "")\(String(format: "%.2f", 100 * (epochResults.last?.testError ?? .nan))) %)")
        }
    }
}

/// Per-task figures of one epoch of a multi-task run.
struct TaskEpoch: Encodable {
    var trainLoss: Double
    var trainAccuracy: Double
    var testError: Double
    var testLoss: Double
}

/// Validation errors after `iteration` training iterations (`--eval-every`).
struct Checkpoint: Encodable {
    var iteration: Int
    var validationError: [String: Double]
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
    /// Per task, for multi-task runs (the fields above are then means over the tasks).
    var tasks: [String: TaskEpoch]?
}

/// JSON shape of `mtz train --json`.
struct TrainReport: Encodable {
    var architecture: String
    var dataset: String
    var task: String
    var seed: UInt64
    var output: String
    var parameters: Int
    var iterations: Int
    var epochs: [EpochResult]
    var checkpoints: [Checkpoint]?
}
