extension Model {
    /// The deployment form of the model: batch norms folded into the convolution or FC layer that
    /// feeds them, standalone activations fused into their producer, and nodes and weights that no
    /// task needs removed.
    ///
    /// A fold or fusion only happens when the producer has no other consumer, is not a task output,
    /// has no activation yet and (for batch norm) no addend. The result computes the same function up
    /// to float rounding.
    ///
    /// - Throws: `ModelError` if the model is invalid.
    public func optimized() throws(ModelError) -> Model {
        _ = try validate()
        // One pass in node order, so the cost stays linear in the number of nodes (restarting after
        // every fusion made a long chain of conv → relu pairs quadratic: minutes for a 1 MB file).
        // Dead nodes are dropped first so that they do not count as consumers.
        var m = pruned()
        var uses = m.useCounts()
        // The node that computes node i's value: i itself, or the producer i was fused into. A
        // producer is a conv, FC or add and is never fused away itself, so one look-up suffices.
        var computedBy = Array(m.nodes.indices)
        for i in m.nodes.indices {
            for j in m.nodes[i].inputs.indices { m.nodes[i].inputs[j].node = computedBy[m.nodes[i].inputs[j].node] }
            let node = m.nodes[i]
            guard node.inputs.count == 1 else { continue }
            let ref = node.inputs[0]
            guard ref.channelOffset == 0, ref.channelCount == nil, uses[ref.node] == 1 else { continue }
            let p = ref.node
            switch (node.op, m.nodes[p].op) {
            case (.batchNorm(let scale, let shift), .conv2d(var c)) where c.activation == .none && m.nodes[p].inputs.count == 1:
                let folded = m.foldScaleShift(weight: c.weight, bias: c.bias, outChannels: c.outChannels, scale: scale, shift: shift, name: m.nodes[p].name)
                c.weight = folded.weight
                c.bias = folded.bias
                m.nodes[p].op = .conv2d(c)
            case (.batchNorm(let scale, let shift), .fullyConnected(var f)) where f.activation == .none && m.nodes[p].inputs.count == 1:
                let folded = m.foldScaleShift(weight: f.weight, bias: f.bias, outChannels: f.outFeatures, scale: scale, shift: shift, name: m.nodes[p].name)
                f.weight = folded.weight
                f.bias = folded.bias
                m.nodes[p].op = .fullyConnected(f)
            case (.activation(let a), .conv2d(var c)) where c.activation == .none:
                c.activation = a
                m.nodes[p].op = .conv2d(c)
            case (.activation(let a), .fullyConnected(var f)) where f.activation == .none:
                f.activation = a
                m.nodes[p].op = .fullyConnected(f)
            case (.activation(let a), .add(.none)):
                m.nodes[p].op = .add(a)
            default:
                continue
            }
            // Node i now computes nothing: its consumers (all later) and task outputs read p instead,
            // which takes over i's uses; the pruning below drops i.
            computedBy[i] = p
            uses[p] = uses[i]
            m.nodes[i].inputs = []
        }
        for t in m.tasks.indices { m.tasks[t].output = computedBy[m.tasks[t].output] }
        return m.pruned()
    }

    /// How many references (node inputs and task outputs) each node's value has.
    public func useCounts() -> [Int] {
        var uses = [Int](repeating: 0, count: nodes.count)
        for n in nodes { for r in n.inputs { uses[r.node] += 1 } }
        for t in tasks { uses[t.output] += 1 }
        return uses
    }

    /// Makes every reference to node `from` refer to node `to` (same slices) and leaves `from` unused.
    public mutating func redirect(from: Int, to: Int) {
        for i in nodes.indices {
            for j in nodes[i].inputs.indices where nodes[i].inputs[j].node == from {
                nodes[i].inputs[j].node = to
            }
        }
        for t in tasks.indices where tasks[t].output == from { tasks[t].output = to }
        nodes[from].inputs = []
    }

    /// Appends weights `W·diag(scale)` over output channels and bias `b·scale + shift`.
    mutating func foldScaleShift(weight: Int, bias: Int?, outChannels: Int, scale: Int, shift: Int, name: String) -> (weight: Int, bias: Int) {
        let s = weights[scale].values.array
        let t = weights[shift].values.array
        var w = weights[weight].values.array
        let perOut = w.count / outChannels
        for o in 0..<outChannels {
            for k in 0..<perOut { w[o * perOut + k] *= s[o] }
        }
        let b0 = bias.map { weights[$0].values.array } ?? [Float](repeating: 0, count: outChannels)
        var b = [Float](repeating: 0, count: outChannels)
        for o in 0..<outChannels { b[o] = b0[o] * s[o] + t[o] }
        weights.append(WeightTensor(name: "\(name).weight.bnfolded", shape: weights[weight].shape, values: w))
        weights.append(WeightTensor(name: "\(name).bias.bnfolded", shape: [outChannels], values: b))
        return (weights.count - 2, weights.count - 1)
    }

    /// Removes nodes no task depends on (keeping the input node) and weights no node reads (the
    /// parts of an assembled tensor that is read are kept).
    public func pruned() -> Model {
        var live = [Bool](repeating: false, count: nodes.count)
        var stack = tasks.map(\.output)
        while let i = stack.popLast() {
            guard !live[i] else { continue }
            live[i] = true
            stack.append(contentsOf: nodes[i].inputs.map(\.node))
        }
        if !nodes.isEmpty { live[0] = true }
        var newIndex = [Int](repeating: -1, count: nodes.count)
        var kept: [Node] = []
        for i in nodes.indices where live[i] {
            newIndex[i] = kept.count
            var n = nodes[i]
            n.inputs = n.inputs.map { var r = $0; r.node = newIndex[r.node]; return r }
            kept.append(n)
        }
        var weightUsed = [Bool](repeating: false, count: weights.count)
        for n in kept {
            for w in n.op.weightIndices {
                weightUsed[w] = true
                // The parts an assembled tensor is stored as stay with it.
                for p in weights[w].assembly?.parts ?? [] { weightUsed[p] = true }
            }
        }
        var newWeight = [Int](repeating: -1, count: weights.count)
        var keptWeights: [WeightTensor] = []
        for w in weights.indices where weightUsed[w] {
            newWeight[w] = keptWeights.count
            keptWeights.append(weights[w])
        }
        for i in keptWeights.indices { keptWeights[i].assembly?.remapParts { newWeight[$0] } }
        for i in kept.indices { kept[i].op = kept[i].op.remappingWeights { newWeight[$0] } }
        var m = self
        m.nodes = kept
        m.weights = keptWeights
        m.tasks = tasks.map { var t = $0; t.output = newIndex[t.output]; return t }
        return m
    }
}

extension Operation {
    /// The same op with every weight index passed through `map`.
    public func remappingWeights(_ map: (Int) -> Int) -> Operation {
        switch self {
        case .conv2d(var c):
            c.weight = map(c.weight)
            c.bias = c.bias.map(map)
            return .conv2d(c)
        case .fullyConnected(var f):
            f.weight = map(f.weight)
            f.bias = f.bias.map(map)
            return .fullyConnected(f)
        case .batchNorm(let s, let t):
            return .batchNorm(scale: map(s), shift: map(t))
        default:
            return self
        }
    }
}
