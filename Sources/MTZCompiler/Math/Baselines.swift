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

    /// The plain average (w_a + w_b)/2 of every pair, one row per pair in the order given.
    public static func averagedWeights(weightsA: Matrix, weightsB: Matrix, pairs: [NeuronPair]) -> Matrix {
        precondition(weightsA.cols == weightsB.cols, "Baseline.averagedWeights: row lengths differ")
        let n = weightsA.cols
        var out = Matrix(rows: pairs.count, cols: n)
        for (r, p) in pairs.enumerated() {
            for t in 0..<n { out.values[r * n + t] = 0.5 * (weightsA[p.a, t] + weightsB[p.b, t]) }
        }
        return out
    }
}
