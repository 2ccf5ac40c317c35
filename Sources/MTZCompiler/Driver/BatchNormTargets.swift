import MTZCore
import MTZImage
import MTZRuntime
import MTZTraining

/// What a task's own neurons are normalised to while retraining (`ZipState.Normalization`): the
/// statistics of each hidden layer's output in the task's original network, before the activation
/// and any residual add — for a network trained with batch norms (folded since), the output of
/// those batch norms.
enum BatchNormTargets {
    /// Per dense layer of `network` (a single-task network as `ZipState.taskNetwork` lowers it, and
    /// its map), except `excluded`: the mean and standard deviation of each channel of the layer's
    /// linear output (weights · input + bias, no activation, no residual) over the first `count`
    /// images, every pixel of every image, run through the inference runtime.
    static func measure(_ network: Model, map: LoweringMap, excluded: Set<Int>, images: LabeledImages,
                        count: Int) throws -> [Int: ZipState.Normalization] {
        // A copy of every dense node without activation and residual, reading the same input, is
        // appended as an output of its own.
        var probe = network
        probe.tasks = []
        var layers: [Int] = []
        for node in network.nodes {
            let weight: Int
            var op = node.op
            switch node.op {
            case .conv2d(var c):
                weight = c.weight
                c.activation = .none
                op = .conv2d(c)
            case .fullyConnected(var f):
                weight = f.weight
                f.activation = .none
                op = .fullyConnected(f)
            default:
                continue
            }
            let layer = map.sources[weight].layer
            guard !excluded.contains(layer) else { continue }
            probe.nodes.append(Node(name: "\(node.name)/linear", layer: node.layer, op: op, inputs: [node.inputs[0]]))
            probe.tasks.append(TaskHead(name: "__linear\(layers.count)", output: probe.nodes.count - 1, labels: []))
            layers.append(layer)
        }
        guard !layers.isEmpty else { return [:] }
        let loaded = try InferenceModel(probe)
        let session = try loaded.makeSession()
        let shapes = try probe.validate()
        let outputs = probe.tasks.map(\.output)
        var sums = outputs.map { [Double](repeating: 0, count: shapes[$0].channels) }
        var squares = sums
        let preprocessor = Preprocessor(spec: network.input)
        var input = [Float](repeating: 0, count: loaded.inputCount)
        let used = min(count, images.count)
        for i in 0..<used {
            input.withUnsafeMutableBufferPointer { preprocessor.run(images.grayImage(at: i), into: $0) }
            try input.withUnsafeBufferPointer { try session.run(input: $0) }
            for k in outputs.indices {
                let channels = sums[k].count
                try session.withOutput(of: "__linear\(k)") { out in
                    for (j, v) in out.enumerated() {
                        let x = Double(v)
                        sums[k][j % channels] += x
                        squares[k][j % channels] += x * x
                    }
                }
            }
        }
        var result: [Int: ZipState.Normalization] = [:]
        for (k, layer) in layers.enumerated() {
            let n = Double(used * shapes[outputs[k]].pixels)
            let mean = sums[k].map { $0 / n }
            let std = Swift.zip(squares[k], mean).map { max(0, $0 / n - $1 * $1).squareRoot() }
            result[layer] = ZipState.Normalization(mean: mean.map(Float.init), std: std.map(Float.init))
        }
        return result
    }
}
