import CMTZKernels
import Dispatch
import MTZCore
import MTZRuntime
import MTZTraining

/// What a progress callback is told while zipping.
public struct ZipProgress: Sendable {
    /// The phase of the current layer.
    public enum Phase: String, Sendable {
        case hessians = "Hessians"
        case pairing = "pairing"
        case retraining = "retraining"
        case validating = "validating"
    }

    public var layer: String
    public var layerIndex: Int
    public var layerCount: Int
    public var phase: Phase
    /// Retraining iteration (when `phase == .retraining`).
    public var iteration: Int
    public var iterations: Int
    /// Validation error per task, once known for this layer.
    public var errors: [String: Double]
}

/// Zips single-task networks (two or more) of the same architecture (chains or residual networks) into one multi-head model with
/// Multi-Task Zipping: layer by layer from the input, pairs neurons by the layer-wise Hessian cost,
/// merges each pair's incoming weights, and retrains the lowered multi-head network jointly.
public final class Zipper {
    /// The most networks one zip merges.
    public static let maxNetworks = 16

    public let options: ZipOptions
    private var state: ZipState
    private let taskNames: [String]
    private let train: [String: LabeledImages]
    private let validation: [String: LabeledImages]
    private let originals: [Model]
    /// The retraining learning rate in use (`options.learningRate` or its default).
    private let learningRate: Float

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
        let state = try ZipState(models: models)
        self.state = state
        taskNames = state.tasks.map(\.name)
        let residual = state.layers.indices.contains { state.tiedLayers(of: $0).count > 1 }
        learningRate = options.learningRate ?? (residual ? 0.001 : 0.01)
        guard learningRate > 0, learningRate.isFinite else { throw ZipError.invalidOption("the learning rate must be positive") }
        if options.maxErrorIncrease != nil, residual {
            throw ZipError.invalidOption("the automatic mode (--max-error-increase) takes networks without residual connections for now; give --share")
        }
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
        let hidden = Array(0..<state.headLayer)
        var layerReports: [ZipReport.Layer] = []
        // Budget of layers whose retraining waits for a later tied layer (residual networks).
        var carried = 0
        // Sharing grows from the input side: once a layer shares nothing, nothing above it can
        // (only layers tied to a shared one still get their merged weights).
        var sharing = true
        for (position, l) in hidden.enumerated() {
            let layer = state.layers[l]
            func tell(_ phase: ZipProgress.Phase, _ iteration: Int = 0, _ iterations: Int = 0, _ errors: [String: Double] = [:]) {
                progress?(ZipProgress(layer: layer.name, layerIndex: position, layerCount: hidden.count, phase: phase,
                                      iteration: iteration, iterations: iterations, errors: errors))
            }
            let budget = carried + Int((Double(options.iterations[layer.name] ?? ZipOptions.defaultIterations(layer: position, of: hidden.count))
                * options.iterationScale).rounded())
            carried = 0
            // A layer tied by a residual add to one zipped earlier shares the same neurons: they are
            // paired already, so only its merged weights are computed (if it shares any).
            if state.tiedLayers(of: l).first! < l {
                let k = state.layers[l].sharedCount
                guard k > 0 else { continue }
                let plan = try pairing(layer: l, count: k, aligned: true, tell: tell)
                layerReports.append(try zip(layer: l, plan: plan, count: k, aligned: true, iterations: budget, tell: tell))
                if !state.pending.isEmpty { carried = budget }
                continue
            }
            let requested = sharing ? Int((options.share.fraction(of: layer.name) * Double(layer.outCount)).rounded()) : 0
            guard requested > 0 else {
                sharing = false
                continue
            }
            guard let maxIncrease = options.maxErrorIncrease else {
                let plan = try pairing(layer: l, count: requested, aligned: false, tell: tell)
                layerReports.append(try zip(layer: l, plan: plan, count: requested, aligned: false, iterations: budget, tell: tell))
                if !state.pending.isEmpty { carried = budget }
                continue
            }
            // Automatic: the largest candidate share whose retrained validation error stays within
            // the budget for every task; candidates come from one pairing (greedy pairs for a
            // smaller k are a prefix of those for a larger one), tried from the largest down. A
            // candidate that misses the budget after the layer's own retraining gets a second
            // chance after a quarter of the final budget more (the final retraining recovers much
            // of what one layer's budget leaves), before the mode backs off.
            let plan = try pairing(layer: l, count: requested, aligned: false, tell: tell)
            let secondChance = Int((Double(options.finalIterations) * options.iterationScale / 4).rounded())
            var accepted: ZipReport.Layer?
            for k in Self.candidates(upTo: requested) {
                let snapshot = state
                var attempt = try zip(layer: l, plan: plan, count: k, aligned: false, iterations: budget, tell: tell)
                func within(_ report: ZipReport.Layer) -> Bool {
                    taskNames.allSatisfy { (report.errorAfterRetraining[$0] ?? 1) - (originalError[$0] ?? 0) <= maxIncrease }
                }
                if !within(attempt), secondChance > 0 {
                    attempt = try retrainAgain(attempt, iterations: secondChance, tell: tell)
                }
                if within(attempt) {
                    attempt.candidatesTried = Self.candidates(upTo: requested).filter { $0 >= k }
                    accepted = attempt
                    break
                }
                state = snapshot
            }
            guard let accepted else {
                sharing = false
                continue
            }
            layerReports.append(accepted)
        }

