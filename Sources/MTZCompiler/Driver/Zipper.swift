import CMTZKernels
import Dispatch
import MTZCore
import MTZRuntime
import MTZTraining

/// Zips single-task networks (two or more) of the same architecture (chains or residual networks) into one multi-head model with
/// Multi-Task Zipping: layer by layer from the input, pairs neurons by the layer-wise Hessian cost,
/// merges each pair's incoming weights, and retrains the lowered multi-head network jointly.
public final class Zipper {
    /// The most networks one zip merges.
    public static let maxNetworks = 16

    public let options: ZipOptions
    /// The zipping in progress.
    private var state: ZipState
    /// Nothing zipped yet: where every candidate of the automatic mode starts.
    private var initialState: ZipState
    private let taskNames: [String]
    private let train: [String: LabeledImages]
    private let validation: [String: LabeledImages]
    private let originals: [Model]
    /// The retraining learning rate in use (`options.learningRate` or its default).
    private let learningRate: Float
    /// The distillation weight in use (`options.distillation` or its default).
    private let distillation: Float
    /// Whether task-specific neurons keep a batch norm while retraining (`options.taskBatchNorms` or its default).
    private let taskBatchNorms: Bool
    /// Whether shared neurons keep batch norms while retraining (`options.sharedBatchNorms` or its default).
    private let sharedBatchNorms: Bool
    /// Each task's retraining images, with its original network's outputs when distilling
    /// (computed on first use).
    private var retrainingData: [String: TaskData]?

    /// Prepares zipping `models` (one task each, 2 to `maxNetworks` models) with each task's training images.
    ///
    /// Each task's validation images are the end of its training data that the original network
    /// was not trained on (recorded by `mtz train --holdout`), or else the last
    /// `options.validationImages`; the rest are used for Hessians and retraining.
    /// - Throws: `ModelError` naming what differs between the networks, `ZipError` for options.
    public init(models: [Model], trainingData: [String: LabeledImages], options: ZipOptions) throws {
        guard (2...Self.maxNetworks).contains(models.count) else {
            throw ZipError.invalidOption("zipping takes 2 to \(Self.maxNetworks) networks (got \(models.count))")
        }
        guard options.batchSize >= 1, options.batchSize <= 4096 else { throw ZipError.invalidOption("batch size must be in 1...4096") }
        guard options.damping > 0, options.damping.isFinite else { throw ZipError.invalidOption("damping must be positive") }
        guard options.maxCandidates >= 1 else { throw ZipError.invalidOption("the automatic mode needs at least one candidate") }
        guard options.calibrationBatches >= 1 else { throw ZipError.invalidOption("task batch norms need at least one calibration batch") }
        let state = try ZipState(models: models)
        /// The layer (as `mtz inspect` names it) that node `name` belongs to.
        func group(_ name: String) -> String { models[0].nodes.first { $0.name == name }?.layer ?? name }
        let hidden = (0..<state.headLayer).map { l in
            ZipOptions.NamedLayer(name: state.layers[l].name, group: group(state.layers[l].name), neurons: state.layers[l].outCount,
                                  tiedTo: state.tiedLayers(of: l).first.flatMap { $0 < l ? $0 : nil })
        }
        let heads = state.layers[state.headLayer...].map(\.name)
        let options = try options.resolvingLayerNames(hidden: hidden, heads: Set(heads + heads.map(group)))
        self.state = state
        initialState = state
        taskNames = state.tasks.map(\.name)
        let residual = state.layers.indices.contains { state.tiedLayers(of: $0).count > 1 }
        distillation = options.distillation ?? 0.5
        taskBatchNorms = options.taskBatchNorms ?? residual
        sharedBatchNorms = options.sharedBatchNorms ?? taskBatchNorms
        guard taskBatchNorms || !sharedBatchNorms else {
            throw ZipError.invalidOption("shared batch norms need task batch norms (they start from the statistics those measure)")
        }
        // A residual network's fully shared trunk retrained without any normalisation needs a small
        // step (at 0.003 it fell apart after the last merge); with shared batch norms 0.01 is best.
        learningRate = options.learningRate ?? (residual && !sharedBatchNorms ? 0.001 : 0.01)
        do { try Distillation.check(weight: distillation, temperature: options.temperature) } catch { throw ZipError.invalidOption(error.description) }
        guard learningRate > 0, learningRate.isFinite else { throw ZipError.invalidOption("the learning rate must be positive") }
        var train: [String: LabeledImages] = [:], validation: [String: LabeledImages] = [:]
        for (t, name) in taskNames.enumerated() {
            guard let images = trainingData[name] else { throw ZipError.invalidOption("no training data for task '\(name)'") }
            // Validate on the images the original network was not trained on (mtz train holds out
            // the end of the training split and records how many); else on the last ones.
            let recorded = Evaluation.recordedHoldout(of: name, in: models[t])
            let held = recorded > 0 ? min(recorded, images.count / 2) : min(options.validationImages, images.count / 5)
            guard images.count - held >= options.batchSize, held >= 1 else {
                throw ZipError.invalidOption("task '\(name)' has too few images (\(images.count)) to retrain and validate")
            }
            train[name] = images.subset(0..<(images.count - held))
            validation[name] = images.subset((images.count - held)..<images.count)
        }
        self.train = train
        self.validation = validation
        self.options = options
        self.originals = models
    }

