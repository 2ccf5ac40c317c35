import MTZCore

extension ZipState {
    /// Decomposes single-task models of one architecture into a state that shares nothing yet
    /// (`sharedCount = 0` in every layer).
    ///
    /// Each model is `input → units → softmax` (a `.mtz` file as `mtz train` writes it); batch norms
    /// are folded and residual adds become addends first (`ZipNetwork`). The last dense layer is the
    /// task head. Unit names, geometry and the pass-through ops come from the first model; a
    /// missing bias becomes zeros. Metadata keys with the same value in every model are kept as
    /// they are, others become `<task>.<key>`.
    ///
    /// Everything is checked before any weight is copied.
    ///
    /// - Throws: `ModelError` naming the problem: no models, an invalid model, a model with more
    ///   than one task, duplicate task names, different input specs, a graph MTZ cannot zip (channel
    ///   slices, concats, adds that are not residual connections, grouped convolutions),
    ///   or different architectures (the first differing unit of both models is named).
    /// - Complexity: O(total weights).
    public init(models: [Model]) throws(ModelError) {
        guard !models.isEmpty else { throw ModelError("no models to zip") }
        var networks: [ZipNetwork] = []
        for (k, model) in models.enumerated() {
            networks.append(try ZipNetwork(model, position: k + 1))
        }
        try Self.checkCompatible(networks)

        let first = networks[0]
        var units: [Unit] = []
        var layers: [Layer] = []
        var shapes: [ValueShape] = []
        for (position, nodeIndex) in first.units.enumerated() {
            let node = first.model.nodes[nodeIndex]
            shapes.append(first.shapes[nodeIndex])
            switch node.op {
            case .conv2d, .fullyConnected:
                units.append(.dense(layers.count))
                layers.append(Self.layer(at: position, of: networks))
            default:
                units.append(.passThrough(PassThrough(name: node.name, op: node.op)))
            }
        }
        self.init(
            input: first.model.input,
            tasks: networks.map(\.task),
            metadata: Self.mergedMetadata(networks),
            units: units,
            links: first.links,
            softmax: first.softmax,
            layers: layers,
            shapes: shapes
        )
    }

    /// Refuses models that cannot be zipped together, naming the first difference.
    private static func checkCompatible(_ networks: [ZipNetwork]) throws(ModelError) {
        let first = networks[0]
        var names: [String: Int] = [:]
        for (k, network) in networks.enumerated() {
            let who = "model \(k + 1) ('\(network.task.name)')"
            if let earlier = names[network.task.name] {
                throw ModelError("models \(earlier + 1) and \(k + 1) both have a task named '\(network.task.name)'; task names must be unique")
            }
            names[network.task.name] = k
            guard k > 0 else { continue }
            if let diff = network.model.input.difference(from: first.model.input) {
                throw ModelError("\(who) has a different input spec than model 1 ('\(first.task.name)'): \(diff); only models with equal input specs can be zipped")
            }
            let classes = network.shapes[network.model.nodes.count - 1].channels
            let firstClasses = first.shapes[first.model.nodes.count - 1].channels
            if classes != firstClasses, network.units.count == first.units.count {
                throw ModelError("\(who) has \(classes) classes but model 1 ('\(first.task.name)') has \(firstClasses); heads of different sizes are not supported yet")
            }
            let a = first.signatures, b = network.signatures
            for u in 0..<min(a.count, b.count) where a[u] != b[u] {
                let nameA = first.model.nodes[first.compared[u]].name
                let nameB = network.model.nodes[network.compared[u]].name
                throw ModelError("\(who) has a different architecture than model 1 ('\(first.task.name)'): unit \(u + 1) is '\(nameB)' \(b[u]), but '\(nameA)' \(a[u]) in model 1")
            }
            if a.count != b.count {
                throw ModelError("\(who) has a different architecture than model 1 ('\(first.task.name)'): \(b.count - 1) units before the softmax vs \(a.count - 1)")
            }
        }
    }

    /// The dense layer at unit `position` of every model, nothing shared.
    private static func layer(at position: Int, of networks: [ZipNetwork]) -> Layer {
        let node = networks[0].model.nodes[networks[0].units[position]]
        var conv: Conv2D?
        let outCount: Int
        let activation: Activation
        switch node.op {
        case .conv2d(let c):
            conv = Conv2D(window: c.window, outChannels: c.outChannels, groups: 1, weight: 0, bias: nil, activation: c.activation)
            outCount = c.outChannels
            activation = c.activation
        case .fullyConnected(let f):
            outCount = f.outFeatures
            activation = f.activation
        default:
            preconditionFailure("unit \(position) is not a dense layer")
        }
        var weights: [[Float]] = []
        var biases: [[Float]] = []
        for network in networks {
            let w: Int, b: Int?
            switch network.model.nodes[network.units[position]].op {
            case .conv2d(let c): (w, b) = (c.weight, c.bias)
            case .fullyConnected(let f): (w, b) = (f.weight, f.bias)
            default: preconditionFailure("unit \(position) is not a dense layer")
            }
            weights.append(network.model.weights[w].values.array)
            biases.append(b.map { network.model.weights[$0].values.array } ?? [Float](repeating: 0, count: outCount))
        }
        return Layer(name: node.name, conv: conv, outCount: outCount, sharedCount: 0, weights: weights, biases: biases, activation: activation)
    }

    /// Task-scoped keys (`task.<name>.*`, e.g. the dataset a task was trained on) and keys equal in
    /// every model kept; the others prefixed with the task name.
    private static func mergedMetadata(_ networks: [ZipNetwork]) -> [String: String] {
        var result: [String: String] = [:]
        let keys = Set(networks.flatMap { $0.model.metadata.keys })
        for key in keys {
            if key.hasPrefix("task.") {
                for network in networks { if let v = network.model.metadata[key] { result[key] = v } }
                continue
            }
            let values = networks.map { $0.model.metadata[key] }
            if let v = values[0], values.allSatisfy({ $0 == v }) {
                result[key] = v
            } else {
                for (network, value) in zip(networks, values) {
                    if let value { result["\(network.task.name).\(key)"] = value }
                }
            }
        }
        return result
    }
}
