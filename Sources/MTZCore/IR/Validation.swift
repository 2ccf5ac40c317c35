/// Upper bounds that keep a hostile or mistaken model from asking for absurd resources. Checked by
/// `Model.validate()` before anything of that size is allocated.
public enum ModelLimits {
    /// Maximum number of nodes.
    public static let maxNodes = 1 << 16
    /// Maximum number of weight tensors.
    public static let maxWeights = 1 << 16
    /// Maximum number of tasks.
    public static let maxTasks = 1024
    /// Maximum elements of one activation value (1 GiB of float32).
    public static let maxValueElements = 1 << 28
    /// Maximum elements of all activation values together (4 GiB of float32). The runtime's arena
    /// holds at most this much; without the bound a file of a few kilobytes could describe many
    /// values of `maxValueElements` each.
    public static let maxTotalValueElements = 1 << 30
    /// Maximum elements of one weight tensor (1 GiB of float32).
    public static let maxWeightElements = 1 << 28
    /// Maximum elements of all assembled weight tensors together (1 GiB of float32): they are
    /// built in memory when a model is read, and many can be built from the same stored parts.
    public static let maxAssembledElements = 1 << 28
    /// Maximum input width or height.
    public static let maxInputExtent = 16384
    /// Maximum kernel extent, stride, dilation or padding of a window op.
    public static let maxWindowParameter = 4096
    /// Maximum rank of a weight tensor.
    public static let maxRank = 8
}

extension Model {
    /// Checks every index, shape and size in the model and returns the shape of every node's value.
    ///
    /// - Throws: `ModelError` naming the first problem found.
    /// - Complexity: O(nodes + weights + labels).
    public func validate() throws(ModelError) -> [ValueShape] {
        try validateInputSpec()
        guard !nodes.isEmpty else { throw ModelError("the model has no nodes") }
        guard nodes.count <= ModelLimits.maxNodes else { throw ModelError("too many nodes: \(nodes.count) (limit \(ModelLimits.maxNodes))") }
        guard weights.count <= ModelLimits.maxWeights else { throw ModelError("too many weight tensors: \(weights.count) (limit \(ModelLimits.maxWeights))") }
        guard tasks.count <= ModelLimits.maxTasks else { throw ModelError("too many tasks: \(tasks.count) (limit \(ModelLimits.maxTasks))") }
        for (i, w) in weights.enumerated() {
            guard !w.shape.isEmpty, w.shape.count <= ModelLimits.maxRank else {
                throw ModelError("weight tensor \(i) '\(w.name)' has rank \(w.shape.count) (1...\(ModelLimits.maxRank) allowed)")
            }
            var count = 1
            for d in w.shape {
                guard d >= 1, d <= ModelLimits.maxWeightElements else { throw ModelError("weight tensor '\(w.name)' has dimension \(d)") }
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, p <= ModelLimits.maxWeightElements else { throw ModelError("weight tensor '\(w.name)' is too large: \(w.shape)") }
                count = p
            }
            guard count == w.values.count else {
                throw ModelError("weight tensor '\(w.name)' has shape \(w.shape) but \(w.values.count) values")
            }
        }
        var assembled = 0
        for i in weights.indices where weights[i].assembly != nil {
            if let why = assemblyProblem(of: i) { throw ModelError("weight tensor '\(weights[i].name)': its assembly \(why)") }
            assembled += weights[i].elementCount
            guard assembled <= ModelLimits.maxAssembledElements else {
                throw ModelError("assembled weight tensors hold more than \(ModelLimits.maxAssembledElements) elements")
            }
        }
        var names = Set<String>()
        var shapes: [ValueShape] = []
        shapes.reserveCapacity(nodes.count)
        var totalElements = 0
        for (i, node) in nodes.enumerated() {
            guard names.insert(node.name).inserted else { throw ModelError("duplicate node name '\(node.name)'") }
            let shape = try inferShape(of: i, shapes: shapes)
            totalElements += try Self.checkedElementCount(shape, of: node)
            guard totalElements <= ModelLimits.maxTotalValueElements else {
                throw ModelError("the values up to node '\(node.name)' total \(totalElements) elements (limit \(ModelLimits.maxTotalValueElements), ModelLimits.maxTotalValueElements)")
            }
            shapes.append(shape)
        }
        guard !tasks.isEmpty else { throw ModelError("the model has no tasks") }
        var taskNames = Set<String>()
        for task in tasks {
            guard !task.name.isEmpty else { throw ModelError("a task has an empty name") }
            guard taskNames.insert(task.name).inserted else { throw ModelError("duplicate task name '\(task.name)'") }
            guard task.output >= 0, task.output < nodes.count else {
                throw ModelError("task '\(task.name)' names output node \(task.output), but the model has \(nodes.count) nodes")
            }
            let out = shapes[task.output]
            guard task.labels.isEmpty || task.labels.count == out.elementCount else {
                throw ModelError("task '\(task.name)' has \(task.labels.count) labels for an output of \(out.elementCount) values")
            }
        }
        return shapes
    }

