import Foundation
import MTZCore

/// How an imported value's ONNX dimensions map onto the IR's NHWC value.
enum Layout: Equatable {
    /// `[N, C, H, W]`, `[N, C, L]` (as 1×L) or `[N, F]` (as 1×1×F): the IR holds the same elements.
    case standard
    /// `[N, H, W, C]` after `Transpose(0, 2, 3, 1)`: only a flatten may consume it.
    case channelsLast
    /// `[N, C, H, W]` with H = 1 or W = 1 held as an IR value of width H and height W (the same
    /// bytes), e.g. `[N, C, L, 1]` after unsqueezing a 1-D value: pooling swaps its window axes.
    case swappedHW
    /// `[N, g, C/g, H, W]` (a channel shuffle's first reshape) of a standard `[N, C, H, W]` value;
    /// `transposed` after `Transpose(0, 2, 1, 3, 4)`, when dims are `[N, C/g, g, H, W]` and the IR
    /// value still holds the channels in the original order until the reshape back permutes them.
    case channelGroups(groups: Int, transposed: Bool)
    /// `[N, C, H, W]` after a constant-zero `Pad` of the spatial axes: the IR value is the unpadded
    /// one, and the padding is added to the window of the Conv (or AveragePool) that reads it.
    case zeroPadded(Padding)
    /// `[N, C·H·W]` flattened in ONNX's CHW order while the IR value (an IR flatten) is in HWC order;
    /// a `Gemm`/`MatMul` reading it has its weight columns permuted.
    case flattenedCHW(ValueShape)
}

/// A value computed at run time: a (slice of an) IR node's value with its ONNX dimensions.
struct RuntimeValue {
    var ref: ValueRef
    /// ONNX dimensions, batch first.
    var dims: [Int]
    var layout: Layout

    /// The IR shape these dimensions describe.
    var irShape: ValueShape { RuntimeValue.irShape(dims: dims, layout: layout) }

    static func irShape(dims: [Int], layout: Layout) -> ValueShape {
        switch (layout, dims.count) {
        case (.channelsLast, 4): return ValueShape(height: dims[1], width: dims[2], channels: dims[3])
        case (.swappedHW, 4): return ValueShape(height: dims[3], width: dims[2], channels: dims[1])
        case (.channelGroups, 5): return ValueShape(height: dims[3], width: dims[4], channels: dims[1] * dims[2])
        case (.zeroPadded(let p), 4): return ValueShape(height: dims[2] - p.top - p.bottom, width: dims[3] - p.left - p.right, channels: dims[1])
        case (.zeroPadded(let p), 3): return ValueShape(height: 1, width: dims[2] - p.left - p.right, channels: dims[1])
        case (_, 4): return ValueShape(height: dims[2], width: dims[3], channels: dims[1])
        case (_, 3): return ValueShape(height: 1, width: dims[2], channels: dims[1])
        case (_, 2): return ValueShape(height: 1, width: 1, channels: dims[1])
        default: return ValueShape(height: 0, width: 0, channels: 0)
        }
    }
}

/// An imported value: known now, or computed at run time.
enum ImportedValue {
    case constant(ConstTensor)
    case activation(RuntimeValue)
}

/// One import: walks the ONNX graph in order and builds IR nodes and weights.
struct GraphImporter {
    let proto: Onnx_ModelProto
    let options: ONNXImportOptions
    let opset: Int
    var graph: Onnx_GraphProto { proto.graph }
    var metadataProps: [String: String] = [:]

    var values: [String: ImportedValue] = [:]
    var useCounts: [String: Int] = [:]
    var graphOutputs: Set<String> = []
    /// Number of ONNX names bound to the full value of each IR node.
    var aliasCounts: [Int: Int] = [:]

    var nodes: [Node] = []
    var shapes: [ValueShape] = []
    var weights: [WeightTensor] = []
    var nodeNames = UniqueNames()
    var weightNames = UniqueNames()
    /// Weights already converted from an initializer, by conversion and initializer name (`sharedWeight`).
    var convertedWeights: [String: Int] = [:]
    var batch = 1
    var inputSpec: InputSpec!
    /// Channels of a non-image input imported as a packed one-channel row (see `importPackedInput`).
    var packedInputChannels: Int?

    // The node being imported, for error messages.
    var currentNode = ""
    var currentOp = ""

