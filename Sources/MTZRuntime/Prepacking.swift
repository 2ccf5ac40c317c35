import CMTZKernels
import MTZCore

/// Convolution weights in the kernels' packed layouts: packing at load, and the pre-packed variants
/// a model file can carry in its `PACK` section (`mtz prepack`) so that loading maps them instead.
public enum Prepacking {
    /// Version of the packed layouts (GEMM panels, Winograd transforms, depthwise blocks). Bump it
    /// whenever a packer's output changes, so that older files' variants are ignored.
    public static let layoutVersion: UInt32 = 1

    /// Pre-packed variants of every convolution of `model`, for each ISA in `isas`, with the
    /// algorithm `convolutions` picks (the one a load with the same policy will look for). The CPU
    /// need not support the ISAs: packing is plain data movement.
    public static func variants(for model: Model, isas: [KernelISA], convolutions policy: ConvolutionPolicy = .automatic)
        throws(RuntimeError) -> [PackedWeights] {
        let (optimized, shapes) = try InferenceModel.deploymentForm(model)
        var result: [PackedWeights] = []
        for isa in isas {
            // The load-time packer, so that nodes sharing weights share one variant exactly as they
            // share one packed buffer at load.
            var packer = WeightPacker(model: optimized, isa: isa)
            var done: [InPlaceWeights] = []
            for (i, node) in optimized.nodes.enumerated() {
                guard case .conv2d(let c) = node.op else { continue }
                let (params, depthwise) = InferenceModel.convolutionGeometry(node, c, output: shapes[i], shapes: shapes)
                let algorithm = policy.algorithm(for: params, depthwise: depthwise)
                let buffer = try packer.convolution(c, params: params, algorithm: algorithm)
                guard !done.contains(where: { $0 === buffer }) else { continue }
                done.append(buffer)
                let weights = optimized.weights[c.weight].values, bias = c.bias.map { optimized.weights[$0].values }
                result.append(PackedWeights(
                    isa: isa.code, algorithm: code(algorithm), layout: layoutVersion, inChannels: params.in_c,
                    outChannels: params.out_c, kernelHeight: params.kernel_h, kernelWidth: params.kernel_w, groups: params.groups,
                    weightCRC: PackedWeights.crc(of: weights), biasCRC: bias.map(PackedWeights.crc(of:)),
                    values: FloatStorage(Array(UnsafeBufferPointer(start: buffer.pointer, count: buffer.count)))))
            }
        }
        return result
    }

    /// The variant packed from exactly `weights` and `bias` for this ISA, algorithm and geometry,
    /// or nil. The CRCs are computed only when a variant's kind and geometry match.
    static func match(_ variants: [PackedWeights], isa: KernelISA, algorithm: ConvolutionAlgorithm, params: mtz_conv2d_params,
                      weights: FloatStorage, bias: FloatStorage?) -> PackedWeights? {
        let size = packedSize(isa: isa, algorithm: algorithm, params: params)
        let candidates = variants.filter {
            $0.isa == isa.code && $0.algorithm == code(algorithm) && $0.layout == layoutVersion &&
                $0.inChannels == params.in_c && $0.outChannels == params.out_c && $0.kernelHeight == params.kernel_h &&
                $0.kernelWidth == params.kernel_w && $0.groups == params.groups && $0.values.count == size &&
                ($0.biasCRC == nil) == (bias == nil)
        }
        guard !candidates.isEmpty else { return nil }
        let weightCRC = PackedWeights.crc(of: weights), biasCRC = bias.map(PackedWeights.crc(of:))
        return candidates.first { $0.weightCRC == weightCRC && $0.biasCRC == biasCRC }
    }

    /// Packs `weights` (OHWI) and `bias` for the kernels of `isa` and `algorithm`.
    static func pack(isa: KernelISA, algorithm: ConvolutionAlgorithm, params: mtz_conv2d_params, weights: FloatStorage,
                     bias: FloatStorage?) throws(RuntimeError) -> AlignedBuffer {
        var p = params
        let buffer = try AlignedBuffer(count: packedSize(isa: isa, algorithm: algorithm, params: params), zeroed: false)
        weights.withUnsafeBufferPointer { w in
            withOptionalPointer(bias) { b in // every packer writes every float
                switch algorithm {
                case .gemm: mtz_conv2d_pack(isa.raw, &p, w.baseAddress, b, buffer.pointer)
                case .depthwise: mtz_dwconv2d_pack(&p, w.baseAddress, b, buffer.pointer)
                case .winograd: mtz_winograd_pack(isa.raw, &p, w.baseAddress, b, buffer.pointer)
                }
            }
        }
        return buffer
    }

    static func packedSize(isa: KernelISA, algorithm: ConvolutionAlgorithm, params: mtz_conv2d_params) -> Int {
        var p = params
        return switch algorithm {
        case .gemm: mtz_conv2d_packed_size(isa.raw, &p)
        case .depthwise: mtz_dwconv2d_packed_size(&p)
        case .winograd: mtz_winograd_packed_size(isa.raw, &p)
        }
    }

    /// The algorithm's code in a `PACK` entry.
    static func code(_ algorithm: ConvolutionAlgorithm) -> UInt32 {
        switch algorithm {
        case .gemm: 0
        case .depthwise: 1
        case .winograd: 2
        }
    }
}

/// Lends a pointer to `storage`'s floats, or nil.
private func withOptionalPointer<R>(_ storage: FloatStorage?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let storage else { return body(nil) }
    return storage.withUnsafeBufferPointer { body($0.baseAddress) }
}
