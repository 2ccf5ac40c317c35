import MTZCore

/// The state of zipping several networks of one architecture, layer by layer.
///
/// A network is: input → units in topological order → softmax, where a unit is a convolution or
/// fully connected layer ("dense" layer, activation fused, optionally accumulating into an
/// *addend*: a residual connection) or a pass-through op (max/average/global pooling, flatten,
/// standalone activation) that acts on every channel alike. Each unit reads one earlier unit (or
/// the input), `links[u]`. A chain is the special case where every unit reads the one before it.
/// Every task's network has the same units, links and shapes; only weights differ.
///
/// **Channel spaces.** A dense layer's output channels form a space; a layer that accumulates into
/// an addend writes into the addend's space (the residual add ties the two layers' channels), and a
/// pass-through keeps its input's space. Layers of one space are *tied*: they share the same
/// number of neurons in the same order (`tiedLayers(of:)`).
///
/// For each dense layer `l` and task `t` the state holds the full weights in the task's current
/// neuron order, **shared neurons first**: rows `0..<sharedCount` are the shared neurons, the rest
/// the task's own. Input columns follow the order of the input's space for that task (its shared
/// channels first). Invariant: for every task, the block `rows 0..<sharedCount[l]` × `shared input
/// columns` and the bias entries `0..<sharedCount[l]` are identical (stored once after lowering);
/// the columns over the input's task-specific channels ("inter" weights) stay per task.
public struct ZipState: Sendable {
    /// One dense layer of every task.
    public struct Layer: Sendable {
        /// Node name of the layer in the original networks (e.g. `conv1`, `fc2`).
        public var name: String
        /// Convolution geometry, or nil for a fully connected layer.
        public var conv: Conv2D?
        /// Output neurons (channels) per task.
        public var outCount: Int
        /// Neurons shared by all tasks (`0...outCount`); 0 for the task heads.
        public var sharedCount: Int
        /// Per task: weights in the layout of the original layer (OHWI for convolutions,
        /// `[out][in]` for FC layers), rows and input channels permuted as described above.
        public var weights: [[Float]]
        /// Per task: bias per output neuron (zeros if the original layer had none).
        public var biases: [[Float]]
        /// Fused activation.
        public var activation: Activation
        /// Per task, for a layer the original networks normalised with a batch norm: the batch norm
        /// its task-specific neurons keep while retraining (see `Normalization`). Empty for a layer
        /// without one, or while nothing has been measured.
        public var normalization: [Normalization] = []

        /// The tasks' normalisations of `rows` pooled: the mean and standard deviation of the mixture
        /// in which every task's images are equally many (mean of the means; variance = mean of the
        /// tasks' second moments minus the squared mean). Requires `normalization` to be set.
        public func pooledNormalization(rows: Range<Int>) -> Normalization {
            let n = Float(normalization.count)
            var result = Normalization(mean: [], std: [])
            for r in rows {
                let mean = normalization.reduce(0) { $0 + $1.mean[r] } / n
                let second = normalization.reduce(0) { $0 + $1.std[r] * $1.std[r] + $1.mean[r] * $1.mean[r] } / n
                result.mean.append(mean)
                result.std.append(max(0, second - mean * mean).squareRoot())
            }
            return result
        }
    }

    /// The batch norm of one task's neurons in a layer, as the mean and standard deviation its
    /// output (before the activation and any residual add) is normalised to: a batch norm with
    /// `beta = mean` and `gamma = std`. Rows follow the state's neuron order; the shared rows'
    /// entries are used only by shared batch norms (`lowered(normalizing:sharedBatchNorms:)`), which
    /// pool them over the tasks.
    ///
    /// The weights and biases in `Layer` are always the folded, deployable form. Retraining inserts
    /// these batch norms after the task-specific rows (`lowered(normalizing: true)`) and folds them
    /// back afterwards (`foldNormalization`), so the normalisation each task learned carries over to
    /// the next layer's retraining.
    public struct Normalization: Sendable, Hashable {
        public var mean: [Float]
        public var std: [Float]

        public init(mean: [Float], std: [Float]) {
            self.mean = mean
            self.std = std
        }
    }

    /// A pass-through op between dense layers, applied to every task's value alike.
    public struct PassThrough: Sendable {
        public var name: String
        public var op: Operation
    }

    /// A unit of the network, in order.
    public enum Unit: Sendable {
        case dense(Int)
        case passThrough(PassThrough)
    }

    /// What a unit reads: the unit (index into `units`) whose value is its input, `nil` for the
    /// network's input; for a dense layer, optionally the unit whose value it accumulates into.
    public struct Link: Sendable, Hashable {
        public var input: Int?
        public var addend: Int?

        public init(input: Int?, addend: Int? = nil) {
            self.input = input
            self.addend = addend
        }
    }

    /// The common input spec.
    public var input: InputSpec
    /// Task names and labels, in order; index = task index used by `weights`/`biases`.
    public var tasks: [TaskHead]
    /// Metadata per task (e.g. the dataset each was trained on), merged into the lowered model.
    public var metadata: [String: String]
    /// The units in topological order; `.dense(i)` refers to `layers[i]`.
    public var units: [Unit]
    /// What each unit reads (`links[u]` for `units[u]`).
    public var links: [Link]
    /// Whether every task ends in a softmax over its head (else the head's logits are the output).
    public var softmax: Bool
    public var layers: [Layer]
    /// Value shape (per task, all channels) after each unit: `shapes[u]` is the output of `units[u]`.
    public var shapes: [ValueShape]
    /// Layers whose shared neurons are paired (aligned rows) but whose merged block is not yet
    /// identical in every task: a layer tied by a residual add to one zipped earlier, or one that
    /// gained shared inputs after its neurons were paired. `merge(layer:merged:)` settles them;
    /// the state cannot be lowered while any is pending.
    public var pending: Set<Int> = []

    /// Creates a state from its parts; `links` nil means a chain (every unit reads the one before).
    public init(input: InputSpec, tasks: [TaskHead], metadata: [String: String], units: [Unit], links: [Link]? = nil,
                softmax: Bool = true, layers: [Layer], shapes: [ValueShape]) {
        self.softmax = softmax
        self.input = input
        self.tasks = tasks
        self.metadata = metadata
        self.units = units
        self.links = links ?? units.indices.map { Link(input: $0 == 0 ? nil : $0 - 1) }
        self.layers = layers
        self.shapes = shapes
    }
}
