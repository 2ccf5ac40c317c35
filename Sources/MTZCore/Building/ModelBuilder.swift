/// Builds a `Model` node by node, creating seeded weights of the right shapes as it goes.
///
/// Weights use He-uniform initialisation (`±gain·√(6/fanIn)`); biases and batch-norm shifts are small
/// uniform values and batch-norm scales lie in `0.5...1.5`, or zero / one with `trainingInit`.
/// Every method appends one node named `name` (grouped under `layer`, which defaults to the name)
/// and returns its index.
public struct ModelBuilder {
    /// The model's input spec.
    public let input: InputSpec
    /// Nodes added so far; node 0 is the input.
    public private(set) var nodes: [Node] = []
    /// Weight tensors created so far.
    public private(set) var weights: [WeightTensor] = []
    /// Shape of every node's value.
    public private(set) var shapes: [ValueShape] = []
    /// Task heads added so far.
    public private(set) var tasks: [TaskHead] = []
    private var rng: SeededRandom
    private let trainingInit: Bool

    /// Starts a model with node 0 `input`; all weights are drawn from a generator seeded with `seed`.
    /// - Parameter trainingInit: initialise for training from scratch: zero biases, batch norms as
    ///   identities (scale 1, shift 0). Otherwise biases and batch-norm parameters are random too.
    public init(input: InputSpec, seed: UInt64, trainingInit: Bool = false) {
        self.input = input
        self.trainingInit = trainingInit
        rng = SeededRandom(seed: seed)
        nodes.append(Node(name: "input", op: .input, inputs: []))
        shapes.append(ValueShape(height: input.height, width: input.width, channels: input.channels))
    }

    /// Shape of the value `ref` reads (after its channel slice).
    public func shape(of ref: ValueRef) -> ValueShape {
        let s = shapes[ref.node]
        return ValueShape(height: s.height, width: s.width, channels: ref.channelCount ?? (s.channels - ref.channelOffset))
    }

    /// A convolution over `x` (optionally accumulating into `addend`) with fresh seeded weights.
    @discardableResult
    public mutating func conv(
        _ name: String, layer: String? = nil, _ x: ValueRef, addend: ValueRef? = nil, outChannels: Int, window: Window,
        groups: Int = 1, bias: Bool = true, activation: Activation = .none, gain: Float = 1
    ) -> Int {
        let inShape = shape(of: x)
        let inPerGroup = inShape.channels / groups
        let fanIn = window.kernelH * window.kernelW * inPerGroup
        let w = heUniform("\(name).weight", shape: [outChannels, window.kernelH, window.kernelW, inPerGroup], fanIn: fanIn, gain: gain)
        let b = bias ? uniform("\(name).bias", shape: [outChannels], range: biasRange) : nil
        let op = Conv2D(window: window, outChannels: outChannels, groups: groups, weight: w, bias: b, activation: activation)
        let oh = Window.outputExtent(input: inShape.height, kernel: window.kernelH, stride: window.strideH, dilation: window.dilationH,
                                     padBefore: window.padding.top, padAfter: window.padding.bottom) ?? 0
        let ow = Window.outputExtent(input: inShape.width, kernel: window.kernelW, stride: window.strideW, dilation: window.dilationW,
                                     padBefore: window.padding.left, padAfter: window.padding.right) ?? 0
        return append(name, layer, .conv2d(op), [x] + (addend.map { [$0] } ?? []), ValueShape(height: oh, width: ow, channels: outChannels))
    }

    /// A fully connected layer over `x` (optionally accumulating into `addend`) with fresh seeded weights.
    @discardableResult
    public mutating func fullyConnected(
        _ name: String, layer: String? = nil, _ x: ValueRef, addend: ValueRef? = nil, outFeatures: Int,
        bias: Bool = true, activation: Activation = .none, gain: Float = 1
    ) -> Int {
        let inFeatures = shape(of: x).elementCount
        let w = heUniform("\(name).weight", shape: [outFeatures, inFeatures], fanIn: inFeatures, gain: gain)
        let b = bias ? uniform("\(name).bias", shape: [outFeatures], range: biasRange) : nil
        let op = FullyConnected(outFeatures: outFeatures, weight: w, bias: b, activation: activation)
        return append(name, layer, .fullyConnected(op), [x] + (addend.map { [$0] } ?? []), ValueShape(height: 1, width: 1, channels: outFeatures))
    }

    /// A per-channel scale and shift with seeded parameters.
    @discardableResult
    public mutating func batchNorm(_ name: String, layer: String? = nil, _ x: ValueRef) -> Int {
        let s = shape(of: x)
        let scale = uniform("\(name).scale", shape: [s.channels], range: trainingInit ? 1...1 : 0.5...1.5)
        let shift = uniform("\(name).shift", shape: [s.channels], range: trainingInit ? 0...0 : -0.2...0.2)
        return append(name, layer, .batchNorm(scale: scale, shift: shift), [x], s)
    }

