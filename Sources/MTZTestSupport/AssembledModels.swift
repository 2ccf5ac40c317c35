import MTZCore

extension RandomModels {
    /// Two tasks laid out as `mtz zip` writes a partly shared layer pair, with weights assembled
    /// from blocks (`WeightAssembly`):
    /// - `conv/<task>` (3×3, 4 outputs over the 3 input channels, relu): rows [1 shared | 3 own] ×
    ///   channels [2 shared | 1 own], bias [1 shared | 3 own];
    /// - `flatten/<task>`, then `fc/<task>` (3 outputs over 6×6 pixels of 4 channels): rows
    ///   [1 shared | 2 own] × channels [1 shared | 3 own] at every pixel, bias [1 | 2];
    /// - `softmax/<task>`.
    /// The shared blocks are one tensor each, read by both tasks' assemblies.
    public static func assembledTwoTask(seed: UInt64) -> Model {
        var rng = SeededRandom(seed: seed)
        var weights: [WeightTensor] = []
        func plain(_ name: String, _ shape: [Int]) -> Int {
            weights.append(WeightTensor(name: name, shape: shape, values: rng.floats(count: shape.reduce(1, *), in: -0.5...0.5)))
            return weights.count - 1
        }
        func assembled(_ name: String, _ shape: [Int], rows: [Int], channels: [Int], parts: [Int]) -> Int {
            let a = WeightAssembly(rowBands: rows, channelBands: channels, parts: parts)
            var w = WeightTensor(name: name, shape: shape, values: a.assemble(elementCount: shape.reduce(1, *)) { weights[$0].values })
            w.assembly = a
            weights.append(w)
            return weights.count - 1
        }
        let convShared = plain("conv.shared.weight", [1, 3, 3, 2]), convSharedBias = plain("conv.shared.bias", [1])
        let fcShared = plain("fc.shared.weight", [1, 36]), fcSharedBias = plain("fc.shared.bias", [1])
        var nodes = [Node(name: "input", op: .input, inputs: [])]
        var tasks: [TaskHead] = []
        for task in ["a", "b"] {
            let convW = assembled("conv.\(task).full.weight", [4, 3, 3, 3], rows: [1, 3], channels: [2, 1], parts: [
                convShared, plain("conv.\(task).inter.weight", [1, 3, 3, 1]),
                plain("conv.\(task).partial.weight", [3, 3, 3, 2]), plain("conv.\(task).weight", [3, 3, 3, 1]),
            ])
            let convB = assembled("conv.\(task).full.bias", [4], rows: [1, 3], channels: [1], parts: [convSharedBias, plain("conv.\(task).bias", [3])])
            let fcW = assembled("fc.\(task).full.weight", [3, 144], rows: [1, 2], channels: [1, 3], parts: [
                fcShared, plain("fc.\(task).inter.weight", [1, 108]), plain("fc.\(task).partial.weight", [2, 36]), plain("fc.\(task).weight", [2, 108]),
            ])
            let fcB = assembled("fc.\(task).full.bias", [3], rows: [1, 2], channels: [1], parts: [fcSharedBias, plain("fc.\(task).bias", [2])])
            let conv = nodes.count
            nodes.append(Node(name: "conv/\(task)", layer: "conv", op: .conv2d(Conv2D(window: .square(3, padding: 1), outChannels: 4, weight: convW,
                                                                                  bias: convB, activation: .relu)), inputs: [ValueRef(0)]))
            nodes.append(Node(name: "flatten/\(task)", layer: "flatten", op: .flatten, inputs: [ValueRef(conv)]))
            nodes.append(Node(name: "fc/\(task)", layer: "fc", op: .fullyConnected(FullyConnected(outFeatures: 3, weight: fcW, bias: fcB)),
                              inputs: [ValueRef(conv + 1)]))
            nodes.append(Node(name: "softmax/\(task)", layer: "softmax", op: .softmax, inputs: [ValueRef(conv + 2)]))
            tasks.append(TaskHead(name: task, output: conv + 3, labels: ["x", "y", "z"], summary: "random test task"))
        }
        return Model(input: rgb(width: 6, height: 6), nodes: nodes, weights: weights, tasks: tasks,
                     metadata: ["producer": "RandomModels.assembledTwoTask(seed: \(seed))"])
    }
}
