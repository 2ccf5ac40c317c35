import CMTZKernels

/// The layer-wise Hessian H = (1/n) Σ x̄ x̄ᵀ of one task at one layer (MTZ.md step 1), x̄ = [x; 1].
///
/// Feed it the layer's inputs over the *shared* input channels: FC input vectors, or for a
/// convolution the im2col rows of every output position (kernel taps × shared channels, in the
/// OHWI order of the weights; the exact layer-wise form). Rows are accumulated in blocks of
/// `blockRows` with the Float GEMM kernels and each block's product is added into a Double
/// accumulator, so the Float rounding is that of a `blockRows`-term sum (relative ≈ 1e-6 typical).
/// Memory: d² doubles of accumulator plus d² + 2·d·`blockRows` floats of GEMM scratch.
public struct LayerHessian: Sendable {
    /// Rows per GEMM block.
    public static let blockRows = 256

    /// d: the input dimension without the bias entry; `matrix` is (d+1)×(d+1).
    public let dimension: Int
    /// Number of input vectors added so far.
    public private(set) var sampleCount = 0

    /// Σ x xᵀ (d×d, full, symmetric) and Σ x (d), in Double.
    private var gram: [Double]
    private var sums: [Double]
    /// GEMM scratch, allocated at the first `add`: the block transposed (d × blockRows), the block
    /// packed as B, and the block's Float product (d × d).
    private var transposedBlock: [Float] = []
    private var packedBlock: [Float] = []
    private var blockProduct: [Float] = []

    /// Creates an empty accumulator for inputs of dimension `d` (without the bias entry).
    public init(dimension d: Int) {
        precondition(d >= 0, "LayerHessian: negative dimension")
        dimension = d
        gram = [Double](repeating: 0, count: d * d)
        sums = [Double](repeating: 0, count: d)
    }

    /// Adds Σ x̄ x̄ᵀ over `count` input vectors of length d that start `stride` floats apart.
    public mutating func add(rows: UnsafePointer<Float>, count: Int, stride: Int) {
        let d = dimension
        precondition(count >= 0 && stride >= d, "LayerHessian.add: count \(count), stride \(stride) for d = \(d)")
        guard count > 0 else { return }
        sampleCount += count
        guard d > 0 else { return }

        // Σ x in Double, row by row (cheap next to the GEMM).
        sums.withUnsafeMutableBufferPointer { s in
            for r in 0..<count {
                let x = rows + r * stride
                for j in 0..<d { s[j] += Double(x[j]) }
            }
        }

        let isa = mtz_isa_selected()
        let block = Self.blockRows
        if transposedBlock.isEmpty {
            transposedBlock = [Float](repeating: 0, count: d * block)
            packedBlock = [Float](repeating: 0, count: mtz_gemm_packed_size(isa, block, d))
            blockProduct = [Float](repeating: 0, count: d * d)
        }
        var start = 0
        while start < count {
            let m = min(block, count - start)
            let x = rows + start * stride
            transposedBlock.withUnsafeMutableBufferPointer { xt in
                packedBlock.withUnsafeMutableBufferPointer { packed in
                    blockProduct.withUnsafeMutableBufferPointer { product in
                        // product (d×d) = Xᵀ (d×m) · X (m×d)
                        mtz_transpose(m, d, x, stride, xt.baseAddress!, m)
                        mtz_gemm_pack_kn(isa, m, d, x, stride, nil, packed.baseAddress!)
                        mtz_gemm(isa, d, d, m, xt.baseAddress!, m, packed.baseAddress!, product.baseAddress!, d, 0, MTZ_ACT_NONE)
                    }
                }
            }
            gram.withUnsafeMutableBufferPointer { g in
                blockProduct.withUnsafeBufferPointer { p in
                    for i in 0..<(d * d) { g[i] += Double(p[i]) }
                }
            }
            start += m
        }
    }

    /// Adds the input vectors stored contiguously in `rows` (`rows.count` a multiple of d).
    public mutating func add(rows: [Float]) {
        let d = dimension
        precondition(d > 0 ? rows.count % d == 0 : rows.isEmpty, "LayerHessian.add: \(rows.count) floats for d = \(d)")
        let count = d > 0 ? rows.count / d : 0
        rows.withUnsafeBufferPointer { add(rows: $0.baseAddress!, count: count, stride: d) }
    }