    /// A standalone activation.
    @discardableResult
    public mutating func activation(_ name: String, layer: String? = nil, _ x: ValueRef, _ activation: Activation) -> Int {
        append(name, layer, .activation(activation), [x], shape(of: x))
    }

    /// Max pooling.
    @discardableResult
    public mutating func maxPool(_ name: String, layer: String? = nil, _ x: ValueRef, window: Window) -> Int {
        append(name, layer, .maxPool(Pool(window: window)), [x], poolShape(shape(of: x), window))
    }

    /// Average pooling; `countIncludePad` chooses the divisor at the borders.
    @discardableResult
    public mutating func averagePool(_ name: String, layer: String? = nil, _ x: ValueRef, window: Window, countIncludePad: Bool) -> Int {
        append(name, layer, .averagePool(Pool(window: window, countIncludePad: countIncludePad)), [x], poolShape(shape(of: x), window))
    }

    /// Global average pooling to `1×1×C`.
    @discardableResult
    public mutating func globalAveragePool(_ name: String, layer: String? = nil, _ x: ValueRef) -> Int {
        append(name, layer, .globalAveragePool, [x], ValueShape(height: 1, width: 1, channels: shape(of: x).channels))
    }

    /// Element-wise `act(a + b)`.
    @discardableResult
    public mutating func add(_ name: String, layer: String? = nil, _ a: ValueRef, _ b: ValueRef, activation: Activation = .none) -> Int {
        append(name, layer, .add(activation), [a, b], shape(of: a))
    }

    /// Channel concatenation.
    @discardableResult
    public mutating func concat(_ name: String, layer: String? = nil, _ xs: [ValueRef]) -> Int {
        let first = shape(of: xs[0])
        let channels = xs.reduce(0) { $0 + shape(of: $1).channels }
        return append(name, layer, .concat, xs, ValueShape(height: first.height, width: first.width, channels: channels))
    }

    /// Flatten to `1×1×(H·W·C)`.
    @discardableResult
    public mutating func flatten(_ name: String, layer: String? = nil, _ x: ValueRef) -> Int {
        append(name, layer, .flatten, [x], ValueShape(height: 1, width: 1, channels: shape(of: x).elementCount))
    }

    /// Softmax over a `1×1×C` value.
    @discardableResult
    public mutating func softmax(_ name: String, layer: String? = nil, _ x: ValueRef) -> Int {
        append(name, layer, .softmax, [x], shape(of: x))
    }

    /// Declares a task whose output is node `output`; without `labels`, they are `name.0`, `name.1`, ...
    public mutating func task(_ name: String, output: Int, labels: [String]? = nil, summary: String = "") {
        let count = shapes[output].elementCount
        tasks.append(TaskHead(name: name, output: output, labels: labels ?? (0..<count).map { "\(name).\($0)" }, summary: summary))
    }

    /// The finished model. Traps with the validation message if the model is invalid (a bug in the builder's caller).
    public func build(metadata: [String: String] = [:]) -> Model {
        let model = Model(input: input, nodes: nodes, weights: weights, tasks: tasks, metadata: metadata)
        do {
            let validated = try model.validate()
            precondition(validated == shapes, "ModelBuilder: tracked shapes \(shapes) differ from validated \(validated)")
        } catch {
            preconditionFailure("ModelBuilder produced an invalid model: \(error)")
        }
        return model
    }

    // MARK: - Private

    private var biasRange: ClosedRange<Float> { trainingInit ? 0...0 : -0.1...0.1 }

    private mutating func append(_ name: String, _ layer: String?, _ op: Operation, _ inputs: [ValueRef], _ shape: ValueShape) -> Int {
        nodes.append(Node(name: name, layer: layer, op: op, inputs: inputs))
        shapes.append(shape)
        return nodes.count - 1
    }

    private mutating func heUniform(_ name: String, shape: [Int], fanIn: Int, gain: Float) -> Int {
        let bound = gain * (6 / Float(max(fanIn, 1))).squareRoot()
        return uniform(name, shape: shape, range: -bound...bound)
    }

    private mutating func uniform(_ name: String, shape: [Int], range: ClosedRange<Float>) -> Int {
        let count = shape.reduce(1, *)
        weights.append(WeightTensor(name: name, shape: shape, values: rng.floats(count: count, in: range)))
        return weights.count - 1
    }

    private func poolShape(_ s: ValueShape, _ w: Window) -> ValueShape {
        let oh = Window.outputExtent(input: s.height, kernel: w.kernelH, stride: w.strideH, dilation: w.dilationH,
                                     padBefore: w.padding.top, padAfter: w.padding.bottom) ?? 0
        let ow = Window.outputExtent(input: s.width, kernel: w.kernelW, stride: w.strideW, dilation: w.dilationW,
                                     padBefore: w.padding.left, padAfter: w.padding.right) ?? 0
        return ValueShape(height: oh, width: ow, channels: s.channels)
    }
}