    /// The elements of a value of `shape`, after checking that it is neither empty nor above
    /// `ModelLimits.maxValueElements` (without overflowing on absurd extents).
    private static func checkedElementCount(_ shape: ValueShape, of node: Node) throws(ModelError) -> Int {
        guard shape.height >= 1, shape.width >= 1, shape.channels >= 1 else {
            throw ModelError("node '\(node.name)' would produce an empty value \(shape)")
        }
        let (e1, o1) = shape.height.multipliedReportingOverflow(by: shape.width)
        let (e2, o2) = e1.multipliedReportingOverflow(by: shape.channels)
        guard !o1, !o2, e2 <= ModelLimits.maxValueElements else {
            throw ModelError("node '\(node.name)' would produce a value of \(shape) elements (limit \(ModelLimits.maxValueElements), ModelLimits.maxValueElements)")
        }
        return e2
    }

    private func validateInputSpec() throws(ModelError) {
        let s = input
        guard (1...ModelLimits.maxInputExtent).contains(s.width), (1...ModelLimits.maxInputExtent).contains(s.height) else {
            throw ModelError("input size \(s.width)x\(s.height) is outside 1...\(ModelLimits.maxInputExtent) (ModelLimits.maxInputExtent)")
        }
        guard s.mean.count == s.channels, s.std.count == s.channels else {
            throw ModelError("input spec has \(s.mean.count) means and \(s.std.count) stds for \(s.channels) channels")
        }
        guard s.mean.allSatisfy({ $0.isFinite }), s.std.allSatisfy({ $0.isFinite && $0 != 0 }) else {
            throw ModelError("input spec mean/std must be finite and std non-zero")
        }
    }

    /// Shape of the value a reference reads, after applying its channel slice.
    private func resolve(_ ref: ValueRef, of consumer: Node, shapes: [ValueShape], index: Int) throws(ModelError) -> ValueShape {
        guard ref.node >= 0, ref.node < index else {
            throw ModelError("node '\(consumer.name)' reads node \(ref.node), which is not an earlier node (graphs must be acyclic and topologically ordered)")
        }
        let source = shapes[ref.node]
        let count = ref.channelCount ?? (source.channels - ref.channelOffset)
        guard ref.channelOffset >= 0, count >= 1, ref.channelOffset <= source.channels - count else {
            throw ModelError("node '\(consumer.name)' reads channels \(ref.channelOffset)..<\(ref.channelOffset + count) of '\(nodes[ref.node].name)', which has \(source.channels)")
        }
        return ValueShape(height: source.height, width: source.width, channels: count)
    }

    private func weight(_ index: Int, of node: Node, shape expected: [Int], role: String) throws(ModelError) {
        guard index >= 0, index < weights.count else {
            throw ModelError("node '\(node.name)' names \(role) tensor \(index), but the model has \(weights.count)")
        }
        guard weights[index].shape == expected else {
            throw ModelError("node '\(node.name)': \(role) '\(weights[index].name)' has shape \(weights[index].shape), expected \(expected)")
        }
    }

    private func windowOutput(_ w: Window, input: ValueShape, node: Node) throws(ModelError) -> (Int, Int) {
        let limit = ModelLimits.maxWindowParameter
        for v in [w.kernelH, w.kernelW, w.strideH, w.strideW, w.dilationH, w.dilationW] {
            guard (1...limit).contains(v) else { throw ModelError("node '\(node.name)': window parameter \(v) is outside 1...\(limit)") }
        }
        for v in [w.padding.top, w.padding.left, w.padding.bottom, w.padding.right] {
            guard (0...limit).contains(v) else { throw ModelError("node '\(node.name)': padding \(v) is outside 0...\(limit)") }
        }
        guard let oh = Window.outputExtent(input: input.height, kernel: w.kernelH, stride: w.strideH, dilation: w.dilationH, padBefore: w.padding.top, padAfter: w.padding.bottom),
              let ow = Window.outputExtent(input: input.width, kernel: w.kernelW, stride: w.strideW, dilation: w.dilationW, padBefore: w.padding.left, padAfter: w.padding.right)
        else {
            throw ModelError("node '\(node.name)': a \(w.kernelH)x\(w.kernelW) window does not fit its \(input) input")
        }
        return (oh, ow)
    }

