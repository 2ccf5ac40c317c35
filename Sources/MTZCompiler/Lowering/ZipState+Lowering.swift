import MTZCore

extension ZipState {
    /// The runnable multi-head model of the current state, and where each of its weight tensors
    /// came from.
    ///
    /// Per task the value out of every unit is tracked as [shared | specific] channel blocks; a
    /// block computed from identical inputs with identical weights is one node for all tasks.
    /// Dense layer `l` with `k` shared neurons becomes:
    /// - input fully shared (one node, no specific part): `L/shared` (rows `0..<k`, computed once)
    ///   and per task `L/<task>` (rows `k..<N`);
    /// - otherwise: the merged partial sum over the shared input `L/partial` (once if the shared
    ///   input is one node, else `L/<task>/shared/partial` per task, same weight tensor), per task
    ///   `L/<task>/shared` = inter weights · specific input + merged bias + partial; and per task
    ///   `L/<task>/partial` (own rows over the shared input) accumulated into `L/<task>` (own rows
    ///   over the specific input + bias). Empty parts are left out.
    ///
    /// Pass-through units apply to each block (`pool1/shared`, `pool1/<task>/shared`,
    /// `pool1/<task>`); every task ends in `softmax/<task>`. Every node of a layer has
    /// `Node.layer` = the layer name. The merged block (shared rows × shared input columns) and
    /// the merged bias are one weight tensor each, read by every node that needs them.
    ///
    /// With `normalizing`, the model is the one retraining trains: a task's own rows of a layer with
    /// `normalization` compute their linear output (`L/<task>`, no activation, no residual), then a
    /// batch norm `L/<task>/bn` (gamma = the normalisation's std, beta = its mean: a training batch
    /// norm normalises them to what the task learned), then the residual add `L/<task>/add` or the
    /// activation `L/<task>/act`. With `sharedBatchNorms` as well, the shared rows get one batch norm
    /// for all tasks, `L/shared/bn`, started from the tasks' normalisations pooled
    /// (`Layer.pooledNormalization`): over `L/shared` when they are computed once for every task, else
    /// with one input per task (`L/<task>/shared`, linear; `Operation.batchNorm`), its output one
    /// value for every task. It is trained with every task's images in one batch
    /// (`TrainingOptions.jointBatches`), so its statistics are those the folded rows serve.
    /// `LoweringMap.normalizations` lists these batch norms. Without `normalizing` (the default) the
    /// model is the deployable one.
    ///
    /// - Throws: `ModelError` if the state is inconsistent (see `checkConsistency()`).
    /// - Complexity: O(total weights).
    public func lowered(normalizing: Bool = false, sharedBatchNorms: Bool = false) throws(ModelError) -> (Model, LoweringMap) {
        try checkConsistency()
        let layouts = neuronLayouts
        var graph = LoweredGraph()
        let image = graph.add("input", layer: "input", .input, [])
        let imageValue = [TaskValue](repeating: TaskValue(shared: image, specific: nil), count: tasks.count)
        var unitValues: [[TaskValue]] = []
        var sharedInput = [[ValueRef?]](repeating: [], count: layers.count)
        var specificInput = [[ValueRef?]](repeating: [], count: layers.count)

        for (u, unit) in units.enumerated() {
            let x = links[u].input.map { unitValues[$0] } ?? imageValue
            switch unit {
            case .passThrough(let p):
                unitValues.append(lowerPassThrough(p, x, into: &graph))
            case .dense(let l):
                sharedInput[l] = x.map(\.shared)
                specificInput[l] = x.map(\.specific)
                unitValues.append(lowerDense(l, layout: layouts[l], x, addend: links[u].addend.map { unitValues[$0] },
                                             normalizing: normalizing, sharedBatchNorms: normalizing && sharedBatchNorms,
                                             into: &graph))
            }
        }
        let values = unitValues.last ?? imageValue

        var logits: [ValueRef] = []
        for (t, task) in tasks.enumerated() {
            guard values[t].shared == nil, let value = values[t].specific else {
                throw ModelError("task '\(task.name)': the head's output is not task-specific")
            }
            logits.append(value)
        }
        let model = try withHeads(&graph, logits: logits)
        return (model, LoweringMap(sources: graph.sources, sharedInput: sharedInput, specificInput: specificInput,
                                   normalizations: graph.normalizations))
    }

