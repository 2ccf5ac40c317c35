import MTZCore

extension ZipState {
    /// Checks the state's structure and the zipping invariant.
    ///
    /// Structure: every dense layer appears once, in order; every unit reads earlier units; layers
    /// tied by a residual add share equally many neurons; every task has weights and biases of
    /// the layer's size; `sharedCount` is within `0...outCount` and 0 for the head. Invariant: in
    /// every layer, rows `0..<sharedCount` over the shared input columns and the bias entries
    /// `0..<sharedCount` are identical (bit for bit) in every task.
    ///
    /// - Throws: `ModelError` naming the layer and what is wrong.
    /// - Complexity: O(total weights).
    public func checkConsistency() throws(ModelError) {
        guard !tasks.isEmpty else { throw ModelError("the zip state has no tasks") }
        guard !layers.isEmpty else { throw ModelError("the zip state has no dense layers") }
        guard shapes.count == units.count else {
            throw ModelError("the zip state has \(shapes.count) shapes for \(units.count) units")
        }
        let order = units.compactMap { unit -> Int? in
            if case .dense(let l) = unit { return l }
            return nil
        }
        guard order == Array(layers.indices) else {
            throw ModelError("the zip state's units refer to dense layers \(order), expected 0..<\(layers.count) in order")
        }
        guard links.count == units.count else {
            throw ModelError("the zip state has \(links.count) links for \(units.count) units")
        }
        for (u, link) in links.enumerated() {
            guard link.input.map({ (0..<u).contains($0) }) ?? true, link.addend.map({ (0..<u).contains($0) }) ?? true else {
                throw ModelError("unit \(u) reads a unit that does not come before it")
            }
            if link.addend != nil, case .passThrough = units[u] {
                throw ModelError("unit \(u) is a pass-through with an addend")
            }
        }
        if let l = pending.min() {
            throw ModelError("layer '\(layers[l].name)' has paired neurons whose merged weights are not set yet (merge it first)")
        }
        let spaces = self.spaces
        for (u, unit) in units.enumerated() {
            guard case .dense(let l) = unit, spaces[u] != u, spaces[u] >= 0, case .dense(let root) = units[spaces[u]] else { continue }
            guard layers[l].sharedCount == layers[root].sharedCount, layers[l].outCount == layers[root].outCount else {
                throw ModelError("layers '\(layers[root].name)' and '\(layers[l].name)' are tied by a residual add but share \(layers[root].sharedCount) and \(layers[l].sharedCount) neurons")
            }
        }
        let layouts = neuronLayouts
        for (l, layer) in layers.enumerated() {
            let layout = layouts[l]
            guard (0...layer.outCount).contains(layer.sharedCount) else {
                throw ModelError("layer '\(layer.name)' shares \(layer.sharedCount) of \(layer.outCount) neurons")
            }
            guard l != headLayer || layer.sharedCount == 0 else {
                throw ModelError("layer '\(layer.name)' is the task head and cannot share neurons")
            }
            guard layer.weights.count == tasks.count, layer.biases.count == tasks.count else {
                throw ModelError("layer '\(layer.name)' has weights for \(layer.weights.count) and biases for \(layer.biases.count) of \(tasks.count) tasks")
            }
            for t in tasks.indices {
                guard layer.weights[t].count == layer.outCount * layout.rowLength, layer.biases[t].count == layer.outCount else {
                    throw ModelError("layer '\(layer.name)', task '\(tasks[t].name)': \(layer.weights[t].count) weights and \(layer.biases[t].count) biases, expected \(layer.outCount) × \(layout.rowLength) and \(layer.outCount)")
                }
            }
            guard layer.normalization.isEmpty || (layer.normalization.count == tasks.count
                && layer.normalization.allSatisfy { $0.mean.count == layer.outCount && $0.std.count == layer.outCount }) else {
                throw ModelError("layer '\(layer.name)': the batch norms of its task-specific neurons do not have one mean and one standard deviation per neuron of every task")
            }
            try checkMergedBlock(layer: l, layout: layout)
        }
    }

    /// Throws unless the merged block of layer `l` is identical in every task.
    private func checkMergedBlock(layer l: Int, layout: NeuronLayout) throws(ModelError) {
        let layer = layers[l]
        let k = layer.sharedCount
        guard k > 0, tasks.count > 1 else { return }
        let columns = layout.columns(layout.sharedRange)
        let reference = layout.gather(layer.weights[0], rows: 0..<k, columns: columns)
        let referenceBias = Array(layer.biases[0][0..<k])
        for t in 1..<tasks.count {
            guard layout.gather(layer.weights[t], rows: 0..<k, columns: columns) == reference,
                  Array(layer.biases[t][0..<k]) == referenceBias
            else {
                throw ModelError("layer '\(layer.name)': the \(k) shared neurons of task '\(tasks[t].name)' differ from those of '\(tasks[0].name)' over the shared inputs; the merged block must be identical in every task")
            }
        }
    }
}