    /// Runs the whole zipping and returns the zipped model with a report.
    public func run(progress: ((ZipProgress) -> Void)? = nil) throws -> (model: Model, report: ZipReport) {
        let start = DispatchTime.now().uptimeNanoseconds
        var originalError: [String: Double] = [:]
        for (t, model) in originals.enumerated() {
            originalError[taskNames[t]] = try validationError(of: model)[taskNames[t]]
        }
        let tell = progress ?? { _ in }
        if distillation > 0, options.iterationScale > 0 { _ = try taskData(progress: tell) }
        if taskBatchNorms { try measureBatchNorms() }
        let path: Path
        var search: ZipReport.Search?
        if let maxIncrease = options.maxErrorIncrease {
            (path, search) = try searchShares(maxIncrease: maxIncrease, originalError: originalError, progress: tell)
        } else {
            let counts = fixedCounts()
            path = try zipAll(counts: counts, maxCounts: counts, progress: tell)
        }
        var model = try path.state.deployable()
        model.metadata["producer"] = "mtz zip"
        model.metadata["description"] = "\(taskNames.joined(separator: " + ")) zipped by mtz zip (\(options.method.rawValue)): "
            + path.layers.map { "\($0.name) \($0.shared)/\($0.neurons)" }.joined(separator: ", ")
        let stats = try ModelStatistics(model)
        var report = ZipReport(
            method: options.method.rawValue, tasks: taskNames, originalError: originalError, layers: path.layers,
            finalRetraining: path.final, totalIterations: path.layers.reduce(path.final?.iterations ?? 0) { $0 + $1.iterations },
            parameters: stats.parameters, sharedParameters: stats.sharedParameters, separateParameters: stats.separateParameters,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9, search: search)
        if taskBatchNorms { report.taskBatchNorms = true }
        if report.totalIterations > 0, normalizesSharedly(path.state) { report.sharedBatchNorms = true }
        if distillation > 0, options.iterationScale > 0 {
            report.distillation = distillation
            report.temperature = options.temperature
        }
        return (model, report)
    }

    /// Per hidden layer, the shared count `--share` asks for (a layer tied to an earlier one follows it).
    private func fixedCounts() -> [Int] {
        state.layers[0..<state.headLayer].map { Int((options.share.fraction(of: $0.name) * Double($0.outCount)).rounded()) }
    }

    // MARK: - Zipping with given counts

    /// One zipping: the state after the final retraining, and what happened on the way.
    struct Path {
        var state: ZipState
        var layers: [ZipReport.Layer]
        var final: ZipReport.FinalRetraining?
        /// Validation error per task at the end.
        var errors: [String: Double]
        /// Retraining iterations run (layers resumed from a checkpoint not counted) and layers resumed.
        var iterationsRun = 0
        var layersReused = 0
    }

    /// The zipping after its first layers, keyed by their shared counts: a later candidate whose
    /// counts start alike resumes here instead of zipping and retraining those layers again.
    private struct Checkpoint {
        var state: ZipState
        var layers: [ZipReport.Layer]
        /// Budget of layers whose retraining waits for a later tied layer (residual networks).
        var carried: Int
        /// False once a layer shared nothing: nothing above it can (sharing grows from the input).
        var sharing: Bool
        /// The next layer's pairing for its largest count, once computed (a smaller count takes a
        /// prefix: greedy pairs for a smaller k are the cheapest of those for a larger one).
        var pairing: Pairing?
    }

    /// Checkpoints by the counts of the layers zipped (empty: the originals). The automatic mode
    /// keeps those on the best candidate's path; the fixed mode keeps none.
    private var checkpoints: [[Int]: Checkpoint] = [:]

