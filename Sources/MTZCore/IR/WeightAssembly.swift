/// How a weight tensor is put together from other weight tensors of the model (its *parts*), so
/// that a block several tensors have in common is stored once.
///
/// A zipped layer that is only partly shared gives each task one weight matrix over its whole
/// input, but the block of shared neurons over shared inputs is the same in every task's matrix:
/// each matrix is assembled from that block and the task's own blocks. The runtime then runs one
/// convolution per task and layer instead of one per block, while the file stores the block once.
///
/// The tensor's elements are viewed as `[R][M][C]`: `R = rowBands.sum` (the first axis: output
/// channels), `C = channelBands.sum` (the last axis of a convolution or of each flattened pixel:
/// input channels) and `M = elementCount / (R·C)` (kernel taps, or pixels of a flattened map; 1 for
/// a bias, whose `C` is 1). Cell `(i, j)` of the band grid is part `parts[i·channelBands.count + j]`,
/// whose elements are read as `[rowBands[i]][M][channelBands[j]]`. Parts are plain tensors (not
/// assembled themselves).
///
/// The tensor's `values` are always the assembled values. The assembly says how the file stores
/// them, and the writer uses it only when it reproduces those values exactly.
public struct WeightAssembly: Sendable, Hashable {
    /// Sizes of the bands along the first axis, each at least 1.
    public var rowBands: [Int]
    /// Sizes of the bands along the last axis, each at least 1.
    public var channelBands: [Int]
    /// Weight index of each cell, row band by row band.
    public var parts: [Int]

    /// Creates an assembly; see the type's documentation for the layout.
    public init(rowBands: [Int], channelBands: [Int], parts: [Int]) {
        self.rowBands = rowBands
        self.channelBands = channelBands
        self.parts = parts
    }

    /// Passes every part index through `map` (when the model's weights are renumbered).
    public mutating func remapParts(_ map: (Int) -> Int) { parts = parts.map(map) }

    /// Why this assembly cannot build a tensor of `elementCount` elements whose first axis is
    /// `rows` (nil if it can). `partCount(index)` is a part's element count, or nil if `index` is
    /// not a plain weight tensor of the model.
    public func problem(rows: Int, elementCount: Int, partCount: (Int) -> Int?) -> String? {
        guard !rowBands.isEmpty, !channelBands.isEmpty else { return "has no bands" }
        guard rowBands.allSatisfy({ $0 >= 1 }), channelBands.allSatisfy({ $0 >= 1 }) else { return "has an empty band" }
        guard parts.count == rowBands.count * channelBands.count else {
            return "has \(parts.count) parts for \(rowBands.count)×\(channelBands.count) bands"
        }
        // Each band is at least 1, so with `rows` and `elementCount` bounded the sums cannot overflow
        // before they exceed them.
        var r = 0
        for b in rowBands { r += b; if r > rows { break } }
        guard r == rows else { return "has row bands summing to \(r > rows ? "more than \(rows)" : "\(r)"), not \(rows)" }
        var c = 0
        for b in channelBands { c += b; if c > elementCount { break } }
        guard c <= elementCount / rows, elementCount % (rows * c) == 0 else {
            return "has channel bands summing to \(c), which does not divide a row of \(elementCount / rows) elements"
        }
        let inner = elementCount / (rows * c)
        for (i, rb) in rowBands.enumerated() {
            for (j, cb) in channelBands.enumerated() {
                let p = parts[i * channelBands.count + j]
                guard let n = partCount(p) else { return "names part \(p), which is not a plain weight tensor of the model" }
                guard n == rb * inner * cb else {
                    return "cell (\(i), \(j)) needs \(rb)×\(inner)×\(cb) = \(rb * inner * cb) elements, part \(p) has \(n)"
                }
            }
        }
        return nil
    }

    /// The assembled values of a tensor of `elementCount` elements from the parts' values (the
    /// assembly must be valid for it, see `problem`).
    public func assemble(elementCount: Int, part: (Int) -> FloatStorage) -> [Float] {
        var out = [Float](repeating: 0, count: elementCount)
        out.withUnsafeMutableBufferPointer { assemble(into: $0, part: part) }
        return out
    }

    /// Writes the assembled values into `dst` (the tensor's elements; see `assemble`).
    public func assemble(into dst: UnsafeMutableBufferPointer<Float>, part: (Int) -> FloatStorage) {
        for cell in cells(elementCount: dst.count) {
            part(cell.part).withUnsafeBufferPointer { src in
                for q in 0..<cell.runs {
                    let to = cell.tensorStart + q * cell.tensorStride, from = q * cell.length
                    for k in 0..<cell.length { dst[to + k] = src[from + k] }
                }
            }
        }
    }

    /// One cell of a tensor's band grid, as runs of consecutive elements: run `q` (`0..<runs`) is the
    /// part's elements from `q · length` and the tensor's from `tensorStart + q · tensorStride`, both
    /// `length` long.
    public struct Cell: Sendable, Hashable {
        public var part: Int
        public var runs: Int
        public var length: Int
        public var tensorStart: Int
        public var tensorStride: Int
    }

    /// The cells of a tensor of `elementCount` elements, row band by row band; every element of the
    /// tensor is in exactly one run of one cell. Assembling reads them one way, training adds an
    /// assembled tensor's gradient to its parts the other way.
    public func cells(elementCount: Int) -> [Cell] {
        let rows = rowBands.reduce(0, +), c = channelBands.reduce(0, +)
        let inner = elementCount / (rows * c)
        var result: [Cell] = []
        var r0 = 0
        for (i, rb) in rowBands.enumerated() {
            var c0 = 0
            for (j, cb) in channelBands.enumerated() {
                result.append(Cell(part: parts[i * channelBands.count + j], runs: rb * inner, length: cb,
                                   tensorStart: r0 * inner * c + c0, tensorStride: c))
                c0 += cb
            }
            r0 += rb
        }
        return result
    }
}

extension Model {
    /// The tensors that hold weight `index`'s values in storage: its parts if it is assembled,
    /// else itself.
    public func storedWeights(of index: Int) -> [Int] {
        weights[index].assembly?.parts ?? [index]
    }

    /// Weight `index`'s assembly checked against the model (nil if it has none or it is valid).
    func assemblyProblem(of index: Int) -> String? {
        let w = weights[index]
        guard let a = w.assembly else { return nil }
        return a.problem(rows: w.shape[0], elementCount: w.elementCount) { p in
            guard p >= 0, p < weights.count, p != index, weights[p].assembly == nil else { return nil }
            return weights[p].elementCount
        }
    }
}
