import MTZCore

/// One single-task deployment model read as MTZ zips it: input → units in topological order →
/// (softmax), every unit reading one earlier unit (or the input) and dense layers optionally
/// accumulating into a residual addend.
///
/// Before reading, batch norms are folded into the layers that feed them and residual adds are
/// folded into the dense layer that feeds them (`act(W·x + b) + skip` becomes the layer's addend
/// form), so a trained ResNet-style network reads as dense layers with addends. Reading refuses
/// anything else MTZ cannot zip, with a message naming the node.
struct ZipNetwork {
    /// The model as read (batch norms and residual adds folded).
    let model: Model
    /// Shape of every node's value.
    let shapes: [ValueShape]
    /// Node indices of the units (everything between the input and the final softmax).
    let units: [Int]
    /// What each unit reads, as unit indices (`ZipState.Link`).
    let links: [ZipState.Link]
    /// Whether the task's output is a softmax over the head (else the head's logits are the output).
    let softmax: Bool
    /// The units, then the softmax node if there is one: the nodes whose signatures are compared.
    var compared: [Int] { softmax ? units + [model.nodes.count - 1] : units }
    /// Human-readable architecture of each unit (op, geometry, activation, what it reads, output
    /// shape), names and weights left out: two models zip only if these are equal.
    let signatures: [String]

    /// Reads model number `position` (1-based, for messages).
    init(_ original: Model, position: Int) throws(ModelError) {
        let who = "model \(position)" + (original.tasks.count == 1 ? " ('\(original.tasks[0].name)')" : "")
        let model: Model
        let shapes: [ValueShape]
        do {
            _ = try original.validate()
            model = try original.optimized().fusingResidualAdds()
            shapes = try model.validate()
        } catch {
            throw ModelError("model \(position) is invalid: \(error.message)")
        }
        guard model.tasks.count == 1 else {
            throw ModelError("\(who) has \(model.tasks.count) tasks (\(model.tasks.map { "'\($0.name)'" }.joined(separator: ", "))); zipping takes single-task models")
        }
        let supported = "zipping takes networks of convolutions and fully connected layers (optionally accumulating a residual), pooling, flatten and activations"
        let last = model.nodes.count - 1
        guard last > 0, model.tasks[0].output == last else {
            throw ModelError("\(who): the task output is '\(model.nodes[model.tasks[0].output].name)', not the last node")
        }
        let softmax: Bool
        if case .softmax = model.nodes[last].op { softmax = true } else { softmax = false }
        var units: [Int] = []
        var links: [ZipState.Link] = []
        var flattened = [Bool](repeating: false, count: model.nodes.count)
        var sawDense = false
        func unitIndex(_ node: Int) -> Int? { node == 0 ? nil : node - 1 }
        for (i, node) in model.nodes.enumerated() where i > 0 {
            for ref in node.inputs {
                guard ref.channelOffset == 0, ref.channelCount == nil || ref.channelCount == shapes[ref.node].channels else {
                    throw ModelError("\(who): node '\(node.name)' reads a channel slice of '\(model.nodes[ref.node].name)'; \(supported)")
                }
                guard ref.node != last else { throw ModelError("\(who): node '\(node.name)' reads the softmax") }
            }
            let x = node.inputs.first?.node ?? 0
            var addend: Int?
            switch node.op {
            case .input:
                throw ModelError("\(who): node '\(node.name)' is a second input")
            case .add:
                throw ModelError("\(who): node '\(node.name)' adds two values that are not a convolution or fully connected layer and a skip connection; \(supported)")
            case .concat:
                throw ModelError("\(who): node '\(node.name)' is a concat; \(supported)")
            case .batchNorm:
                throw ModelError("\(who): node '\(node.name)' is a batch norm that does not follow a convolution or fully connected layer; \(supported)")
            case .softmax:
                guard i == last else { throw ModelError("\(who): softmax '\(node.name)' is not the last node") }
                continue
            case .conv2d(let c):
                guard c.groups == 1 else {
                    throw ModelError("\(who): convolution '\(node.name)' has \(c.groups) groups; grouped and depthwise convolutions cannot be zipped yet")
                }
                guard !flattened[x] else {
                    throw ModelError("\(who): convolution '\(node.name)' follows a flatten; zipping needs flatten right before fully connected layers")
                }
                sawDense = true
                addend = node.inputs.count == 2 ? node.inputs[1].node : nil
            case .fullyConnected:
                sawDense = true
                addend = node.inputs.count == 2 ? node.inputs[1].node : nil
            case .flatten:
                flattened[i] = true
            case .maxPool, .averagePool, .globalAveragePool:
                guard !flattened[x] else {
                    throw ModelError("\(who): pooling '\(node.name)' follows a flatten; zipping needs flatten right before fully connected layers")
                }
            case .activation:
                flattened[i] = flattened[x]
            }
            if let addend, addend == 0 || flattened[addend] {
                throw ModelError("\(who): node '\(node.name)' accumulates into '\(model.nodes[addend].name)', which is not the output of a layer; \(supported)")
            }
            units.append(i)
            links.append(ZipState.Link(input: unitIndex(x), addend: addend.flatMap(unitIndex)))
        }
        guard sawDense else { throw ModelError("\(who) has no convolution or fully connected layer") }
        guard let head = units.last, model.nodes[head].op.isDense, !softmax || model.nodes[last].inputs[0].node == head else {
            throw ModelError("\(who): the task output must be its last fully connected or convolution layer, or a softmax right after it")
        }
        self.model = model
        self.shapes = shapes
        self.units = units
        self.links = links
        self.softmax = softmax
        signatures = (softmax ? units + [last] : units).enumerated().map { u, node in
            var s = Self.signature(of: model.nodes[node], shape: shapes[node])
            if u < links.count {
                let link = links[u]
                if link.input != (u == 0 ? nil : u - 1) { s += ", reads unit \(link.input.map { "\($0 + 1)" } ?? "input")" }
                if let a = link.addend { s += ", adds unit \(a + 1)" }
            }
            return s
        }
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

extension Model {
    /// Residual adds folded into a dense layer: `add(y, skip)` with activation `a`, where `y` is a
    /// convolution or fully connected layer without activation or addend that nothing else reads
    /// and that comes after `skip`, becomes that layer accumulating into `skip` with activation `a`.
    /// Other adds are left as they are. Computes the same function up to float rounding.
    fileprivate func fusingResidualAdds() -> Model {
        var m = self
        let uses = useCounts()
        for i in m.nodes.indices {
            guard case .add(let activation) = m.nodes[i].op, m.nodes[i].inputs.count == 2 else { continue }
            let refs = m.nodes[i].inputs
            guard refs.allSatisfy({ $0.channelOffset == 0 && $0.channelCount == nil }) else { continue }
            let (y, skip) = refs[0].node > refs[1].node ? (refs[0], refs[1]) : (refs[1], refs[0])
            guard uses[y.node] == 1, m.nodes[y.node].inputs.count == 1 else { continue }
            switch m.nodes[y.node].op {
            case .conv2d(var c) where c.activation == .none:
                c.activation = activation
                m.nodes[y.node].op = .conv2d(c)
            case .fullyConnected(var f) where f.activation == .none:
                f.activation = activation
                m.nodes[y.node].op = .fullyConnected(f)
            default:
                continue
            }
            m.nodes[y.node].inputs.append(skip)
            // The add now computes nothing: its readers read the layer instead.
            m.redirect(from: i, to: y.node)
        }
        return m.pruned()
    }
}
