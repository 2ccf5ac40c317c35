import MTZCore

extension ZipState {
    /// The model `mtz zip` writes: per task, one node per layer over the task's whole input, and a
    /// layer computed once where every task computes the same thing.
    ///
    /// `lowered()` splits a partly shared layer into one node per block of neurons and inputs, the
    /// form retraining needs (each block is its own weight tensor). At inference that costs: after
    /// the first partly shared layer every task computes its whole layer anyway (its shared neurons
    /// read its own inputs through the inter weights), so the split only turns one convolution into
    /// up to four narrow ones, each with its own im2col or Winograd transform. Here a task's value
    /// is one node of all its channels, and:
    /// - a layer whose neurons are all shared, over an input every task shares, is one node
    ///   `L/shared` for every task (per task `L/<task>` when the residual it adds differs by task);
    /// - otherwise each task has one node `L/<task>` whose weight matrix is assembled
    ///   (`WeightAssembly`) from the blocks `lowered()` stores: the merged block and bias (tensors
    ///   `L.shared.weight`, `L.shared.bias`, stored once for every task), the task's inter weights
    ///   and its own rows over the shared and the specific inputs. The file stores each block once;
    ///   the runtime builds the whole matrices when it loads the model.
    ///
    /// At the first partly shared layer the shared neurons are computed once per task instead of
    /// once: that layer reads an input all tasks share, and splitting it would cost more than the
    /// neurons repeated. A model without partly shared layers is the same as `lowered()`'s.
    ///
    /// - Throws: `ModelError` if the state is inconsistent (see `checkConsistency()`).
    /// - Complexity: O(total weights).
    public func deployable() throws(ModelError) -> Model {
        try checkConsistency()
        let layouts = neuronLayouts
        var graph = LoweredGraph()
        let image = graph.add("input", layer: "input", .input, [])
        var unitValues: [[ValueRef]] = []
        for (u, unit) in units.enumerated() {
            let x = links[u].input.map { unitValues[$0] } ?? Array(repeating: image, count: tasks.count)
            switch unit {
            case .passThrough(let p):
                if let common = Self.common(x) {
                    unitValues.append(Array(repeating: graph.add("\(p.name)/shared", layer: p.name, p.op, [common]), count: tasks.count))
                } else {
                    unitValues.append(tasks.indices.map { graph.add("\(p.name)/\(tasks[$0].name)", layer: p.name, p.op, [x[$0]]) })
                }
            case .dense(let l):
                unitValues.append(deployDense(l, layout: layouts[l], x, addend: links[u].addend.map { unitValues[$0] }, into: &graph))
            }
        }
        let values = unitValues.last ?? Array(repeating: image, count: tasks.count)
        if tasks.count > 1, let common = Self.common(values) {
            throw ModelError("the head's output '\(graph.nodes[common.node].name)' is not task-specific")
        }
        return try withHeads(&graph, logits: values)
    }

    /// The value if it is one and the same for every task.
    private static func common(_ values: [ValueRef]) -> ValueRef? {
        guard let first = values.first, values.allSatisfy({ $0 == first }) else { return nil }
        return first
    }