    init(model: Onnx_ModelProto, options: ONNXImportOptions) throws(ONNXError) {
        proto = model
        self.options = options
        var opset: Int?
        for o in model.opsetImport where o.domain == "" || o.domain == "ai.onnx" {
            opset = Int(clamping: o.version)
        }
        guard let opset else { throw ONNXError(.unsupported, "the model imports no version of the default ONNX operator set") }
        guard (6...21).contains(opset) else {
            throw ONNXError(.unsupported, "operator set version \(opset) is not supported (6...21 are); re-export with opset_version between 11 and 21")
        }
        self.opset = opset
        for p in model.metadataProps { metadataProps[p.key] = p.value }
    }

    mutating func run() throws(ONNXError) -> Model {
        guard graph.node.count <= ModelLimits.maxNodes else {
            throw ONNXError(.limit, "the graph has \(graph.node.count) nodes (limit \(ModelLimits.maxNodes))")
        }
        guard !graph.output.isEmpty else { throw ONNXError(.malformed, "the graph has no outputs") }
        for n in graph.node { for i in n.input where !i.isEmpty { useCounts[i, default: 0] += 1 } }
        for o in graph.output {
            useCounts[o.name, default: 0] += 1
            graphOutputs.insert(o.name)
        }
        for t in graph.initializer {
            guard !t.name.isEmpty else { throw ONNXError(.malformed, "an initializer has no name") }
            values[t.name] = .constant(try ConstTensor(t))
        }
        if !graph.sparseInitializer.isEmpty { throw ONNXError(.unsupported, "sparse initializers are not supported") }
        try importInput()
        for (index, node) in graph.node.enumerated() {
            currentNode = node.name.isEmpty ? (node.output.first.map { $0.isEmpty ? "#\(index)" : $0 } ?? "#\(index)") : node.name
            currentOp = node.opType
            do throws(ONNXError) {
                guard node.domain.isEmpty || node.domain == "ai.onnx" else {
                    throw ONNXError(.unsupported, "operator \(node.opType) of domain '\(node.domain)' is not supported")
                }
                let outputs = try importNode(node)
                guard outputs.count <= node.output.count else { throw ONNXError(.malformed, "the node has too few outputs") }
                for (name, value) in zip(node.output, outputs) where !name.isEmpty {
                    try bind(name, value)
                }
                for extra in node.output.dropFirst(outputs.count) where !extra.isEmpty && useCounts[extra, default: 0] > 0 {
                    throw ONNXError(.unsupported, "output '\(extra)' (an optional output such as indices, mask or statistics) is used, which mtz does not compute")
                }
            } catch {
                throw error.at(node: currentNode, op: currentOp)
            }
        }
        currentNode = ""
        currentOp = ""
        return try finish()
    }

    mutating func bind(_ name: String, _ value: ImportedValue) throws(ONNXError) {
        guard values[name] == nil else { throw ONNXError(.malformed, "value '\(name)' is produced twice") }
        if case .activation(let a) = value, a.ref.channelOffset == 0, a.ref.channelCount == nil {
            aliasCounts[a.ref.node, default: 0] += 1
        }
        values[name] = value
    }

    // MARK: - Input

