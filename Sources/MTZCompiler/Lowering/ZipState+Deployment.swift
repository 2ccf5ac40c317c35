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
        try deployable(normalizing: false, sharedBatchNorms: false).0
    }

    /// The model of `deployable()` in the form retraining trains, and where its weight tensors came
    /// from: what `lowered(normalizing:sharedBatchNorms:)` gives, with the same batch norms and the
    /// same weight blocks as parameters, but one convolution per task and layer over an assembled
    /// matrix instead of one per block. `TrainableModel` trains an assembled matrix through its
    /// parts, so the two forms train the same parameters to the same values (up to rounding), and
    /// `absorb` and `foldNormalization` take either.
    ///
    /// With `normalizing`, a task's node of a layer with `normalization` computes its linear output
    /// `L/<task>`; its own rows go through the batch norm `L/<task>/bn` and its shared rows, with
    /// `sharedBatchNorms`, through one batch norm for all tasks, `L/shared/bn`, whose inputs are the
    /// tasks' shared rows (`Operation.batchNorm` with one input per task). `L/<task>/concat` puts the
    /// two back together, then come the residual add `L/<task>/add` or the activation `L/<task>/act`.
    /// A layer computed once for every task normalises its rows with `L/shared/bn`, as in `lowered()`.
    /// Without `sharedBatchNorms` shared rows are not normalised. The map's `sharedInput` and
    /// `specificInput` are empty: Hessians are collected on `lowered()`'s form.
    ///
    /// - Throws: `ModelError` if the state is inconsistent (see `checkConsistency()`).
    /// - Complexity: O(total weights).
    public func deployable(normalizing: Bool, sharedBatchNorms: Bool) throws(ModelError) -> (Model, LoweringMap) {
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
                let normalized = normalizing && !layers[l].normalization.isEmpty
                unitValues.append(deployDense(l, layout: layouts[l], x, addend: links[u].addend.map { unitValues[$0] },
                                              normalized: normalized, sharedBatchNorms: normalized && sharedBatchNorms, into: &graph))
            }
        }
        let values = unitValues.last ?? Array(repeating: image, count: tasks.count)
        if tasks.count > 1, let common = Self.common(values) {
            throw ModelError("the head's output '\(graph.nodes[common.node].name)' is not task-specific")
        }
        let model = try withHeads(&graph, logits: values)
        return (model, LoweringMap(sources: graph.sources, sharedInput: [], specificInput: [], normalizations: graph.normalizations))
    }

    /// Whether `lowered()` splits a layer into several blocks per task: a layer with shared and own
    /// neurons, or one that reads both shared and task-specific inputs. Retraining then trains
    /// `deployable(normalizing:sharedBatchNorms:)`'s form, one convolution per task and layer.
    public var splitsLayers: Bool {
        zip(layers, neuronLayouts).contains { layer, layout in
            let k = layer.sharedCount
            return (k > 0 && k < layer.outCount) || (layout.sharedChannels > 0 && layout.sharedChannels < layout.inChannels)
        }
    }

    /// The value if it is one and the same for every task.
    private static func common(_ values: [ValueRef]) -> ValueRef? {
        guard let first = values.first, values.allSatisfy({ $0 == first }) else { return nil }
        return first
    }

    /// Dense layer `l`, one node per task or one for all (see `deployable()`), with its retraining
    /// batch norms when `normalized` (see `deployable(normalizing:sharedBatchNorms:)`).
    private func deployDense(_ l: Int, layout: NeuronLayout, _ x: [ValueRef], addend: [ValueRef]?, normalized: Bool,
                             sharedBatchNorms: Bool, into graph: inout LoweredGraph) -> [ValueRef] {
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
        /// The layer's node: with its activation and residual, or linear when its rows are normalised.
        func dense(_ node: String, x: ValueRef, weight: Int, bias: Int, addend: ValueRef?) -> ValueRef {
            graph.addDense(node, layer: name, conv: layer.conv, outputs: n, x: x, weight: weight, bias: bias,
                           activation: normalized ? .none : layer.activation, addend: normalized ? nil : addend)
        }
        func afterNormalization(_ x: ValueRef, node: String, skip: ValueRef?) -> ValueRef {
            addAfterNormalization(x, layer: l, node: node, skip: skip, into: &graph)
        }
        func sharedBatchNorm(_ inputs: [ValueRef]) -> ValueRef {
            addSharedBatchNorm(layer: l, inputs: inputs, into: &graph)
        }

        // Every neuron shared, over shared inputs only, and a common input: one node for every task.
        if k == n, layout.sharedChannels == layout.inChannels, let common = Self.common(x),
           addend.map({ Self.common($0) != nil }) ?? true {
            let w = block("shared.weight", task: 0, owners: allTasks, rows: 0..<n, channels: layout.sharedRange)
            let b = bias("shared.bias", task: 0, owners: allTasks, rows: 0..<n)
            let s = dense("\(name)/shared", x: common, weight: w, bias: b, addend: addend?[0])
            guard normalized else { return Array(repeating: s, count: tasks.count) }
            let rows = sharedBatchNorms ? sharedBatchNorm([s]) : s
            return Array(repeating: afterNormalization(rows, node: "\(name)/shared", skip: addend?[0]), count: tasks.count)
        }

        // Blocks shared by every task: the merged weights over the shared inputs, the merged bias.
        let merged = k > 0 && layout.sharedChannels > 0
            ? block("shared.weight", task: 0, owners: allTasks, rows: 0..<k, channels: layout.sharedRange) : nil
        let mergedBias = k > 0 ? bias("shared.bias", task: 0, owners: allTasks, rows: 0..<k) : nil
        let linear = allTasks.map { t in
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
        guard normalized else { return linear }

        // Shared rows: one batch norm for every task (each task's images read from its own node), or
        // none; own rows: the task's batch norm. Then the two blocks together again.
        let shared: ValueRef? = k == 0 ? nil : sharedBatchNorms ? sharedBatchNorm(linear.map { ValueRef($0.node, channelOffset: 0, channelCount: k) }) : nil
        let rows = allTasks.map { t -> ValueRef in
            let task = tasks[t].name
            let sharedRows = shared ?? ValueRef(linear[t].node, channelOffset: 0, channelCount: k)
            guard k < n else { return shared ?? linear[t] }
            let own = addTaskBatchNorm(layer: l, task: t, x: ValueRef(linear[t].node, channelOffset: k, channelCount: n - k), into: &graph)
            return k == 0 ? own : graph.add("\(name)/\(task)/concat", layer: name, .concat, [sharedRows, own])
        }
        // Per sample, a shared batch norm's output is its task's value: one node serves every task,
        // and so does what follows it unless the residual differs by task.
        if let common = Self.common(rows), addend.map({ Self.common($0) != nil }) ?? true {
            return Array(repeating: afterNormalization(common, node: "\(name)/shared", skip: addend?[0]), count: tasks.count)
        }
        return allTasks.map { afterNormalization(rows[$0], node: "\(name)/\(tasks[$0].name)", skip: addend?[$0]) }
    }
}
