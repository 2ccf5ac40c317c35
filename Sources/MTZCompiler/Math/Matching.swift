import MTZCore

/// Choosing which neurons share (MTZ.md step 3), and the random-pairing baseline.
public enum Matching {
    /// Greedy one-to-one matching: visits all costs in ascending order (ties broken by row `a`, then
    /// column `b`), accepts a pair when neither neuron is used yet, stops after `count` pairs.
    /// - Parameters:
    ///   - costs: N_A × N_B cost matrix (no NaN).
    ///   - count: k, `0...min(N_A, N_B)`.
    /// - Returns: the k pairs in acceptance order (so costs are non-decreasing).
    /// - Complexity: O(N_A·N_B · log(N_A·N_B)) for the sort.
    public static func greedy(costs: Matrix, count k: Int) -> [NeuronPair] {
        let na = costs.rows, nb = costs.cols
        precondition(k >= 0 && k <= min(na, nb), "Matching.greedy: k = \(k) for \(na)×\(nb)")
        precondition(!costs.values.contains { $0.isNaN }, "Matching.greedy: NaN cost")
        guard k > 0 else { return [] }
        // Flat index a·N_B + b orders ties by a, then b, so sorting by (cost, index) is the stable order.
        let values = costs.values
        let order = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
        var usedA = [Bool](repeating: false, count: na)
        var usedB = [Bool](repeating: false, count: nb)
        var pairs: [NeuronPair] = []
        pairs.reserveCapacity(k)
        for index in order {
            let a = index / nb, b = index % nb
            if usedA[a] || usedB[b] { continue }
            usedA[a] = true
            usedB[b] = true
            pairs.append((a: a, b: b, cost: values[index]))
            if pairs.count == k { break }
        }
        return pairs
    }

    /// Random one-to-one pairing (baseline): k distinct neurons of each side, drawn by Fisher–Yates
    /// shuffles with `SeededRandom(seed:)` and paired in draw order. Reproducible on every platform.
    /// - Parameter costs: if given (N_A × N_B), each pair's cost is read from it; otherwise 0.
    public static func random(countA na: Int, countB nb: Int, count k: Int, seed: UInt64, costs: Matrix? = nil) -> [NeuronPair] {
        precondition(k >= 0 && k <= min(na, nb), "Matching.random: k = \(k) for \(na)×\(nb)")
        if let costs { precondition(costs.rows == na && costs.cols == nb, "Matching.random: cost matrix shape") }
        var rng = SeededRandom(seed: seed)
        let sideA = shuffled(na, &rng), sideB = shuffled(nb, &rng)
        return (0..<k).map { r in
            (a: sideA[r], b: sideB[r], cost: costs?[sideA[r], sideB[r]] ?? 0)
        }
    }

    /// 0..<n in random order. Written out (rather than `shuffle(using:)`) so the sequence cannot
    /// change with the standard library's algorithm.
    private static func shuffled(_ n: Int, _ rng: inout SeededRandom) -> [Int] {
        var v = Array(0..<n)
        var i = n - 1
        while i > 0 {
            v.swapAt(i, rng.nextInt(below: i + 1))
            i -= 1
        }
        return v
    }
}
