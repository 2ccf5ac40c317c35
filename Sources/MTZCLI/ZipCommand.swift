import ArgumentParser
import Foundation
import MTZCompiler
import MTZCore
import MTZONNX
import MTZTraining

/// `mtz zip`: merge networks with Multi-Task Zipping.
struct ZipCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zip",
        abstract: "Merge single-task networks (two or more) of the same architecture into one multi-head model (Multi-Task Zipping).",
        discussion: """
            Layer by layer from the input: each task's layer-wise Hessian is estimated on its own training \
            images through the network zipped so far; neurons are paired greedily by the cost \
            d[i,j] = ½ δᵀ (H_A⁻¹ + H_B⁻¹)⁻¹ δ; each pair becomes one shared neuron with incoming weights \
            (H_A + H_B)⁻¹ (H_A w_A + H_B w_B); then the whole network is retrained jointly for a few \
            iterations (one mini-batch per task each). Task heads are never shared. More than two networks \
            are zipped in one after another, layer by layer: each next network is paired with the neurons \
            already merged, whose Hessian is the sum of the merged tasks' Hessians.

            Data: each task is retrained on the training split of the dataset it records (mtz train \
            records it), or on what --datasets names (a dataset, or a folder of images per class). The images at the end of that split that the original network was not trained \
            on (mtz train --holdout, 5000 by default) are the validation set: they decide the automatic \
            mode and are reported per layer (models without a recorded holdout use the last \
            --validation-images).
            Defaults: --share 1 (every hidden layer fully); retraining budgets growing from 50 iterations \
            (first layer) to 400 (last hidden layer) plus 2000 final iterations, SGD with momentum 0.9, lr 0.01 \
            (0.001 for residual networks without shared batch norms) decaying by a cosine within each budget, weight decay 5e-4, batch 64 \
            per task (a retraining whose loss becomes infinite or NaN starts again from the same state at a third of \
            the rate, at most twice, and the summary names the rate that trained); half of each task's loss distilled from its original network's outputs at temperature 4 \
            (--distill 0.5 --temperature 4: the zipped network learns what the originals predict, not only the \
            labels); balanced Hessians, damping 1. \
            `--momentum 0 --schedule constant --weight-decay 0 \
            --final-iterations 0 --distill 0 --no-balance-hessians` is the paper's plain setting.
            Residual networks: layers tied by a residual add share the same neurons; batch norms are folded \
            into the layers (mtz train exports them folded). While retraining, each task's not-yet-shared \
            neurons get a batch norm again, started from their original network's output statistics and \
            folded back afterwards (--task-batch-norms, on by default for residual networks): a merge below \
            them is renormalised. The shared neurons of each layer get one batch norm for all tasks, started as \
            the identity, with every task's mini-batch running through the network as one batch so that its \
            statistics pool each task's images through that task's own path (--shared-batch-norms, on with task \
            batch norms); it too is folded back, so the shared weights stay one copy, computed once per image.

            Automatic mode (--max-error-increase PP): searches how many neurons each layer shares, to share \
            the most parameters while every task's validation error stays within PP percentage points of its \
            original's. Each candidate is zipped and retrained with the whole budget (per-layer and final) before \
            it is judged, because the final retraining recovers most of what the merges cost. First one share \
            level for every layer, in eighths of each layer's maximum (--share): 8/8, then 6/8, 4/8, 2/8 until \
            one fits, then the eighth between it and the failed level above. Then, while candidates remain, one \
            layer at a time is raised by an eighth from the best fit: the raise that gains the most parameters \
            per rise of its pair costs d[i,j] first; a raise that fits is kept, one that does not ends that \
            layer's raises. A candidate resumes from the best one's checkpoint after the layers they share \
            alike. The best candidate that fits is written (nothing shared if none does); every candidate, its \
            validation errors and the choice are in the report. Only validation images decide; test errors \
            are for mtz eval afterwards. Time: about --max-candidates times one zip. In residual networks the first \
            layer of each group tied by residual adds is searched; the others share its neurons.

            Output: a layer whose neurons and inputs are all shared is computed once per image for every task. \
            A partly shared layer cannot be (its shared neurons also read each task's own inputs), so each task \
            runs it as one layer over its whole input, in retraining as in the written model; the file stores \
            the block of shared weights once and each task's matrix as an assembly of that block and its own \
            (mtz inspect counts them so).

            Progress: on a terminal, one line that follows the layer, phase, retraining iteration and \
            validation errors; into a file or pipe, a line with the elapsed time as each layer (and the final \
            retraining, and each automatic-mode candidate) finishes.
            """
    )

    @Argument(help: "Two or more single-task models (.mtz, or .onnx imported on the fly) with the same architecture and input spec (zipped in one after another).")
    var models: [String] = []

    @Option(name: .long, help: "Fraction of neurons to share: one value for every hidden layer, or LAYER=FRACTION,... (e.g. conv1=1,conv2=0.5) with layers as mtz inspect names them; layers not named share nothing. Sharing grows from the input: a layer shares only if every layer below it does. A layer tied to an earlier one by a residual add shares that layer's neurons.")
    var share: String = "1"

    @Option(name: .long, parsing: .unconditional, help: "Automatic mode: share as many parameters as possible (each layer up to --share) while every task's validation error rises by at most this many percentage points (see below).")
    var maxErrorIncrease: Double?

    @Option(name: .long, parsing: .unconditional, help: "Automatic mode: candidates to try at most, each zipped and retrained with the whole budget.")
    var maxCandidates: Int = 5

    @Option(name: .long, help: "Pairing and merging: \(ZipMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: String = "mtz"

    @Option(name: .long, help: "Retraining iterations per layer, LAYER=N,... (overrides the defaults).")
    var iterations: String?

    @Option(name: .long, parsing: .unconditional, help: "Multiplies every retraining budget, the final one included (0 = no retraining).")
    var iterationScale: Double = 1

    @Option(name: .long, parsing: .unconditional, help: "Retraining mini-batch size (per task).")
    var batch: Int = 64

    @Option(name: .long, parsing: .unconditional, help: "Retraining learning rate (default 0.01; 0.001 for residual networks without shared batch norms). A retraining that diverges starts again from the same state at a third of it, at most twice.")
    var lr: Float?

    @Option(name: .long, parsing: .unconditional, help: "Retraining SGD momentum (0 = plain SGD, as in the paper).")
    var momentum: Float = 0.9

    @Option(name: .long, help: "Learning-rate schedule within each layer's retraining: constant, cosine (decays to 0, restarted per layer), step.")
    var schedule: String = "cosine"

    @Option(name: .long, parsing: .unconditional, help: "Retraining L2 weight decay.")
    var weightDecay: Float = 0.0005

    @Option(name: .long, parsing: .unconditional, help: "Joint retraining iterations after the last zipped layer, on top of its own budget (scaled by --iteration-scale).")
    var finalIterations: Int = 2000

    @Option(name: .long, parsing: .unconditional, help: "Knowledge distillation during retraining: the share (0...1) of each task's loss that teaches it its original network's class probabilities (softened by --temperature); the labels get the rest (0 = labels only, as in the paper). Default 0.5.")
    var distill: Float?

    @Option(name: .long, parsing: .unconditional, help: "Softening temperature of --distill.")
    var temperature: Float = 4

    @Option(name: .long, parsing: .unconditional, help: "Hessian damping λ (times trace/dimension): larger pulls merged weights towards the pair's average where the Hessians are weak.")
    var damping: Double = 1

    @Option(name: .long, parsing: .unconditional, help: "Training images per task used for each layer's Hessian.")
    var hessianImages: Int = 2000

    @Flag(name: .long, help: "Use the per-channel Hessian approximation for convolutions (the authors' scripts).")
    var perChannelHessian = false

    @Flag(name: .long, inversion: .prefixedNo, help: "Scale each task's Hessian to the same trace before pairing and merging, so tasks weigh alike (--no-balance-hessians: raw Hessians, as in the paper).")
    var balanceHessians = true

    @Flag(name: .long, inversion: .prefixedNo, help: "While retraining, give each task's not-yet-shared neurons a batch norm started from the original network's output statistics, folded back afterwards: merges below them are renormalised. Shared neurons stay folded, so the trunk is still computed once. Default: on for residual networks, off for chains.")
    var taskBatchNorms: Bool?

    @Flag(name: .long, inversion: .prefixedNo, help: "With task batch norms: give the shared neurons of each layer one batch norm for all tasks while retraining (started as the identity, folded back afterwards), with every task's mini-batch running through the network as one batch so that its statistics pool each task's images through that task's own path. Default: on whenever task batch norms are.")
    var sharedBatchNorms: Bool?

    @Option(name: .long, parsing: .unconditional, help: "Training images per task held out for validation (default 5000), for models that do not record which images their network was not trained on (mtz train records them: --holdout).")
    var validationImages: Int?

    @Option(name: .long, help: "New task names, in model order (default: the models' own; duplicates get -1, -2).")
    var names: String?

    @Option(name: .long, parsing: .unconditional, help: "Seed (random pairing, retraining batches).")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Training data of each model's task, in model order: a dataset (\(DatasetName.allCases.map(\.rawValue).joined(separator: ", "))) or a directory with one sub-directory of PNG/JPEG images per class (grey models). Needed for .onnx models, which do not record their data; overrides what a .mtz records.")
    var datasets: String?

    @Option(name: .long, help: "Directory holding the datasets (default: $MTZ_DATA_DIR or ./data).")
    var data: String?

    @Option(name: .customLong("report"), help: "Write the JSON report (per layer: shared count, cost summary, errors, iterations) here.")
    var reportPath: String?

    @Option(name: [.short, .customLong("output")], help: "Where to write the zipped model.")
    var output: String

    func validate() throws {
        guard (2...Zipper.maxNetworks).contains(models.count) else { throw ValidationError("give 2 to \(Zipper.maxNetworks) models") }
        guard LearningRateSchedule(rawValue: schedule) != nil else {
            throw ValidationError("unknown --schedule '\(schedule)' (\(LearningRateSchedule.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard weightDecay >= 0, weightDecay.isFinite else { throw ValidationError("--weight-decay must be >= 0") }
        guard (0...1_000_000).contains(finalIterations) else { throw ValidationError("--final-iterations must be in 0...1000000") }
        guard ZipMethod(rawValue: method) != nil else { throw ValidationError("unknown --method '\(method)'") }
        do { _ = try ShareSpec(parsing: share) } catch { throw ValidationError(error.description) }
        _ = try parsedIterations()
        guard iterationScale >= 0, iterationScale.isFinite else { throw ValidationError("--iteration-scale must be >= 0") }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be positive") }
        guard (0..<1).contains(momentum) else { throw ValidationError("--momentum must be in [0, 1)") }
        guard damping > 0, damping.isFinite else { throw ValidationError("--damping must be positive") }
        if let distill, !(0...1).contains(distill) { throw ValidationError("--distill must be in 0...1") }
        guard temperature > 0, temperature <= 100 else { throw ValidationError("--temperature must be in (0, 100]") }
        guard (1...60000).contains(hessianImages) else { throw ValidationError("--hessian-images must be in 1...60000") }
        if let validationImages, !(1...60000).contains(validationImages) { throw ValidationError("--validation-images must be in 1...60000") }
        if let m = maxErrorIncrease, !(m >= 0 && m <= 100) { throw ValidationError("--max-error-increase must be in 0...100 (percentage points)") }
        guard (1...100).contains(maxCandidates) else { throw ValidationError("--max-candidates must be in 1...100") }
    }

    private func parsedIterations() throws -> [String: Int] {
        guard let iterations else { return [:] }
        var table: [String: Int] = [:]
        for part in iterations.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let n = Int(pair[1]), n >= 0 else { throw ValidationError("--iterations: '\(part)' is not LAYER=N") }
            guard table.updateValue(n, forKey: String(pair[0])) == nil else {
                throw ValidationError("--iterations names layer '\(pair[0])' twice")
            }
        }
        return table
    }

    func run() throws {
        var loaded: [Model] = []
        var trainingData: [String: LabeledImages] = [:]
        let given = datasets.map(taskList)
        if let given, given.count != models.count {
            throw ValidationError("--datasets names \(given.count) datasets for \(models.count) models")
        }
        // Each model's training images (one task per model), by position: two models may carry
        // the same task name until they are renamed below.
        var perModel: [LabeledImages] = []
        for (k, path) in models.enumerated() {
            var model: Model
            do { model = try ModelLoading.loadAnyModel(at: path) } catch { throw report(error, context: path) }
            guard let task = model.tasks.first, model.tasks.count == 1 else {
                printError("mtz: error: \(path) has \(model.tasks.count) tasks; zipping takes single-task models")
                throw Exit.usage
            }
            let images: LabeledImages
            if let source = given?[k], DatasetName(rawValue: source) == nil {
                // A folder of images per class.
                let folder: (images: LabeledImages, classes: [String])
                do { folder = try ImageFolder.load(source, for: model.input) } catch {
                    printError("mtz: error: --datasets: \(error)")
                    throw Exit.data
                }
                let outputs = (try? model.validate())?[task.output].channels ?? 0
                guard folder.classes.count <= outputs else {
                    printError("mtz: error: \(source) has \(folder.classes.count) classes but task '\(task.name)' of \(path) has \(outputs) outputs")
                    throw Exit.data
                }
                images = folder.images
            } else {
                if let source = given?[k] { model.metadata[Evaluation.datasetKey(task: task.name)] = source }
                guard let dataset = Evaluation.recordedDataset(of: task.name, in: model) else {
                    printError("mtz: error: \(path): task '\(task.name)' does not record its dataset (train it with mtz train, or give --datasets)")
                    throw Exit.usage
                }
                do { images = try Dataset.load(dataset, split: .train, root: data) } catch { throw report(error) }
            }
            perModel.append(images)
            loaded.append(model)
            let held = Evaluation.recordedHoldout(of: task.name, in: model)
            if validationImages != nil, held > 0 {
                printError("mtz: note: --validation-images does not apply to \(path): task '\(task.name)' validates on the \(held) training images its network was not trained on (recorded by mtz train --holdout)")
            }
        }
        // Same-task zipping (e.g. two MNIST networks from different seeds) needs distinct names.
        let original = loaded.map { $0.tasks[0].name }
        var wanted = names.map(taskList) ?? original
        if names == nil, Set(original).count < original.count {
            wanted = original.enumerated().map { k, name in original.filter { $0 == name }.count > 1 ? "\(name)-\(k + 1)" : name }
        }
        guard wanted.count == loaded.count, Set(wanted).count == wanted.count else {
            printError("mtz: error: --names needs \(loaded.count) distinct names")
            throw Exit.usage
        }
        for k in loaded.indices {
            if wanted[k] != original[k] { loaded[k] = loaded[k].renamingTask(original[k], to: wanted[k]) }
            trainingData[wanted[k]] = perModel[k]
        }
        var options = ZipOptions(
            share: try! ShareSpec(parsing: share), method: ZipMethod(rawValue: method)!, iterations: try parsedIterations(),
            iterationScale: iterationScale, batchSize: batch, learningRate: lr, momentum: momentum, damping: damping, hessianImages: hessianImages,
            perChannelHessian: perChannelHessian, validationImages: validationImages ?? 5000, seed: seed,
            maxErrorIncrease: maxErrorIncrease.map { $0 / 100 })
        options.balanceHessians = balanceHessians
        options.taskBatchNorms = taskBatchNorms
        options.sharedBatchNorms = sharedBatchNorms
        options.schedule = LearningRateSchedule(rawValue: schedule)!
        options.weightDecay = weightDecay
        options.finalIterations = finalIterations
        options.maxCandidates = maxCandidates
        options.distillation = distill
        options.temperature = temperature
        let line = ProgressLine()
        let result: (model: Model, report: ZipReport)
        do {
            let zipper = try Zipper(models: loaded, trainingData: trainingData, options: options)
            let started = Clock.now
            func elapsed() -> String { clockString(Double(Clock.now &- started) * 1e-9) }
            result = try zipper.run { p in
                let errors = p.errors.keys.sorted().map { String(format: "%@ %.2f %%", $0, 100 * p.errors[$0]!) }.joined(separator: ", ")
                let candidate = p.candidate > 0 ? "candidate \(p.candidate)/\(p.candidateLimit) (\(p.candidateLabel)) " : ""
                if let fits = p.withinBudget {
                    // A judged candidate stays on screen (and in logs): the search's trace.
                    line.clear()
                    let judged = p.failure.map { "\($0): " } ?? "validation error: \(errors): "
                    print("[\(elapsed())] \(candidate)\(judged)\(fits ? "within" : "over") budget")
                    fflush(nil)   // a log file sees each verdict as it comes
                    return
                }
                if p.phase == .restarting, let from = p.divergedLearningRate, let to = p.learningRate {
                    // Stays on screen and in logs: the summary's learning rate says why it changed.
                    line.clear()
                    let what = p.layer == "final" ? "final retraining" : "layer \(p.layerIndex + 1)/\(p.layerCount) \(p.layer)"
                    print("[\(elapsed())] \(candidate)\(what): retraining diverged at lr \(String(format: "%g", from)); starting it again at lr \(String(format: "%g", to))")
                    fflush(nil)
                    return
                }
                if !line.enabled, p.phase == .validating, !p.errors.isEmpty {
                    // Not a terminal (a log file): a line for each layer zipped and retrained, and for
                    // the final retraining, as they finish — a long zip is not silent until its end.
                    let what = p.layer == "final" ? "final retraining" : "layer \(p.layerIndex + 1)/\(p.layerCount) \(p.layer)"
                    print("[\(elapsed())] \(candidate)\(what): validation error \(errors) after \(counted(p.iterations, "iteration"))")
                    fflush(nil)
                    return
                }
                if p.phase == .teaching {
                    line.show("original network of \(p.layer): teacher outputs \(p.iteration)/\(p.iterations) images", force: false)
                    return
                }
                let text = candidate + "layer \(p.layerIndex + 1)/\(p.layerCount) \(p.layer): \(p.phase.rawValue)"
                    + (p.phase == .retraining ? " \(p.iteration)/\(p.iterations)" : "")
                    + (errors.isEmpty ? "" : "  validation error: \(errors)")
                line.show(text, force: p.phase != .retraining)
            }
            line.clear()
        } catch {
            line.clear()
            throw report(error)
        }
        // The command that made the model, like mtz train's `training.command`.
        var zipped = result.model
        zipped.metadata["zip.command"] = (["mtz"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        do {
            try ModelFile.write(zipped, to: output)
            if let path = reportPath {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(Array(try encoder.encode(result.report)), to: path)
            }
        } catch {
            throw report(error, context: output)
        }
        let r = result.report
        let taught = r.distillation.map { String(format: ", distilling the originals (weight %g, temperature %g)", $0, r.temperature ?? 0) } ?? ""
        let normalized = r.taskBatchNorms != true ? "" : r.sharedBatchNorms == true
            ? ", task batch norms while retraining (one batch norm for all tasks on shared neurons)" : ", task batch norms while retraining"
        print("zipped \(r.tasks.joined(separator: " + ")) with \(r.method)\(taught)\(normalized) in \(String(format: "%.1f", r.seconds)) s")
        for t in r.tasks { print(String(format: "  %@: original validation error %.2f %%", t, 100 * (r.originalError[t] ?? .nan))) }
        for l in r.layers {
            let before = r.tasks.map { String(format: "%.2f", 100 * (l.errorBeforeRetraining[$0] ?? .nan)) }.joined(separator: "/")
            let after = r.tasks.map { String(format: "%.2f", 100 * (l.errorAfterRetraining[$0] ?? .nan)) }.joined(separator: "/")
            let tried = l.candidatesTried.map { " (tried \($0.map(String.init).joined(separator: ", ")))" } ?? ""
            if let later = l.retrainedWith {
                print("  \(l.name): \(l.shared)/\(l.neurons) shared\(tried), validated and retrained after '\(later)' (tied by a residual add)")
                continue
            }
            let rate = l.learningRate.map { String(format: " at lr %g (a larger one diverged)", $0) } ?? ""
            print("  \(l.name): \(l.shared)/\(l.neurons) shared\(tried), validation error \(before) % → \(after) % after \(counted(l.iterations, "iteration"))\(rate)")
        }
        if let f = r.finalRetraining {
            let before = r.tasks.map { String(format: "%.2f", 100 * (f.errorBefore[$0] ?? .nan)) }.joined(separator: "/")
            let after = r.tasks.map { String(format: "%.2f", 100 * (f.errorAfter[$0] ?? .nan)) }.joined(separator: "/")
            let rate = f.learningRate.map { String(format: " at lr %g (a larger one diverged)", $0) } ?? ""
            print("  final retraining: validation error \(before) % → \(after) % after \(counted(f.iterations, "iteration"))\(rate)")
        }
        if let search = r.search {
            print(String(format: "  automatic mode, budget %.2f pp: %d of at most %d candidates, %d retraining iterations in %.0f s",
                         100 * search.maxErrorIncrease, search.candidates.count, search.candidateLimit, search.iterations, search.seconds))
            for (i, c) in search.candidates.enumerated() {
                let shared = search.layers.map { "\($0) \(c.shared[$0] ?? 0)" }.joined(separator: ", ")
                let errors = r.tasks.map { String(format: "%.2f", 100 * (c.validationError[$0] ?? .nan)) }.joined(separator: "/")
                let mark = i == search.chosen ? "chosen" : (c.withinBudget ? "within" : "over")
                let judged = c.failure ?? "validation error \(errors) %"
                print("    \(i + 1). \(c.label) (\(shared)): \(grouped(c.sharedParameters)) shared parameters, \(judged): \(mark)")
            }
            if search.chosen == nil { print("    no candidate stayed within the budget: nothing is shared") }
        }
        let pct = r.separateParameters > 0 ? 100 * Double(r.separateParameters - r.parameters) / Double(r.separateParameters) : 0
        print("  \(grouped(r.parameters)) parameters vs \(grouped(r.separateParameters)) separately (\(String(format: "%.1f", pct)) % saved); \(counted(r.totalIterations, "retraining iteration"))")
        print("wrote \(output)")
    }
}
