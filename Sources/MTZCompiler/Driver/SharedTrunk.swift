import MTZCore

extension ZipState {
    /// A multi-head network of the same shape as a fully zipped one: every hidden layer shared by
    /// all tasks (hard parameter sharing), each task with its own head. The trunk takes the first
    /// model's weights, the heads each model's own — with freshly initialised models this is the
    /// "two-head network trained from scratch" that MTZ is compared with.
    ///
    /// A hidden layer that a batch norm follows in every model keeps one batch norm in the trunk
    /// (`lowered(normalizing:sharedBatchNorms:)`), started from the first model's gamma and beta —
    /// a freshly built network's 1 and 0 — so the trunk trains as the single networks would, with
    /// statistics over every task's images (`TrainingOptions.jointBatches`).
    ///
    /// - Throws: `ModelError` if the models cannot be zipped (different architectures or specs).
    public static func sharedTrunk(_ models: [Model]) throws(ModelError) -> Model {
        var state = try ZipState(models: models)
        var normalized = false
        for l in 0..<state.headLayer {
            let n = state.layers[l].outCount
            if state.tiedLayers(of: l).first! < l {
                try state.merge(layer: l, merged: state.inputColumns(layer: l, task: 0))
            } else {
                try state.share(layer: l, neurons: Array(repeating: Array(0..<n), count: models.count),
                                merged: state.inputColumns(layer: l, task: 0))
            }
            let norms = models.map { batchNormAfter(state.layers[l].name, in: $0) }
            if let first = norms[0], norms.allSatisfy({ $0 != nil }) {
                state.layers[l].normalization = Array(repeating: first, count: models.count)
                normalized = true
            }
        }
        return try state.lowered(normalizing: normalized, sharedBatchNorms: normalized).0
    }

    /// The gamma (as `std`) and beta (as `mean`) of the batch norm that reads node `name` of
    /// `model`, if one does.
    private static func batchNormAfter(_ name: String, in model: Model) -> Normalization? {
        guard let source = model.nodes.firstIndex(where: { $0.name == name }) else { return nil }
        for node in model.nodes where node.inputs.first?.node == source {
            if case .batchNorm(let scale, let shift) = node.op {
                return Normalization(mean: model.weights[shift].values.array, std: model.weights[scale].values.array)
            }
        }
        return nil
    }
}