    /// Zips every hidden layer `l` with `counts[l]` shared neurons (paired among the cheapest
    /// `maxCounts[l]`; ignored for a layer tied to an earlier one, which shares that layer's
    /// neurons), retrains after each layer and at the end; resumes from the longest checkpoint
    /// whose counts `counts` starts with, and records checkpoints when `keep` is set.
    private func zipAll(counts: [Int], maxCounts: [Int], keep: Bool = false, progress: (ZipProgress) -> Void) throws -> Path {
        let hidden = Array(0..<state.headLayer)
        var resumed = 0
        var checkpoint = Checkpoint(state: initialState, layers: [], carried: 0, sharing: true)
        for p in stride(from: hidden.count, through: 1, by: -1) {
            if let found = checkpoints[Array(counts[0..<p])] {
                (resumed, checkpoint) = (p, found)
                break
            }
        }
        state = checkpoint.state
        var layerReports = checkpoint.layers, carried = checkpoint.carried, sharing = checkpoint.sharing
        var run = 0
        for l in hidden[resumed...] {
            let layer = state.layers[l]
            func tell(_ phase: ZipProgress.Phase, _ iteration: Int = 0, _ iterations: Int = 0, _ errors: [String: Double] = [:],
                      rates: (diverged: Float, next: Float)? = nil) {
                progress(ZipProgress(layer: layer.name, layerIndex: l, layerCount: hidden.count, phase: phase,
                                     iteration: iteration, iterations: iterations, errors: errors,
                                     divergedLearningRate: rates?.diverged, learningRate: rates?.next))
            }
            let budget = carried + Int((Double(options.iterations[layer.name] ?? ZipOptions.defaultIterations(layer: l, of: hidden.count))
                * options.iterationScale).rounded())
            carried = 0
            // A layer tied by a residual add to one zipped earlier shares the same neurons: they are
            // paired already, so only its merged weights are computed (if it shares any).
            let aligned = state.tiedLayers(of: l).first! < l
            let k = aligned ? state.layers[l].sharedCount : (sharing ? counts[l] : 0)
            if !aligned, k == 0 { sharing = false }
            if k > 0 {
                let key = Array(counts[0..<l])
                let plan: Pairing
                if let cached = checkpoints[key]?.pairing {
                    plan = cached
                } else {
                    plan = try pairing(layer: l, count: aligned ? k : max(k, maxCounts[l]), aligned: aligned, tell: { tell($0, $1, $2, $3) })
                    if keep { checkpoints[key, default: Checkpoint(state: state, layers: layerReports, carried: 0, sharing: sharing)].pairing = plan }
                }
                let report = try zip(layer: l, plan: plan, count: k, aligned: aligned, iterations: budget, tell: { tell($0, $1, $2, $3) }) {
                    tell(.restarting, 0, budget, rates: ($0, $1))
                }
                layerReports.append(report)
                run += report.iterations
                if !state.pending.isEmpty { carried = budget }
            }
            if keep { checkpoints[Array(counts[0...l])] = Checkpoint(state: state, layers: layerReports, carried: carried, sharing: sharing) }
        }
        var path = Path(state: state, layers: layerReports, final: nil,
                        errors: layerReports.last?.errorAfterRetraining ?? [:], iterationsRun: run, layersReused: resumed)
        let finalIterations = Int((Double(options.finalIterations) * options.iterationScale).rounded())
        if finalIterations > 0, !layerReports.isEmpty {
            let begin = DispatchTime.now().uptimeNanoseconds
            func tell(_ phase: ZipProgress.Phase, _ iteration: Int, _ errors: [String: Double] = [:],
                      rates: (diverged: Float, next: Float)? = nil) {
                progress(ZipProgress(layer: "final", layerIndex: hidden.count - 1, layerCount: hidden.count, phase: phase,
                                     iteration: iteration, iterations: finalIterations, errors: errors,
                                     divergedLearningRate: rates?.diverged, learningRate: rates?.next))
            }
            let (trained, rate) = try retrain(iterations: finalIterations, restarted: { tell(.restarting, 0, rates: ($0, $1)) }) {
                tell(.retraining, $0)
            }
            tell(.validating, 0)
            let after = try validationError(of: trained)
            tell(.validating, finalIterations, after)
            path.state = state
            path.final = ZipReport.FinalRetraining(iterations: finalIterations, errorBefore: path.errors, errorAfter: after,
                                                   seconds: Double(DispatchTime.now().uptimeNanoseconds - begin) * 1e-9)
            if rate != learningRate { path.final?.learningRate = rate }
            path.errors = after
            path.iterationsRun += finalIterations
        }
        return path
    }

    // MARK: - Automatic mode

