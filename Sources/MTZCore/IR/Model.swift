/// A reference to (a channel range of) the value produced by a node.
///
/// `channelCount == nil` means "all channels from `channelOffset` on". Slices let a consumer read the
/// [shared | task-specific] blocks of a value in place.
public struct ValueRef: Sendable, Hashable, Codable {
    public var node: Int
    public var channelOffset: Int
    public var channelCount: Int?

    /// A reference to all channels of `node`'s value, or to a channel slice of it.
    public init(_ node: Int, channelOffset: Int = 0, channelCount: Int? = nil) {
        self.node = node
        self.channelOffset = channelOffset
        self.channelCount = channelCount
    }
}

/// One node of the network DAG. Nodes are stored in topological order: inputs refer to earlier nodes.
public struct Node: Sendable, Hashable, Codable {
    /// Unique name, e.g. `conv1` or `objects/fc2`.
    public var name: String
    /// Logical layer this node belongs to (for `mtz inspect`): a zipped layer may be realised by
    /// several nodes (shared part, per-task parts). Defaults to the node name.
    public var layer: String
    public var op: Operation
    public var inputs: [ValueRef]

    /// Creates a node; `layer` defaults to `name`.
    public init(name: String, layer: String? = nil, op: Operation, inputs: [ValueRef]) {
        self.name = name
        self.layer = layer ?? name
        self.op = op
        self.inputs = inputs
    }
}

/// A float32 weight tensor. Values are owned or borrowed from a memory-mapped file.
public struct WeightTensor: Sendable {
    /// Unique name, e.g. `conv1.weight`.
    public var name: String
    public var shape: [Int]
    public var values: FloatStorage
    /// How the tensor is stored when it is put together from blocks of other tensors (see
    /// `WeightAssembly`); nil for a tensor stored as it is.
    public var assembly: WeightAssembly?

    /// Creates a tensor; `values.count` must equal the product of `shape`.
    public init(name: String, shape: [Int], values: FloatStorage) {
        self.name = name
        self.shape = shape
        self.values = values
    }

    /// Creates an owned tensor from an array.
    public init(name: String, shape: [Int], values: [Float]) {
        self.init(name: name, shape: shape, values: FloatStorage(values))
    }

    /// Number of elements (product of `shape`).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// One task head: a named output of the network with its class labels.
public struct TaskHead: Sendable, Hashable, Codable {
    /// Task name, e.g. `digits`.
    public var name: String
    /// Index of the node whose value is the task's output (usually a softmax).
    public var output: Int
    /// One label per output channel.
    public var labels: [String]
    /// Free-form description (e.g. the dataset it was trained on).
    public var summary: String

    /// Creates a task head.
    public init(name: String, output: Int, labels: [String], summary: String = "") {
        self.name = name
        self.output = output
        self.labels = labels
        self.summary = summary
    }
}

/// How an image becomes the network input.
public struct InputSpec: Sendable, Hashable, Codable {
    /// Channel order of the network input.
    public enum ColorFormat: UInt8, Sendable, Hashable, Codable, CaseIterable {
        case gray = 0
        case rgb = 1
        case bgr = 2

        /// Number of channels of this format.
        public var channels: Int { self == .gray ? 1 : 3 }
        /// Lower-case name.
        public var name: String { ["gray", "rgb", "bgr"][Int(rawValue)] }
    }

    /// How an image of another size is brought to `width × height`.
    public enum ResizeMode: UInt8, Sendable, Hashable, Codable, CaseIterable {
        /// Resize to exactly `width × height` (aspect ratio not kept): bilinear along an axis that
        /// grows, area averaging along an axis that shrinks.
        case stretch = 0
        /// Resize (as `stretch`) so the image covers `width × height`, then a centred crop.
        case centerCrop = 1

        /// Lower-case name.
        public var name: String { self == .stretch ? "stretch" : "center-crop" }
    }

    public var width: Int
    public var height: Int
    public var format: ColorFormat
    /// Per-channel mean, subtracted after scaling pixels to [0, 1].
    public var mean: [Float]
    /// Per-channel standard deviation, divided after subtracting the mean.
    public var std: [Float]
    public var resize: ResizeMode

    /// Creates an input spec: `x = (pixel/255 − mean[c]) / std[c]`.
    public init(width: Int, height: Int, format: ColorFormat, mean: [Float], std: [Float], resize: ResizeMode = .stretch) {
        self.width = width
        self.height = height
        self.format = format
        self.mean = mean
        self.std = std
        self.resize = resize
    }

    /// Number of input channels.
    public var channels: Int { format.channels }
}

/// A multi-head network: one input, a DAG of nodes, weights stored once, and named task heads.
///
/// This is the unit the `.mtz` file stores and the runtime executes. It knows nothing about how it
/// was made (trained, zipped or imported).
public struct Model: Sendable {
    public var input: InputSpec
    public var nodes: [Node]
    public var weights: [WeightTensor]
    public var tasks: [TaskHead]
    /// Free-form key/value metadata (producer, description, ...).
    public var metadata: [String: String]

    /// Creates a model from its parts. Call `validate()` before trusting it.
    public init(input: InputSpec, nodes: [Node], weights: [WeightTensor], tasks: [TaskHead], metadata: [String: String] = [:]) {
        self.input = input
        self.nodes = nodes
        self.weights = weights
        self.tasks = tasks
        self.metadata = metadata
    }
}
