import CMTZKernels
import MTZCore

/// A model loaded for inference: validated, optimised (batch norm folded, activations fused) and
/// with its weights packed once for the chosen ISA.
///
/// Immutable after creation and safe to share between threads: create one `Session` per thread.
public final class InferenceModel: Sendable {
    /// The deployment form of the model that is executed.
    public let model: Model
    /// Shape of every node's value.
    public let shapes: [ValueShape]
    /// The kernels' instruction set.
    public let isa: KernelISA
    /// Bytes of weights the prepared model holds in memory of its own (packed copies, and copies of
    /// weights that were not memory-mapped).
    public let packedWeightBytes: Int
    /// Bytes of weights read in place from the memory-mapped model file (fully connected layers).
    public let mappedWeightBytes: Int
    /// Which convolution algorithms the model may use.
    public let convolutionPolicy: ConvolutionPolicy
    let nodes: [PreparedNode]

    /// Prepares `model` for inference on `isa` (default: `KernelISA.selected`).
    /// - Parameter convolutions: which convolution algorithms to use (default: Winograd where it is
    ///   faster).
    /// - Throws: `RuntimeError.invalidModel` for a structurally invalid model,
    ///   `RuntimeError.invalidOption` for an ISA the CPU cannot run.
    /// - Parameter packedWeights: pre-packed convolution weights (a model file's `PACK` section, see
    ///   `mtz prepack`): a convolution whose weights, geometry, algorithm and ISA match one maps it
    ///   instead of packing at load; the others are packed as usual.
    public init(_ model: Model, isa: KernelISA? = nil, convolutions: ConvolutionPolicy = .automatic,
                packedWeights: [PackedWeights] = []) throws(RuntimeError) {
        let isa = isa ?? .selected
        guard isa.isSupported else { throw RuntimeError.invalidOption("ISA \(isa.rawValue) is not supported on this CPU or build") }
        let (optimized, shapes) = try Self.deploymentForm(model)
        var packer = WeightPacker(model: optimized, isa: isa, prepacked: packedWeights)
        var prepared: [PreparedNode] = []
        prepared.reserveCapacity(optimized.nodes.count)
        for (i, node) in optimized.nodes.enumerated() {
            prepared.append(try Self.prepare(node, output: shapes[i], model: optimized, shapes: shapes, policy: convolutions,
                                                packer: &packer))
        }
        self.model = optimized
        self.shapes = shapes
        self.isa = isa
        self.nodes = prepared
        self.convolutionPolicy = convolutions
        self.packedWeightBytes = 4 * packer.packedFloats
        self.mappedWeightBytes = 4 * packer.mappedFloats
    }

    /// Loads and prepares a `.mtz` file.
    /// - Throws: the file format's errors, or `RuntimeError`.
    public convenience init(contentsOf path: String, isa: KernelISA? = nil, convolutions: ConvolutionPolicy = .automatic) throws {
        let (model, packed) = try ModelFile.readWithPackedWeights(contentsOf: path)
        try self.init(model, isa: isa, convolutions: convolutions, packedWeights: packed)
    }

    /// Task names in model order.
    public var taskNames: [String] { model.tasks.map(\.name) }

    /// Number of input values (`height × width × channels`).
    public var inputCount: Int { shapes[0].elementCount }

    /// Creates a session that runs `tasks` (default: all) with `threads` intra-op threads.
    public func makeSession(tasks: [String]? = nil, threads: Int = 1) throws(RuntimeError) -> Session {
        try Session(model: self, tasks: tasks, threads: threads)
    }

    private static func prepare(_ node: Node, output: ValueShape, model: Model, shapes: [ValueShape], policy: ConvolutionPolicy,
                                packer: inout WeightPacker) throws(RuntimeError) -> PreparedNode {
        func input(_ k: Int) -> (shape: ValueShape, stride: Int) {
            let r = node.inputs[k]
            let source = shapes[r.node]
            let count = r.channelCount ?? (source.channels - r.channelOffset)
            return (ValueShape(height: source.height, width: source.width, channels: count), source.channels)
        }
        switch node.op {
        case .input:
            return .input
        case .conv2d(let c):
            let geometry = convolutionGeometry(node, c, output: output, shapes: shapes)
            var params = try checked(geometry.params, node)
            let algorithm = policy.algorithm(for: params, depthwise: geometry.depthwise)
            let packed = try packer.convolution(c, params: params, algorithm: algorithm)
            let workspace = switch algorithm {
            case .gemm: mtz_conv2d_workspace_size(packer.isa.raw, &params)
            case .depthwise: 0
            case .winograd: mtz_winograd_workspace_size(packer.isa.raw, &params)
            }
            return .convolution(.init(params: params, packed: packed, algorithm: algorithm, activation: c.activation.kernel, workspace: workspace))
        case .fullyConnected(let f):
            let (x, _) = input(0)
            return .fullyConnected(.init(inFeatures: x.channels, outFeatures: f.outFeatures, weights: try packer.inPlace(f.weight),
                                         bias: try f.bias.map { i throws(RuntimeError) in try packer.inPlace(i) }, activation: f.activation.kernel))
        case .activation(let a):
            return .activation(a.kernel)
        case .maxPool(let p):
            let (x, stride) = input(0)
            return .maxPool(try checked(windowParams(p.window, input: x, inputStride: stride, output: output, groups: x.channels), node))
        case .averagePool(let p):
            let (x, stride) = input(0)
            return .averagePool(try checked(windowParams(p.window, input: x, inputStride: stride, output: output, groups: x.channels), node),
                                countIncludePad: p.countIncludePad)
        case .globalAveragePool:
            return .globalAveragePool
        case .add(let a):
            return .add(a.kernel)
        case .concat:
            return .concat
        case .flatten:
            return .flatten
        case .softmax:
            return .softmax
        case .batchNorm(let scale, let shift):
            guard node.inputs.count == 1 else {
                throw .invalidModel("node '\(node.name)' is a batch norm shared by tasks (one input per task): it exists only while training and cannot run")
            }
            return .scaleShift(scale: try packer.plain(scale), shift: try packer.plain(shift))
        }
    }

    /// The model as it runs (`Model.optimized()`: batch norms folded, activations fused, dead nodes
    /// dropped) and the shape of each of its values.
    static func deploymentForm(_ model: Model) throws(RuntimeError) -> (model: Model, shapes: [ValueShape]) {
        do {
            let optimized = try model.optimized()
            return (optimized, try optimized.validate())
        } catch {
            throw RuntimeError.invalidModel(error.message)
        }
    }

    /// A convolution node's kernel geometry (its input may be a channel range of another value).
    static func convolutionGeometry(_ node: Node, _ c: Conv2D, output: ValueShape, shapes: [ValueShape])
        -> (params: mtz_conv2d_params, depthwise: Bool) {
        let r = node.inputs[0]
        let source = shapes[r.node]
        let x = ValueShape(height: source.height, width: source.width, channels: r.channelCount ?? (source.channels - r.channelOffset))
        let params = windowParams(c.window, input: x, inputStride: source.channels, output: output, groups: c.groups)
        return (params, c.groups > 1 && c.groups == x.channels && c.groups == c.outChannels)
    }

    /// The kernels' own geometry check, as a second line of defence behind `Model.validate()`.
    private static func checked(_ params: mtz_conv2d_params, _ node: Node) throws(RuntimeError) -> mtz_conv2d_params {
        var p = params
        guard mtz_conv2d_params_valid(&p) != 0 else {
            throw RuntimeError.invalidModel("node '\(node.name)': window geometry the kernels cannot run")
        }
        return p
    }
}
