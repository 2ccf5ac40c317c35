import MTZCore

/// The small untrained two-task demo model shipped in `Models/` until trained models exist.
///
/// Input 32×32 RGB (mean 0.5, std 0.25, stretch resize). Layout:
/// - shared trunk: `conv1` 3×3×16 relu → `pool1` 2×2 max → `conv2` 3×3×32 relu → `pool2` 2×2 max (8×8×32);
/// - zipped layer `conv3` (3×3, 48 channels per task, 32 of them shared): its input is fully shared, so
///   the shared neurons are one node `conv3/shared` (32 channels) and each task's specific neurons are
///   `conv3/objects`, `conv3/scene` (16 channels each), all relu — a task not requested costs nothing;
/// - per-task heads: global average pool over the task's 48 channels, then FC → softmax. The pool of
///   the shared channels (`conv3/shared/gap`) is computed once; each task's FC is split into a shared
///   partial sum (`<task>/fc/shared`, over the shared 32 features, no bias) and the task's own part
///   (`<task>/fc`, over its 16 specific features, plus bias) that accumulates into it.
public enum DemoModel {
    /// Labels of the `objects` task (the CIFAR-10 classes).
    public static let objectLabels = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    /// Labels of the `scene` task.
    public static let sceneLabels = ["indoor", "outdoor-natural", "outdoor-urban", "other"]
    /// The fixed seed of the demo weights.
    public static let seed: UInt64 = 0x6D74_7A64_656D_6F31

    /// Builds the demo model (deterministic: the same weights every time).
    public static func make() -> Model {
        let input = InputSpec(width: 32, height: 32, format: .rgb, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], resize: .stretch)
        var b = ModelBuilder(input: input, seed: seed)
        let same3x3 = Window.square(3, padding: 1)
        let conv1 = b.conv("conv1", ValueRef(0), outChannels: 16, window: same3x3, activation: .relu)
        let pool1 = b.maxPool("pool1", ValueRef(conv1), window: .square(2, stride: 2))
        let conv2 = b.conv("conv2", ValueRef(pool1), outChannels: 32, window: same3x3, activation: .relu)
        let pool2 = b.maxPool("pool2", ValueRef(conv2), window: .square(2, stride: 2))

        let shared = b.conv("conv3/shared", layer: "conv3", ValueRef(pool2), outChannels: 32, window: same3x3, activation: .relu)
        let sharedGap = b.globalAveragePool("conv3/shared/gap", layer: "gap", ValueRef(shared))

        for (task, labels) in [("objects", objectLabels), ("scene", sceneLabels)] {
            let specific = b.conv("conv3/\(task)", layer: "conv3", ValueRef(pool2), outChannels: 16, window: same3x3, activation: .relu)
            let gap = b.globalAveragePool("\(task)/gap", layer: "gap", ValueRef(specific))
            // Gain 3 on the head so the untrained softmax outputs are visibly not uniform.
            let partial = b.fullyConnected("\(task)/fc/shared", layer: "\(task)/fc", ValueRef(sharedGap),
                                           outFeatures: labels.count, bias: false, gain: 3)
            let logits = b.fullyConnected("\(task)/fc", ValueRef(gap), addend: ValueRef(partial),
                                          outFeatures: labels.count, gain: 3)
            let out = b.softmax("\(task)/softmax", ValueRef(logits))
            b.task(task, output: out, labels: labels, summary: "UNTRAINED: fixed seeded weights, outputs are meaningless")
        }
        return b.build(metadata: [
            "description": "UNTRAINED demo model with fixed seeded weights (He-style init); its predictions are meaningless. "
                + "Shows the layout: shared trunk, a zipped conv layer (32 shared + 16 specific channels per task), two heads.",
            "producer": "mtz DemoModel.make (MTZTestSupport)",
        ])
    }
}