    private func inferShape(of index: Int, shapes: [ValueShape]) throws(ModelError) -> ValueShape {
        let node = nodes[index]
        func arity(_ allowed: ClosedRange<Int>) throws(ModelError) {
            guard allowed.contains(node.inputs.count) else {
                throw ModelError("node '\(node.name)' (\(node.op.name)) has \(node.inputs.count) inputs, expected \(allowed.lowerBound == allowed.upperBound ? "\(allowed.lowerBound)" : "\(allowed.lowerBound)...\(allowed.upperBound)")")
            }
        }
        var ins: [ValueShape] = []
        for ref in node.inputs { ins.append(try resolve(ref, of: node, shapes: shapes, index: index)) }

        switch node.op {
        case .input:
            guard index == 0 else { throw ModelError("node '\(node.name)': only the first node may be the input") }
            try arity(0...0)
            return ValueShape(height: input.height, width: input.width, channels: input.channels)

        case .conv2d(let c):
            try arity(1...2)
            let x = ins[0]
            guard c.groups >= 1, c.outChannels >= 1, x.channels % c.groups == 0, c.outChannels % c.groups == 0 else {
                throw ModelError("node '\(node.name)': \(x.channels) input and \(c.outChannels) output channels do not split into \(c.groups) groups")
            }
            let w = c.window
            let extentH = (w.kernelH - 1) * w.dilationH + 1, extentW = (w.kernelW - 1) * w.dilationW + 1
            guard w.padding.top < extentH, w.padding.bottom < extentH, w.padding.left < extentW, w.padding.right < extentW else {
                throw ModelError("node '\(node.name)': convolution padding must be smaller than the (dilated) kernel")
            }
            let (oh, ow) = try windowOutput(w, input: x, node: node)
            let out = ValueShape(height: oh, width: ow, channels: c.outChannels)
            // Before the weight check, so that an absurd channel count is reported as the limit it breaks.
            _ = try Self.checkedElementCount(out, of: node)
            try weight(c.weight, of: node, shape: [c.outChannels, c.window.kernelH, c.window.kernelW, x.channels / c.groups], role: "weight")
            if let b = c.bias { try weight(b, of: node, shape: [c.outChannels], role: "bias") }
            if ins.count == 2, ins[1] != out {
                throw ModelError("node '\(node.name)': addend is \(ins[1]) but the output is \(out)")
            }
            return out

        case .fullyConnected(let f):
            try arity(1...2)
            let x = ins[0]
            guard x.height == 1, x.width == 1 else {
                throw ModelError("node '\(node.name)': a fully connected layer needs a 1x1xC input (flatten first), got \(x)")
            }
            let out = ValueShape(height: 1, width: 1, channels: f.outFeatures)
            _ = try Self.checkedElementCount(out, of: node)
            try weight(f.weight, of: node, shape: [f.outFeatures, x.channels], role: "weight")
            if let b = f.bias { try weight(b, of: node, shape: [f.outFeatures], role: "bias") }
            if ins.count == 2, ins[1] != out {
                throw ModelError("node '\(node.name)': addend is \(ins[1]) but the output is \(out)")
            }
            return out

        case .activation:
            try arity(1...1)
            return ins[0]

        case .maxPool(let p), .averagePool(let p):
            try arity(1...1)
            guard p.window.dilationH == 1, p.window.dilationW == 1 else {
                throw ModelError("node '\(node.name)': pooling with dilation is not supported")
            }
            let w = p.window
            guard w.padding.top < w.kernelH, w.padding.bottom < w.kernelH, w.padding.left < w.kernelW, w.padding.right < w.kernelW else {
                throw ModelError("node '\(node.name)': pooling padding must be smaller than the kernel (a window would lie entirely in the padding)")
            }
            let (oh, ow) = try windowOutput(w, input: ins[0], node: node)
            return ValueShape(height: oh, width: ow, channels: ins[0].channels)

        case .globalAveragePool:
            try arity(1...1)
            return ValueShape(height: 1, width: 1, channels: ins[0].channels)

        case .add:
            try arity(2...2)
            guard ins[0] == ins[1] else { throw ModelError("node '\(node.name)': cannot add \(ins[0]) and \(ins[1])") }
            return ins[0]

        case .concat:
            try arity(1...64)
            var channels = 0
            for s in ins {
                guard s.height == ins[0].height, s.width == ins[0].width else {
                    throw ModelError("node '\(node.name)': cannot concatenate \(ins[0]) and \(s)")
                }
                channels += s.channels
            }
            return ValueShape(height: ins[0].height, width: ins[0].width, channels: channels)

        case .flatten:
            try arity(1...1)
            return ValueShape(height: 1, width: 1, channels: ins[0].elementCount)

        case .softmax:
            try arity(1...1)
            guard ins[0].height == 1, ins[0].width == 1 else {
                throw ModelError("node '\(node.name)': softmax needs a 1x1xC input, got \(ins[0])")
            }
            return ins[0]

        case .batchNorm(let scale, let shift):
            // Several inputs: a training model's batch norm shared by tasks (one input per task).
            try arity(1...64)
            if let other = ins.first(where: { $0 != ins[0] }) {
                throw ModelError("node '\(node.name)': a batch norm's inputs differ in shape (\(ins[0]) and \(other))")
            }
            try weight(scale, of: node, shape: [ins[0].channels], role: "scale")
            try weight(shift, of: node, shape: [ins[0].channels], role: "shift")
            return ins[0]
        }
    }
}
