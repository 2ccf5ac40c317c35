import Testing
import MTZTraining

/// McNemar's exact test and the paired error difference of two models on the same images.
@Suite struct PairedComparisonTests {
    /// Reference p-values from exact integer arithmetic: 2 · Σ_{i ≤ min(b,c)} C(b+c, i) / 2^(b+c),
    /// capped at 1 (Python: `min(1, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)`).
    @Test("exact McNemar p-values match exact binomial sums", arguments: [
        (20, 16, 0.617719317029696), (118, 113, 0.7924798849312886), (0, 5, 0.0625), (1, 9, 0.021484375),
        (600, 700, 0.0060157938610449525), (5000, 5200, 0.04878796312682245),
    ])
    func exactPValues(b: Int, c: Int, expected: Double) {
        let p = PairedComparison.exactMcNemarP(b, c)
        #expect(abs(p - expected) <= 1e-9 * max(expected, 1e-300) + 1e-12, "p(\(b), \(c)) = \(p), want \(expected)")
        #expect(PairedComparison.exactMcNemarP(c, b) == p, "the test is symmetric")
    }

    @Test("no discordant images, or an even split, is no evidence at all")
    func evenSplits() {
        #expect(PairedComparison.exactMcNemarP(0, 0) == 1)
        #expect(PairedComparison.exactMcNemarP(7, 7) == 1)
        #expect(PairedComparison.exactMcNemarP(3000, 3000) == 1)
    }

    @Test("very uneven splits of many images give tiny p-values, not zero or NaN")
    func largeCounts() {
        let p = PairedComparison.exactMcNemarP(4000, 5000)
        #expect(p > 0 && p < 1e-20 && p.isFinite, "\(p)")
        // 2 · 2⁻¹⁰⁰⁰, far below what 2⁻ⁿ summed term by term in linear space could reach.
        let q = PairedComparison.exactMcNemarP(0, 1000), exact = Double(sign: .plus, exponent: -999, significand: 1)
        #expect(abs(q - exact) <= 1e-10 * exact, "\(q)")
    }

    @Test("counts, difference and interval from predictions; a missing prediction is a mistake")
    func countsFromPredictions() {
        // Image:      0  1  2  3  4  5  6  7
        let labels: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let a: [Int32] = [1, 2, 0, 0, -1, 6, 7, 8]   // wrong on 2, 3, 4
        let b: [Int32] = [1, 0, 3, 0, 5, 6, 7, 0]    // wrong on 1, 3, 7
        let c = PairedComparison(labels: labels, a: a, b: b)
        #expect(c.images == 8 && c.errorsA == 3 && c.errorsB == 3)
        #expect(c.onlyA == 2 && c.onlyB == 2)   // A alone: 2, 4; B alone: 1, 7
        #expect(c.difference == 0 && c.pValue == 1)
        // d = [0, -1, 1, 0, 1, 0, 0, -1]: mean 0, variance 4/8, standard error sqrt(0.5 / 8) = 0.25.
        #expect(abs(c.halfWidth95 - 1.959964 * 0.25) < 1e-12)

        let better = PairedComparison(labels: labels, a: labels.map { Int32($0) }, b: b)
        #expect(better.errorsA == 0 && better.onlyA == 0 && better.onlyB == 3)
        #expect(abs(better.difference + 3.0 / 8) < 1e-12)
        #expect(abs(better.pValue - 0.25) < 1e-12)   // 2 · (1/2)³
    }

    @Test("identical predictions differ by exactly nothing")
    func identical() {
        let labels: [UInt8] = [0, 1, 2, 3]
        let p: [Int] = [0, 2, 2, 1]
        let c = PairedComparison(labels: labels, a: p, b: p)
        #expect(c.errorsA == 2 && c.errorsB == 2 && c.onlyA == 0 && c.onlyB == 0)
        #expect(c.difference == 0 && c.halfWidth95 == 0 && c.pValue == 1)
    }

    @Test("pooling sums the counts: the union of the tasks' images")
    func pooling() {
        let m = PairedComparison(images: 10_000, errorsA: 84, errorsB: 80, onlyA: 20, onlyB: 16)
        let f = PairedComparison(images: 10_000, errorsA: 855, errorsB: 850, onlyA: 118, onlyB: 113)
        let both = PairedComparison(pooling: [m, f])
        #expect(both == PairedComparison(images: 20_000, errorsA: 939, errorsB: 930, onlyA: 138, onlyB: 129))
        // Equal test sets: the pooled difference is the mean of the tasks' differences.
        #expect(abs(both.difference - (m.difference + f.difference) / 2) < 1e-15)
        #expect(both.pValue == PairedComparison.exactMcNemarP(138, 129))
    }
}