    /// Adds another accumulator's samples (e.g. one filled on another thread).
    public mutating func merge(_ other: LayerHessian) {
        precondition(other.dimension == dimension, "LayerHessian.merge: dimensions differ")
        sampleCount += other.sampleCount
        for i in gram.indices { gram[i] += other.gram[i] }
        for i in sums.indices { sums[i] += other.sums[i] }
    }

    /// The undamped mean (1/n) Σ x̄ x̄ᵀ, (d+1)×(d+1) row-major, bias entry last, exactly symmetric.
    public func mean() -> [Double] {
        precondition(sampleCount > 0, "LayerHessian: no samples added")
        let d = dimension, n = d + 1
        let scale = 1 / Double(sampleCount)
        var h = [Double](repeating: 0, count: n * n)
        for i in 0..<d {
            for j in i..<d {
                // The Float GEMM need not return a bit-symmetric product; average the two halves.
                let v = 0.5 * (gram[i * d + j] + gram[j * d + i]) * scale
                h[i * n + j] = v
                h[j * n + i] = v
            }
            h[i * n + d] = sums[i] * scale
            h[d * n + i] = sums[i] * scale
        }
        h[d * n + d] = 1
        return h
    }

    /// The damped Hessian (1/n) Σ x̄ x̄ᵀ + λ · (trace / (d+1)) · I, (d+1)×(d+1) row-major.
    public func matrix(damping lambda: Double) -> [Double] {
        LayerHessian.damped(mean(), n: dimension + 1, lambda: lambda)
    }

    /// `h + λ · (trace(h)/n) · I` for an n×n matrix `h`.
    public static func damped(_ h: [Double], n: Int, lambda: Double) -> [Double] {
        checkSquare(h, n, "LayerHessian.damped")
        precondition(lambda >= 0, "LayerHessian: negative damping")
        var trace = 0.0
        for i in 0..<n { trace += h[i * n + i] }
        var out = h
        let shift = lambda * trace / Double(n)
        for i in 0..<n { out[i * n + i] += shift }
        return out
    }

    /// The element-wise sum of equally sized Hessians: the merged side H_A = Σ_s H_s when a network
    /// is zipped into several already merged ones (precisions add; MTZ.md "More than two networks").
    ///
    /// Sum the *damped* matrices of the merged tasks (each computed on its own task's data through
    /// the current zipped network) and pass the result as `hessianA` to `HessianPair`.
    public static func sum(_ hessians: [[Double]]) -> [Double] {
        precondition(!hessians.isEmpty, "LayerHessian.sum: no matrices")
        var out = hessians[0]
        for h in hessians.dropFirst() {
            precondition(h.count == out.count, "LayerHessian.sum: sizes differ")
            for i in out.indices { out[i] += h[i] }
        }
        return out
    }

    /// The authors' alternative for the merged side: (Σ_s H_s⁻¹)⁻¹ (their code sums inverse
    /// Hessians). Each inverse is formed by Cholesky solves against the identity — the one place
    /// where explicit inverses are unavoidable. Complexity: O(S · n³).
    public static func inverseSum(_ hessians: [[Double]], n: Int) throws(CholeskyError) -> [Double] {
        precondition(!hessians.isEmpty, "LayerHessian.inverseSum: no matrices")
        var identity = Matrix(rows: n, cols: n)
        for i in 0..<n { identity[i, i] = 1 }
        var sumOfInverses = [Double](repeating: 0, count: n * n)
        for h in hessians {
            let inverse = try Cholesky(matrix: h, n: n).solve(identity).values
            for i in sumOfInverses.indices { sumOfInverses[i] += inverse[i] }
        }
        var result = try Cholesky(matrix: sumOfInverses, n: n).solve(identity).values
        symmetrise(&result, n: n)
        return result
    }
}

/// Replaces an n×n matrix by (A + Aᵀ)/2.
func symmetrise(_ a: inout [Double], n: Int) {
    for i in 0..<n {
        for j in (i + 1)..<n {
            let v = 0.5 * (a[i * n + j] + a[j * n + i])
            a[i * n + j] = v
            a[j * n + i] = v
        }
    }
}
