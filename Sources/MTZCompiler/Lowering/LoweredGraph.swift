import MTZCore

/// The value flowing out of a unit for one task, as its two channel blocks.
struct TaskValue: Hashable {
    /// The shared channels `0..<k` (nil when k = 0). The same reference for every task whose value
    /// was computed from identical inputs.
    var shared: ValueRef?
    /// The task's own channels `k..<N` (nil when k = N).
    var specific: ValueRef?
}

/// The nodes and weight tensors of a lowered model as they are appended, with the origin of every
/// weight tensor.
struct LoweredGraph {
    private(set) var nodes: [Node] = []
    private(set) var weights: [WeightTensor] = []
    private(set) var sources: [LoweringMap.Source] = []
    private(set) var normalizations: [LoweringMap.NormalizedRows] = []

    /// Appends a node and returns a reference to its whole value.
    mutating func add(_ name: String, layer: String, _ op: Operation, _ inputs: [ValueRef]) -> ValueRef {
        nodes.append(Node(name: name, layer: layer, op: op, inputs: inputs))
        return ValueRef(nodes.count - 1)
    }

    /// Appends a weight tensor that came from `source` and returns its index.
    mutating func addWeight(_ name: String, shape: [Int], values: [Float], source: LoweringMap.Source) -> Int {
        weights.append(WeightTensor(name: name, shape: shape, values: values))
        sources.append(source)
        return weights.count - 1
    }

    /// The tensor `assembly` puts together from weights already added: the one part itself if
    /// there is one, else a new tensor with the assembled values that came from `source`.
    mutating func addAssembled(_ name: String, shape: [Int], _ assembly: WeightAssembly, source: LoweringMap.Source) -> Int {
        if assembly.parts.count == 1 { return assembly.parts[0] }
        let elements = shape.reduce(1, *)
        let values = assembly.assemble(elementCount: elements) { weights[$0].values }
        var tensor = WeightTensor(name: name, shape: shape, values: values)
        tensor.assembly = assembly
        weights.append(tensor)
        sources.append(source)
        return weights.count - 1
    }

    /// Appends a training batch norm of `rows` over `x` with parameters `gamma` and `beta`.
    mutating func addBatchNorm(_ name: String, layer: String, x: ValueRef, gamma: [Float], beta: [Float],
                               rows: LoweringMap.NormalizedRows) -> ValueRef {
        addBatchNorm(name, layer: layer, inputs: [x], gamma: gamma, beta: beta, rows: rows)
    }

    /// Appends a training batch norm of `rows` over `inputs`: one value, or one per task for a
    /// batch norm shared by the tasks (`Operation.batchNorm`).
    mutating func addBatchNorm(_ name: String, layer: String, inputs: [ValueRef], gamma: [Float], beta: [Float],
                               rows: LoweringMap.NormalizedRows) -> ValueRef {
        let source = LoweringMap.Source(layer: rows.layer, tasks: rows.tasks, rows: rows.rows, inputChannels: 0..<0, kind: .normalization)
        let g = addWeight("\(name).gamma", shape: [gamma.count], values: gamma, source: source)
        let b = addWeight("\(name).beta", shape: [beta.count], values: beta, source: source)
        let out = add(name, layer: layer, .batchNorm(scale: g, shift: b), inputs)
        var entry = rows
        (entry.node, entry.gamma, entry.beta) = (out.node, g, b)
        normalizations.append(entry)
        return out
    }

    /// Appends `op` (the layer's convolution geometry, or fully connected when `conv` is nil)
    /// producing `outputs` channels from `x`, accumulating into `addend` if given.
    mutating func addDense(
        _ name: String, layer: String, conv: Conv2D?, outputs: Int, x: ValueRef, weight: Int, bias: Int?,
        activation: Activation, addend: ValueRef? = nil
    ) -> ValueRef {
        let op: Operation
        if let conv {
            op = .conv2d(Conv2D(window: conv.window, outChannels: outputs, groups: 1, weight: weight, bias: bias, activation: activation))
        } else {
            op = .fullyConnected(FullyConnected(outFeatures: outputs, weight: weight, bias: bias, activation: activation))
        }
        return add(name, layer: layer, op, [x] + (addend.map { [$0] } ?? []))
    }
}
