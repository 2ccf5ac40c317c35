import ArgumentParser
import MTZCore
import MTZRuntime
import MTZTraining

/// `mtz eval`: top-1 test error of every task of a model.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Print the top-1 test error of every task of a model over its dataset's full test split.",
        discussion: """
            Each task is evaluated on the dataset it records (set by mtz train); --dataset overrides it for \
            every task. Images go through the same runtime and preprocessing as mtz run.
            """
    )

    @Argument(help: "The .mtz model file.")
    var model: String

    @Option(name: .long, help: "Dataset for every task: \(DatasetName.allCases.map(\.rawValue).joined(separator: ", ")) (default: the one each task records).")
    var dataset: String?

    @Option(name: .long, help: "Comma-separated tasks to evaluate (default: all).")
    var tasks: String?

    @Option(name: .long, help: "Directory holding the datasets (default: $MTZ_DATA_DIR or ./data).")
    var data: String?

    @Option(name: .long, help: "Use only the first N test images.")
    var limit: Int?

    @Option(name: .long, help: "Threads (sessions) sharing the test images.")
    var threads: Int = 2

    @Flag(name: .long, help: "Print JSON on stdout instead of text.")
    var json = false

    func validate() throws {
        if let dataset, DatasetName(rawValue: dataset) == nil {
            throw ValidationError("unknown --dataset '\(dataset)'; choose from \(DatasetName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be in 1...64") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let loaded = try loadModel(model)
        let names = tasks.map(taskList) ?? loaded.taskNames
        var results: [Evaluation.Result] = []
        for name in names {
            guard loaded.taskNames.contains(name) else {
                throw report(RuntimeError.unknownTask(name, available: loaded.taskNames))
            }
            guard let set = dataset.flatMap(DatasetName.init(rawValue:)) ?? Evaluation.recordedDataset(of: name, in: loaded.model) else {
                printError("mtz: error: task '\(name)' does not record its dataset; pass --dataset")
                throw Exit.usage
            }
            do {
                let images = try Dataset.load(set, split: .test, root: data).prefix(limit)
                results.append(try Evaluation.topOneError(of: loaded, task: name, dataset: set, images: images, threads: threads))
            } catch {
                throw report(error)
            }
        }
        if json {
            try printJSON(EvalReport(model: model, tasks: results))
            return
        }
        for r in results {
            print(String(format: "%@  %@ test: %.2f %% error (%d of %d wrong)  [%.1f s]", r.task, r.dataset, 100 * r.errorRate, r.errors, r.images, r.seconds))
        }
    }
}

/// JSON shape of `mtz eval --json`.
struct EvalReport: Encodable {
    var model: String
    var tasks: [Evaluation.Result]
}
