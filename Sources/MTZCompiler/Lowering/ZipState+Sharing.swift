import MTZCore

extension ZipState {
    /// Task `task`'s neurons of layer `layer` as MTZ sees them: one row per neuron (in the state's
    /// current order) holding its weights over the shared inputs, then its bias.
    ///
    /// Rows have `neuronLayout(layer:).vectorLength` = taps·k + 1 entries in the order the
    /// layer-wise Hessian uses (see `NeuronLayout`); the input `LoweringMap.sharedInput[layer][task]`
    /// produces exactly those inputs. The weights over task-specific inputs are not included.
    public func inputColumns(layer: Int, task: Int) -> Matrix {
        neuronLayout(layer: layer).neuronVectors(weights: layers[layer].weights[task], biases: layers[layer].biases[task])
    }

    /// Shares `neurons[t].count` neurons of layer `layer` between all tasks.
    ///
    /// For every task `t`: (a) its neurons are reordered so that `neurons[t][i]` (an index in the
    /// task's current order) becomes neuron `i`, the others following in their current order;
    /// (b) row `i` of `merged` (weights over the shared inputs, then bias, as `inputColumns`
    /// lists them) becomes neuron `i`'s shared-input weights and bias — its weights over the
    /// task-specific inputs stay the task's own; (c) `sharedCount` becomes `neurons[t].count`;
    /// (d) the next dense layer's input channels are permuted to the new order (through pooling,
    /// activations and flatten: channel `c` at every tap), so every task computes the same
    /// function as before apart from the merged rows.
    ///
    /// Layers are zipped from the input upwards: the next dense layer must not share neurons yet.
    ///
    /// - Parameters:
    ///   - layer: a dense layer other than the head.
    ///   - neurons: per task, the neurons to share, all lists of the same length `k`; entry `i` of
    ///     each list forms shared neuron `i`.
    ///   - merged: `k` rows of `neuronLayout(layer:).vectorLength` values.
    /// - Throws: `ModelError` if an argument does not fit; nothing is changed then.
    /// - Complexity: O(weights of the layer and the next dense layer).
    public mutating func share(layer l: Int, neurons: [[Int]], merged: Matrix) throws(ModelError) {
        guard layers.indices.contains(l) else { throw ModelError("there is no dense layer \(l) (the state has \(layers.count))") }
        let layer = layers[l]
        guard l != headLayer else { throw ModelError("layer '\(layer.name)' is the task head; heads are never shared") }
        let next = layers[l + 1]
        guard next.sharedCount == 0 else {
            throw ModelError("layer '\(next.name)' already shares neurons; zip '\(layer.name)' before the layers above it")
        }
        guard neurons.count == tasks.count else {
            throw ModelError("\(neurons.count) neuron lists for \(tasks.count) tasks")
        }
        let k = neurons[0].count
        for (t, list) in neurons.enumerated() {
            guard list.count == k else {
                throw ModelError("task '\(tasks[t].name)' shares \(list.count) neurons of '\(layer.name)', task '\(tasks[0].name)' \(k)")
            }
            guard list.allSatisfy({ (0..<layer.outCount).contains($0) }), Set(list).count == list.count else {
                throw ModelError("the neurons of task '\(tasks[t].name)' to share in '\(layer.name)' must be distinct indices in 0..<\(layer.outCount)")
            }
        }
        let layout = neuronLayout(layer: l)
        guard merged.rows == k, merged.cols == layout.vectorLength else {
            throw ModelError("merged weights for '\(layer.name)' are \(merged.rows)×\(merged.cols), expected \(k)×\(layout.vectorLength)")
        }
        let nextLayout = neuronLayout(layer: l + 1)
        precondition(nextLayout.inChannels == layer.outCount, "share: layer '\(next.name)' does not read the \(layer.outCount) channels of '\(layer.name)'")

        for (t, list) in neurons.enumerated() {
            let chosen = Set(list)
            let order = list + (0..<layer.outCount).filter { !chosen.contains($0) }
            var weights = Self.permutedRows(layer.weights[t], order: order, rowLength: layout.rowLength)
            var biases = order.map { layer.biases[t][$0] }
            for i in 0..<k {
                layout.store(merged.row(i), neuron: i, weights: &weights, biases: &biases)
            }
            layers[l].weights[t] = weights
            layers[l].biases[t] = biases
            layers[l + 1].weights[t] = Self.permutedChannels(next.weights[t], order: order, layout: nextLayout, rows: next.outCount)
        }
        layers[l].sharedCount = k
    }

    /// Two-task form of `share(layer:neurons:merged:)`: task 0 shares `pairs[i].a`, task 1
    /// `pairs[i].b`, as shared neuron `i` with weights `merged` row `i`.
    ///
    /// - Throws: `ModelError` if the state does not have exactly two tasks or an argument does not fit.
    public mutating func share(layer: Int, pairs: [NeuronPair], merged: Matrix) throws(ModelError) {
        guard tasks.count == 2 else { throw ModelError("pairs share neurons of two tasks; the state has \(tasks.count)") }
        try share(layer: layer, neurons: [pairs.map(\.a), pairs.map(\.b)], merged: merged)
    }

    /// Rows of a row-major matrix in `order` (new row `i` = old row `order[i]`).
    private static func permutedRows(_ matrix: [Float], order: [Int], rowLength: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(matrix.count)
        for o in order { out += matrix[o * rowLength ..< (o + 1) * rowLength] }
        return out
    }

    /// The input channels of every tap of every row in `order` (new channel `j` = old `order[j]`).
    private static func permutedChannels(_ matrix: [Float], order: [Int], layout: NeuronLayout, rows: Int) -> [Float] {
        var out = matrix
        let c = layout.inChannels
        for block in 0..<(rows * layout.taps) {
            let base = block * c
            for j in 0..<c { out[base + j] = matrix[base + order[j]] }
        }
        return out
    }
}
