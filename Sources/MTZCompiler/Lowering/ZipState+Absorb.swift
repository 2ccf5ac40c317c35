import MTZCore

extension ZipState {
    /// Writes the weights of a trained lowered model back into every task's matrices.
    ///
    /// `trained` is the model `lowered()` returned (same weight tensors, in the same order, e.g.
    /// `TrainableModel.exportModel()` after retraining) and `map` the map returned with it. A merged
    /// block is written into every task that shares it, so the invariant keeps holding. The gamma and
    /// beta of retraining batch norms are left alone: `foldNormalization` takes them.
    ///
    /// - Throws: `ModelError` if `trained` does not have the tensors `map` describes or the map
    ///   does not fit this state; nothing is changed then.
    /// - Complexity: O(weights of `trained`).
    public mutating func absorb(_ trained: Model, map: LoweringMap) throws(ModelError) {
        guard trained.weights.count == map.sources.count else {
            throw ModelError("the trained model has \(trained.weights.count) weight tensors, the lowering map describes \(map.sources.count)")
        }
        let layouts = neuronLayouts
        for (i, source) in map.sources.enumerated() {
            guard layers.indices.contains(source.layer) else {
                throw ModelError("weight tensor \(i) comes from layer \(source.layer), but the state has \(layers.count) layers")
            }
            let layer = layers[source.layer], layout = layouts[source.layer]
            guard source.rows.lowerBound >= 0, source.rows.upperBound <= layer.outCount,
                  source.inputChannels.lowerBound >= 0, source.inputChannels.upperBound <= layout.inChannels,
                  !source.tasks.isEmpty, source.tasks.allSatisfy({ tasks.indices.contains($0) })
            else {
                throw ModelError("weight tensor \(i) ('\(trained.weights[i].name)') does not fit layer '\(layer.name)' of the state")
            }
            let expected = source.kind != .weight ? source.rows.count : source.rows.count * layout.taps * source.inputChannels.count
            guard trained.weights[i].elementCount == expected, trained.weights[i].values.count == expected else {
                throw ModelError("weight tensor \(i) ('\(trained.weights[i].name)') has \(trained.weights[i].values.count) values, expected \(expected)")
            }
        }
        for (i, source) in map.sources.enumerated() {
            let values = trained.weights[i].values.array
            let layout = layouts[source.layer]
            let columns = layout.columns(source.inputChannels)
            for t in source.tasks {
                switch source.kind {
                case .weight:
                    layout.scatter(values, into: &layers[source.layer].weights[t], rows: source.rows, columns: columns)
                case .bias:
                    layers[source.layer].biases[t].replaceSubrange(source.rows, with: values)
                case .normalization:
                    break
                }
            }
        }
    }

    /// Folds a trained retraining batch norm into its rows (in every task's matrix for shared rows,
    /// which stay identical): with `a = gamma / √(variance + ε)`, row `r`'s weights become `a·w` and
    /// its bias `a·(b − mean) + beta` — the batch norm in inference mode — and the rows' normalisation
    /// becomes what the batch norm learned (mean `beta`, standard
    /// deviation `|gamma|`), so lowering with `normalizing: true` again starts where training ended.
    ///
    /// - Parameters:
    ///   - rows: one entry of `LoweringMap.normalizations`.
    ///   - gamma, beta: the trained batch-norm parameters, one per row.
    ///   - mean, variance: the batch norm's running statistics, one per row.
    /// - Throws: `ModelError` if the rows or the sizes do not fit the state; nothing is changed then.
    public mutating func foldNormalization(_ rows: LoweringMap.NormalizedRows, gamma: [Float], beta: [Float], mean: [Float],
                                           variance: [Float], epsilon: Float) throws(ModelError) {
        guard layers.indices.contains(rows.layer), !rows.tasks.isEmpty, rows.tasks.allSatisfy({ tasks.indices.contains($0) }) else {
            throw ModelError("a batch norm of layer \(rows.layer), tasks \(rows.tasks) does not fit the state")
        }
        let layer = layers[rows.layer]
        // One task's own rows, or shared rows of every task.
        let fits = rows.tasks.count == 1
            ? rows.rows.lowerBound >= layer.sharedCount && rows.rows.upperBound <= layer.outCount
            : rows.tasks == Array(tasks.indices) && rows.rows.lowerBound >= 0 && rows.rows.upperBound <= layer.sharedCount
        guard !layer.normalization.isEmpty, fits, [gamma, beta, mean, variance].allSatisfy({ $0.count == rows.rows.count }) else {
            throw ModelError("the batch norm of layer '\(layer.name)', rows \(rows.rows), does not fit the state")
        }
        let rowLength = neuronLayout(layer: rows.layer).rowLength
        for t in rows.tasks {
            var weights = layer.weights[t], biases = layer.biases[t], normalization = layer.normalization[t]
            for (c, r) in rows.rows.enumerated() {
                let a = gamma[c] / (variance[c] + epsilon).squareRoot()
                for i in (r * rowLength)..<((r + 1) * rowLength) { weights[i] *= a }
                biases[r] = a * (biases[r] - mean[c]) + beta[c]
                normalization.mean[r] = beta[c]
                normalization.std[r] = abs(gamma[c])
            }
            layers[rows.layer].weights[t] = weights
            layers[rows.layer].biases[t] = biases
            layers[rows.layer].normalization[t] = normalization
        }
    }
}