    /// Adds the weight tensor `L.<suffix>` of rows `rows` × input channels `channels` (at every tap)
    /// of `task`'s matrix of layer `l`, read by `owners`.
    func addWeightBlock(_ suffix: String, layer l: Int, layout: NeuronLayout, task: Int, owners: [Int], rows: Range<Int>,
                        channels: Range<Int>, into graph: inout LoweredGraph) -> Int {
        let layer = layers[l]
        let columns = layout.columns(channels)
        let shape = layer.conv.map { [rows.count, $0.window.kernelH, $0.window.kernelW, channels.count] } ?? [rows.count, columns.count]
        return graph.addWeight(
            "\(layer.name).\(suffix)", shape: shape, values: layout.gather(layer.weights[task], rows: rows, columns: columns),
            source: LoweringMap.Source(layer: l, tasks: owners, rows: rows, inputChannels: channels, kind: .weight))
    }

    /// Adds the bias tensor `L.<suffix>` of rows `rows` of `task`'s layer `l`, read by `owners`.
    func addBiasBlock(_ suffix: String, layer l: Int, task: Int, owners: [Int], rows: Range<Int>,
                      into graph: inout LoweredGraph) -> Int {
        graph.addWeight(
            "\(layers[l].name).\(suffix)", shape: [rows.count], values: Array(layers[l].biases[task][rows]),
            source: LoweringMap.Source(layer: l, tasks: owners, rows: rows, inputChannels: 0..<0, kind: .bias))
    }

    /// The retraining batch norm of the shared rows of layer `l`, for every task, over `inputs` (one,
    /// or one per task: `Operation.batchNorm`), started at the tasks' normalisations pooled.
    func addSharedBatchNorm(layer l: Int, inputs: [ValueRef], into graph: inout LoweredGraph) -> ValueRef {
        let layer = layers[l], rows = 0..<layer.sharedCount
        let pooled = layer.pooledNormalization(rows: rows)
        return graph.addBatchNorm("\(layer.name)/shared/bn", layer: layer.name, inputs: inputs, gamma: pooled.std, beta: pooled.mean,
                                  rows: LoweringMap.NormalizedRows(layer: l, tasks: Array(tasks.indices), rows: rows))
    }

    /// The retraining batch norm of task `t`'s own rows of layer `l` over `x`, started at the task's
    /// normalisation.
    func addTaskBatchNorm(layer l: Int, task t: Int, x: ValueRef, into graph: inout LoweredGraph) -> ValueRef {
        let layer = layers[l], rows = layer.sharedCount..<layer.outCount
        let normalization = layer.normalization[t]
        return graph.addBatchNorm("\(layer.name)/\(tasks[t].name)/bn", layer: layer.name, x: x, gamma: Array(normalization.std[rows]),
                                  beta: Array(normalization.mean[rows]), rows: LoweringMap.NormalizedRows(layer: l, tasks: [t], rows: rows))
    }

    /// What follows the batch-normalised rows `x` of layer `l` (node names starting `node`): the
    /// residual add `skip` with the layer's activation, or the activation alone.
    func addAfterNormalization(_ x: ValueRef, layer l: Int, node: String, skip: ValueRef?, into graph: inout LoweredGraph) -> ValueRef {
        let layer = layers[l]
        if let skip { return graph.add("\(node)/add", layer: layer.name, .add(layer.activation), [x, skip]) }
        return layer.activation == .none ? x : graph.add("\(node)/act", layer: layer.name, .activation(layer.activation), [x])
    }