        var final: ZipReport.FinalRetraining?
        var (model, map) = try state.lowered()
        let finalIterations = Int((Double(options.finalIterations) * options.iterationScale).rounded())
        if finalIterations > 0, !layerReports.isEmpty {
            let begin = DispatchTime.now().uptimeNanoseconds
            let last = hidden.count - 1
            func tell(_ phase: ZipProgress.Phase, _ iteration: Int, _ errors: [String: Double] = [:]) {
                progress?(ZipProgress(layer: "final", layerIndex: last, layerCount: hidden.count, phase: phase,
                                      iteration: iteration, iterations: finalIterations, errors: errors))
            }
            let before = layerReports.last!.errorAfterRetraining
            let trained = try retrain(model, map: map, iterations: finalIterations) { tell(.retraining, $0) }
            tell(.validating, 0)
            let after = try validationError(of: trained)
            (model, _) = try state.lowered()
            tell(.validating, finalIterations, after)
            final = ZipReport.FinalRetraining(iterations: finalIterations, errorBefore: before, errorAfter: after,
                                              seconds: Double(DispatchTime.now().uptimeNanoseconds - begin) * 1e-9)
        }
        model.metadata["producer"] = "mtz zip"
        model.metadata["description"] = "\(taskNames.joined(separator: " + ")) zipped by mtz zip (\(options.method.rawValue)): "
            + layerReports.map { "\($0.name) \($0.shared)/\($0.neurons)" }.joined(separator: ", ")
        let stats = try ModelStatistics(model)
        let report = ZipReport(
            method: options.method.rawValue, tasks: taskNames, originalError: originalError, layers: layerReports,
            finalRetraining: final, totalIterations: layerReports.reduce(final?.iterations ?? 0) { $0 + $1.iterations },
            parameters: stats.parameters, sharedParameters: stats.sharedParameters, separateParameters: stats.separateParameters,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        return (model, report)
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
            Pairing(neurons: neurons.map { Array($0.prefix(k)) }, costs: Array(costs.prefix(k)),
                    merged: Matrix(rows: k, cols: merged.cols, values: Array(merged.values.prefix(k * merged.cols))))
        }
    }

    /// Candidate shared counts for the automatic mode, largest first: all, ¾, ½, ¼, ⅛ of `n`.
    static func candidates(upTo n: Int) -> [Int] {
        var seen = Set<Int>()
        return [1.0, 0.75, 0.5, 0.25, 0.125].map { Int((Double(n) * $0).rounded()) }.filter { $0 > 0 && seen.insert($0).inserted }
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
            columns = columns.map { Matrix(rows: k, cols: $0.cols, values: Array($0.values.prefix(k * $0.cols))) }
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
                     tell: (ZipProgress.Phase, Int, Int, [String: Double]) -> Void) throws -> ZipReport.Layer {
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
        let (lowered, map) = try state.lowered()
        tell(.validating, 0, 0, [:])
        let before = try validationError(of: lowered)
        var after = before
        if iterations > 0 {
            let trained = try retrain(lowered, map: map, iterations: iterations) { tell(.retraining, $0, iterations, [:]) }
            tell(.validating, 0, 0, [:])
            after = try validationError(of: trained)
        }
        tell(.validating, iterations, iterations, after)
        return ZipReport.Layer(
            name: layer.name, neurons: layer.outCount, shared: k, cost: Self.summary(chosen.costs), damping: options.damping,
            errorBeforeRetraining: before, errorAfterRetraining: after, iterations: iterations,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
    }

    /// Retrains the current state `iterations` more and validates again; `report` (of the layer just
    /// zipped) gets the new errors and the added iterations.
    private func retrainAgain(_ report: ZipReport.Layer, iterations: Int,
                              tell: (ZipProgress.Phase, Int, Int, [String: Double]) -> Void) throws -> ZipReport.Layer {
        let start = DispatchTime.now().uptimeNanoseconds
        let (lowered, map) = try state.lowered()
        let trained = try retrain(lowered, map: map, iterations: iterations) { tell(.retraining, $0, iterations, [:]) }
        tell(.validating, 0, 0, [:])
        var result = report
        result.errorAfterRetraining = try validationError(of: trained)
        result.iterations += iterations
        result.seconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        tell(.validating, iterations, iterations, result.errorAfterRetraining)
        return result
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

    /// Joint retraining of the lowered current state: one mini-batch per task per iteration, summed
    /// losses; the trained weights go back into the state.
    /// - Returns: the retrained model (the same graph as `lowered`, new weights).
    private func retrain(_ lowered: Model, map: LoweringMap, iterations: Int, progress: (Int) -> Void) throws -> Model {
        let trainable = try TrainableModel(lowered)
        let trainer = try Trainer(model: trainable, options: TrainingOptions(
            epochs: 1, batchSize: options.batchSize, learningRate: learningRate, schedule: options.schedule,
            momentum: options.momentum, weightDecay: options.weightDecay, seed: options.seed))
        let data = train.mapValues { TaskData(images: $0) }
        for done in 0..<iterations {
            let rate = options.schedule.rate(base: learningRate, progress: Double(done) / Double(iterations))
            _ = try trainer.runIterations(1, data: data, learningRate: rate)
            if (done + 1) % 25 == 0 || done + 1 == iterations { progress(done + 1) }
        }
        let trained = trainable.exportModel()
        guard trained.weights.allSatisfy({ $0.values.array.allSatisfy(\.isFinite) }) else {
            throw ZipError.numerical("retraining diverged (weights became infinite or NaN); try a smaller --lr (it was \(learningRate))")
        }
        try state.absorb(trained, map: map)
        return trained
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
