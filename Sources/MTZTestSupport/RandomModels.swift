import MTZCore

/// Small seeded multi-head models for testing the runtime against `ReferenceInterpreter`.
///
/// Every builder returns a model that passes `Model.validate()`; the same seed gives the same model.
public enum RandomModels {
    /// A normalised input for `model` with values in `-1...1`, determined by `seed`.
    public static func input(for model: Model, seed: UInt64) -> [Float] {
        seededFloats(count: model.input.height * model.input.width * model.input.channels, seed: seed)
    }

    /// A two-task model on a 13×11×3 input that uses every op and every op feature at least once.
    ///
    /// Covers: conv with stride 2 and asymmetric padding, dilation 2 with groups 2, depthwise, 1×1,
    /// convs with and without bias, batchNorm (with negative outputs feeding a padded max pool),
    /// residual add with relu, standalone relu/relu6/sigmoid/tanh, max pool and both average-pool
    /// padding modes (one with an asymmetric window), concat of channel slices, convs reading
    /// channel slices, a zipped conv layer and a zipped FC layer (shared partial sum + per-task
    /// accumulate), global average pool, flatten, FC and softmax heads. Task `a` has 5 classes,
    /// task `b` has 4.
    public static func everyOp(seed: UInt64) -> Model {
        var b = ModelBuilder(input: rgb(width: 11, height: 13), seed: seed)
        let x = ValueRef(0)
        // Trunk (fully shared).
        let conv1 = b.conv("conv1", x, outChannels: 8,
                           window: Window(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
                                          padding: Padding(top: 1, left: 0, bottom: 2, right: 1)),
                           activation: .relu)                                                   // 7×5×8
        let conv2 = b.conv("conv2", ValueRef(conv1), outChannels: 8,
                           window: Window(kernelH: 3, kernelW: 3, dilationH: 2, dilationW: 2, padding: .uniform(2)),
                           groups: 2, activation: .relu6)                                       // 7×5×8
        let dw = b.conv("dw3", ValueRef(conv2), outChannels: 8, window: .square(3, padding: 1), groups: 8)
        let bn = b.batchNorm("bn3", ValueRef(dw))                                                // 7×5×8, signed
        let res = b.add("res3", ValueRef(conv1), ValueRef(bn), activation: .relu)
        let pw = b.conv("pw4", ValueRef(res), outChannels: 12, window: .square(1), bias: false)   // 7×5×12
        let sig = b.activation("sig4", ValueRef(pw, channelCount: 6), .sigmoid)                 // 7×5×6
        let th = b.activation("tanh4", ValueRef(pw, channelOffset: 6), .tanh)                   // 7×5×6
        let mp = b.maxPool("maxpool5", ValueRef(bn), window: .square(3, stride: 2, padding: 1))  // 4×3×8
        let apIn = b.averagePool("avgpool5a", ValueRef(sig), window: .square(3, stride: 2, padding: 1), countIncludePad: true)
        let apEx = b.averagePool("avgpool5b", ValueRef(th),
                                 window: Window(kernelH: 3, kernelW: 2, strideH: 2, strideW: 2,
                                                padding: Padding(top: 1, left: 1, bottom: 1, right: 0)),
                                 countIncludePad: false)                                        // 4×3×6
        let cat = b.concat("cat5", [ValueRef(mp, channelOffset: 2, channelCount: 4), ValueRef(apIn), ValueRef(apEx, channelOffset: 1)])
        let r6 = b.activation("relu6_5", ValueRef(cat), .relu6)                                 // 4×3×15
        let gap = b.globalAveragePool("gap5", ValueRef(r6))                                    // 1×1×15

        // Task-specific layer 6.
        let a6 = b.conv("a/conv6", layer: "conv6", ValueRef(r6, channelOffset: 9), outChannels: 6,
                        window: .square(1), activation: .sigmoid)                              // 4×3×6
        let b6 = b.conv("b/conv6", layer: "conv6", ValueRef(r6), outChannels: 5,
                        window: Window(kernelH: 3, kernelW: 3, padding: Padding(top: 0, left: 1, bottom: 2, right: 1)),
                        activation: .relu)                                                     // 4×3×5

        // Zipped conv layer 7: shared partial over shared channels + per-task accumulate over specific ones.
        let s7 = b.conv("conv7/shared", layer: "conv7", ValueRef(r6, channelCount: 9), outChannels: 10, window: .square(3, padding: 1))
        let a7 = b.conv("conv7/a", layer: "conv7", ValueRef(a6), addend: ValueRef(s7), outChannels: 10,
                        window: .square(3, padding: 1), bias: false, activation: .relu)
        let b7 = b.conv("conv7/b", layer: "conv7", ValueRef(b6), addend: ValueRef(s7), outChannels: 10,
                        window: .square(1), bias: false, activation: .relu)

        // Heads, with a zipped FC layer 8.
        let aGap = b.globalAveragePool("a/gap", ValueRef(a7))
        let bFlat = b.flatten("b/flatten", ValueRef(b7))                                       // 1×1×120
        let s8 = b.fullyConnected("fc8/shared", layer: "fc8", ValueRef(gap), outFeatures: 6, gain: 2)
        let a8 = b.fullyConnected("fc8/a", layer: "fc8", ValueRef(aGap), addend: ValueRef(s8), outFeatures: 6, activation: .tanh, gain: 2)
        let b8 = b.fullyConnected("fc8/b", layer: "fc8", ValueRef(bFlat), addend: ValueRef(s8), outFeatures: 6, bias: false, gain: 2)
        let bRelu = b.activation("b/relu8", ValueRef(b8), .relu)
        let aLogits = b.fullyConnected("a/fc9", ValueRef(a8), outFeatures: 5, gain: 2)
        let bLogits = b.fullyConnected("b/fc9", ValueRef(bRelu, channelOffset: 1), outFeatures: 4, gain: 2)
        let aOut = b.softmax("a/softmax", ValueRef(aLogits))
        let bOut = b.softmax("b/softmax", ValueRef(bLogits))
        b.task("a", output: aOut, labels: ["a0", "a1", "a2", "a3", "a4"], summary: "random test task")
        b.task("b", output: bOut, labels: ["b0", "b1", "b2", "b3"], summary: "random test task")
        return b.build(metadata: ["producer": "RandomModels.everyOp(seed: \(seed))"])
    }

