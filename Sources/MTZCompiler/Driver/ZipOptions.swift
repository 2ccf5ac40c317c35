import MTZTraining

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How much of each layer to share.
public enum ShareSpec: Sendable, Equatable {
    /// The same fraction of neurons in every hidden layer (1 = fully zipped).
    case uniform(Double)
    /// A fraction per layer name; layers not named are not shared.
    case perLayer([String: Double])

    /// Parses `1.0`, `0.5` or `conv1=1,conv2=0.5,fc1=0.25`.
    public init(parsing text: String) throws(ZipError) {
        if let value = Double(text) {
            guard (0...1).contains(value) else { throw ZipError.invalidOption("--share \(text): a fraction must be in 0...1") }
            self = .uniform(value)
            return
        }
        var table: [String: Double] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, !pair[0].isEmpty, let value = Double(pair[1]), (0...1).contains(value) else {
                throw ZipError.invalidOption("--share: '\(part)' is not LAYER=FRACTION with a fraction in 0...1")
            }
            guard table.updateValue(value, forKey: pair[0]) == nil else {
                throw ZipError.invalidOption("--share names layer '\(pair[0])' twice")
            }
        }
        guard !table.isEmpty else { throw ZipError.invalidOption("--share is empty") }
        self = .perLayer(table)
    }

    /// The fraction of layer `name` to share.
    public func fraction(of name: String) -> Double {
        switch self {
        case .uniform(let f): f
        case .perLayer(let table): table[name] ?? 0
        }
    }
}

/// How neurons are paired and merged: MTZ, or one of the baselines it is compared with.
public enum ZipMethod: String, Sendable, CaseIterable, Codable {
    /// Hessian-based pair costs and Hessian-weighted merged weights (the paper's method).
    case mtz
    /// Hessian-based pairing, but merged weights are the plain average (no Hessian weight update).
    case mtzAverage = "mtz-no-update"
    /// Euclidean-distance pairing, averaged weights.
    case euclidean
    /// Random pairing, averaged weights.
    case random
}

/// Settings of `mtz zip`.
public struct ZipOptions: Sendable {
    public var share: ShareSpec
    public var method: ZipMethod
    /// Retraining iterations per layer name; layers not named use `defaultIterations(layer:of:)`.
    public var iterations: [String: Int]
    /// Multiplies every retraining budget (0 = no retraining).
    public var iterationScale: Double
    public var batchSize: Int
    /// Retraining learning rate; nil: 0.01, or 0.001 for residual networks retrained without shared
    /// batch norms (their fully shared trunk then trains without any normalisation; 0.003 already
    /// wrecked it).
    public var learningRate: Float?
    /// SGD momentum of the retraining (0: plain SGD, as in the paper; default 0.9).
    public var momentum: Float
    /// Learning-rate schedule within each retraining budget (restarted for every layer).
    public var schedule: LearningRateSchedule = .cosine
    /// L2 weight decay of the retraining.
    public var weightDecay: Float = 5e-4
    /// Knowledge distillation during retraining: the share of each task's loss that teaches it its
    /// original network's class probabilities (0 = labels only, as in the paper; 1 = the originals
    /// only). nil: 0.5. Distilling recovers more accuracy per iteration, for the LeNets and, since
    /// they retrain with shared batch norms at lr 0.01, for the residual CNNs (docs/EXPERIMENTS.md).
    public var distillation: Float?
    /// Softening temperature of the distillation.
    public var temperature: Float = 4
    /// Joint retraining iterations after the last zipped layer, on top of its own budget (scaled by
    /// `iterationScale` like every budget).
    public var finalIterations: Int = 2000
    /// Hessian damping λ (relative to trace/dimension). A large damping pulls each merged weight
    /// vector towards the pair's average where the Hessians are weak; 1 measured better than 1e-4
    /// on every LeNet zip with distilled retraining and no worse on the residual CNNs
    /// (docs/EXPERIMENTS.md).
    public var damping: Double
    /// Training images per task used to estimate each layer's Hessian.
    public var hessianImages: Int
    /// Use the authors' per-channel Hessian approximation for convolutions.
    public var perChannelHessian: Bool
    /// Scale every task's Hessian to the same trace before pairing and merging, so that a task
    /// whose layer inputs are larger does not dominate the merged weights.
    public var balanceHessians: Bool = true
    /// Task batch norms: while retraining, each task's own (not yet shared) neurons of every hidden
    /// layer get a batch norm (batch statistics, learnable scale and shift) started from the
    /// statistics of that layer's output in the task's original network, and folded back into the
    /// weights afterwards; a merge below them is renormalised instead of being passed on. Shared
    /// neurons stay folded, so the trunk is still computed once per image. nil: on for residual
    /// networks (trained with batch norms, which `mtz train` folds on export), off for chains.
    public var taskBatchNorms: Bool?
    /// Shared batch norms: with task batch norms, the shared neurons of every normalised hidden layer
    /// get one batch norm for all tasks while retraining, started as the identity and folded back
    /// afterwards. Every task's mini-batch runs through the network as one batch
    /// (`TrainingOptions.jointBatches`) and its statistics pool each task's images through that
    /// task's own path — what the folded shared weights serve (shared rows that read task-specific
    /// inputs differ by task: `Operation.batchNorm` with one input per task). nil: on whenever task
    /// batch norms are.
    public var sharedBatchNorms: Bool?
    /// Mini-batches per task that calibrate the task batch norms' statistics before each retraining
    /// (with momentum 0.1 the previous statistics are forgotten after about 50).
    public var calibrationBatches: Int = 50
    /// Training images per task held out for validation (the last ones of the training split).
    public var validationImages: Int
    public var seed: UInt64
    /// Automatic mode: the largest validation-error increase (a fraction, 0.005 = 0.5 pp) any task
    /// may suffer; the mode then searches the shared counts per layer (up to `share`) that share
    /// the most parameters within it (`ShareSearch`).
    public var maxErrorIncrease: Double?
    /// Automatic mode: candidates to zip and retrain at most, each with the whole retraining budget.
    public var maxCandidates: Int = 5