    /// Searches the shared counts per layer (`ShareSearch`): each candidate is zipped and retrained
    /// with the whole budget, then judged on the validation images only; the best candidate within
    /// `maxIncrease` of every task's original validation error is kept (nothing shared if none is).
    private func searchShares(maxIncrease: Double, originalError: [String: Double],
                              progress: (ZipProgress) -> Void) throws -> (Path, ZipReport.Search) {
        let begin = DispatchTime.now().uptimeNanoseconds
        let hidden = Array(0..<state.headLayer)
        // Layers tied to an earlier one by a residual add share its neurons: only the first of each
        // group is searched.
        let searchable = hidden.filter { state.tiedLayers(of: $0).first! == $0 }
        let limits = fixedCounts()
        var search = ShareSearch(names: searchable.map { state.layers[$0].name }, maxCounts: searchable.map { limits[$0] },
                                 limit: options.maxCandidates)
        /// Counts per hidden layer from counts per searchable layer.
        func expanded(_ counts: [Int]) -> [Int] {
            var full = [Int](repeating: 0, count: hidden.count)
            for (i, l) in searchable.enumerated() { full[l] = counts[i] }
            return full
        }
        func fits(_ errors: [String: Double]) -> Bool {
            taskNames.allSatisfy { (errors[$0] ?? 1) - (originalError[$0] ?? 0) <= maxIncrease + 1e-12 }
        }
        var parameterCache: [[Int]: Int] = [:]
        func parameters(_ counts: [Int]) throws -> Int {
            if let known = parameterCache[counts] { return known }
            let n = try Self.sharedParameters(of: initialState, counts: expanded(counts))
            parameterCache[counts] = n
            return n
        }
        // Raising a layer gains parameters; the pair costs d[i,j] of the neurons it adds, against
        // those of the neurons it shares already (the best candidate's pairing of that layer),
        // say how unlike the added neurons are: the lower the rise, the likelier the raise fits.
        func score(_ move: ShareSearch.Move) throws -> Double {
            var raised = move.base
            raised[move.layer] = move.to
            let gain = Double(try parameters(raised) - parameters(move.base))
            let l = searchable[move.layer]
            guard move.from > 0, let costs = checkpoints[Array(expanded(move.base)[0..<l])]?.pairing?.costs,
                  costs.count >= move.to else { return gain }
            let shared = costs[0..<move.from].reduce(0, +) / Double(move.from)
            let added = costs[move.from..<move.to].reduce(0, +) / Double(move.to - move.from)
            return shared > 0 && added > shared ? gain * shared / added : gain
        }

        var best: Path?
        var candidates: [ZipReport.Search.Candidate] = []
        var chosen: Int?
        while let candidate = try search.next(score: score) {
            let started = DispatchTime.now().uptimeNanoseconds
            let index = candidates.count
            let path: Path
            var failure: String?
            do {
                path = try zipAll(counts: expanded(candidate.counts), maxCounts: expanded(search.maxCounts), keep: true) { p in
                    var p = p
                    p.candidate = index + 1
                    p.candidateLimit = options.maxCandidates
                    p.candidateLabel = candidate.label
                    progress(p)
                }
            } catch ZipError.numerical(let why) {
                // A candidate whose retraining diverged does not fit; the search goes on (a smaller
                // share is likelier to train).
                failure = why
                path = Path(state: initialState, layers: [], final: nil, errors: Dictionary(uniqueKeysWithValues: taskNames.map { ($0, 1.0) }))
            }
            let within = failure == nil && fits(path.errors)
            search.record(candidate, fits: within)
            if within, search.best == candidate.counts {
                best = path
                chosen = index
            }
            // Keep the checkpoints on the best candidate's path: later candidates raise one of its layers.
            let kept = expanded(search.best)
            checkpoints = checkpoints.filter { key, _ in key.isEmpty || Array(kept.prefix(key.count)) == key }
            candidates.append(ZipReport.Search.Candidate(
                phase: candidate.phase.rawValue, label: candidate.label,
                shared: Dictionary(uniqueKeysWithValues: Swift.zip(search.names, candidate.counts)),
                sharedParameters: try parameters(candidate.counts), validationError: path.errors, withinBudget: within,
                iterations: path.iterationsRun, reusedLayers: path.layersReused,
                seconds: Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9, failure: failure))
            progress(ZipProgress(layer: "candidate", layerIndex: hidden.count - 1, layerCount: hidden.count, phase: .judged,
                                 iteration: 0, iterations: 0, errors: path.errors, candidate: index + 1,
                                 candidateLimit: options.maxCandidates, candidateLabel: candidate.label, withinBudget: within,
                                 failure: failure))
        }
        checkpoints = [:]
        var result = best ?? Path(state: initialState, layers: [], final: nil, errors: originalError)
        // Each chosen layer lists the counts the candidates gave it, in the order tried.
        for i in result.layers.indices {
            guard let s = search.names.firstIndex(of: result.layers[i].name) else { continue }
            var seen = Set<Int>()
            result.layers[i].candidatesTried = search.tried.map { $0.candidate.counts[s] }.filter { seen.insert($0).inserted }
        }
        let report = ZipReport.Search(
            maxErrorIncrease: maxIncrease, layers: search.names, candidateLimit: options.maxCandidates, candidates: candidates, chosen: chosen,
            iterations: candidates.reduce(0) { $0 + $1.iterations },
            seconds: Double(DispatchTime.now().uptimeNanoseconds - begin) * 1e-9)
        return (result, report)
    }

    /// Parameters stored once when every hidden layer `l` shares `counts[l]` neurons — the same for
    /// any pairing, so the first neurons of every task stand in for the real ones.
    static func sharedParameters(of initial: ZipState, counts: [Int]) throws -> Int {
        var state = initial
        var sharing = true
        for l in 0..<state.headLayer {
            if state.tiedLayers(of: l).first! < l {
                let k = state.layers[l].sharedCount
                if k > 0 { try state.merge(layer: l, merged: state.inputColumns(layer: l, task: 0).prefixRows(k)) }
                continue
            }
            sharing = sharing && counts[l] > 0
            guard sharing else { continue }
            let k = counts[l]
            try state.share(layer: l, neurons: Array(repeating: Array(0..<k), count: state.tasks.count),
                            merged: state.inputColumns(layer: l, task: 0).prefixRows(k))
        }
        return try ModelStatistics(state.lowered().0).sharedParameters
    }

    // MARK: - Layers

    /// The neurons of every task that form up to `count` shared neurons of one layer, cheapest
    /// first, with their merged incoming weights.
    private struct Pairing {
        /// Per task: entry `i` is the task's neuron that joins shared neuron `i`.
        var neurons: [[Int]]
        /// Per shared neuron: the summed cost d of the merges that formed it.
        var costs: [Double]
        /// One row per shared neuron (weights over the shared inputs, then bias).
        var merged: Matrix

        /// The first `k` shared neurons.
        func prefix(_ k: Int) -> Pairing {
            Pairing(neurons: neurons.map { Array($0.prefix(k)) }, costs: Array(costs.prefix(k)), merged: merged.prefixRows(k))
        }
    }