    /// The model of `graph` with each task's head on its `logits` (through a softmax if the
    /// networks end in one), validated.
    func withHeads(_ graph: inout LoweredGraph, logits: [ValueRef]) throws(ModelError) -> Model {
        var heads: [TaskHead] = []
        for (task, value) in zip(tasks, logits) {
            let out = softmax ? graph.add("softmax/\(task.name)", layer: "softmax", .softmax, [value]) : value
            heads.append(TaskHead(name: task.name, output: out.node, labels: task.labels, summary: task.summary))
        }
        let model = Model(input: input, nodes: graph.nodes, weights: graph.weights, tasks: heads, metadata: metadata)
        do {
            _ = try model.validate()
        } catch {
            throw ModelError("lowering produced an invalid model (a bug): \(error.message)")
        }
        return model
    }

    /// Applies a pass-through op to every block, once for a block that is one node for all tasks.
    private func lowerPassThrough(_ p: PassThrough, _ values: [TaskValue], into graph: inout LoweredGraph) -> [TaskValue] {
        var result = values
        if let common = commonShared(values) {
            let out = graph.add("\(p.name)/shared", layer: p.name, p.op, [common])
            for t in tasks.indices { result[t].shared = out }
        } else {
            for (t, task) in tasks.enumerated() {
                if let s = values[t].shared { result[t].shared = graph.add("\(p.name)/\(task.name)/shared", layer: p.name, p.op, [s]) }
            }
        }
        for (t, task) in tasks.enumerated() {
            if let s = values[t].specific { result[t].specific = graph.add("\(p.name)/\(task.name)", layer: p.name, p.op, [s]) }
        }
        return result
    }

    /// The shared block if it is one and the same node for every task.
    private func commonShared(_ values: [TaskValue]) -> ValueRef? {
        guard let first = values.first?.shared, values.allSatisfy({ $0.shared == first }) else { return nil }
        return first
    }

