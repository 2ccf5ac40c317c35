/// What a multi-head model shares between its tasks: parameters, bytes and work, per layer and in
/// total, compared with running the single-task networks it stands for separately.
///
/// "Separately" means: each task alone needs every node it depends on; a weight tensor read by the
/// nodes of several tasks is stored once here but would be stored once per task there. An assembled
/// tensor (`WeightAssembly`) counts as the parts it is stored as.
public struct ModelStatistics: Sendable, Codable {
    /// Sharing of one logical layer (`Node.layer`).
    public struct Layer: Sendable, Codable {
        public var name: String
        /// Op names of the layer's nodes, in graph order.
        public var ops: [String]
        /// Per task: output channels whose incoming weights are (at least partly) shared with
        /// another task.
        public var sharedChannels: [String: Int]
        /// Per task: output channels that belong to that task alone.
        public var specificChannels: [String: Int]
        /// Parameters in weight tensors read by two or more tasks (stored once).
        public var sharedParameters: Int
        /// Per task: parameters in weight tensors only that task reads.
        public var taskParameters: [String: Int]
        /// True if some node of the layer is computed once for several tasks.
        public var computedOnce: Bool
        /// Floating-point operations of the layer per image for all tasks together.
        public var flops: Int
    }

    /// Task names in model order.
    public var tasks: [String]
    public var layers: [Layer]
    /// Parameters stored in the model (each weight tensor once).
    public var parameters: Int
    /// Parameters in tensors read by two or more tasks.
    public var sharedParameters: Int
    /// Per task: parameters only that task reads.
    public var taskParameters: [String: Int]
    /// Per task: parameters the task needs (shared and its own): the size of its separate network.
    public var parametersPerTask: [String: Int]
    /// Sum of `parametersPerTask`: the separate networks together.
    public var separateParameters: Int
    /// Weight bytes stored in the model (float32).
    public var weightBytes: Int
    /// Weight bytes of the separate single-task networks together.
    public var separateWeightBytes: Int
    /// `separateWeightBytes − weightBytes`.
    public var savedBytes: Int
    /// `savedBytes / separateWeightBytes` (0 when nothing is shared).
    public var savedFraction: Double
    /// FLOPs per image for all tasks together (each node once).
    public var flopsTogether: Int
    /// FLOPs per image when each task's network runs on its own.
    public var flopsSeparate: Int
    /// Per task: FLOPs of its separate network.
    public var flopsPerTask: [String: Int]