    /// Pair costs from each task's layer-wise Hessian through the current zipped network, the
    /// greedy (or baseline) pairing of `count` neurons and their merged incoming weights.
    ///
    /// With more than two networks the tasks are zipped in one after another (MTZ.md,
    /// "Extensions"): side A starts as task 0; each next task t is paired with side A's `count`
    /// neurons, the pairs are merged, and side A becomes the merged neurons with Hessian
    /// H_A + H_t (the precisions of the merged tasks add). Shared neurons are ordered by their
    /// summed cost, so a prefix is the cheapest shares (the automatic mode relies on that).
    ///
    /// `aligned`: the layer's first `count` neurons are already paired (a layer tied by a residual
    /// add to one zipped earlier): neuron `i` of every task forms shared neuron `i`, in that order;
    /// only the costs and merged weights are computed.
    private func pairing(layer l: Int, count k: Int, aligned: Bool,
                         tell: (ZipProgress.Phase, Int, Int, [String: Double]) -> Void) throws -> Pairing {
        tell(.hessians, 0, 0, [:])
        var columns = taskNames.indices.map { state.inputColumns(layer: l, task: $0) }
        if aligned {
            columns = columns.map { $0.prefixRows(k) }
        }
        /// The pairs of `count` neurons under `costs`: greedy, or the aligned neurons.
        func matched(_ costs: Matrix, count: Int) -> [NeuronPair] {
            aligned ? (0..<count).map { (a: $0, b: $0, cost: costs[$0, $0]) } : Matching.greedy(costs: costs, count: count)
        }
        var hessians: [[Double]] = []
        if options.method == .mtz || options.method == .mtzAverage {
            for t in taskNames.indices {
                let (network, map) = try state.taskNetwork(t)
                hessians.append(try hessian(of: l, task: t, model: network, input: map.sharedInput[l][0]))
            }
            if options.balanceHessians { hessians = hessians.map { Self.unitTrace($0, n: columns[0].cols) } }
        }
        tell(.pairing, 0, 0, [:])
        let n = columns[0].cols
        var sideA = columns[0]
        var hessianA = hessians.first ?? []
        var neurons: [[Int]] = [Array(0..<sideA.rows)]
        var costs = [Double](repeating: 0, count: sideA.rows)
        for t in 1..<taskNames.count {
            let sideB = columns[t]
            let count = min(k, sideA.rows)
            let pairs: [NeuronPair]
            let merged: Matrix
            switch options.method {
            case .mtz, .mtzAverage:
                let pair: HessianPair
                do {
                    pair = try HessianPair(hessianA: hessianA, hessianB: hessians[t], dimension: n)
                } catch {
                    throw ZipError.numerical("layer '\(state.layers[l].name)': \(error)")
                }
                pairs = matched(try finite(pair.costs(weightsA: sideA, weightsB: sideB), layer: l), count: count)
                merged = options.method == .mtz
                    ? pair.mergedWeights(weightsA: sideA, weightsB: sideB, pairs: pairs)
                    : Baseline.averagedWeights(weightsA: sideA, weightsB: sideB, pairs: pairs, shareA: Double(t) / Double(t + 1))
                for i in hessianA.indices { hessianA[i] += hessians[t][i] }
            case .euclidean:
                pairs = matched(try finite(Baseline.euclideanCosts(weightsA: sideA, weightsB: sideB), layer: l), count: count)
                merged = Baseline.averagedWeights(weightsA: sideA, weightsB: sideB, pairs: pairs, shareA: Double(t) / Double(t + 1))
            case .random:
                pairs = aligned ? matched(Matrix(rows: count, cols: count), count: count)
                    : Matching.random(countA: sideA.rows, countB: sideB.rows, count: count, seed: options.seed &+ UInt64(l) &+ UInt64(t - 1) << 32)
                merged = Baseline.averagedWeights(weightsA: sideA, weightsB: sideB, pairs: pairs, shareA: Double(t) / Double(t + 1))
            }
            neurons = neurons.map { list in pairs.map { list[$0.a] } } + [pairs.map(\.b)]
            costs = pairs.map { costs[$0.a] + $0.cost }
            sideA = merged
        }
        // Cheapest shared neurons first (for two networks greedy already yields them in that order);
        // aligned neurons keep their order.
        let order = aligned ? Array(costs.indices) : costs.indices.sorted { costs[$0] < costs[$1] }
        let cols = sideA.cols
        return Pairing(neurons: neurons.map { list in order.map { list[$0] } }, costs: order.map { costs[$0] },
                       merged: Matrix(rows: order.count, cols: cols, values: order.flatMap { sideA.values[$0 * cols ..< ($0 + 1) * cols] }))
    }

    /// `costs`, or an error if any is NaN or infinite (networks with non-finite weights).
    private func finite(_ costs: Matrix, layer l: Int) throws(ZipError) -> Matrix {
        guard costs.values.allSatisfy(\.isFinite) else {
            throw ZipError.numerical("layer '\(state.layers[l].name)': pair costs are not finite (do the networks hold NaN or infinite weights?)")
        }
        return costs
    }

