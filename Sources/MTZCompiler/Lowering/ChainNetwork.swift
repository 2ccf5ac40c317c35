import MTZCore

/// One single-task deployment model read as a chain: input → units → softmax.
///
/// Reading refuses anything that is not a chain MTZ can zip, with a message naming the node.
struct ChainNetwork {
    /// The model as given.
    let model: Model
    /// Shape of every node's value.
    let shapes: [ValueShape]
    /// Node indices of the units (everything between the input and the final softmax).
    let units: [Int]
    /// Human-readable architecture of each unit (op, geometry, activation, output shape), weight
    /// indices left out: two models zip only if these are equal.
    let signatures: [String]

    /// Reads model number `position` (1-based, for messages).
    init(_ model: Model, position: Int) throws(ModelError) {
        let shapes: [ValueShape]
        do {
            shapes = try model.validate()
        } catch {
            throw ModelError("model \(position) is invalid: \(error.message)")
        }
        let who = "model \(position)" + (model.tasks.count == 1 ? " ('\(model.tasks[0].name)')" : "")
        guard model.tasks.count == 1 else {
            throw ModelError("\(who) has \(model.tasks.count) tasks (\(model.tasks.map { "'\($0.name)'" }.joined(separator: ", "))); zipping takes single-task models")
        }
        let residual = "residual networks are not supported yet (zipping takes chains: input → conv/fc/pool/flatten/activation → softmax)"
        var units: [Int] = []
        var flattenedPixels = 1
        var sawDense = false
        for (i, node) in model.nodes.enumerated() where i > 0 {
            switch node.op {
            case .add, .concat:
                throw ModelError("\(who): node '\(node.name)' is \(node.op.name == "add" ? "an add" : "a concat"); \(residual)")
            case .batchNorm:
                throw ModelError("\(who): node '\(node.name)' is a batch norm that was not folded; \(residual)")
            default:
                break
            }
            guard node.inputs.count == 1 else {
                let what = node.inputs.count == 2 && node.op.isDense ? "accumulates into an addend" : "has \(node.inputs.count) inputs"
                throw ModelError("\(who): node '\(node.name)' \(what); \(residual)")
            }
            let ref = node.inputs[0]
            guard ref.node == i - 1 else {
                throw ModelError("\(who): node '\(node.name)' reads '\(model.nodes[ref.node].name)', not the node before it; \(residual)")
            }
            guard ref.channelOffset == 0, ref.channelCount == nil || ref.channelCount == shapes[ref.node].channels else {
                throw ModelError("\(who): node '\(node.name)' reads a channel slice of '\(model.nodes[ref.node].name)'; \(residual)")
            }
            let isLast = i == model.nodes.count - 1
            switch node.op {
            case .input:
                throw ModelError("\(who): node '\(node.name)' is a second input")
            case .add, .concat, .batchNorm:
                preconditionFailure("refused above")
            case .softmax:
                guard isLast else { throw ModelError("\(who): softmax '\(node.name)' is not the last node") }
                continue
            case .conv2d(let c):
                guard c.groups == 1 else {
                    throw ModelError("\(who): convolution '\(node.name)' has \(c.groups) groups; grouped and depthwise convolutions cannot be zipped yet")
                }
                guard flattenedPixels == 1 else {
                    throw ModelError("\(who): convolution '\(node.name)' follows a flatten; zipping needs flatten right before fully connected layers")
                }
                sawDense = true
                flattenedPixels = 1
            case .fullyConnected:
                sawDense = true
                flattenedPixels = 1
            case .flatten:
                flattenedPixels = shapes[i - 1].pixels * flattenedPixels
            case .maxPool, .averagePool, .globalAveragePool:
                guard flattenedPixels == 1 else {
                    throw ModelError("\(who): pooling '\(node.name)' follows a flatten; zipping needs flatten right before fully connected layers")
                }
            case .activation:
                break
            }
            units.append(i)
        }
        guard let last = model.nodes.indices.last, last > 0, case .softmax = model.nodes[last].op else {
            throw ModelError("\(who) does not end in a softmax")
        }
        guard model.tasks[0].output == last else {
            throw ModelError("\(who): the task output is '\(model.nodes[model.tasks[0].output].name)', not the final softmax")
        }
        guard sawDense else { throw ModelError("\(who) has no convolution or fully connected layer") }
        self.model = model
        self.shapes = shapes
        self.units = units
        signatures = (units + [last]).map { Self.signature(of: model.nodes[$0], shape: shapes[$0]) }
    }

    /// The task head of the model.
    var task: TaskHead { model.tasks[0] }

    /// `conv 5x5 stride 1x1, relu → 24x24x20` and the like: everything but names and weights.
    static func signature(of node: Node, shape: ValueShape) -> String {
        func window(_ w: Window) -> String {
            var s = "\(w.kernelH)x\(w.kernelW) stride \(w.strideH)x\(w.strideW)"
            if w.dilationH != 1 || w.dilationW != 1 { s += " dilation \(w.dilationH)x\(w.dilationW)" }
            let p = w.padding
            if p != Padding() { s += " padding \(p.top),\(p.left),\(p.bottom),\(p.right)" }
            return s
        }
        let body: String
        switch node.op {
        case .conv2d(let c): body = "conv \(window(c.window)), \(c.activation.name)"
        case .fullyConnected(let f): body = "fc, \(f.activation.name)"
        case .maxPool(let p): body = "maxpool \(window(p.window))"
        case .averagePool(let p): body = "avgpool \(window(p.window))\(p.countIncludePad ? " counting padding" : "")"
        case .activation(let a): body = a.name
        default: body = node.op.name
        }
        return "\(body) → \(shape)"
    }
}

extension Operation {
    /// True for convolutions and fully connected layers.
    fileprivate var isDense: Bool {
        switch self {
        case .conv2d, .fullyConnected: true
        default: false
        }
    }
}
