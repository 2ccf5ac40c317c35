/// A dense row-major matrix of doubles: the value type of the compiler's numerics.
///
/// Deliberately small: storage, element access and the two products the MTZ formulas need.
/// Square symmetric matrices (Hessians) are passed as plain `[Double]` with their dimension.
public struct Matrix: Sendable, Equatable {
    /// Number of rows.
    public var rows: Int
    /// Number of columns.
    public var cols: Int
    /// `rows * cols` values, row after row.
    public var values: [Double]

    /// Creates a matrix from row-major values (`values.count == rows * cols`).
    public init(rows: Int, cols: Int, values: [Double]) {
        precondition(rows >= 0 && cols >= 0 && values.count == rows * cols, "Matrix: \(values.count) values for \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    /// Creates a `rows × cols` matrix filled with `value`.
    public init(rows: Int, cols: Int, repeating value: Double = 0) {
        self.init(rows: rows, cols: cols, values: [Double](repeating: value, count: rows * cols))
    }

    /// Creates a matrix from an array of equally long rows (convenient in tests).
    public init(_ rowArrays: [[Double]]) {
        let cols = rowArrays.first?.count ?? 0
        precondition(rowArrays.allSatisfy { $0.count == cols }, "Matrix: rows of different lengths")
        self.init(rows: rowArrays.count, cols: cols, values: rowArrays.flatMap { $0 })
    }

    /// Element at row `r`, column `c`.
    public subscript(r: Int, c: Int) -> Double {
        get { values[r * cols + c] }
        set { values[r * cols + c] = newValue }
    }

    /// Row `r` as an array.
    public func row(_ r: Int) -> [Double] {
        Array(values[r * cols ..< (r + 1) * cols])
    }

    /// The first `k` rows.
    public func prefixRows(_ k: Int) -> Matrix {
        Matrix(rows: k, cols: cols, values: Array(values.prefix(k * cols)))
    }

    /// The transpose.
    public func transposed() -> Matrix {
        var t = Matrix(rows: cols, cols: rows)
        for r in 0..<rows {
            for c in 0..<cols { t.values[c * rows + r] = values[r * cols + c] }
        }
        return t
    }

    /// The product `self · other`. Complexity: O(rows · cols · other.cols).
    public func multiplied(by other: Matrix) -> Matrix {
        precondition(cols == other.rows, "Matrix product: \(rows)×\(cols) · \(other.rows)×\(other.cols)")
        return Matrix(rows: rows, cols: other.cols,
                      values: matrixProduct(values, other.values, m: rows, k: cols, n: other.cols))
    }
}

/// Row-major C (m×n) = A (m×k) · B (k×n).
///
/// Loop order i–p–j: the innermost loop is an axpy over a contiguous row of B into a contiguous
/// row of C, which the compiler vectorises (a dot-product inner loop would not be, because strict
/// floating-point semantics forbid reassociating the sum). The p loop is cut into panels of B rows
/// small enough to stay in L2 while every row of A streams past them.
func matrixProduct(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int) -> [Double] {
    precondition(a.count == m * k && b.count == k * n, "matrixProduct: sizes")
    var c = [Double](repeating: 0, count: m * n)
    let panelRows = max(1, 32_768 / max(n, 1)) // ≈ 256 KB of B per panel
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            c.withUnsafeMutableBufferPointer { c in
                guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else { return }
                var p0 = 0
                while p0 < k {
                    let p1 = min(k, p0 + panelRows)
                    for i in 0..<m {
                        let cRow = c + i * n
                        for p in p0..<p1 {
                            let f = a[i * k + p]
                            if f == 0 { continue }
                            let bRow = b + p * n
                            for j in 0..<n { cRow[j] += f * bRow[j] }
                        }
                    }
                    p0 = p1
                }
            }
        }
    }
    return c
}

/// Row-wise dot products: out[i] = Σ_j x[i,j] · y[i,j] for two m×n row-major matrices.
func rowDots(_ x: [Double], _ y: [Double], m: Int, n: Int) -> [Double] {
    precondition(x.count == m * n && y.count == m * n, "rowDots: sizes")
    var out = [Double](repeating: 0, count: m)
    for i in 0..<m {
        var s = 0.0
        for j in 0..<n { s += x[i * n + j] * y[i * n + j] }
        out[i] = s
    }
    return out
}

/// Checks that `matrix` holds an n×n matrix; used by the public entry points.
func checkSquare(_ matrix: [Double], _ n: Int, _ what: String) {
    precondition(n >= 1 && matrix.count == n * n, "\(what): \(matrix.count) values for \(n)×\(n)")
}