    /// Analyses a valid model.
    /// - Throws: `ModelError` if the model is invalid.
    public init(_ model: Model) throws(ModelError) {
        let shapes = try model.validate()
        let nodes = model.nodes
        let taskNames = model.tasks.map(\.name)
        // Which tasks depend on each node.
        var users = [Set<Int>](repeating: [], count: nodes.count)
        for (t, task) in model.tasks.enumerated() {
            var stack = [task.output]
            while let i = stack.popLast() {
                guard users[i].insert(t).inserted else { continue }
                stack.append(contentsOf: nodes[i].inputs.map(\.node))
            }
        }
        // Which tasks read each stored weight tensor (an assembled tensor is read through its parts).
        let stored = nodes.map { n in n.op.weightIndices.flatMap { model.storedWeights(of: $0) } }
        var weightUsers = [Set<Int>](repeating: [], count: model.weights.count)
        for i in nodes.indices {
            for w in stored[i] { weightUsers[w].formUnion(users[i]) }
        }
        let weightSize = model.weights.map(\.elementCount)
        let flops = nodes.indices.map { Self.flops(of: $0, in: model, shapes: shapes) }

        tasks = taskNames
        parameters = zip(weightSize, weightUsers).reduce(0) { $0 + ($1.1.isEmpty ? 0 : $1.0) }
        sharedParameters = zip(weightSize, weightUsers).reduce(0) { $0 + ($1.1.count >= 2 ? $1.0 : 0) }
        var own: [String: Int] = [:]
        var needs: [String: Int] = [:]
        var flopsPerTask: [String: Int] = [:]
        for (t, name) in taskNames.enumerated() {
            own[name] = zip(weightSize, weightUsers).reduce(0) { $0 + ($1.1 == [t] ? $1.0 : 0) }
            needs[name] = zip(weightSize, weightUsers).reduce(0) { $0 + ($1.1.contains(t) ? $1.0 : 0) }
            flopsPerTask[name] = nodes.indices.reduce(0) { $0 + (users[$1].contains(t) ? flops[$1] : 0) }
        }
        taskParameters = own
        parametersPerTask = needs
        separateParameters = needs.values.reduce(0, +)
        weightBytes = 4 * parameters
        separateWeightBytes = 4 * separateParameters
        savedBytes = separateWeightBytes - weightBytes
        savedFraction = separateWeightBytes > 0 ? Double(savedBytes) / Double(separateWeightBytes) : 0
        flopsTogether = nodes.indices.reduce(0) { $0 + (users[$1].isEmpty ? 0 : flops[$1]) }
        self.flopsPerTask = flopsPerTask
        flopsSeparate = flopsPerTask.values.reduce(0, +)

        // For a node computed for one task with an assembled weight: its output channels from row
        // bands with a part other tasks read too, the shared neurons; what follows it channel by
        // channel (pooling, activation, flatten) keeps them.
        var sharedRows = [Int?](repeating: nil, count: nodes.count)
        for (i, n) in nodes.enumerated() {
            switch n.op {
            case .conv2d, .fullyConnected:
                guard let w = n.op.mainWeight, let a = model.weights[w].assembly else { continue }
                var rows = 0
                for (b, count) in a.rowBands.enumerated() {
                    let band = a.parts[(b * a.channelBands.count)..<((b + 1) * a.channelBands.count)]
                    if band.contains(where: { weightUsers[$0].count >= 2 }) { rows += count }
                }
                sharedRows[i] = rows
            case .maxPool, .averagePool, .globalAveragePool, .activation, .flatten:
                let x = n.inputs[0]
                guard x.channelOffset == 0, x.channelCount == nil, let rows = sharedRows[x.node] else { continue }
                sharedRows[i] = rows * (shapes[i].channels / shapes[x.node].channels)
            default:
                continue
            }
        }

        // Layers, in order of first appearance.
        var order: [String] = []
        var members: [String: [Int]] = [:]
        for (i, n) in nodes.enumerated() where !users[i].isEmpty {
            if case .input = n.op { continue }
            if members[n.layer] == nil { order.append(n.layer) }
            members[n.layer, default: []].append(i)
        }
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (i, n) in nodes.enumerated() { for r in n.inputs { consumers[r.node].append(i) } }
        let taskOutputs = Set(model.tasks.map(\.output))
        layers = order.map { layer in
            let ids = members[layer]!
            let inLayer = Set(ids)
            // A node's value is "shared work" if it, or a node of the same layer feeding it, is used by
            // several tasks or reads weights that several tasks read.
            func isShared(_ i: Int) -> Bool {
                var stack = [i]
                var seen = Set<Int>()
                while let j = stack.popLast() {
                    guard seen.insert(j).inserted else { continue }
                    if users[j].count >= 2 { return true }
                    if stored[j].contains(where: { weightUsers[$0].count >= 2 }) { return true }
                    stack.append(contentsOf: nodes[j].inputs.map(\.node).filter { inLayer.contains($0) })
                }
                return false
            }
            let exits = ids.filter { i in taskOutputs.contains(i) || consumers[i].contains { !inLayer.contains($0) } }
            var shared: [String: Int] = [:]
            var specific: [String: Int] = [:]
            for (t, name) in taskNames.enumerated() {
                for e in exits where users[e].contains(t) {
                    if users[e].count == 1, let rows = sharedRows[e] {
                        shared[name, default: 0] += rows
                        specific[name, default: 0] += shapes[e].channels - rows
                    } else if isShared(e) {
                        shared[name, default: 0] += shapes[e].channels
                    } else {
                        specific[name, default: 0] += shapes[e].channels
                    }
                }
            }
            let layerWeights = Set(ids.flatMap { stored[$0] })
            var layerOwn: [String: Int] = [:]
            for (t, name) in taskNames.enumerated() {
                let p = layerWeights.reduce(0) { $0 + (weightUsers[$1] == [t] ? weightSize[$1] : 0) }
                if p > 0 { layerOwn[name] = p }
            }
            return Layer(
                name: layer,
                ops: ids.map { nodes[$0].op.name },
                sharedChannels: shared,
                specificChannels: specific,
                sharedParameters: layerWeights.reduce(0) { $0 + (weightUsers[$1].count >= 2 ? weightSize[$1] : 0) },
                taskParameters: layerOwn,
                computedOnce: ids.contains { users[$0].count >= 2 },
                flops: ids.reduce(0) { $0 + flops[$1] }
            )
        }
    }

    /// Floating-point operations of one node per image (multiply-adds count two).
    public static func flops(of index: Int, in model: Model, shapes: [ValueShape]) -> Int {
        let node = model.nodes[index]
        let out = shapes[index]
        func inputChannels(_ k: Int) -> Int {
            let r = node.inputs[k]
            return r.channelCount ?? (shapes[r.node].channels - r.channelOffset)
        }
        switch node.op {
        case .input, .concat, .flatten:
            return 0
        case .conv2d(let c):
            let macs = out.elementCount * c.window.kernelH * c.window.kernelW * (inputChannels(0) / c.groups)
            return 2 * macs + (node.inputs.count == 2 ? out.elementCount : 0)
        case .fullyConnected:
            return 2 * out.channels * inputChannels(0) + (node.inputs.count == 2 ? out.channels : 0)
        case .maxPool(let p), .averagePool(let p):
            return out.elementCount * p.window.kernelH * p.window.kernelW
        case .globalAveragePool:
            return shapes[node.inputs[0].node].pixels * out.channels
        case .activation, .add:
            return out.elementCount
        case .batchNorm:
            return 2 * out.elementCount
        case .softmax:
            return 3 * out.elementCount
        }
    }
}