    private mutating func importInput() throws(ONNXError) {
        let initializers = Set(graph.initializer.map(\.name))
        let inputs = graph.input.filter { !initializers.contains($0.name) }
        guard inputs.count == 1 else {
            throw ONNXError(.unsupported, "the graph has \(inputs.count) inputs (\(inputs.map(\.name).joined(separator: ", "))); mtz models have one image input")
        }
        let input = inputs[0]
        guard case .tensorType(let t)? = input.type.value else {
            throw ONNXError(.unsupported, "input '\(input.name)' is not a tensor")
        }
        guard t.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
            throw ONNXError(.unsupported, "input '\(input.name)' has element type \(t.elemType); only float inputs are supported")
        }
        guard t.hasShape else { throw ONNXError(.shape, "input '\(input.name)' has no shape") }
        let dimsProto = t.shape.dim
        guard (2...4).contains(dimsProto.count) else {
            throw ONNXError(.shape, "input '\(input.name)' has rank \(dimsProto.count); mtz imports [N, C, H, W], [N, C, L] and [N, F] inputs")
        }
        var dims: [Int] = []
        for (axis, d) in dimsProto.enumerated() {
            if case .dimValue(let v)? = d.value, v >= 1, v <= Int64(ModelLimits.maxInputExtent) {
                dims.append(Int(v))
            } else if axis == 0 {
                dims.append(1)  // symbolic batch
            } else if dimsProto.count == 4, axis >= 2, let size = options.size {
                dims.append(axis == 2 ? size.height : size.width)
            } else {
                let what: String
                switch d.value {
                case .dimParam(let p)?: what = "symbolic ('\(p)')"
                case .dimValue(let v)?: what = "\(v)"
                case nil: what = "unknown"
                }
                throw ONNXError(.shape, "input '\(input.name)' has a \(what) dimension \(axis); mtz plans memory for fixed shapes (re-export with a fixed input size, or give the size with --input-spec size=WxH)")
            }
        }
        batch = dims[0]
        let shape = RuntimeValue.irShape(dims: dims, layout: .standard)
        if shape.channels != 1 && shape.channels != 3 {
            try importPackedInput(name: input.name, dims: dims, shape: shape)
            return
        }
        let recorded = metadataProps[MetadataKeys.inputFormat].flatMap { name in InputSpec.ColorFormat.allCases.first { $0.name == name } }
        let format = options.format ?? recorded ?? (shape.channels == 1 ? .gray : .rgb)
        guard format.channels == shape.channels else {
            throw ONNXError(.shape, "the input format \(format.name) has \(format.channels) channels but input '\(input.name)' has \(shape.channels)")
        }
        let mean = options.mean ?? parseFloats(metadataProps[MetadataKeys.inputMean]) ?? [Float](repeating: 0, count: shape.channels)
        let std = options.std ?? parseFloats(metadataProps[MetadataKeys.inputStd]) ?? [Float](repeating: 1, count: shape.channels)
        let resize = options.resize ?? metadataProps[MetadataKeys.inputResize].flatMap { n in InputSpec.ResizeMode.allCases.first { $0.name == n } } ?? .stretch
        guard mean.count == shape.channels, std.count == shape.channels else {
            throw ONNXError(.shape, "the input has \(shape.channels) channels but \(mean.count) means and \(std.count) standard deviations were given")
        }
        inputSpec = InputSpec(width: shape.width, height: shape.height, format: format, mean: mean, std: std, resize: resize)
        let index = addNode("input", .input, inputs: [], shape: shape)
        try bind(input.name, .activation(RuntimeValue(ref: ValueRef(index), dims: dims, layout: .standard)))
    }

    /// An input with C ∉ {1, 3} channels (a feature tensor rather than an image): the IR input is a
    /// one-channel `H × (W·C)` value — the same bytes as the NHWC `H × W × C` tensor — followed by an
    /// exact unpacking convolution (kernel and stride `1 × C`, identity weights) to `H × W × C`.
    private mutating func importPackedInput(name: String, dims: [Int], shape: ValueShape) throws(ONNXError) {
        let c = shape.channels
        guard options.format == nil || options.format == .gray, options.mean == nil, options.std == nil else {
            throw ONNXError(.shape, "input '\(name)' has \(c) channels, so it is not an image: --input-spec cannot apply")
        }
        let (packedWidth, overflow) = shape.width.multipliedReportingOverflow(by: c)
        guard !overflow, packedWidth <= ModelLimits.maxInputExtent, c <= ModelLimits.maxWindowParameter else {
            throw ONNXError(.shape, "input '\(name)' has \(c) channels of \(shape.width) columns; mtz's input holds at most \(ModelLimits.maxInputExtent) values per row")
        }
        inputSpec = InputSpec(width: packedWidth, height: shape.height, format: .gray, mean: [0], std: [1])
        let input = addNode("input", .input, inputs: [], shape: ValueShape(height: shape.height, width: packedWidth, channels: 1))
        var identity = [Float](repeating: 0, count: c * c)
        for k in 0..<c { identity[k * c + k] = 1 }
        let w = addWeight("input.unpack.weight", shape: [c, 1, c, 1], values: identity)
        let op = Conv2D(window: Window(kernelH: 1, kernelW: c, strideH: 1, strideW: c), outChannels: c, weight: w, bias: nil)
        let index = addNode("input.unpack", .conv2d(op), inputs: [ValueRef(input)], shape: shape)
        packedInputChannels = c
        try bind(name, .activation(RuntimeValue(ref: ValueRef(index), dims: dims, layout: .standard)))
    }

    private func parseFloats(_ text: String?) -> [Float]? {
        guard let text else { return nil }
        let parts = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.map { $0! }
    }

    // MARK: - Outputs

    private mutating func finish() throws(ONNXError) -> Model {
        var tasks: [TaskHead] = []
        if let names = options.taskNames, names.count != graph.output.count {
            throw ONNXError(.unsupported, "\(names.count) task names given for \(graph.output.count) graph outputs (\(graph.output.map(\.name).joined(separator: ", ")))")
        }
        var taskNames = Set<String>()
        for (k, output) in graph.output.enumerated() {
            guard let value = values[output.name] else {
                throw ONNXError(.malformed, "graph output '\(output.name)' is produced by no node")
            }
            guard case .activation(var a) = value else {
                throw ONNXError(.unsupported, "graph output '\(output.name)' is a constant; mtz tasks must be computed from the input")
            }
            if case .flattenedCHW = a.layout {
                throw ONNXError(.unsupported, "graph output '\(output.name)' is a flattened feature map in CHW order; mtz stores flattened values in HWC order, so only a Gemm/MatMul may read it")
            }
            if case .zeroPadded = a.layout {
                throw ONNXError(.unsupported, "graph output '\(output.name)' is a padded value (mtz absorbs a Pad into the Conv or AveragePool after it)")
            }
            if case .channelGroups = a.layout {
                throw ONNXError(.unsupported, "graph output '\(output.name)' is a rank-5 channel-group view")
            }
            if a.layout == .channelsLast {
                throw ONNXError(.unsupported, "graph output '\(output.name)' is a transposed (NHWC) value")
            }
            if a.ref.channelOffset != 0 || a.ref.channelCount != nil || a.ref.node == 0 {
                // A task names a whole node: copy the slice (or the input) into its own node.
                let index = addNode(output.name, .concat, inputs: [a.ref], shape: a.irShape)
                a.ref = ValueRef(index)
            }
            let name = options.taskNames?[k] ?? metadataProps[MetadataKeys.taskName + output.name] ?? output.name
            guard !name.isEmpty, taskNames.insert(name).inserted else {
                throw ONNXError(.unsupported, "task name '\(name)' is empty or used twice")
            }
            let count = a.irShape.elementCount
            var labels = options.labels[name] ?? metadataProps[MetadataKeys.labels + name].map { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) } ?? []
            if options.labels[name] == nil && labels.count != count { labels = [] }
            guard labels.isEmpty || labels.count == count else {
                throw ONNXError(.unsupported, "task '\(name)' has \(count) output values but \(labels.count) labels were given")
            }
            tasks.append(TaskHead(name: name, output: a.ref.node, labels: labels, summary: metadataProps[MetadataKeys.summary + name] ?? ""))
        }
        var metadata: [String: String] = [:]
        for (key, value) in metadataProps where key.hasPrefix(MetadataKeys.metadata) {
            metadata[String(key.dropFirst(MetadataKeys.metadata.count))] = value
        }
        metadata["producer"] = "mtz import"
        var source = proto.producerName
        if !proto.producerVersion.isEmpty { source += " " + proto.producerVersion }
        metadata["onnx.producer"] = source.isEmpty ? "unknown" : source
        metadata["onnx.opset"] = "\(opset)"
        if let c = packedInputChannels { metadata[ONNXImporter.packedInputChannelsKey] = "\(c)" }
        if !graph.name.isEmpty { metadata["onnx.graph"] = graph.name }
        for (task, output) in zip(tasks, graph.output) {
            if case .activation(let a)? = values[output.name] {
                metadata["task.\(task.name).onnx.shape"] = ([1] + a.dims.dropFirst()).map(String.init).joined(separator: "x")
            }
        }
        let model = Model(input: inputSpec, nodes: nodes, weights: weights, tasks: tasks, metadata: metadata)
        do {
            // The deployment form, as `mtz train` writes it: batch norms folded into the convolution
            // or FC layer before them, activations fused, nodes no output needs dropped.
            return try model.optimized()
        } catch {
            throw ONNXError(.invalidModel, "the imported network is not a valid mtz model: \(error.message)")
        }
    }

    // MARK: - Building blocks

    mutating func addNode(_ name: String, _ op: MTZCore.Operation, inputs: [ValueRef], shape: ValueShape) -> Int {
        nodes.append(Node(name: nodeNames.claim(name, fallback: "node"), op: op, inputs: inputs))
        shapes.append(shape)
        return nodes.count - 1
    }

    mutating func addWeight(_ base: String, shape: [Int], values: [Float]) -> Int {
        weights.append(WeightTensor(name: weightNames.claim(base, fallback: "weight"), shape: shape, values: values))
        return weights.count - 1
    }

    /// True when the full value of `a`'s node is read only through this one use, so an op may be
    /// folded into the node that produced it.
    func isExclusive(_ a: RuntimeValue, name: String) -> Bool {
        a.ref.channelOffset == 0 && a.ref.channelCount == nil && a.ref.node != 0
            && aliasCounts[a.ref.node] == 1 && useCounts[name] == 1 && !graphOutputs.contains(name)
    }
}
