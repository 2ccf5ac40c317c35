import MTZCore

/// The single-task network architectures `mtz train` builds, with seeded initial weights.
public enum Architecture: String, CaseIterable, Sendable {
    /// LeNet-300-100: 784-300-100-10 fully connected with ReLU.
    case lenet300 = "lenet300"
    /// LeNet-5 (Caffe variant): conv 20@5×5, max-pool, conv 50@5×5, max-pool, FC 500, FC 10; ReLU
    /// after both convolutions and the first FC layer.
    case lenet5 = "lenet5"
    /// A small residual CNN with batch norm for 28×28 inputs: a 3×3 stem with 16 channels, residual
    /// stages of 16, 32 (stride 2) and 64 (stride 2) channels, global average pooling, FC 10.
    case resnet = "resnet"

    /// Input normalisation shared by every 28×28 model `mtz train` makes: `(pixel/255 − 0.5) / 0.5`.
    /// One spec for all datasets lets networks trained on different data be packed or zipped.
    public static let inputMean: Float = 0.5
    /// See `inputMean`.
    public static let inputStd: Float = 0.5

    /// One-line description for `--help`.
    public var summary: String {
        switch self {
        case .lenet300: "LeNet-300-100: FC 784-300-100-10 with ReLU"
        case .lenet5: "LeNet-5 (Caffe): conv 20@5x5, pool, conv 50@5x5, pool, FC 500, FC 10"
        case .resnet: "small residual CNN with batch norm: 16-32-64 channels, 3 residual blocks"
        }
    }

    /// Builds the network for one task `task` with `labels`, input 28×28 gray normalised with
    /// `mean`/`std`, and He-uniform weights drawn from `seed`.
    public func build(task: String, labels: [String], mean: Float, std: Float, seed: UInt64, metadata: [String: String] = [:]) -> Model {
        let input = InputSpec(width: 28, height: 28, format: .gray, mean: [mean], std: [std], resize: .stretch)
        var b = ModelBuilder(input: input, seed: seed, trainingInit: true)
        let classes = labels.count
        var x = ValueRef(0)
        switch self {
        case .lenet300:
            x = ValueRef(b.flatten("flatten", x))
            x = ValueRef(b.fullyConnected("fc1", x, outFeatures: 300, activation: .relu))
            x = ValueRef(b.fullyConnected("fc2", x, outFeatures: 100, activation: .relu))
            x = ValueRef(b.fullyConnected("fc3", x, outFeatures: classes))
        case .lenet5:
            x = ValueRef(b.conv("conv1", x, outChannels: 20, window: .square(5), activation: .relu))
            x = ValueRef(b.maxPool("pool1", x, window: .square(2, stride: 2)))
            x = ValueRef(b.conv("conv2", x, outChannels: 50, window: .square(5), activation: .relu))
            x = ValueRef(b.maxPool("pool2", x, window: .square(2, stride: 2)))
            x = ValueRef(b.flatten("flatten", x))
            x = ValueRef(b.fullyConnected("fc1", x, outFeatures: 500, activation: .relu))
            x = ValueRef(b.fullyConnected("fc2", x, outFeatures: classes))
        case .resnet:
            x = convBN(&b, "stem", x, channels: 16, stride: 1, relu: true)
            x = residualBlock(&b, "block1", x, channels: 16, stride: 1)
            x = residualBlock(&b, "block2", x, channels: 32, stride: 2)
            x = residualBlock(&b, "block3", x, channels: 64, stride: 2)
            x = ValueRef(b.globalAveragePool("gap", x))
            x = ValueRef(b.fullyConnected("fc", x, outFeatures: classes))
        }
        let out = b.softmax("softmax", x)
        b.task(task, output: out, labels: labels)
        var meta = metadata
        meta["architecture"] = rawValue
        return b.build(metadata: meta)
    }

    /// conv 3×3 (no bias) → batch norm → optional ReLU, all in layer `name`.
    private func convBN(_ b: inout ModelBuilder, _ name: String, _ x: ValueRef, channels: Int, stride: Int, relu: Bool) -> ValueRef {
        let c = b.conv("\(name)/conv", layer: name, x, outChannels: channels, window: .square(3, stride: stride, padding: 1), bias: false)
        var y = b.batchNorm("\(name)/bn", layer: name, ValueRef(c))
        if relu { y = b.activation("\(name)/relu", layer: name, ValueRef(y), .relu) }
        return ValueRef(y)
    }

    /// Two conv-BN layers with an identity (or 1×1 conv-BN projection) shortcut, then ReLU.
    private func residualBlock(_ b: inout ModelBuilder, _ name: String, _ x: ValueRef, channels: Int, stride: Int) -> ValueRef {
        let y1 = convBN(&b, "\(name).1", x, channels: channels, stride: stride, relu: true)
        let y2 = convBN(&b, "\(name).2", y1, channels: channels, stride: 1, relu: false)
        var shortcut = x
        if stride != 1 || b.shape(of: x).channels != channels {
            let p = b.conv("\(name).shortcut/conv", layer: "\(name).shortcut", x, outChannels: channels, window: .square(1, stride: stride), bias: false)
            shortcut = ValueRef(b.batchNorm("\(name).shortcut/bn", layer: "\(name).shortcut", ValueRef(p)))
        }
        return ValueRef(b.add("\(name)/add", layer: "\(name).2", y2, shortcut, activation: .relu))
    }
}