    /// Creates options; defaults follow MTZ.md (few iterations for early layers, more for late ones),
    /// with SGD momentum 0.9, a cosine learning-rate decay per layer, weight decay 5·10⁻⁴, balanced
    /// Hessians damped by 1 × trace/dimension, 2000 final iterations and half of each task's loss
    /// distilled from its original network at temperature 4 (docs/EXPERIMENTS.md shows why;
    /// residual networks also keep task and shared batch norms while retraining).
    public init(share: ShareSpec = .uniform(1), method: ZipMethod = .mtz, iterations: [String: Int] = [:], iterationScale: Double = 1,
                batchSize: Int = 64, learningRate: Float? = nil, momentum: Float = 0.9, damping: Double = 1, hessianImages: Int = 2000,
                perChannelHessian: Bool = false, validationImages: Int = 5000, seed: UInt64 = 1, maxErrorIncrease: Double? = nil) {
        self.share = share
        self.method = method
        self.iterations = iterations
        self.iterationScale = iterationScale
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.momentum = momentum
        self.damping = damping
        self.hessianImages = hessianImages
        self.perChannelHessian = perChannelHessian
        self.validationImages = validationImages
        self.seed = seed
        self.maxErrorIncrease = maxErrorIncrease
    }

    /// Default retraining budget after zipping hidden layer `index` of `count`: grows with depth,
    /// from 50 iterations for the first layer to 400 for the last hidden layer.
    public static func defaultIterations(layer index: Int, of count: Int) -> Int {
        guard count > 1 else { return 200 }
        let t = Double(index) / Double(count - 1)
        return Int((50 * pow(8, t)).rounded())
    }
}

extension ZipOptions {
    /// A hidden layer as `--share` and `--iterations` may name it.
    struct NamedLayer: Equatable {
        /// Node name (what the zip report uses, e.g. `conv1`, `stem/conv`).
        var name: String
        /// The layer the node belongs to (what `mtz inspect` shows, e.g. `conv1`, `stem`).
        var group: String
        /// Output neurons (channels).
        var neurons: Int
        /// The earlier hidden layer it is tied to by a residual add (it shares that layer's neurons).
        var tiedTo: Int?
    }

