/// The baselines MTZ is compared with (MTZ.md): Euclidean-distance costs and plain averaging.
public enum Baseline {
    /// Squared Euclidean distances D[i,j] = ‖w_i^A − w_j^B‖² (N_A × N_B), computed per pair
    /// without cancellation. Complexity: N_A·N_B·n.
    public static func euclideanCosts(weightsA: Matrix, weightsB: Matrix) -> Matrix {
        precondition(weightsA.cols == weightsB.cols, "Baseline.euclideanCosts: row lengths differ")
        let n = weightsA.cols, na = weightsA.rows, nb = weightsB.rows
        var d = Matrix(rows: na, cols: nb)
        weightsA.values.withUnsafeBufferPointer { a in
            weightsB.values.withUnsafeBufferPointer { b in
                for i in 0..<na {
                    for j in 0..<nb {
                        var s = 0.0
                        for t in 0..<n {
                            let diff = a[i * n + t] - b[j * n + t]
                            s += diff * diff
                        }
                        d.values[i * nb + j] = s
                    }
                }
            }
        }
        return d
    }

    /// The average `shareA·w_a + (1 − shareA)·w_b` of every pair, one row per pair in the order
    /// given: the plain average for two networks; `shareA = m/(m+1)` when side A already stands for
    /// `m` merged networks, so that every network weighs alike.
    public static func averagedWeights(weightsA: Matrix, weightsB: Matrix, pairs: [NeuronPair], shareA: Double = 0.5) -> Matrix {
        precondition(weightsA.cols == weightsB.cols, "Baseline.averagedWeights: row lengths differ")
        let n = weightsA.cols
        var out = Matrix(rows: pairs.count, cols: n)
        for (r, p) in pairs.enumerated() {
            for t in 0..<n { out.values[r * n + t] = shareA * weightsA[p.a, t] + (1 - shareA) * weightsB[p.b, t] }
        }
        return out
    }
}
