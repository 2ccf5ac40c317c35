import MTZCore

extension ZipState {
    /// A multi-head network of the same shape as a fully zipped one: every hidden layer shared by
    /// all tasks (hard parameter sharing), each task with its own head. The trunk takes the first
    /// model's weights, the heads each model's own — with freshly initialised models this is the
    /// "two-head network trained from scratch" that MTZ is compared with.
    ///
    /// - Throws: `ModelError` if the models cannot be zipped (different architectures or specs).
    public static func sharedTrunk(_ models: [Model]) throws(ModelError) -> Model {
        var state = try ZipState(models: models)
        for l in 0..<state.headLayer {
            let n = state.layers[l].outCount
            if state.tiedLayers(of: l).first! < l {
                try state.merge(layer: l, merged: state.inputColumns(layer: l, task: 0))
            } else {
                try state.share(layer: l, neurons: Array(repeating: Array(0..<n), count: models.count),
                                merged: state.inputColumns(layer: l, task: 0))
            }
        }
        return try state.lowered().0
    }
}