    /// These options with every layer that `share` and `iterations` name resolved to a hidden
    /// layer's node name; `mtz inspect`'s layer name is accepted where it holds one hidden layer.
    /// - Throws: `ZipError.invalidOption` for a name that is no hidden layer (a task head, which is
    ///   never shared, or a layer the networks do not have) and for a layer tied to an earlier one
    ///   given another fraction than that layer: it shares that layer's neurons. Also for a layer
    ///   asked to share neurons above one that shares none: sharing grows from the input.
    func resolvingLayerNames(hidden: [NamedLayer], heads: Set<String>) throws(ZipError) -> ZipOptions {
        func shown(_ layer: NamedLayer) -> String {
            layer.group != layer.name && hidden.filter({ $0.group == layer.group }).count == 1 ? layer.group : layer.name
        }
        func resolve(_ given: String, option: String) throws(ZipError) -> String {
            if hidden.contains(where: { $0.name == given }) { return given }
            let grouped = hidden.filter { $0.group == given }
            if grouped.count == 1 { return grouped[0].name }
            let names = hidden.map(shown).joined(separator: ", ")
            if heads.contains(given) {
                let why = option == "--iterations" ? "budgets are per hidden layer (--final-iterations is the last retraining's)"
                    : "heads are never shared (each task keeps its own)"
                throw .invalidOption("\(option): '\(given)' is a task head: \(why); the hidden layers are \(names)")
            }
            throw .invalidOption("\(option): the networks have no hidden layer '\(given)' with neurons; theirs are \(names)")
        }
        var resolved = self
        if case .perLayer(let table) = share {
            var byName: [String: Double] = [:]
            for given in table.keys.sorted() {
                let name = try resolve(given, option: "--share")
                guard byName.updateValue(table[given]!, forKey: name) == nil else {
                    throw .invalidOption("--share names layer '\(name)' twice")
                }
            }
            for layer in hidden {
                guard let leader = layer.tiedTo.map({ hidden[$0] }), let fraction = byName[layer.name] else { continue }
                let leading = byName[leader.name] ?? 0
                guard fraction != leading else { continue }
                throw .invalidOption(String(format: "--share: %@ is tied to %@ by a residual add and shares its neurons, so it cannot share %g while %@ shares %g; set %@ alone",
                                            shown(layer), shown(leader), fraction, shown(leader), leading, shown(leader)))
            }
            resolved.share = .perLayer(byName)
        }
        var unshared: NamedLayer?
        for layer in hidden where layer.tiedTo == nil {
            let shares = Int((resolved.share.fraction(of: layer.name) * Double(layer.neurons)).rounded()) > 0
            if !shares, unshared == nil { unshared = layer }
            guard shares, let below = unshared else { continue }
            if case .uniform(let fraction) = share {
                throw .invalidOption(String(format: "--share %g rounds to no neuron of %@ (%d neurons), and sharing grows from the input: nothing above it would be shared either; give at least %g",
                                            fraction, shown(below), below.neurons, 0.5 / Double(below.neurons)))
            }
            let given = resolved.share.fraction(of: below.name)
            let rounds = given > 0 ? String(format: " (%g of its %d rounds to none)", given, below.neurons) : ""
            throw .invalidOption("--share: \(shown(layer)) cannot share while \(shown(below)) below it shares no neuron\(rounds): sharing grows from the input, so share \(shown(below)) too")
        }
        var budgets: [String: Int] = [:]
        for given in iterations.keys.sorted() {
            let name = try resolve(given, option: "--iterations")
            guard budgets.updateValue(iterations[given]!, forKey: name) == nil else {
                throw .invalidOption("--iterations names layer '\(name)' twice")
            }
        }
        resolved.iterations = budgets
        return resolved
    }
}

/// Errors of zipping.
public enum ZipError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidOption(String)
    case incompatible(String)
    case numerical(String)

    public var description: String {
        switch self {
        case .invalidOption(let why): why
        case .incompatible(let why): "the networks cannot be zipped: \(why)"
        case .numerical(let why): "numerical failure: \(why)"
        }
    }
}
