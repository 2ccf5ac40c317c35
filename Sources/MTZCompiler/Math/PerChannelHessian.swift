/// The authors' per-channel approximation of a convolution layer's Hessian (an option; the exact
/// patch Hessian `LayerHessian` over im2col rows is the default).
///
/// Accumulates the (C+1)×(C+1) matrix M̄ = mean over all input pixels of [x; 1][x; 1]ᵀ, where x is
/// the C-vector of (shared) input channels at one pixel — the same statistic as the authors'
/// `calculate_hessian_conv_tf`. `matrix(taps:damping:)` expands it to the full kernel layout of
/// dimension T·C + 1 (T = kernel taps, index = tap·C + channel as in OHWI weights, bias last):
///
///     H[(p,c),(p',c')] = δ(p,p') · M_cc'        M = mean x xᵀ
///     H[(p,c), bias]   = m_c                     m = mean x
///     H[bias, bias]    = T
///
/// so that ½ δᵀHδ = Σ_taps ½ [δ_p; δ_b]ᵀ M̄ [δ_p; δ_b]: exactly the authors' cost, which sums a
/// per-tap quadratic with the bias difference repeated at every tap. Against the exact patch
/// Hessian this (1) drops all correlations between different taps, (2) uses pixel moments over the
/// whole input map for every tap (ignoring padding, stride and border effects), and (3) weights the
/// bias term T times (the price of keeping the expansion positive semidefinite). For a 1-channel
/// input it keeps no spatial information at all. Cost: (C+1)² per pixel instead of (T·C+1)² per patch.
public struct PerChannelHessian: Sendable {
    /// The pixel-level accumulator (dimension C).
    public private(set) var pixelMoments: LayerHessian

    /// Creates an empty accumulator for `channels` (shared) input channels.
    public init(channels: Int) {
        pixelMoments = LayerHessian(dimension: channels)
    }

    /// C: input channels per pixel.
    public var channels: Int { pixelMoments.dimension }
    /// Number of pixels added so far.
    public var sampleCount: Int { pixelMoments.sampleCount }

    /// Adds `count` input pixels of C channels that start `stride` floats apart (an NHWC map, or a
    /// channel prefix of a wider one with stride = total channels).
    public mutating func add(pixels rows: UnsafePointer<Float>, count: Int, stride: Int) {
        pixelMoments.add(rows: rows, count: count, stride: stride)
    }

    /// Adds contiguously stored pixels (`values.count` a multiple of C).
    public mutating func add(pixels values: [Float]) {
        pixelMoments.add(rows: values)
    }

    /// The undamped (C+1)×(C+1) per-pixel matrix M̄.
    public func compactMatrix() -> [Double] {
        pixelMoments.mean()
    }

    /// The expansion to the kernel layout described above, (T·C+1)×(T·C+1), damped with
    /// λ · (trace/dim) · I like `LayerHessian.matrix(damping:)`.
    public func matrix(taps: Int, damping lambda: Double) -> [Double] {
        precondition(taps >= 1, "PerChannelHessian: taps must be positive")
        let c = channels, compact = compactMatrix(), cn = c + 1
        let n = taps * c + 1
        var h = [Double](repeating: 0, count: n * n)
        for p in 0..<taps {
            for i in 0..<c {
                let row = (p * c + i) * n
                for j in 0..<c { h[row + p * c + j] = compact[i * cn + j] }
                h[row + n - 1] = compact[i * cn + c]
                h[(n - 1) * n + p * c + i] = compact[i * cn + c]
            }
        }
        h[n * n - 1] = Double(taps)
        return LayerHessian.damped(h, n: n, lambda: lambda)
    }
}
