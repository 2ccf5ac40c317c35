import MTZCore

/// The state of zipping several networks of one chain architecture, layer by layer.
///
/// A *chain* network is: input → a sequence of units → softmax, where a unit is a convolution or
/// fully connected layer ("dense" layer, activation fused) or a pass-through op (max/average
/// pooling, flatten, standalone activation) that acts on every channel alike. Every task's network
/// has the same units and shapes; only weights differ.
///
/// For each dense layer `l` and task `t` the state holds the full weights in the task's current
/// neuron order, **shared neurons first**: rows `0..<sharedCount` are the shared neurons, the rest
/// the task's own. Input columns follow the previous dense layer's order for that task (its shared
/// channels first). Invariant: for every task, the block `rows 0..<sharedCount[l]` × `shared input
/// columns` and the bias entries `0..<sharedCount[l]` are identical (stored once after lowering);
/// the columns over the previous layer's task-specific channels ("inter" weights) stay per task.
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
    }

    /// A pass-through op between dense layers, applied to every task's value alike.
    public struct PassThrough: Sendable {
        public var name: String
        public var op: Operation
    }

    /// A unit of the chain, in order.
    public enum Unit: Sendable {
        case dense(Int)
        case passThrough(PassThrough)
    }

    /// The common input spec.
    public var input: InputSpec
    /// Task names and labels, in order; index = task index used by `weights`/`biases`.
    public var tasks: [TaskHead]
    /// Metadata per task (e.g. the dataset each was trained on), merged into the lowered model.
    public var metadata: [String: String]
    /// The chain, in order; `.dense(i)` refers to `layers[i]`.
    public var units: [Unit]
    public var layers: [Layer]
    /// Value shape (per task, all channels) after each unit: `shapes[u]` is the output of `units[u]`.
    public var shapes: [ValueShape]

    /// Creates a state from its parts.
    public init(input: InputSpec, tasks: [TaskHead], metadata: [String: String], units: [Unit], layers: [Layer], shapes: [ValueShape]) {
        self.input = input
        self.tasks = tasks
        self.metadata = metadata
        self.units = units
        self.layers = layers
        self.shapes = shapes
    }
}
