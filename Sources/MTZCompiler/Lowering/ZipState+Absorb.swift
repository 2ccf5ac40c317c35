import MTZCore

extension ZipState {
    /// Writes the weights of a trained lowered model back into every task's matrices.
    ///
    /// `trained` is the model `lowered()` returned (same weight tensors, in the same order, e.g.
    /// `TrainableModel.exportModel()` after retraining) and `map` the map returned with it. A merged
    /// block is written into every task that shares it, so the invariant keeps holding.
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
            let expected = source.kind == .bias ? source.rows.count : source.rows.count * layout.taps * source.inputChannels.count
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
                }
            }
        }
    }
}
