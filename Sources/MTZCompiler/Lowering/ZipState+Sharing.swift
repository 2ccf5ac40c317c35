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
    /// task's current order) becomes neuron `i`, the others following in their current order —
    /// in `layer` and in every layer tied to it by a residual add (`tiedLayers(of:)`), which share
    /// the same neurons; (b) row `i` of `merged` (weights over the shared inputs, then bias, as
    /// `inputColumns` lists them) becomes neuron `i`'s shared-input weights and bias in `layer` — its
    /// weights over the task-specific inputs stay the task's own; (c) `sharedCount` becomes
    /// `neurons[t].count` in every tied layer; (d) every layer that reads these channels
    /// (`consumers(of:)`, through pooling, activations and flatten: channel `c` at every tap) gets
    /// its input channels permuted to the new order, so every task computes the same function as
    /// before apart from the merged rows.
    ///
    /// The other tied layers, and consumers that already share neurons (layers tied to one zipped
    /// earlier, which now gain shared inputs), keep each task's own weights in their aligned rows
    /// and become `pending` until `merge(layer:merged:)` gives them their merged block.
    ///
    /// Layers are zipped from the input upwards: a layer tied to `layer` must not share neurons
    /// yet, nor a layer reading these channels unless it is tied to an earlier zipped layer.
    ///
    /// - Parameters:
    ///   - layer: a dense layer other than the head.
    ///   - neurons: per task, the neurons to share, all lists of the same length `k`; entry `i` of
    ///     each list forms shared neuron `i`.
    ///   - merged: `k` rows of `neuronLayout(layer:).vectorLength` values.
    /// - Throws: `ModelError` if an argument does not fit; nothing is changed then.
    /// - Complexity: O(weights of the layer, its tied layers and their consumers).
    public mutating func share(layer l: Int, neurons: [[Int]], merged: Matrix) throws(ModelError) {
        guard layers.indices.contains(l) else { throw ModelError("there is no dense layer \(l) (the state has \(layers.count))") }
        let layer = layers[l]
        guard l != headLayer else { throw ModelError("layer '\(layer.name)' is the task head; heads are never shared") }
        let tied = tiedLayers(of: l)
        let consumers = consumers(of: l)
        guard tied.allSatisfy({ layers[$0].sharedCount == 0 }) else {
            throw ModelError("layer '\(layer.name)' already shares neurons (or a layer tied to it by a residual add does)")
        }
        if let c = consumers.first(where: { layers[$0].sharedCount > 0 && !tied.contains($0) && tiedLayers(of: $0).allSatisfy { $0 > l } }) {
            throw ModelError("layer '\(layers[c].name)' already shares neurons; zip '\(layer.name)' before the layers above it")
        }
        guard !tied.contains(headLayer), !consumers.isEmpty else {
            throw ModelError("layer '\(layer.name)' feeds the task heads' outputs directly; heads are never shared")
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
        let layouts = neuronLayouts
        let layout = layouts[l]
        guard merged.rows == k, merged.cols == layout.vectorLength else {
            throw ModelError("merged weights for '\(layer.name)' are \(merged.rows)×\(merged.cols), expected \(k)×\(layout.vectorLength)")
        }

        for (t, list) in neurons.enumerated() {
            let chosen = Set(list)
            let order = list + (0..<layer.outCount).filter { !chosen.contains($0) }
            for m in tied {
                layers[m].weights[t] = Self.permutedRows(layers[m].weights[t], order: order, rowLength: layouts[m].rowLength)
                layers[m].biases[t] = order.map { layers[m].biases[t][$0] }
                if !layers[m].normalization.isEmpty {
                    let n = layers[m].normalization[t]
                    layers[m].normalization[t] = Normalization(mean: order.map { n.mean[$0] }, std: order.map { n.std[$0] })
                }
            }
            for c in consumers {
                precondition(layouts[c].inChannels == layer.outCount, "share: layer '\(layers[c].name)' does not read the \(layer.outCount) channels of '\(layer.name)'")
                layers[c].weights[t] = Self.permutedChannels(layers[c].weights[t], order: order, layout: layouts[c], rows: layers[c].outCount)
            }
        }
        for m in tied { layers[m].sharedCount = k }
        store(merged, layer: l, layout: layout)
        pending.formUnion(tied.filter { $0 != l })
        pending.formUnion(consumers.filter { layers[$0].sharedCount > 0 })
    }

    /// Gives layer `l`'s shared neurons (rows `0..<sharedCount`) the merged weights `merged` over its
    /// shared inputs, and bias, in every task, and settles it if it was `pending` — for a layer
    /// whose neurons are paired already (tied by a residual add to one zipped earlier).
    ///
    /// - Throws: `ModelError` if `merged` is not `sharedCount × neuronLayout(layer:).vectorLength`.
    public mutating func merge(layer l: Int, merged: Matrix) throws(ModelError) {
        guard layers.indices.contains(l) else { throw ModelError("there is no dense layer \(l) (the state has \(layers.count))") }
        let layout = neuronLayout(layer: l)
        let k = layers[l].sharedCount
        guard merged.rows == k, merged.cols == layout.vectorLength else {
            throw ModelError("merged weights for '\(layers[l].name)' are \(merged.rows)×\(merged.cols), expected \(k)×\(layout.vectorLength)")
        }
        store(merged, layer: l, layout: layout)
        pending.remove(l)
    }

    /// Writes `merged` row `i` as shared neuron `i`'s shared-input weights and bias in every task.
    private mutating func store(_ merged: Matrix, layer l: Int, layout: NeuronLayout) {
        var layer = layers[l]
        for t in tasks.indices {
            for i in 0..<merged.rows { layout.store(merged.row(i), neuron: i, weights: &layer.weights[t], biases: &layer.biases[t]) }
        }
        layers[l] = layer
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