    /// Lowers dense layer `l` (see `lowered()` for the node layout). With an `addend` (a residual
    /// connection, split like this layer's output since the two are tied) each block accumulates
    /// into the addend's matching block: the innermost node of a chain of partial sums takes it.
    private func lowerDense(_ l: Int, layout: NeuronLayout, _ values: [TaskValue], addend: [TaskValue]?,
                            normalizing: Bool, sharedBatchNorms: Bool, into graph: inout LoweredGraph) -> [TaskValue] {
        let layer = layers[l]
        let k = layer.sharedCount, n = layer.outCount
        let name = layer.name
        let allTasks = Array(tasks.indices)
        let hasShared = layout.sharedChannels > 0
        let hasSpecific = layout.sharedChannels < layout.inChannels
        precondition(values.allSatisfy { ($0.shared != nil) == hasShared && ($0.specific != nil) == hasSpecific },
                     "lowering: the blocks flowing into '\(name)' do not match its column layout")
        precondition(addend.map { $0.allSatisfy { ($0.shared != nil) == (k > 0) && ($0.specific != nil) == (k < n) } } ?? true,
                     "lowering: the residual blocks flowing into '\(name)' do not match its neurons")
        let common = commonShared(values)
        // `.some(block)`: the residual's shared block is one node for every task, or (`.some(nil)`)
        // there is no residual — a block computed from a common input can then be computed once.
        let addendShared: ValueRef??
        if let addend {
            addendShared = commonShared(addend).map { .some($0) }
        } else {
            addendShared = .some(nil)
        }

        func weight(_ suffix: String, task: Int, owners: [Int], rows: Range<Int>, channels: Range<Int>) -> Int {
            addWeightBlock(suffix, layer: l, layout: layout, task: task, owners: owners, rows: rows, channels: channels, into: &graph)
        }
        func bias(_ suffix: String, task: Int, owners: [Int], rows: Range<Int>) -> Int {
            addBiasBlock(suffix, layer: l, task: task, owners: owners, rows: rows, into: &graph)
        }
        func dense(_ node: String, rows: Int, x: ValueRef, weight: Int, bias: Int?, activation: Activation, addend: ValueRef? = nil) -> ValueRef {
            graph.addDense(node, layer: name, conv: layer.conv, outputs: rows, x: x, weight: weight, bias: bias, activation: activation, addend: addend)
        }
        func afterNormalization(_ x: ValueRef, node: String, skip: ValueRef?) -> ValueRef {
            addAfterNormalization(x, layer: l, node: node, skip: skip, into: &graph)
        }

        var result = [TaskValue](repeating: TaskValue(), count: tasks.count)
        if k > 0 {
            let mergedWeight = hasShared ? weight("shared.weight", task: 0, owners: allTasks, rows: 0..<k, channels: layout.sharedRange) : nil
            let mergedBias = bias("shared.bias", task: 0, owners: allTasks, rows: 0..<k)
            if !hasSpecific, let common, let addendShared, sharedBatchNorms, !layer.normalization.isEmpty {
                let linear = dense("\(name)/shared", rows: k, x: common, weight: mergedWeight!, bias: mergedBias, activation: .none)
                let normalized = addSharedBatchNorm(layer: l, inputs: [linear], into: &graph)
                let s = afterNormalization(normalized, node: "\(name)/shared", skip: addendShared)
                for t in tasks.indices { result[t].shared = s }
            } else if sharedBatchNorms, !layer.normalization.isEmpty {
                // The shared rows differ by task (a task-specific input, inter weights or residual):
                // their linear outputs go through one batch norm shared by the tasks, each task's
                // images read from its own (`Operation.batchNorm` with one input per task); the
                // residual and the activation come after it.
                var linear: [ValueRef] = []
                if !hasSpecific {
                    for (t, task) in tasks.enumerated() {
                        linear.append(dense("\(name)/\(task.name)/shared", rows: k, x: values[t].shared!, weight: mergedWeight!,
                                            bias: mergedBias, activation: .none))
                    }
                } else {
                    var partials = [ValueRef?](repeating: nil, count: tasks.count)
                    if let mergedWeight, let common {
                        let p = dense("\(name)/partial", rows: k, x: common, weight: mergedWeight, bias: nil, activation: .none)
                        partials = partials.map { _ in p }
                    } else if let mergedWeight {
                        for (t, task) in tasks.enumerated() {
                            partials[t] = dense("\(name)/\(task.name)/shared/partial", rows: k, x: values[t].shared!, weight: mergedWeight,
                                                bias: nil, activation: .none)
                        }
                    }
                    for (t, task) in tasks.enumerated() {
                        let inter = weight("\(task.name).inter.weight", task: t, owners: [t], rows: 0..<k, channels: layout.specificRange)
                        linear.append(dense("\(name)/\(task.name)/shared", rows: k, x: values[t].specific!, weight: inter,
                                            bias: mergedBias, activation: .none, addend: partials[t]))
                    }
                }
                let normalized = addSharedBatchNorm(layer: l, inputs: linear, into: &graph)
                // Per sample, the batch norm's output is its task's value: one node serves every task,
                // and so does what follows it unless the residual differs by task.
                if let addend, commonShared(addend) == nil {
                    for (t, task) in tasks.enumerated() {
                        result[t].shared = afterNormalization(normalized, node: "\(name)/\(task.name)/shared", skip: addend[t].shared!)
                    }
                } else {
                    let s = afterNormalization(normalized, node: "\(name)/shared", skip: addend.flatMap(commonShared))
                    for t in tasks.indices { result[t].shared = s }
                }
            } else if !hasSpecific, let common, let addendShared {
                let s = dense("\(name)/shared", rows: k, x: common, weight: mergedWeight!, bias: mergedBias, activation: layer.activation,
                              addend: addendShared)
                for t in tasks.indices { result[t].shared = s }
            } else if !hasSpecific {
                for (t, task) in tasks.enumerated() {
                    result[t].shared = dense("\(name)/\(task.name)/shared", rows: k, x: values[t].shared!, weight: mergedWeight!,
                                             bias: mergedBias, activation: layer.activation, addend: addend?[t].shared)
                }
            } else {
                var partials = addend?.map(\.shared) ?? [ValueRef?](repeating: nil, count: tasks.count)
                if let mergedWeight, let common, let addendShared {
                    let p = dense("\(name)/partial", rows: k, x: common, weight: mergedWeight, bias: nil, activation: .none, addend: addendShared)
                    partials = partials.map { _ in p }
                } else if let mergedWeight {
                    for (t, task) in tasks.enumerated() {
                        partials[t] = dense("\(name)/\(task.name)/shared/partial", rows: k, x: values[t].shared!, weight: mergedWeight,
                                            bias: nil, activation: .none, addend: partials[t])
                    }
                }
                for (t, task) in tasks.enumerated() {
                    let inter = weight("\(task.name).inter.weight", task: t, owners: [t], rows: 0..<k, channels: layout.specificRange)
                    result[t].shared = dense("\(name)/\(task.name)/shared", rows: k, x: values[t].specific!, weight: inter,
                                             bias: mergedBias, activation: layer.activation, addend: partials[t])
                }
            }
        }
        if k < n {
            let rows = k..<n
            let normalized = normalizing && !layer.normalization.isEmpty
            for (t, task) in tasks.enumerated() {
                let own = bias("\(task.name).bias", task: t, owners: [t], rows: rows)
                // With a batch norm, the residual and the activation come after it.
                let residual = normalized ? nil : addend?[t].specific
                let activation = normalized ? .none : layer.activation
                var out: ValueRef
                if !hasSpecific || !hasShared {
                    let (x, channels) = hasShared ? (values[t].shared!, layout.sharedRange) : (values[t].specific!, layout.specificRange)
                    let w = weight("\(task.name).weight", task: t, owners: [t], rows: rows, channels: channels)
                    out = dense("\(name)/\(task.name)", rows: rows.count, x: x, weight: w, bias: own, activation: activation, addend: residual)
                } else {
                    let q = weight("\(task.name).partial.weight", task: t, owners: [t], rows: rows, channels: layout.sharedRange)
                    let partial = dense("\(name)/\(task.name)/partial", rows: rows.count, x: values[t].shared!, weight: q, bias: nil,
                                        activation: .none, addend: residual)
                    let z = weight("\(task.name).weight", task: t, owners: [t], rows: rows, channels: layout.specificRange)
                    out = dense("\(name)/\(task.name)", rows: rows.count, x: values[t].specific!, weight: z, bias: own,
                                activation: activation, addend: partial)
                }
                if normalized {
                    out = addTaskBatchNorm(layer: l, task: t, x: out, into: &graph)
                    out = afterNormalization(out, node: "\(name)/\(task.name)", skip: addend?[t].specific)
                }
                result[t].specific = out
            }
        }
        return result
    }

    /// Task `t`'s own network as zipped so far — its weights, the state's neuron order and block
    /// structure, one task — and the map of its values (`sharedInput[l][0]` is layer `l`'s shared
    /// input). It computes what the zipped network computes for that task, and can be built while
    /// layers are `pending` (one task has nothing to disagree with).
    public func taskNetwork(_ t: Int) throws(ModelError) -> (Model, LoweringMap) {
        guard tasks.indices.contains(t) else { throw ModelError("there is no task \(t)") }
        var single = self
        single.tasks = [tasks[t]]
        single.pending = []
        for l in layers.indices {
            single.layers[l].weights = [layers[l].weights[t]]
            single.layers[l].biases = [layers[l].biases[t]]
            if !layers[l].normalization.isEmpty { single.layers[l].normalization = [layers[l].normalization[t]] }
        }
        return try single.lowered()
    }
}
