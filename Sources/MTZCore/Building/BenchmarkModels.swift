/// Benchmark networks at ImageNet size with seeded random weights (issue 6): the figures in
/// `docs/BENCHMARKS.md` and the peer comparisons run on these.
///
/// The weights are random, so the outputs mean nothing; only the shapes and the amount of work
/// matter. Every network takes a 224×224 RGB input.
public enum BenchmarkModels {
    /// The networks this type builds.
    public enum Architecture: String, CaseIterable, Sendable {
        /// VGG-16's convolution trunk (13 conv 3×3 + ReLU, 5 max-pools), one task whose output is
        /// the last pool (7×7×512): 30.7 GFLOP counted as 2·MACs.
        case vgg16
        /// The same trunk shared by two tasks, each with a small head (global average pool,
        /// FC 512→10, softmax): what zipping two fully shared VGG-16 trunks produces.
        case vgg16TwoTask = "vgg16-2task"
        /// VGG-16's trunk with one head as above: one of the two separate single-task networks the
        /// two-task model replaces.
        case vgg16Head = "vgg16-head"
        /// A ResNet-18-style network: 7×7/2 stem, 3×3/2 max-pool, four stages of two basic blocks
        /// (64, 128, 256, 512 channels; batch norm after every conv; 1×1/2 projections), global
        /// average pool, FC 512→1000, softmax.
        case resnet18
    }

    /// The fixed seed of every benchmark model's weights.
    public static let seed: UInt64 = 0x6D74_7A62_656E_6368

    /// Builds `architecture` (deterministic: the same weights every time).
    public static func make(_ architecture: Architecture) -> Model {
        let input = InputSpec(width: 224, height: 224, format: .rgb, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
                              resize: .stretch)
        var b = ModelBuilder(input: input, seed: seed)
        switch architecture {
        case .vgg16:
            let trunk = vgg16Trunk(&b)
            b.task("trunk", output: trunk, summary: "VGG-16 convolution trunk, random weights (benchmark only)")
        case .vgg16Head:
            let trunk = vgg16Trunk(&b)
            smallHead(&b, task: "task1", from: trunk)
        case .vgg16TwoTask:
            let trunk = vgg16Trunk(&b)
            smallHead(&b, task: "task1", from: trunk)
            smallHead(&b, task: "task2", from: trunk)
        case .resnet18:
            resnet18(&b)
        }
        return b.build(metadata: [
            "description": "benchmark model \(architecture.rawValue): seeded random weights, meaningless outputs",
            "producer": "mtz BenchmarkModels.make (MTZCore)",
        ])
    }

    /// Appends VGG-16's 13 convolutions and 5 max-pools; returns the last pool.
    private static func vgg16Trunk(_ b: inout ModelBuilder) -> Int {
        let stages = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
        var x = 0
        for (s, (channels, convs)) in stages.enumerated() {
            for c in 0..<convs {
                x = b.conv("conv\(s + 1)_\(c + 1)", ValueRef(x), outChannels: channels, window: .square(3, padding: 1), activation: .relu)
            }
            x = b.maxPool("pool\(s + 1)", ValueRef(x), window: .square(2, stride: 2))
        }
        return x
    }

    /// Global average pool, FC to 10 classes and softmax, as task `task`.
    private static func smallHead(_ b: inout ModelBuilder, task: String, from x: Int) {
        let gap = b.globalAveragePool("\(task)/gap", ValueRef(x))
        let fc = b.fullyConnected("\(task)/fc", ValueRef(gap), outFeatures: 10)
        b.task(task, output: b.softmax("\(task)/softmax", ValueRef(fc)))
    }

    /// Appends the ResNet-18-style network and its task.
    private static func resnet18(_ b: inout ModelBuilder) {
        func convBN(_ b: inout ModelBuilder, _ name: String, _ x: Int, _ channels: Int, _ window: Window, relu: Bool) -> Int {
            let c = b.conv(name, ValueRef(x), outChannels: channels, window: window, bias: false)
            let n = b.batchNorm("\(name)/bn", ValueRef(c))
            return relu ? b.activation("\(name)/relu", ValueRef(n), .relu) : n
        }
        var x = convBN(&b, "conv1", 0, 64, .square(7, stride: 2, padding: 3), relu: true)
        x = b.maxPool("pool1", ValueRef(x), window: .square(3, stride: 2, padding: 1))
        var channels = 64
        for (s, width) in [64, 128, 256, 512].enumerated() {
            for block in 0..<2 {
                let stride = s > 0 && block == 0 ? 2 : 1
                let name = "layer\(s + 1).\(block)"
                let y = convBN(&b, "\(name)/conv1", x, width, .square(3, stride: stride, padding: 1), relu: true)
                let z = convBN(&b, "\(name)/conv2", y, width, .square(3, padding: 1), relu: false)
                let shortcut = stride != 1 || width != channels
                    ? convBN(&b, "\(name)/downsample", x, width, .square(1, stride: stride), relu: false) : x
                x = b.add("\(name)/add", ValueRef(z), ValueRef(shortcut), activation: .relu)
                channels = width
            }
        }
        let gap = b.globalAveragePool("gap", ValueRef(x))
        let fc = b.fullyConnected("fc", ValueRef(gap), outFeatures: 1000)
        b.task("imagenet", output: b.softmax("softmax", ValueRef(fc)))
    }
}