    /// Dense layer `l`, one node per task or one for all (see `deployable()`).
    private func deployDense(_ l: Int, layout: NeuronLayout, _ x: [ValueRef], addend: [ValueRef]?,
                             into graph: inout LoweredGraph) -> [ValueRef] {
        let layer = layers[l]
        let k = layer.sharedCount, n = layer.outCount, name = layer.name
        let allTasks = Array(tasks.indices)
        // Column bands of the weight rows (shared inputs, then the task's own) and row bands.
        let channelBands = [layout.sharedRange, layout.specificRange].filter { !$0.isEmpty }
        let rowBands = [0..<k, k..<n].filter { !$0.isEmpty }

        func shape(rows: Int, channels: Int) -> [Int] {
            layer.conv.map { [rows, $0.window.kernelH, $0.window.kernelW, channels] } ?? [rows, layout.taps * channels]
        }
        func block(_ suffix: String, task: Int, owners: [Int], rows: Range<Int>, channels: Range<Int>) -> Int {
            addWeightBlock(suffix, layer: l, layout: layout, task: task, owners: owners, rows: rows, channels: channels, into: &graph)
        }
        func bias(_ suffix: String, task: Int, owners: [Int], rows: Range<Int>) -> Int {
            addBiasBlock(suffix, layer: l, task: task, owners: owners, rows: rows, into: &graph)
        }
        func dense(_ node: String, x: ValueRef, weight: Int, bias: Int, addend: ValueRef?) -> ValueRef {
            graph.addDense(node, layer: name, conv: layer.conv, outputs: n, x: x, weight: weight, bias: bias,
                           activation: layer.activation, addend: addend)
        }

        // Every neuron shared, over shared inputs only: the same weights for every task.
        if k == n, layout.sharedChannels == layout.inChannels {
            let w = block("shared.weight", task: 0, owners: allTasks, rows: 0..<n, channels: layout.sharedRange)
            let b = bias("shared.bias", task: 0, owners: allTasks, rows: 0..<n)
            if let common = Self.common(x), addend.map({ Self.common($0) != nil }) ?? true {
                return Array(repeating: dense("\(name)/shared", x: common, weight: w, bias: b, addend: addend?[0]), count: tasks.count)
            }
            return allTasks.map { dense("\(name)/\(tasks[$0].name)", x: x[$0], weight: w, bias: b, addend: addend?[$0]) }
        }

        // Blocks shared by every task: the merged weights over the shared inputs, the merged bias.
        let merged = k > 0 && layout.sharedChannels > 0
            ? block("shared.weight", task: 0, owners: allTasks, rows: 0..<k, channels: layout.sharedRange) : nil
        let mergedBias = k > 0 ? bias("shared.bias", task: 0, owners: allTasks, rows: 0..<k) : nil
        return allTasks.map { t in
            let task = tasks[t].name
            let ownBias = k < n ? bias("\(task).bias", task: t, owners: [t], rows: k..<n) : nil
            var cells: [Int] = []
            for rows in rowBands {
                for channels in channelBands {
                    switch (rows.lowerBound == 0 && k > 0, channels.lowerBound == 0 && layout.sharedChannels > 0) {
                    case (true, true): cells.append(merged!)
                    case (true, false): cells.append(block("\(task).inter.weight", task: t, owners: [t], rows: rows, channels: channels))
                    case (false, true):
                        // Named as in `lowered()`: "partial" only when the rows read specific inputs too.
                        let suffix = channelBands.count == 1 ? "weight" : "partial.weight"
                        cells.append(block("\(task).\(suffix)", task: t, owners: [t], rows: rows, channels: channels))
                    case (false, false): cells.append(block("\(task).weight", task: t, owners: [t], rows: rows, channels: channels))
                    }
                }
            }
            let w = graph.addAssembled("\(name).\(task).full.weight", shape: shape(rows: n, channels: layout.inChannels),
                                       WeightAssembly(rowBands: rowBands.map(\.count), channelBands: channelBands.map(\.count), parts: cells),
                                       source: LoweringMap.Source(layer: l, tasks: [t], rows: 0..<n, inputChannels: 0..<layout.inChannels, kind: .weight))
            let biasParts = [mergedBias, ownBias].compactMap { $0 }
            let b = graph.addAssembled("\(name).\(task).full.bias", shape: [n],
                                       WeightAssembly(rowBands: rowBands.map(\.count), channelBands: [1], parts: biasParts),
                                       source: LoweringMap.Source(layer: l, tasks: [t], rows: 0..<n, inputChannels: 0..<0, kind: .bias))
            return dense("\(name)/\(task)", x: x[t], weight: w, bias: b, addend: addend?[t])
        }
    }
}
