import CMTZKernels
import MTZCore

/// One node lowered to a kernel call: geometry resolved, weights packed for the model's ISA.
enum PreparedNode: @unchecked Sendable {
    case input
    /// GEMM-based convolution (im2col, or plain GEMM for 1×1), depthwise or Winograd convolution.
    case convolution(Convolution)
    case fullyConnected(FullyConnectedLayer)
    case activation(mtz_activation)
    case maxPool(mtz_conv2d_params)
    case averagePool(mtz_conv2d_params, countIncludePad: Bool)
    case globalAveragePool
    case add(mtz_activation)
    case concat
    case flatten
    case softmax
    case scaleShift(scale: AlignedBuffer, shift: AlignedBuffer)

    struct Convolution {
        var params: mtz_conv2d_params
        /// Packed at load, or mapped from the file's pre-packed weights.
        var packed: InPlaceWeights
        var algorithm: ConvolutionAlgorithm
        var activation: mtz_activation
        /// Floats of im2col or Winograd workspace one thread needs.
        var workspace: Int
    }

    struct FullyConnectedLayer {
        var inFeatures: Int
        var outFeatures: Int
        /// `[out][in]` weights, read in place by `mtz_gemv`.
        var weights: InPlaceWeights
        var bias: InPlaceWeights?
        var activation: mtz_activation
    }
}

/// Window geometry in the kernels' terms.
package func windowParams(_ w: Window, input: ValueShape, inputStride: Int, output: ValueShape, groups: Int) -> mtz_conv2d_params {
    mtz_conv2d_params(
        in_h: input.height, in_w: input.width, in_c: input.channels, in_pixel_stride: inputStride,
        out_h: output.height, out_w: output.width, out_c: output.channels, out_pixel_stride: output.channels,
        kernel_h: w.kernelH, kernel_w: w.kernelW, stride_h: w.strideH, stride_w: w.strideW,
        dilation_h: w.dilationH, dilation_w: w.dilationW, pad_top: w.padding.top, pad_left: w.padding.left,
        groups: groups)
}

/// Packs every node's weights once; nodes that read the same weight tensors share one packed copy.
///
/// The caches are arrays indexed by weight tensor, not dictionaries: the first hashed collection of
/// a key type in a process costs a scan of every protocol conformance in it (~0.1 ms in `mtz`, a
/// tenth of loading LeNet-5).
struct WeightPacker {
    let model: Model
    let isa: KernelISA
    /// What packed convolution weights were made from, besides their weight tensor.
    private struct PackKey: Equatable {
        var algorithm: ConvolutionAlgorithm
        var bias = -1, inC = 0, groups = 0
    }
    /// Per weight tensor, the convolution weights packed from it (at load or mapped from the file).
    private var convolutions: [[(key: PackKey, weights: InPlaceWeights)]]
    /// Per weight tensor, its plain aligned copy (batch-norm scale and shift).
    private var plainCopies: [AlignedBuffer?]
    private var inPlaceCache: [InPlaceWeights?]
    /// The model file's pre-packed convolution weights (its `PACK` section).
    private let prepacked: [PackedWeights]

    init(model: Model, isa: KernelISA, prepacked: [PackedWeights] = []) {
        self.model = model
        self.isa = isa
        self.prepacked = prepacked
        convolutions = Array(repeating: [], count: model.weights.count)
        plainCopies = Array(repeating: nil, count: model.weights.count)
        inPlaceCache = Array(repeating: nil, count: model.weights.count)
    }

    /// Packs (or reuses, or maps from the file's `PACK` section) the convolution weights for `params`.
    mutating func convolution(_ c: Conv2D, params: mtz_conv2d_params, algorithm: ConvolutionAlgorithm) throws(RuntimeError) -> InPlaceWeights {
        let key = PackKey(algorithm: algorithm, bias: c.bias ?? -1, inC: params.in_c, groups: params.groups)
        if let hit = convolutions[c.weight].first(where: { $0.key == key }) { return hit.weights }
        let bias = c.bias.map { model.weights[$0].values }
        let weights: InPlaceWeights
        if let variant = Prepacking.match(prepacked, isa: isa, algorithm: algorithm, params: params,
                                           weights: model.weights[c.weight].values, bias: bias) {
            weights = try InPlaceWeights(variant.values)
        } else {
            weights = InPlaceWeights(packed: try Prepacking.pack(isa: isa, algorithm: algorithm, params: params,
                                                                 weights: model.weights[c.weight].values, bias: bias))
        }
        convolutions[c.weight].append((key, weights))
        return weights
    }

    /// Fully connected weights `[out][in]` (or a bias) as the kernels read them: in place from the
    /// mapped file when the model was mapped, else one aligned copy per tensor.
    mutating func inPlace(_ index: Int) throws(RuntimeError) -> InPlaceWeights {
        if let hit = inPlaceCache[index] { return hit }
        let weights = try InPlaceWeights(model.weights[index].values)
        inPlaceCache[index] = weights
        return weights
    }

    /// Copies a weight tensor into an aligned buffer (or reuses the copy).
    mutating func plain(_ index: Int) throws(RuntimeError) -> AlignedBuffer {
        if let hit = plainCopies[index] { return hit }
        let buffer = try AlignedBuffer(count: model.weights[index].elementCount)
        model.weights[index].values.withUnsafeBufferPointer { buffer.store($0) }
        plainCopies[index] = buffer
        return buffer
    }

    /// Floats the prepared model holds in memory of its own: packed buffers and copies of weights
    /// that were not mapped.
    var packedFloats: Int {
        inPlaceWeights.reduce(0) { $0 + $1.copiedCount } + plainCopies.reduce(0) { $0 + ($1?.count ?? 0) }
    }

    /// Floats read in place from the mapped model file (fully connected weights, pre-packed
    /// convolution weights), or from the assembled weights the reader built (`WeightAssembly`).
    var mappedFloats: Int { inPlaceWeights.reduce(0) { $0 + ($1.copiedCount == 0 ? $1.count : 0) } }

    private var inPlaceWeights: [InPlaceWeights] { convolutions.joined().map(\.weights) + inPlaceCache.compactMap { $0 } }
}