    /// Shares the first `k` pairs of `plan` in layer `l`, validates, retrains jointly for
    /// `iterations`, validates again.
    private func zip(layer l: Int, plan: Pairing, count k: Int, aligned: Bool, iterations: Int,
                     tell: (ZipProgress.Phase, Int, Int, [String: Double]) -> Void,
                     restarted: (Float, Float) -> Void) throws -> ZipReport.Layer {
        let start = DispatchTime.now().uptimeNanoseconds
        let layer = state.layers[l]
        let chosen = plan.prefix(k)
        if aligned {
            try state.merge(layer: l, merged: chosen.merged)
        } else {
            try state.share(layer: l, neurons: chosen.neurons, merged: chosen.merged)
        }
        guard state.pending.isEmpty else {
            // A layer tied to this one by a residual add (or reading it) still has to be merged:
            // validation and retraining happen after that layer, with this layer's budget added.
            return ZipReport.Layer(
                name: layer.name, neurons: layer.outCount, shared: k, cost: Self.summary(chosen.costs), damping: options.damping,
                errorBeforeRetraining: [:], errorAfterRetraining: [:], iterations: 0,
                seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9,
                retrainedWith: state.pending.min().map { state.layers[$0].name })
        }
        // Task batch norms above the merge renormalise what it changed (statistics only, no training).
        let renormalized = try retrain(iterations: 0) { _ in }.model
        tell(.validating, 0, 0, [:])
        let before = try validationError(of: renormalized)
        var after = before
        var rate = learningRate
        if iterations > 0 {
            let trained: Model
            (trained, rate) = try retrain(iterations: iterations, restarted: restarted) { tell(.retraining, $0, iterations, [:]) }
            tell(.validating, 0, 0, [:])
            after = try validationError(of: trained)
        }
        tell(.validating, iterations, iterations, after)
        return ZipReport.Layer(
            name: layer.name, neurons: layer.outCount, shared: k, cost: Self.summary(chosen.costs), damping: options.damping,
            errorBeforeRetraining: before, errorAfterRetraining: after, iterations: iterations,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9,
            learningRate: rate != learningRate ? rate : nil)
    }

    // MARK: - Steps

    /// The damped layer-wise Hessian of layer `l` for task `t`, from its first
    /// `options.hessianImages` training images run through `model`, task `t`'s network as zipped
    /// so far (`ZipState.taskNetwork`), whose value `input` is the layer's shared input.
    private func hessian(of l: Int, task t: Int, model: Model, input: ValueRef?) throws -> [Double] {
        let layout = state.neuronLayout(layer: l)
        guard let ref = input else {
            // Nothing shared feeds the layer (a residual layer tied to an earlier one, above a layer
            // that shares nothing): the neuron vector is the bias alone, whose Hessian is E[1·1].
            guard layout.sharedChannels == 0 else { throw ZipError.numerical("layer '\(state.layers[l].name)' has no shared input") }
            return [1 + options.damping]
        }
        let images = train[taskNames[t]]!
        if let conv = state.layers[l].conv {
            let outShape = layerOutputShape(l)
            if options.perChannelHessian {
                var h = PerChannelHessian(channels: layout.sharedChannels)
                try LayerInputs.forEach(in: model, ref: ref, images: images, count: options.hessianImages) { rows, shape, stride in
                    h.add(pixels: rows, count: shape.pixels, stride: stride)
                }
                return h.matrix(taps: layout.taps, damping: options.damping)
            }
            var h = LayerHessian(dimension: layout.taps * layout.sharedChannels)
            var patches: [Float] = []
            try LayerInputs.forEach(in: model, ref: ref, images: images, count: options.hessianImages) { rows, shape, stride in
                var p = mtz_conv2d_params(
                    in_h: shape.height, in_w: shape.width, in_c: shape.channels, in_pixel_stride: stride,
                    out_h: outShape.height, out_w: outShape.width, out_c: 1, out_pixel_stride: 1,
                    kernel_h: conv.window.kernelH, kernel_w: conv.window.kernelW, stride_h: conv.window.strideH, stride_w: conv.window.strideW,
                    dilation_h: conv.window.dilationH, dilation_w: conv.window.dilationW,
                    pad_top: conv.window.padding.top, pad_left: conv.window.padding.left, groups: 1)
                let d = conv.window.kernelH * conv.window.kernelW * shape.channels
                let count = outShape.pixels
                if patches.count < count * d { patches = [Float](repeating: 0, count: count * d) }
                patches.withUnsafeMutableBufferPointer { col in
                    mtz_im2col(&p, 0, rows, 0, count, col.baseAddress!, d)
                    h.add(rows: col.baseAddress!, count: count, stride: d)
                }
            }
            return h.matrix(damping: options.damping)
        }
        var h = LayerHessian(dimension: layout.taps * layout.sharedChannels)
        try LayerInputs.forEach(in: model, ref: ref, images: images, count: options.hessianImages) { rows, shape, stride in
            h.add(rows: rows, count: 1, stride: shape.channels)
        }
        return h.matrix(damping: options.damping)
    }

    /// Output shape of dense layer `l` (one task, all channels).
    private func layerOutputShape(_ l: Int) -> ValueShape {
        state.shapes[state.unit(ofLayer: l)]
    }

    /// How often retraining that diverges starts again from the same state at a third of the
    /// learning rate before the zip fails (0.01 → 0.0033 → 0.0011).
    static let divergenceRetries = 2

