import MTZCore

/// Where each weight tensor of a lowered model came from in the `ZipState`, and which values of the
/// lowered model feed each layer — what the driver needs to train the lowered model, write the
/// trained weights back (`ZipState.absorb`) and collect Hessian inputs.
public struct LoweringMap: Sendable, Hashable {
    /// The block of a dense layer's parameters that one weight tensor holds.
    public struct Source: Sendable, Hashable {
        /// Whether the tensor holds weights or biases.
        public enum Kind: Sendable, Hashable {
            /// A block of the weight matrix.
            case weight
            /// A range of the bias vector.
            case bias
            /// The gamma or beta of a retraining batch norm over `rows` (see `normalizations`);
            /// `ZipState.absorb` leaves it to `ZipState.foldNormalization`.
            case normalization
        }

        /// Dense layer index in `ZipState.layers`.
        public var layer: Int
        /// Tasks whose matrices hold this block (every task for a merged block, one task otherwise).
        public var tasks: [Int]
        /// Output neurons (rows, in the state's order), e.g. `0..<sharedCount` for shared neurons.
        public var rows: Range<Int>
        /// Input channels of every column block (see `NeuronLayout`: the same channels at every tap); empty for a bias.
        public var inputChannels: Range<Int>
        /// Weights or bias.
        public var kind: Kind

        /// Creates a source description.
        public init(layer: Int, tasks: [Int], rows: Range<Int>, inputChannels: Range<Int>, kind: Kind) {
            self.layer = layer
            self.tasks = tasks
            self.rows = rows
            self.inputChannels = inputChannels
            self.kind = kind
        }

        /// True if the block is read by several tasks (stored once).
        public var isMerged: Bool { tasks.count > 1 }
    }

    /// One entry per weight tensor of the lowered model (index = weight tensor index).
    public var sources: [Source]
    /// Per dense layer, per task: the value that layer's shared input columns multiply — the input
    /// to collect for that task's layer-wise Hessian — or nil when the layer has no shared input
    /// (the previous dense layer shares no neurons). For a convolution it is the `H×W×k` value the
    /// patches are taken from; for a fully connected layer the `1×1×(P·k)` flattened value.
    public var sharedInput: [[ValueRef?]]
    /// Per dense layer, per task: the task-specific input value, or nil when every input channel
    /// is shared.
    public var specificInput: [[ValueRef?]]

    /// A retraining batch norm over one task's own rows of a layer, or over shared rows computed once
    /// for every task (`ZipState.lowered(normalizing:sharedBatchNorms:)`).
    public struct NormalizedRows: Sendable, Hashable {
        /// Dense layer index in `ZipState.layers`, the tasks whose rows these are (one task for its own
        /// neurons, every task for shared ones), and the rows.
        public var layer: Int
        public var tasks: [Int]
        public var rows: Range<Int>
        /// The batch-norm node, and the weight tensors of its gamma and beta.
        public var node = 0
        public var gamma = 0
        public var beta = 0

        public init(layer: Int, tasks: [Int], rows: Range<Int>) {
            self.layer = layer
            self.tasks = tasks
            self.rows = rows
        }
    }

    /// The retraining batch norms of a model lowered with `normalizing: true` (else empty).
    public var normalizations: [NormalizedRows]

    /// Creates a map from its parts.
    public init(sources: [Source], sharedInput: [[ValueRef?]], specificInput: [[ValueRef?]], normalizations: [NormalizedRows] = []) {
        self.sources = sources
        self.sharedInput = sharedInput
        self.specificInput = specificInput
        self.normalizations = normalizations
    }
}