    /// The zipped-layer pattern on a 12×10×3 input: a fully shared trunk, then two zipped layers and two heads.
    ///
    /// - `conv1`, `pool1`, `conv2`: fully shared.
    /// - `conv3` (input fully shared): one node with `[6 shared | 4 task a | 4 task b]` channels.
    /// - `conv4` (8 channels per task): `conv4/shared` = conv over the shared slice of `conv3` without
    ///   activation; `conv4/a`, `conv4/b` = conv over the task's slice of `conv3` with `conv4/shared` as
    ///   addend, then relu.
    /// - heads: `a/gap → a/fc → a/softmax` (3 classes), `b/gap → b/fc → b/softmax` (5 classes).
    public static func zippedTwoTask(seed: UInt64) -> Model {
        var b = ModelBuilder(input: rgb(width: 10, height: 12), seed: seed)
        let conv1 = b.conv("conv1", ValueRef(0), outChannels: 8, window: .square(3, padding: 1), activation: .relu)
        let pool1 = b.maxPool("pool1", ValueRef(conv1), window: .square(2, stride: 2))                     // 6×5×8
        let conv2 = b.conv("conv2", ValueRef(pool1), outChannels: 12, window: .square(3, padding: 1), activation: .relu)
        let conv3 = b.conv("conv3", ValueRef(conv2), outChannels: 14, window: .square(3, padding: 1), activation: .relu)
        let shared = ValueRef(conv3, channelOffset: 0, channelCount: 6)
        let s4 = b.conv("conv4/shared", layer: "conv4", shared, outChannels: 8, window: .square(3, padding: 1))
        let a4 = b.conv("conv4/a", layer: "conv4", ValueRef(conv3, channelOffset: 6, channelCount: 4), addend: ValueRef(s4),
                        outChannels: 8, window: .square(3, padding: 1), bias: false, activation: .relu)
        let b4 = b.conv("conv4/b", layer: "conv4", ValueRef(conv3, channelOffset: 10, channelCount: 4), addend: ValueRef(s4),
                        outChannels: 8, window: .square(3, padding: 1), bias: false, activation: .relu)
        for (task, node, classes) in [("a", a4, 3), ("b", b4, 5)] {
            let gap = b.globalAveragePool("\(task)/gap", ValueRef(node))
            let fc = b.fullyConnected("\(task)/fc", ValueRef(gap), outFeatures: classes, gain: 2)
            let out = b.softmax("\(task)/softmax", ValueRef(fc))
            b.task(task, output: out, summary: "random test task")
        }
        return b.build(metadata: ["producer": "RandomModels.zippedTwoTask(seed: \(seed))"])
    }

    /// A VGG-like stack for larger (e.g. performance) cases.
    ///
    /// Each entry of `channels` is a stage of `convsPerStage` 3×3 same-padded relu convs followed by
    /// a 2×2 max pool (skipped once the value is smaller than 2×2). Each entry of `taskClasses`
    /// adds a head `task<i>`: global average pool → FC → softmax.
    ///
    /// - Parameters:
    ///   - inputSize: input width and height.
    ///   - inputFormat: `.rgb` (3 channels) or `.gray` (1 channel).
    public static func convNet(
        seed: UInt64, inputSize: Int = 32, inputFormat: InputSpec.ColorFormat = .rgb,
        channels: [Int] = [16, 32, 64], convsPerStage: Int = 2, taskClasses: [Int] = [10, 4]
    ) -> Model {
        precondition(!channels.isEmpty && convsPerStage >= 1 && !taskClasses.isEmpty, "convNet needs stages, convs and tasks")
        let n = inputFormat.channels
        let spec = InputSpec(width: inputSize, height: inputSize, format: inputFormat,
                             mean: [Float](repeating: 0.5, count: n), std: [Float](repeating: 0.25, count: n))
        var b = ModelBuilder(input: spec, seed: seed)
        var x = 0
        for (stage, c) in channels.enumerated() {
            for i in 0..<convsPerStage {
                x = b.conv("conv\(stage + 1)_\(i + 1)", ValueRef(x), outChannels: c, window: .square(3, padding: 1), activation: .relu)
            }
            let s = b.shapes[x]
            if s.height >= 2 && s.width >= 2 {
                x = b.maxPool("pool\(stage + 1)", ValueRef(x), window: .square(2, stride: 2))
            }
        }
        for (t, classes) in taskClasses.enumerated() {
            let gap = b.globalAveragePool("task\(t)/gap", ValueRef(x))
            let fc = b.fullyConnected("task\(t)/fc", ValueRef(gap), outFeatures: classes, gain: 2)
            let out = b.softmax("task\(t)/softmax", ValueRef(fc))
            b.task("task\(t)", output: out, summary: "random test task")
        }
        return b.build(metadata: ["producer": "RandomModels.convNet(seed: \(seed))"])
    }

    static func rgb(width: Int, height: Int) -> InputSpec {
        InputSpec(width: width, height: height, format: .rgb, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
    }
}
