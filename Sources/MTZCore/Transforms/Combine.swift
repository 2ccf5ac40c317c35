extension InputSpec {
    /// Where this spec differs from `other`, in words (nil if equal).
    public func difference(from other: InputSpec) -> String? {
        var parts: [String] = []
        if width != other.width || height != other.height { parts.append("size \(width)x\(height) vs \(other.width)x\(other.height)") }
        if format != other.format { parts.append("format \(format.name) vs \(other.format.name)") }
        if mean != other.mean { parts.append("mean \(mean) vs \(other.mean)") }
        if std != other.std { parts.append("std \(std) vs \(other.std)") }
        if resize != other.resize { parts.append("resize \(resize.name) vs \(other.resize.name)") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }
}

extension Model {
    /// One multi-task model holding every task of `models`, sharing nothing but the input: each
    /// model's nodes are kept as they are, renamed `<first task>/<node>` (layers likewise).
    ///
    /// This is the honest multi-task baseline that MTZ zipping improves on: one file and one
    /// decoded image, but every task still runs its own full network.
    ///
    /// - Throws: `ModelError` if a model is invalid, the input specs differ (the message names the
    ///   difference), or two tasks have the same name.
    public static func combining(_ models: [Model]) throws(ModelError) -> Model {
        guard let first = models.first else { throw ModelError("nothing to combine") }
        var taskNames = Set<String>()
        for (k, m) in models.enumerated() {
            _ = try m.validate()
            if let diff = m.input.difference(from: first.input) {
                throw ModelError("model \(k + 1) has a different input spec than model 1 (\(diff)); only models with equal input specs can be combined")
            }
            for t in m.tasks where !taskNames.insert(t.name).inserted {
                throw ModelError("task name '\(t.name)' appears in more than one model")
            }
        }
        var nodes = [Node(name: "input", op: .input, inputs: [])]
        var weights: [WeightTensor] = []
        var tasks: [TaskHead] = []
        var metadata: [String: String] = [:]
        for m in models {
            let prefix = m.tasks[0].name
            let nodeBase = nodes.count - 1
            let weightBase = weights.count
            for node in m.nodes.dropFirst() {
                var n = node
                n.name = "\(prefix)/\(node.name)"
                n.layer = "\(prefix)/\(node.layer)"
                n.inputs = node.inputs.map { r in
                    var r = r
                    r.node = r.node == 0 ? 0 : r.node + nodeBase
                    return r
                }
                n.op = node.op.remappingWeights { $0 + weightBase }
                nodes.append(n)
            }
            weights += m.weights.map { w in
                var w = w
                w.name = "\(prefix)/\(w.name)"
                w.assembly?.remapParts { $0 + weightBase }
                return w
            }
            tasks += m.tasks.map { t in
                var t = t
                t.output = t.output == 0 ? 0 : t.output + nodeBase
                return t
            }
            for (key, value) in m.metadata {
                metadata[key.hasPrefix("task.") ? key : "\(prefix).\(key)"] = value
            }
        }
        let combined = Model(input: first.input, nodes: nodes, weights: weights, tasks: tasks, metadata: metadata)
        _ = try combined.validate()
        return combined
    }
}

extension Model {
    /// The same model with task `old` called `new` (its metadata keys `task.<old>.*` follow).
    public func renamingTask(_ old: String, to new: String) -> Model {
        var m = self
        for i in m.tasks.indices where m.tasks[i].name == old { m.tasks[i].name = new }
        for (key, value) in metadata where key.hasPrefix("task.\(old).") {
            m.metadata.removeValue(forKey: key)
            m.metadata["task.\(new)." + key.dropFirst("task.\(old).".count)] = value
        }
        return m
    }
}
