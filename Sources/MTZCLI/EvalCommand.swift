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
            every task (a note on stderr names each task trained on another). Images go through the same runtime and preprocessing as mtz run.

            --against OTHER.mtz also evaluates a second model with the same tasks on the same images \
            and compares the two image by image: the images only one of them gets wrong, the error \
            difference with its 95 % confidence interval, and McNemar's exact p-value (how likely so \
            uneven a split of those images would be if the two models were equally good). On 10,000 \
            test images a difference of 0.2 pp can be noise; this says whether it is.
            """
    )

    @Argument(help: "The .mtz model file.")
    var model: String

    @Option(name: .long, help: "Dataset for every task: \(DatasetName.allCases.map(\.rawValue).joined(separator: ", ")) (default: the one each task records).")
    var dataset: String?

    @Option(name: .long, help: ArgumentHelp("A second model to compare with, image by image (McNemar's test); it must have the evaluated tasks.", valueName: "other.mtz"))
    var against: String?

    @Option(name: .long, help: "Comma-separated tasks to evaluate (default: all).")
    var tasks: String?

    @Option(name: .long, help: "Directory holding the datasets (default: $MTZ_DATA_DIR or ./data).")
    var data: String?

    @Option(name: .long, parsing: .unconditional, help: "Use only the first N test images.")
    var limit: Int?

    @Option(name: .long, parsing: .unconditional, help: "Threads (sessions) sharing the test images.")
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
        let other = try against.map { path throws(ExitCode) in try loadModel(path) }
        let names = tasks.map(taskList) ?? loaded.taskNames
        var results: [Evaluation.Result] = []
        var comparisons: [EvalReport.Comparison] = []
        for name in names {
            guard loaded.taskNames.contains(name) else {
                throw report(RuntimeError.unknownTask(name, available: loaded.taskNames))
            }
            guard let set = dataset.flatMap(DatasetName.init(rawValue:)) ?? Evaluation.recordedDataset(of: name, in: loaded.model) else {
                printError("mtz: error: task '\(name)' does not record its dataset; pass --dataset")
                throw Exit.usage
            }
            if let recorded = Evaluation.recordedDataset(of: name, in: loaded.model), recorded != set {
                printError("mtz: note: task '\(name)' was trained on \(recorded.rawValue); evaluating it on \(set.rawValue) as --dataset asks (--tasks picks tasks)")
            }
            if let other, let against {
                guard other.taskNames.contains(name) else {
                    throw report(RuntimeError.unknownTask(name, available: other.taskNames), context: against)
                }
                if dataset == nil, let theirs = Evaluation.recordedDataset(of: name, in: other.model), theirs != set {
                    printError("mtz: error: task '\(name)' records dataset \(set.rawValue) in \(model) but \(theirs.rawValue) in \(against); pass --dataset to compare them on one")
                    throw Exit.usage
                }
            }
            do {
                let images = try Dataset.load(set, split: .test, root: data).prefix(limit)
                let mine = try Evaluation.topOnePredictions(of: loaded, task: name, dataset: set, images: images, threads: threads)
                results.append(mine.result)
                if let other, let against {
                    let theirs = try Evaluation.topOnePredictions(of: other, task: name, dataset: set, images: images, threads: threads)
                    comparisons.append(.init(task: name, against: against, result: theirs.result,
                                             paired: PairedComparison(labels: images.labels, a: mine.predictions, b: theirs.predictions)))
                }
            } catch {
                throw report(error)
            }
        }
        let pooled = comparisons.count > 1 ? PairedComparison(pooling: comparisons.map(\.paired)) : nil
        if json {
            try printJSON(EvalReport(model: model, tasks: results, comparisons: against == nil ? nil : comparisons, pooled: pooled))
            return
        }
        for r in results {
            print(String(format: "%@  %@ test: %.2f %% error (%d of %d wrong)  [%.1f s]", r.task, r.dataset, 100 * r.errorRate, r.errors, r.images, r.seconds))
            guard let c = comparisons.first(where: { $0.task == r.task }) else { continue }
            print(String(format: "  against %@: %.2f %% error (%d wrong); ", c.against, 100 * c.result.errorRate, c.result.errors) + Self.describe(c.paired))
        }
        if let pooled {
            print(String(format: "all tasks (%d images): %.2f %% error against %.2f %%; ", pooled.images,
                         100 * Double(pooled.errorsA) / Double(max(pooled.images, 1)),
                         100 * Double(pooled.errorsB) / Double(max(pooled.images, 1))) + Self.describe(pooled))
        }
    }

    /// "N wrong only here, M only there: +d ± h pp (95 %), McNemar p = …".
    static func describe(_ p: PairedComparison) -> String {
        String(format: "%d wrong only here, %d only there: %+.2f ± %.2f pp (95 %%), McNemar p = %@",
               p.onlyA, p.onlyB, 100 * p.difference, 100 * p.halfWidth95, format(p: p.pValue))
    }

    /// A p-value to two decimals, to four below 0.01, or "< 0.0001".
    static func format(p: Double) -> String {
        p < 1e-4 ? "< 0.0001" : String(format: p < 0.01 ? "%.4f" : "%.2f", p)
    }
}

/// JSON shape of `mtz eval --json`.
struct EvalReport: Encodable {
    /// One task of the model compared with the same task of `--against`.
    struct Comparison: Encodable {
        var task: String
        /// The other model's path.
        var against: String
        /// The other model's result on the same images.
        var result: Evaluation.Result
        /// This model (A) against the other (B), image by image.
        var paired: PairedComparison
    }

    var model: String
    var tasks: [Evaluation.Result]
    /// Present with `--against`.
    var comparisons: [Comparison]?
    /// With `--against` and several tasks: every task's images together (`PairedComparison(pooling:)`).
    var pooled: PairedComparison?
}
