/// Activation applied in the epilogue of the op that produces a value.
public enum Activation: UInt8, Sendable, Hashable, CaseIterable, Codable {
    case none = 0
    case relu = 1
    case relu6 = 2
    case sigmoid = 3
    case tanh = 4

    /// Lower-case name used in text output and JSON.
    public var name: String {
        switch self {
        case .none: "none"
        case .relu: "relu"
        case .relu6: "relu6"
        case .sigmoid: "sigmoid"
        case .tanh: "tanh"
        }
    }
}

/// Explicit spatial zero padding of a window op, in pixels.
public struct Padding: Sendable, Hashable, Codable {
    public var top: Int
    public var left: Int
    public var bottom: Int
    public var right: Int

    /// Creates a padding; all four sides default to zero.
    public init(top: Int = 0, left: Int = 0, bottom: Int = 0, right: Int = 0) {
        self.top = top
        self.left = left
        self.bottom = bottom
        self.right = right
    }

    /// The same padding `p` on every side.
    public static func uniform(_ p: Int) -> Padding { Padding(top: p, left: p, bottom: p, right: p) }
}

/// Window geometry shared by convolution and pooling.
public struct Window: Sendable, Hashable, Codable {
    public var kernelH: Int
    public var kernelW: Int
    public var strideH: Int
    public var strideW: Int
    public var dilationH: Int
    public var dilationW: Int
    public var padding: Padding

    /// Creates a window; stride and dilation default to 1, padding to none.
    public init(
        kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
        dilationH: Int = 1, dilationW: Int = 1, padding: Padding = Padding()
    ) {
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.strideH = strideH
        self.strideW = strideW
        self.dilationH = dilationH
        self.dilationW = dilationW
        self.padding = padding
    }

    /// A square kernel with equal stride and padding on both axes.
    public static func square(_ k: Int, stride: Int = 1, padding: Int = 0) -> Window {
        Window(kernelH: k, kernelW: k, strideH: stride, strideW: stride, padding: .uniform(padding))
    }

    /// Output extent along one axis, or nil if the window does not fit.
    public static func outputExtent(input: Int, kernel: Int, stride: Int, dilation: Int, padBefore: Int, padAfter: Int) -> Int? {
        let span = dilation * (kernel - 1) + 1
        let padded = input + padBefore + padAfter
        guard input > 0, kernel > 0, stride > 0, dilation > 0, padBefore >= 0, padAfter >= 0, padded >= span else { return nil }
        return (padded - span) / stride + 1
    }
}

/// A 2-D convolution. Weights are OHWI: `[outChannels][kernelH][kernelW][inChannels/groups]`.
public struct Conv2D: Sendable, Hashable, Codable {
    public var window: Window
    public var outChannels: Int
    public var groups: Int
    /// Index of the weight tensor in `Model.weights`.
    public var weight: Int
    /// Index of the bias tensor (`[outChannels]`), or nil for no bias.
    public var bias: Int?
    public var activation: Activation

    /// Creates a convolution description.
    public init(window: Window, outChannels: Int, groups: Int = 1, weight: Int, bias: Int?, activation: Activation = .none) {
        self.window = window
        self.outChannels = outChannels
        self.groups = groups
        self.weight = weight
        self.bias = bias
        self.activation = activation
    }
}

/// A fully connected layer over the flattened input. Weights are `[outFeatures][inFeatures]`.
public struct FullyConnected: Sendable, Hashable, Codable {
    public var outFeatures: Int
    public var weight: Int
    public var bias: Int?
    public var activation: Activation

    /// Creates a fully connected layer description.
    public init(outFeatures: Int, weight: Int, bias: Int?, activation: Activation = .none) {
        self.outFeatures = outFeatures
        self.weight = weight
        self.bias = bias
        self.activation = activation
    }
}

/// A pooling window. `countIncludePad` only matters for average pooling.
public struct Pool: Sendable, Hashable, Codable {
    public var window: Window
    public var countIncludePad: Bool

    /// Creates a pooling description.
    public init(window: Window, countIncludePad: Bool = false) {
        self.window = window
        self.countIncludePad = countIncludePad
    }
}

/// One operation of the network graph. Every op produces exactly one NHWC value (batch 1).
///
/// Inputs (see `Node.inputs`):
/// - `.input`: none.
/// - `.conv2d`, `.fullyConnected`: `[x]` or `[x, addend]`. With an addend the op computes
///   `act(W·x + b + addend)`: the "accumulate" mode that lets a layer whose input is split into
///   [shared | task-specific] channels run as two GEMMs without a concat copy.
/// - `.add`: two inputs of the same shape.
/// - `.concat`: one or more inputs with equal height and width, joined along channels.
/// - everything else: one input.
public enum Operation: Sendable, Hashable, Codable {
    /// The image input, shaped by the model's `InputSpec`.
    case input
    case conv2d(Conv2D)
    case fullyConnected(FullyConnected)
    /// A standalone activation (the optimizer fuses it into its producer where it can).
    case activation(Activation)
    case maxPool(Pool)
    case averagePool(Pool)
    case globalAveragePool
    /// Element-wise sum of two values (residual connection), with a fused activation.
    case add(Activation)
    /// Channel concatenation.
    case concat
    /// Reshape to `1×1×(H·W·C)` in NHWC order (h, then w, then c).
    case flatten
    /// Softmax over the channels of a `1×1×C` value.
    case softmax
    /// Per-channel `x·scale + shift` (a batch norm with statistics already folded in); folded into
    /// a preceding convolution or FC layer by `Model.optimized()` where possible.
    ///
    /// Training models only (MTZTraining reads it as a batch norm with learnable gamma and beta):
    /// with several inputs, one per task in the model's task order and all of one shape, it is one
    /// batch norm shared by the tasks — each sample of a batch reads the input of the task it
    /// belongs to, and the statistics pool every task's samples. Inference has no task per sample,
    /// so the runtime refuses such a node.
    case batchNorm(scale: Int, shift: Int)

    /// Short lower-case op name for listings.
    public var name: String {
        switch self {
        case .input: "input"
        case .conv2d(let c): c.groups > 1 ? (c.groups == c.outChannels ? "dwconv" : "gconv") : "conv"
        case .fullyConnected: "fc"
        case .activation(let a): a.name
        case .maxPool: "maxpool"
        case .averagePool: "avgpool"
        case .globalAveragePool: "gavgpool"
        case .add: "add"
        case .concat: "concat"
        case .flatten: "flatten"
        case .softmax: "softmax"
        case .batchNorm: "batchnorm"
        }
    }

    /// The weight matrix of a convolution or fully connected op (nil for other ops).
    public var mainWeight: Int? {
        switch self {
        case .conv2d(let c): c.weight
        case .fullyConnected(let f): f.weight
        default: nil
        }
    }

    /// Indices of the weight tensors this op reads.
    public var weightIndices: [Int] {
        switch self {
        case .conv2d(let c): [c.weight] + (c.bias.map { [$0] } ?? [])
        case .fullyConnected(let f): [f.weight] + (f.bias.map { [$0] } ?? [])
        case .batchNorm(let s, let t): [s, t]
        default: []
        }
    }
}
