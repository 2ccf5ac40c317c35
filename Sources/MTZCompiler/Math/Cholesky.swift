/// Why a Cholesky factorisation failed.
public enum CholeskyError: Error, Equatable, CustomStringConvertible {
    /// The matrix is not (numerically) positive definite: pivot `pivot` was `value`.
    case notPositiveDefinite(pivot: Int, value: Double)

    /// A readable message.
    public var description: String {
        switch self {
        case let .notPositiveDefinite(pivot, value):
            "matrix is not positive definite (pivot \(pivot) is \(value)); increase the damping"
        }
    }
}

/// The Cholesky factorisation A = UᵀU of a symmetric positive definite matrix, and solves with it.
///
/// Used instead of explicit inverses everywhere in the compiler. Only the upper triangle of the
/// input is read. Factorisation: n³/3 multiply-adds; a solve with m right-hand sides: 2·n²·m.
public struct Cholesky: Sendable {
    /// Dimension n.
    public let n: Int
    /// The upper-triangular factor U, n×n row-major (strictly lower part zero).
    public let upper: [Double]

    /// Factorises the n×n row-major matrix `matrix`.
    /// - Throws: `CholeskyError.notPositiveDefinite` if a pivot is not finite or not above
    ///   `ε · max |diagonal|` (ε = machine epsilon), i.e. the matrix is indefinite or singular to
    ///   working precision.
    public init(matrix: [Double], n: Int) throws(CholeskyError) {
        checkSquare(matrix, n, "Cholesky")
        var u = [Double](repeating: 0, count: n * n)
        var maxDiagonal = 0.0
        for i in 0..<n {
            maxDiagonal = max(maxDiagonal, abs(matrix[i * n + i]))
            for j in i..<n { u[i * n + j] = matrix[i * n + j] }
        }
        let threshold = maxDiagonal * Double.ulpOfOne
        // Right-looking, row-oriented: after finishing row k of U, subtract its outer product from
        // the trailing upper triangle. Every inner loop runs along a contiguous row.
        var failure: CholeskyError?
        u.withUnsafeMutableBufferPointer { u in
            let u = u.baseAddress!
            for k in 0..<n {
                let pivot = u[k * n + k]
                guard pivot.isFinite, pivot > threshold else {
                    failure = .notPositiveDefinite(pivot: k, value: pivot)
                    return
                }
                let r = pivot.squareRoot()
                u[k * n + k] = r
                let rowK = u + k * n
                for j in (k + 1)..<n { rowK[j] /= r }
                for i in (k + 1)..<n {
                    let f = rowK[i]
                    if f == 0 { continue }
                    let rowI = u + i * n
                    for j in i..<n { rowI[j] -= f * rowK[j] }
                }
            }
        }
        if let failure { throw failure }
        self.n = n
        self.upper = u
    }

    /// Solves A x = b for one right-hand side of length n.
    public func solve(_ b: [Double]) -> [Double] {
        solve(Matrix(rows: n, cols: 1, values: b)).values
    }

    /// Solves A X = B for an n×m matrix of right-hand sides (one per column).
    public func solve(_ b: Matrix) -> Matrix {
        precondition(b.rows == n, "Cholesky.solve: \(b.rows) rows for dimension \(n)")
        let m = b.cols
        var x = b.values
        upper.withUnsafeBufferPointer { u in
            x.withUnsafeMutableBufferPointer { x in
                let u = u.baseAddress!
                guard let x = x.baseAddress else { return }
                // Forward: Uᵀ Y = B. Row i of Y is final once divided; push it into the rows below.
                for i in 0..<n {
                    let xi = x + i * m
                    let d = u[i * n + i]
                    for j in 0..<m { xi[j] /= d }
                    for k in (i + 1)..<n {
                        let f = u[i * n + k]
                        if f == 0 { continue }
                        let xk = x + k * m
                        for j in 0..<m { xk[j] -= f * xi[j] }
                    }
                }
                // Backward: U X = Y, from the last row up.
                for i in stride(from: n - 1, through: 0, by: -1) {
                    let xi = x + i * m
                    for k in (i + 1)..<n {
                        let f = u[i * n + k]
                        if f == 0 { continue }
                        let xk = x + k * m
                        for j in 0..<m { xi[j] -= f * xk[j] }
                    }
                    let d = u[i * n + i]
                    for j in 0..<m { xi[j] /= d }
                }
            }
        }
        return Matrix(rows: n, cols: m, values: x)
    }
}
