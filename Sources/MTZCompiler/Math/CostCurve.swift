/// A summary of the costs of a layer's accepted pairs, for reports.
public struct CostCurve: Sendable, Equatable, CustomStringConvertible {
    /// k: number of pairs.
    public let count: Int
    /// Smallest cost.
    public let min: Double
    /// Median cost (the mean of the middle two for even k).
    public let median: Double
    /// Largest cost.
    public let max: Double
    /// Mean cost.
    public let mean: Double
    /// Cost of the ⌈k/4⌉-th pair in acceptance order. For the greedy matching the `atNN` values
    /// grow with NN and `at100 == max`.
    public let at25: Double
    /// Cost of the ⌈k/2⌉-th pair in acceptance order.
    public let at50: Double
    /// Cost of the ⌈3k/4⌉-th pair in acceptance order.
    public let at75: Double
    /// Cost of the last (k-th) pair in acceptance order.
    public let at100: Double

    /// Summarises costs given in acceptance order; nil when there are none.
    public init?(costs: [Double]) {
        guard !costs.isEmpty else { return nil }
        let k = costs.count
        let sorted = costs.sorted()
        count = k
        min = sorted[0]
        max = sorted[k - 1]
        median = k % 2 == 1 ? sorted[k / 2] : 0.5 * (sorted[k / 2 - 1] + sorted[k / 2])
        mean = costs.reduce(0, +) / Double(k)
        // The ⌈q·k/4⌉-th pair (1-based) in integer arithmetic.
        func at(quarters q: Int) -> Double { costs[(q * k + 3) / 4 - 1] }
        at25 = at(quarters: 1)
        at50 = at(quarters: 2)
        at75 = at(quarters: 3)
        at100 = at(quarters: 4)
    }

    /// Summarises the costs of `pairs` (in acceptance order); nil when there are none.
    public init?(pairs: [NeuronPair]) {
        self.init(costs: pairs.map(\.cost))
    }

    /// One line, e.g. `k=3 min=0.1 median=0.2 max=0.3 mean=0.2 | 25%=0.1 50%=0.2 75%=0.3 100%=0.3`.
    public var description: String {
        "k=\(count) min=\(min) median=\(median) max=\(max) mean=\(mean) | 25%=\(at25) 50%=\(at50) 75%=\(at75) 100%=\(at100)"
    }
}
