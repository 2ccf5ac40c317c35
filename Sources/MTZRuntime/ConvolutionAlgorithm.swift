import CMTZKernels

/// How a convolution node is computed.
public enum ConvolutionAlgorithm: String, Sendable, Codable, CaseIterable {
    /// im2col (or the input itself for 1×1) times packed weights on the GEMM microkernels.
    case gemm
    /// The depthwise kernel (groups == in_c == out_c).
    case depthwise
    /// Winograd F(4×4, 3×3) for 3×3 and F(2×2, 5×5) for 5×5 kernels (stride 1, undilated,
    /// ungrouped): 4× (2.8×) fewer multiplies, 4× (1.44×) larger packed weights, results equal to the
    /// direct convolution up to rounding (≈1e-5 of the output's magnitude).
    case winograd
}

/// Which convolution algorithms a model may use.
public enum ConvolutionPolicy: String, Sendable, Codable, CaseIterable {
    /// Winograd where it is eligible and measured faster than the GEMM path, GEMM elsewhere.
    case automatic
    /// GEMM (and depthwise) only: bit-for-bit the pre-Winograd results, smaller packed weights.
    case gemmOnly = "gemm-only"
    /// Winograd wherever it is eligible (for tests and A/B measurements).
    case winogradWhereEligible = "winograd"

    /// The algorithm for a convolution with kernel geometry `params`.
    ///
    /// `automatic` takes Winograd when both channel counts are at least 8 (with 3 input channels, as
    /// in a first layer, the transforms cost more than the GEMM they save: 0.8× measured at
    /// 224×224×3→64) and the layer has enough 4×4 tiles to amortise streaming its 36 transformed
    /// weight matrices once per tile block: `tiles × 64 ≥ max(in_c, out_c)` (Zen 4, one thread:
    /// 7×7×512→512, 4 tiles, ran at 0.89× the GEMM path; 7×7×128→128 at 1.6×; 14×14×512→512 at
    /// 1.6×; 56×56×256→256 at 3.0×). The same rule holds for F(2×2, 5×5) on LeNet-5: conv2
    /// (12×12×20→50, 16 tiles) ran at 1.65× the GEMM path (0.026 vs 0.043 ms), conv1 (28×28×1→20)
    /// at 0.4× (one input channel: the GEMMs have K = 1).
    func algorithm(for params: mtz_conv2d_params, depthwise: Bool) -> ConvolutionAlgorithm {
        if depthwise { return .depthwise }
        var p = params
        guard self != .gemmOnly, mtz_winograd_eligible(&p) != 0 else { return .gemm }
        if self == .winogradWhereEligible { return .winograd }
        let tiles = mtz_winograd_tiles(&p)
        let fast = p.in_c >= 8 && p.out_c >= 8 && tiles * 64 >= max(p.in_c, p.out_c)
        return fast ? .winograd : .gemm
    }
}
