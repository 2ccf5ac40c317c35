import MTZCore

/// A model being trained: the network structure (an IR `Model`), mutable parameters with their
/// gradients and momentum, batch-norm running statistics and dropout settings.
///
/// Parameters are the model's weight tensors. A weight tensor read by several nodes — of one task
/// or of several tasks — is one parameter block: every node that reads it adds its gradient to the
/// same buffer, so a block shared by tasks receives the sum of their gradients.
///
/// An assembled weight tensor (`WeightTensor.assembly`) is not a parameter of its own: its values
/// are its parts' (`assembleValues()`), and the gradient its readers add to it belongs to the parts,
/// cell by cell (`foldAssembledGradients()`; `SGD.step` does both). So a block that several tasks'
/// assembled matrices contain receives the sum of their gradients, as if each read it directly.
///
/// During training a `.batchNorm(scale:shift:)` node is a batch norm with learnable `gamma` (the
/// `scale` tensor) and `beta` (the `shift` tensor) using batch statistics; `exportModel()` folds the
/// running statistics back into a plain per-channel scale and shift.
public final class TrainableModel {
    /// The network structure. Its weight values are stale during training; use `exportModel()`.
    public let structure: Model
    /// Shape of every node's value for one sample.
    public let shapes: [ValueShape]
    /// Dropout applied to a node's output during training: node index → drop probability.
    public let dropout: [Int: Float]
    /// Batch-norm epsilon.
    public let batchNormEpsilon: Float = 1e-5
    /// Weight of the current batch in the running statistics.
    public let batchNormMomentum: Float = 0.1

    /// Parameter values, one array per weight tensor of `structure`.
    public internal(set) var values: [[Float]]
    /// Gradients accumulated since the last `zeroGradients()`.
    public internal(set) var gradients: [[Float]]
    /// The assembled weight tensors (`WeightTensor.assembly`), in index order.
    public let assembled: [Int]
    /// Running mean and (unbiased) variance of each batch-norm node.
    var runningMean: [Int: [Float]] = [:]
    var runningVariance: [Int: [Float]] = [:]
    /// Incremented whenever parameter values change, so packed copies can be refreshed.
    var version = 0

    /// Prepares `model` for training.
    /// - Parameter dropout: node index → drop probability, applied to that node's output in training.
    /// - Throws: `ModelError` if the model is invalid or a dropout rate is outside [0, 1).
    public init(_ model: Model, dropout: [Int: Float] = [:]) throws(ModelError) {
        shapes = try model.validate()
        for (node, rate) in dropout {
            guard model.nodes.indices.contains(node), rate >= 0, rate < 1 else {
                throw ModelError("dropout \(rate) on node \(node) is invalid")
            }
        }
        structure = model
        self.dropout = dropout
        values = model.weights.map(\.values.array)
        assembled = model.weights.indices.filter { model.weights[$0].assembly != nil }
        gradients = model.weights.map { [Float](repeating: 0, count: $0.elementCount) }
        for (i, node) in model.nodes.enumerated() {
            if case .batchNorm = node.op {
                runningMean[i] = [Float](repeating: 0, count: shapes[i].channels)
                runningVariance[i] = [Float](repeating: 1, count: shapes[i].channels)
            }
        }
    }

    /// The running mean and variance of batch-norm node `node`, or nil if it is not a batch norm.
    public func batchNormStatistics(node: Int) -> (mean: [Float], variance: [Float])? {
        guard let mean = runningMean[node], let variance = runningVariance[node] else { return nil }
        return (mean, variance)
    }

    /// Sets the gamma and beta of batch-norm node `node` so that at its running statistics it
    /// passes its input through (gamma = √(variance + ε), beta = mean); nothing for another node.
    public func startAtIdentity(batchNorm node: Int) {
        guard case .batchNorm(let gamma, let beta) = structure.nodes[node].op, let mean = runningMean[node],
              let variance = runningVariance[node] else { return }
        values[gamma] = variance.map { ($0 + batchNormEpsilon).squareRoot() }
        values[beta] = mean
        version += 1
    }

    /// Number of trainable values (an assembled tensor's are its parts').
    public var parameterCount: Int {
        values.indices.reduce(0) { $0 + (structure.weights[$1].assembly == nil ? values[$1].count : 0) }
    }

    /// Adds the gradient of every assembled tensor to its parts, cell by cell, and clears it.
    public func foldAssembledGradients() {
        for a in assembled {
            forEachRun(of: a, in: \.gradients) { tensor, part in
                for k in 0..<tensor.count { part[k] += tensor[k] }
                tensor.update(repeating: 0)
            }
        }
    }

    /// Sets every assembled tensor's values to its parts' current values.
    public func assembleValues() {
        guard !assembled.isEmpty else { return }
        for a in assembled {
            forEachRun(of: a, in: \.values) { tensor, part in
                for k in 0..<tensor.count { tensor[k] = part[k] }
            }
        }
        version += 1
    }

    /// Calls `body` with every run of assembled tensor `a`'s elements in `arrays` (values or
    /// gradients) and the part's elements it is made of (`WeightAssembly.cells`).
    private func forEachRun(of a: Int, in arrays: ReferenceWritableKeyPath<TrainableModel, [[Float]]>,
                            _ body: (UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> Void) {
        // Taken out of the array while the parts in it are read or written.
        var tensor: [Float] = []
        swap(&tensor, &self[keyPath: arrays][a])
        tensor.withUnsafeMutableBufferPointer { t in
            for cell in structure.weights[a].assembly!.cells(elementCount: t.count) {
                self[keyPath: arrays][cell.part].withUnsafeMutableBufferPointer { p in
                    for q in 0..<cell.runs {
                        let start = cell.tensorStart + q * cell.tensorStride
                        body(UnsafeMutableBufferPointer(rebasing: t[start..<(start + cell.length)]),
                             UnsafeMutableBufferPointer(rebasing: p[(q * cell.length)..<((q + 1) * cell.length)]))
                    }
                }
            }
        }
        swap(&tensor, &self[keyPath: arrays][a])
    }

    /// Sets every gradient to zero.
    public func zeroGradients() {
        for i in gradients.indices {
            gradients[i].withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }

    /// The trained model for inference: current parameter values, batch norms turned into the
    /// per-channel scale and shift of their running statistics.
    public func exportModel() -> Model {
        var model = structure
        model.weights = zip(structure.weights, values).map {
            var tensor = WeightTensor(name: $0.name, shape: $0.shape, values: $1)
            tensor.assembly = $0.assembly
            return tensor
        }
        for (i, node) in structure.nodes.enumerated() {
            guard case .batchNorm(let gamma, let beta) = node.op, let mean = runningMean[i], let variance = runningVariance[i] else { continue }
            let g = values[gamma], b = values[beta]
            var scale = [Float](repeating: 0, count: g.count)
            var shift = [Float](repeating: 0, count: g.count)
            for c in g.indices {
                scale[c] = g[c] / (variance[c] + batchNormEpsilon).squareRoot()
                shift[c] = b[c] - mean[c] * scale[c]
            }
            model.weights.append(WeightTensor(name: "\(node.name).scale", shape: [g.count], values: scale))
            model.weights.append(WeightTensor(name: "\(node.name).shift", shape: [g.count], values: shift))
            model.nodes[i].op = .batchNorm(scale: model.weights.count - 2, shift: model.weights.count - 1)
        }
        return model.pruned()
    }
}
