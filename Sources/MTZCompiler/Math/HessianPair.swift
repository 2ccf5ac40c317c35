/// One accepted pair of a layer's matching: neuron `a` of side A shares with neuron `b` of side B
/// at cost `cost`.
public typealias NeuronPair = (a: Int, b: Int, cost: Double)

/// The two sides' Hessians of one layer, prepared for MTZ pair costs and weight merging
/// (MTZ.md steps 2 and 3).
///
/// Factorises H_A + H_B once (Cholesky) and forms Ĥ = H_A (H_A + H_B)⁻¹ H_B, symmetrised. Weight
/// matrices have one row per neuron of length n = d+1: its weights over the shared inputs, in the
/// order the Hessians use, followed by its bias. Side A may stand for several merged tasks
/// (`LayerHessian.sum`). Construction: ≈ 3·n³ multiply-adds.
public struct HessianPair: Sendable {
    /// n: the Hessians' dimension (shared inputs + bias).
    public let n: Int
    /// H_A (n×n row-major, symmetric positive definite): the merged side.
    public let hessianA: [Double]
    /// H_B (n×n row-major, symmetric positive definite): the side being zipped in.
    public let hessianB: [Double]
    /// Ĥ = (H_A⁻¹ + H_B⁻¹)⁻¹ = H_A (H_A + H_B)⁻¹ H_B (n×n, exactly symmetric).
    public let combined: [Double]
    /// Cholesky factor of H_A + H_B.
    private let sumFactor: Cholesky

    /// Prepares the pair.
    /// - Throws: `CholeskyError` if H_A + H_B is not positive definite (damp the Hessians).
    public init(hessianA: [Double], hessianB: [Double], dimension n: Int) throws(CholeskyError) {
        checkSquare(hessianA, n, "HessianPair H_A")
        checkSquare(hessianB, n, "HessianPair H_B")
        var sum = hessianA
        for i in sum.indices { sum[i] += hessianB[i] }
        let factor = try Cholesky(matrix: sum, n: n)
        // Ĥ = H_A · ((H_A + H_B)⁻¹ H_B): one solve with n right-hand sides, one product.
        let solved = factor.solve(Matrix(rows: n, cols: n, values: hessianB))
        var hHat = matrixProduct(hessianA, solved.values, m: n, k: n, n: n)
        symmetrise(&hHat, n: n)
        self.n = n
        self.hessianA = hessianA
        self.hessianB = hessianB
        self.combined = hHat
        self.sumFactor = factor
    }

    /// The MTZ cost matrix D (N_A × N_B): D[i,j] = ½ (w_i^A − w_j^B)ᵀ Ĥ (w_i^A − w_j^B), the least
    /// summed error increase of forcing the two neurons to one weight vector.
    ///
    /// Vectorised as ½(diag(W_A Ĥ W_Aᵀ) 1ᵀ + 1 diag(W_B Ĥ W_Bᵀ)ᵀ − 2 W_A Ĥ W_Bᵀ). Values that
    /// cancellation makes slightly negative are clamped to 0 (Ĥ is positive definite).
    /// Complexity: (N_A + N_B)·n² + N_A·N_B·n multiply-adds.
    public func costs(weightsA: Matrix, weightsB: Matrix) -> Matrix {
        precondition(weightsA.cols == n && weightsB.cols == n, "HessianPair.costs: weight rows must have length \(n)")
        let na = weightsA.rows, nb = weightsB.rows
        let pa = matrixProduct(weightsA.values, combined, m: na, k: n, n: n) // W_A Ĥ
        let pb = matrixProduct(weightsB.values, combined, m: nb, k: n, n: n) // W_B Ĥ
        let qa = rowDots(pa, weightsA.values, m: na, n: n)
        let qb = rowDots(pb, weightsB.values, m: nb, n: n)
        let cross = matrixProduct(pa, weightsB.transposed().values, m: na, k: n, n: nb) // W_A Ĥ W_Bᵀ
        var d = Matrix(rows: na, cols: nb)
        for i in 0..<na {
            for j in 0..<nb {
                d.values[i * nb + j] = max(0, 0.5 * (qa[i] + qb[j] - 2 * cross[i * nb + j]))
            }
        }
        return d
    }

    /// The Hessian-weighted merged weights w̃ = (H_A + H_B)⁻¹ (H_A w_a + H_B w_b) of every pair,
    /// one row per pair in the order given (uses the one factorisation of H_A + H_B).
    public func mergedWeights(weightsA: Matrix, weightsB: Matrix, pairs: [NeuronPair]) -> Matrix {
        precondition(weightsA.cols == n && weightsB.cols == n, "HessianPair.mergedWeights: weight rows must have length \(n)")
        let k = pairs.count
        guard k > 0 else { return Matrix(rows: 0, cols: n) }
        var selectedA = [Double](), selectedB = [Double]()
        selectedA.reserveCapacity(k * n)
        selectedB.reserveCapacity(k * n)
        for p in pairs {
            selectedA += weightsA.values[p.a * n ..< (p.a + 1) * n]
            selectedB += weightsB.values[p.b * n ..< (p.b + 1) * n]
        }
        // Right-hand sides as rows: w_aᵀ H_A + w_bᵀ H_B (= (H_A w_a + H_B w_b)ᵀ, the Hessians are symmetric).
        var rhs = matrixProduct(selectedA, hessianA, m: k, k: n, n: n)
        let fromB = matrixProduct(selectedB, hessianB, m: k, k: n, n: n)
        for i in rhs.indices { rhs[i] += fromB[i] }
        let solved = sumFactor.solve(Matrix(rows: k, cols: n, values: rhs).transposed())
        return solved.transposed()
    }

    /// The objective MTZ minimises for one pair: ½(w − w_a)ᵀH_A(w − w_a) + ½(w − w_b)ᵀH_B(w − w_b).
    /// Its minimum over w is the pair's cost, attained at the merged weights.
    public func mergeError(merged w: [Double], weightA: [Double], weightB: [Double]) -> Double {
        precondition(w.count == n && weightA.count == n && weightB.count == n, "HessianPair.mergeError: lengths")
        return quadraticForm(hessianA, zip(w, weightA).map { $0 - $1 }, n: n) / 2
            + quadraticForm(hessianB, zip(w, weightB).map { $0 - $1 }, n: n) / 2
    }
}

/// xᵀ A x for an n×n row-major A.
func quadraticForm(_ a: [Double], _ x: [Double], n: Int) -> Double {
    var total = 0.0
    for i in 0..<n {
        var s = 0.0
        for j in 0..<n { s += a[i * n + j] * x[j] }
        total += x[i] * s
    }
    return total
}