    /// `retrainOnce` at `learningRate`; if it diverges (the loss or the weights become infinite or
    /// NaN), again from the same state at a third of the rate, up to `divergenceRetries` times —
    /// `restarted(from, to)` tells each restart. The state changes only when a retraining succeeds.
    /// - Returns: the deployable model of the retrained state and the learning rate that trained it.
    /// - Throws: `ZipError.numerical` if every rate diverged.
    private func retrain(iterations: Int, restarted: (Float, Float) -> Void = { _, _ in },
                         progress: (Int) -> Void) throws -> (model: Model, learningRate: Float) {
        var rates = [learningRate]
        while true {
            do {
                return (try retrainOnce(iterations: iterations, learningRate: rates.last!, progress: progress), rates.last!)
            } catch is Divergence where iterations > 0 && rates.count <= Self.divergenceRetries {
                rates.append(rates.last! / 3)
                restarted(rates[rates.count - 2], rates.last!)
            } catch is Divergence {
                let tried = rates.map { "\($0)" }.joined(separator: ", ")
                throw ZipError.numerical("retraining diverged (the loss or the weights became infinite or NaN) at learning rate \(tried); try a smaller --lr")
            }
        }
    }

    /// Retraining became infinite or NaN.
    private struct Divergence: Error {}

    /// Fault injection for tests: this many of the next retrainings that train (iterations > 0)
    /// diverge before their first iteration, as if its loss had been NaN.
    var injectedDivergences = 0

    /// Joint retraining of the current state: one mini-batch per task per iteration, summed losses;
    /// the trained weights go back into the state. A state with partly shared layers trains in the
    /// assembled form (`ZipState.deployable(normalizing:sharedBatchNorms:)`, one convolution per
    /// task and layer), any other in `ZipState.lowered(normalizing:sharedBatchNorms:)`'s; both train
    /// the same blocks. Task-specific neurons with a normalisation keep their batch norm while
    /// training: its statistics are first calibrated on each task's data, and it is folded back into
    /// the state afterwards. Once a normalised layer shares neurons (`sharedBatchNorms`), they keep
    /// one batch norm for all tasks, whose statistics pool every task's images through that task's
    /// own path: every task's mini-batch then runs through the network as one batch, each task's own
    /// batch norms counting only its images. With no iterations, that calibration and fold is all
    /// that happens.
    /// - Returns: the deployable model of the retrained state.
    /// - Throws: `Divergence` if the loss or the folded weights are not finite (the state is unchanged).
    private func retrainOnce(iterations: Int, learningRate: Float, progress: (Int) -> Void) throws -> Model {
        let joint = normalizesSharedly(state)
        // Shared batch norms start as the identity: at the trunk's present statistics over all
        // tasks' images. A fully shared trunk measures them per task (pooled by the lowering); with
        // partly shared layers, whose shared rows are several nodes per task, the calibration below
        // measures them and the batch norms are then set to pass them through.
        let normalized = state.layers.indices.filter { !state.layers[$0].normalization.isEmpty }
        let fullyShared = normalized.allSatisfy { state.layers[$0].sharedCount == state.layers[$0].outCount }
        let start = joint && fullyShared ? try measured(state, layers: Set(normalized)) : state
        // With partly shared layers the assembled form trains the same parameters with one
        // convolution per task and layer instead of one per block.
        let (lowered, map) = start.splitsLayers
            ? try start.deployable(normalizing: true, sharedBatchNorms: joint)
            : try start.lowered(normalizing: true, sharedBatchNorms: joint)
        if iterations == 0, map.normalizations.isEmpty { return lowered }
        let trainable = try TrainableModel(lowered)
        let trainer = try Trainer(model: trainable, options: TrainingOptions(
            epochs: 1, batchSize: options.batchSize, learningRate: learningRate, schedule: options.schedule,
            momentum: options.momentum, weightDecay: options.weightDecay, seed: options.seed, jointBatches: joint))
        let data = try taskData()
        if !map.normalizations.isEmpty { try trainer.calibrateBatchNorms(data, batches: options.calibrationBatches) }
        if joint, !fullyShared {
            for rows in map.normalizations where rows.tasks.count > 1 { trainable.startAtIdentity(batchNorm: rows.node) }
        }
        if iterations > 0, injectedDivergences > 0 {
            injectedDivergences -= 1
            throw Divergence()
        }
        for done in 0..<iterations {
            let rate = options.schedule.rate(base: learningRate, progress: Double(done) / Double(iterations))
            let loss = try trainer.runIterations(1, data: data, learningRate: rate)
            // Stop at once: a diverged network stays diverged, and its NaN weights would otherwise
            // surface later as a broken zipping invariant (NaN is unequal to itself).
            guard loss.values.allSatisfy(\.isFinite) else { throw Divergence() }
            if (done + 1) % 25 == 0 || done + 1 == iterations { progress(done + 1) }
        }
        var trained = lowered
        trained.weights = Swift.zip(lowered.weights, trainable.values).map { WeightTensor(name: $0.name, shape: $0.shape, values: $1) }
        var folded = start
        try folded.absorb(trained, map: map)
        for rows in map.normalizations {
            let statistics = trainable.batchNormStatistics(node: rows.node)!
            try folded.foldNormalization(rows, gamma: trainable.values[rows.gamma], beta: trainable.values[rows.beta],
                                         mean: statistics.mean, variance: statistics.variance, epsilon: trainable.batchNormEpsilon)
        }
        guard folded.layers.allSatisfy({ $0.weights.allSatisfy { $0.allSatisfy(\.isFinite) } && $0.biases.allSatisfy { $0.allSatisfy(\.isFinite) } }) else {
            throw Divergence()
        }
        let result = try folded.deployable()
        state = folded
        return result
    }

    /// Whether retraining `zip` keeps shared batch norms: `sharedBatchNorms` is on and a normalised
    /// layer shares neurons.
    private func normalizesSharedly(_ zip: ZipState) -> Bool {
        sharedBatchNorms && zip.layers.contains { !$0.normalization.isEmpty && $0.sharedCount > 0 }
    }

    /// Sets every hidden layer's normalisation (`ZipOptions.taskBatchNorms`) to the statistics of its
    /// output in each task's original network (`BatchNormTargets`).
    private func measureBatchNorms() throws {
        initialState = try measured(initialState, layers: Set(0..<initialState.headLayer))
        state = initialState
    }

    /// `zip` with the normalisation of `layers` set to the statistics of their output in each task's
    /// network as zipped (`BatchNormTargets`). Each of these layers must be one dense node in a
    /// task's network: not yet zipped, or fully shared.
    private func measured(_ zip: ZipState, layers: Set<Int>) throws -> ZipState {
        var result = zip
        for t in taskNames.indices {
            let (network, map) = try zip.taskNetwork(t)
            let excluded = Set(zip.layers.indices).subtracting(layers)
            let statistics = try BatchNormTargets.measure(network, map: map, excluded: excluded, images: train[taskNames[t]]!,
                                                          count: options.hessianImages)
            for (l, normalization) in statistics {
                if result.layers[l].normalization.isEmpty {
                    result.layers[l].normalization = Array(repeating: normalization, count: taskNames.count)
                }
                result.layers[l].normalization[t] = normalization
            }
        }
        return result
    }

    /// Largest number of teacher outputs kept for distillation (images × classes over all tasks: 1 GiB).
    static let maxTeacherValues = 1 << 28

    /// The retraining data of every task; with distillation, each task's original network run once
    /// over its retraining images.
    private func taskData(progress: @escaping (ZipProgress) -> Void = { _ in }) throws -> [String: TaskData] {
        if let retrainingData { return retrainingData }
        if distillation > 0 {
            let values = taskNames.enumerated().reduce(0) { $0 + train[$1.element]!.count * originals[$1.offset].tasks[0].labels.count }
            guard values <= Self.maxTeacherValues else {
                throw ZipError.invalidOption("distillation would keep \(values) teacher outputs (\(values / (1 << 20) * 4) MiB) in memory, more than \(Self.maxTeacherValues); use --distill 0 or fewer training images")
            }
        }
        var data: [String: TaskData] = [:]
        for (t, name) in taskNames.enumerated() {
            let images = train[name]!
            var taught: Distillation?
            if distillation > 0 {
                func tell(_ done: Int) {
                    progress(ZipProgress(layer: name, layerIndex: t, layerCount: taskNames.count, phase: .teaching,
                                         iteration: done, iterations: images.count, errors: [:]))
                }
                let teacher = try Distillation.teacherLogProbabilities(of: InferenceModel(originals[t]), task: name, images: images,
                                                                       threads: 2, progress: tell)
                taught = try Distillation(teacher: teacher.values, classes: teacher.classes, weight: distillation,
                                          temperature: options.temperature)
            }
            data[name] = TaskData(images: images, distillation: taught)
        }
        retrainingData = data
        return data
    }

    /// Top-1 validation error of every task of `model`, through the inference runtime.
    private func validationError(of model: Model) throws -> [String: Double] {
        let loaded = try InferenceModel(model)
        var errors: [String: Double] = [:]
        for task in model.tasks {
            guard let images = validation[task.name] else { continue }
            let dataset = Evaluation.recordedDataset(of: task.name, in: model) ?? .mnist
            errors[task.name] = try Evaluation.topOneError(of: loaded, task: task.name, dataset: dataset, images: images, threads: 2).errorRate
        }
        return errors
    }

    /// `h` scaled to an average diagonal of 1, so that every task weighs alike in the pair costs
    /// and the merged weights whatever the scale of its layer inputs.
    static func unitTrace(_ h: [Double], n: Int) -> [Double] {
        var trace = 0.0
        for i in 0..<n { trace += h[i * n + i] }
        guard trace > 0 else { return h }
        let scale = Double(n) / trace
        return h.map { $0 * scale }
    }

    private static func summary(_ costs: [Double]) -> ZipReport.CostSummary? {
        guard !costs.isEmpty else { return nil }
        let sorted = costs.sorted()
        let at = { (f: Double) in costs[max(0, min(costs.count - 1, Int((f * Double(costs.count)).rounded(.up)) - 1))] }
        return ZipReport.CostSummary(min: sorted.first!, median: sorted[sorted.count / 2], max: sorted.last!,
                                     mean: costs.reduce(0, +) / Double(costs.count), quartiles: [at(0.25), at(0.5), at(0.75), at(1)])
    }
}
