import Foundation
import MTZCore
import Testing
import MTZCompiler

/// The numerical core of the compiler: Hessians, Cholesky, MTZ pair costs, matching, merging.
@Suite struct MathTests {
    // MARK: Helpers

    /// A random n×n symmetric positive definite matrix BᵀB/n + shift·I.
    static func randomSPD(_ n: Int, seed: UInt64, shift: Double = 0.1) -> [Double] {
        var rng = SeededRandom(seed: seed)
        let b = (0..<(n * n)).map { _ in Double(rng.nextFloat(in: -1...1)) }
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0
                for k in 0..<n { s += b[k * n + i] * b[k * n + j] }
                a[i * n + j] = s / Double(n) + (i == j ? shift : 0)
            }
        }
        return a
    }

    static func randomMatrix(_ rows: Int, _ cols: Int, seed: UInt64) -> Matrix {
        Matrix(rows: rows, cols: cols, values: seededFloats(count: rows * cols, seed: seed).map(Double.init))
    }

    static func multiply(_ a: [Double], _ x: [Double], n: Int) -> [Double] {
        (0..<n).map { i in (0..<n).reduce(0.0) { $0 + a[i * n + $1] * x[$1] } }
    }

    static func quadratic(_ a: [Double], _ x: [Double], n: Int) -> Double {
        zip(x, multiply(a, x, n: n)).reduce(0.0) { $0 + $1.0 * $1.1 }
    }

    static func maxAbs(_ x: [Double]) -> Double { x.reduce(0) { max($0, abs($1)) } }

    /// Objective of one merged vector w against several (Hessian, original weights) terms.
    static func objective(_ w: [Double], _ terms: [([Double], [Double])], n: Int) -> Double {
        terms.reduce(0.0) { total, term in
            total + 0.5 * quadratic(term.0, zip(w, term.1).map { $0 - $1 }, n: n)
        }
    }

    // MARK: Cholesky

    @Test func choleskySolvesRandomSPDSystems() throws {
        for (n, seed) in [(1, 1 as UInt64), (5, 2), (17, 3), (64, 4)] {
            let a = Self.randomSPD(n, seed: seed)
            let chol = try Cholesky(matrix: a, n: n)
            // One vector.
            let b = seededFloats(count: n, seed: seed + 100).map(Double.init)
            let x = chol.solve(b)
            let residual = zip(Self.multiply(a, x, n: n), b).map { $0 - $1 }
            #expect(Self.maxAbs(residual) < 1e-12 * max(1, Self.maxAbs(b)))
            // Several right-hand sides at once agree with one-by-one solves.
            let rhs = Self.randomMatrix(n, 3, seed: seed + 200)
            let xs = chol.solve(rhs)
            for c in 0..<3 {
                let column = (0..<n).map { rhs[$0, c] }
                let single = chol.solve(column)
                let r = zip(Self.multiply(a, (0..<n).map { xs[$0, c] }, n: n), column).map { $0 - $1 }
                #expect(Self.maxAbs(r) < 1e-12)
                #expect(Self.maxAbs(zip(single, (0..<n).map { xs[$0, c] }).map { $0 - $1 }) < 1e-12)
            }
            // UᵀU reproduces A.
            let u = chol.upper
            var worst = 0.0
            for i in 0..<n {
                for j in 0..<n {
                    let s = (0..<n).reduce(0.0) { $0 + u[$1 * n + i] * u[$1 * n + j] }
                    worst = max(worst, abs(s - a[i * n + j]))
                }
            }
            #expect(worst < 1e-12)
        }
    }

    @Test func choleskyRejectsMatricesThatAreNotPositiveDefinite() {
        #expect(throws: CholeskyError.self) { try Cholesky(matrix: [1, 2, 2, 1], n: 2) }
        #expect(throws: CholeskyError.self) { try Cholesky(matrix: [-1], n: 1) }
        #expect(throws: CholeskyError.self) { try Cholesky(matrix: [0, 0, 0, 0], n: 2) }
        #expect(throws: CholeskyError.self) { try Cholesky(matrix: [1, 1, 1, 1], n: 2) } // singular
        #expect(throws: CholeskyError.self) { try Cholesky(matrix: [1, .nan, .nan, 1], n: 2) }
        // The same singular matrix goes through once damped.
        let damped = LayerHessian.damped([1, 1, 1, 1], n: 2, lambda: 1e-3)
        #expect(throws: Never.self) { try Cholesky(matrix: damped, n: 2) }
    }

    // MARK: Hessians

    @Test func hessianOfKnownRowsIsTheMeanOuterProductWithBias() {
        var h = LayerHessian(dimension: 2)
        h.add(rows: [1, 2, 3, -1, 0, 5])
        #expect(h.sampleCount == 3)
        // x̄ = [1,2,1], [3,-1,1], [0,5,1]
        let expected: [Double] = [
            (1 + 9 + 0) / 3.0, (2 - 3 + 0) / 3.0, (1 + 3 + 0) / 3.0,
            (2 - 3 + 0) / 3.0, (4 + 1 + 25) / 3.0, (2 - 1 + 5) / 3.0,
            (1 + 3 + 0) / 3.0, (2 - 1 + 5) / 3.0, 1,
        ]
        #expect(Self.maxAbs(zip(h.matrix(damping: 0), expected).map { $0 - $1 }) < 1e-12)
        // Damping adds λ · trace / (d+1) to the diagonal only.
        let lambda = 1e-2
        let trace = expected[0] + expected[4] + expected[8]
        let damped = h.matrix(damping: lambda)
        for i in 0..<3 {
            for j in 0..<3 {
                let shift = i == j ? lambda * trace / 3 : 0
                #expect(abs(damped[i * 3 + j] - expected[i * 3 + j] - shift) < 1e-12)
            }
        }
    }

    @Test func hessianOverManyBlocksMatchesDoubleReference() {
        // 700 rows (several GEMM blocks and a partial one), d = 7 in rows of stride 9.
        let d = 7, stride = 9, count = 700
        let data = seededFloats(count: count * stride, seed: 42, range: -2...3)
        var h = LayerHessian(dimension: d)
        data.withUnsafeBufferPointer { p in
            h.add(rows: p.baseAddress!, count: 300, stride: stride)
            h.add(rows: p.baseAddress! + 300 * stride, count: count - 300, stride: stride)
        }
        var reference = [Double](repeating: 0, count: (d + 1) * (d + 1))
        for r in 0..<count {
            let x = (0..<d).map { Double(data[r * stride + $0]) } + [1]
            for i in 0...d { for j in 0...d { reference[i * (d + 1) + j] += x[i] * x[j] / Double(count) } }
        }
        let m = h.matrix(damping: 0)
        #expect(Self.maxAbs(zip(m, reference).map { $0 - $1 }) < 1e-5 * Self.maxAbs(reference))
        // Symmetric exactly; merge() of two halves gives the same matrix.
        for i in 0...d { for j in 0...d { #expect(m[i * (d + 1) + j] == m[j * (d + 1) + i]) } }
        var first = LayerHessian(dimension: d), second = LayerHessian(dimension: d)
        data.withUnsafeBufferPointer { p in
            first.add(rows: p.baseAddress!, count: 300, stride: stride)
            second.add(rows: p.baseAddress! + 300 * stride, count: count - 300, stride: stride)
        }
        first.merge(second)
        #expect(first.sampleCount == count)
        #expect(Self.maxAbs(zip(first.matrix(damping: 0), m).map { $0 - $1 }) < 1e-12)
    }

    @Test func perChannelHessianIsTheAuthorsPerTapCost() throws {
        let c = 3, taps = 4
        let pixels = seededFloats(count: 50 * c, seed: 7)
        var h = PerChannelHessian(channels: c)
        h.add(pixels: pixels)
        #expect(h.sampleCount == 50)
        let compact = h.compactMatrix()
        let full = h.matrix(taps: taps, damping: 0)
        let n = taps * c + 1
        #expect(full.count == n * n)
        // ½ δᵀ H δ == Σ_taps ½ [δ_p; δ_b]ᵀ M̄ [δ_p; δ_b]
        let delta = seededFloats(count: n, seed: 8).map(Double.init)
        var perTap = 0.0
        for p in 0..<taps {
            let v = Array(delta[(p * c)..<(p * c + c)]) + [delta[n - 1]]
            perTap += Self.quadratic(compact, v, n: c + 1)
        }
        #expect(abs(Self.quadratic(full, delta, n: n) - perTap) < 1e-10)
        // Positive semidefinite: factorises after light damping.
        #expect(throws: Never.self) { try Cholesky(matrix: h.matrix(taps: taps, damping: 1e-6), n: n) }
    }

    // MARK: Pair costs and merging

    @Test func pairCostEqualsHalfDeltaHHatDeltaAndTheMinimumOfTheMergeObjective() throws {
        let n = 6
        let ha = Self.randomSPD(n, seed: 11), hb = Self.randomSPD(n, seed: 12, shift: 0.3)
        let wa = Self.randomMatrix(4, n, seed: 13), wb = Self.randomMatrix(5, n, seed: 14)
        let pair = try HessianPair(hessianA: ha, hessianB: hb, dimension: n)
        // Ĥ against the other form (H_A⁻¹ + H_B⁻¹)⁻¹.
        let hHat = try LayerHessian.inverseSum([ha, hb], n: n)
        #expect(Self.maxAbs(zip(pair.combined, hHat).map { $0 - $1 }) < 1e-10)
        let d = pair.costs(weightsA: wa, weightsB: wb)
        #expect(d.rows == 4 && d.cols == 5)
        var allPairs: [NeuronPair] = []
        for i in 0..<4 {
            for j in 0..<5 {
                let delta = zip(wa.row(i), wb.row(j)).map { $0 - $1 }
                #expect(abs(d[i, j] - 0.5 * Self.quadratic(hHat, delta, n: n)) < 1e-10)
                allPairs.append((a: i, b: j, cost: d[i, j]))
            }
        }
        let merged = pair.mergedWeights(weightsA: wa, weightsB: wb, pairs: allPairs)
        let averaged = Baseline.averagedWeights(weightsA: wa, weightsB: wb, pairs: allPairs)
        var rng = SeededRandom(seed: 15)
        for (r, p) in allPairs.enumerated() {
            let w = merged.row(r)
            let best = pair.mergeError(merged: w, weightA: wa.row(p.a), weightB: wb.row(p.b))
            #expect(abs(best - p.cost) < 1e-10)
            // w̃ solves (H_A + H_B) w = H_A w_a + H_B w_b.
            let lhs = zip(Self.multiply(ha, w, n: n), Self.multiply(hb, w, n: n)).map { $0 + $1 }
            let rhs = zip(Self.multiply(ha, wa.row(p.a), n: n), Self.multiply(hb, wb.row(p.b), n: n)).map { $0 + $1 }
            #expect(Self.maxAbs(zip(lhs, rhs).map { $0 - $1 }) < 1e-10)
            // It is a minimum: random perturbations and the plain average do no better.
            for _ in 0..<5 {
                let moved = w.map { $0 + 0.01 * Double(rng.nextFloat(in: -1...1)) }
                #expect(pair.mergeError(merged: moved, weightA: wa.row(p.a), weightB: wb.row(p.b)) > best)
            }
            #expect(pair.mergeError(merged: averaged.row(r), weightA: wa.row(p.a), weightB: wb.row(p.b)) >= best - 1e-12)
        }
    }

    @Test func equalNetworksCostNothingOnTheDiagonalAndMatchToThemselves() throws {
        let n = 9, count = 12
        let w = Self.randomMatrix(count, n, seed: 21)
        let pair = try HessianPair(hessianA: Self.randomSPD(n, seed: 22), hessianB: Self.randomSPD(n, seed: 23), dimension: n)
        let d = pair.costs(weightsA: w, weightsB: w)
        let offDiagonalMin = (0..<count).flatMap { i in (0..<count).filter { $0 != i }.map { d[i, $0] } }.min()!
        for i in 0..<count { #expect(d[i, i] < 1e-12 * offDiagonalMin) }
        let pairs = Matching.greedy(costs: d, count: count)
        #expect(pairs.count == count)
        #expect(pairs.allSatisfy { $0.a == $0.b })
        let merged = pair.mergedWeights(weightsA: w, weightsB: w, pairs: pairs)
        for (r, p) in pairs.enumerated() {
            #expect(Self.maxAbs(zip(merged.row(r), w.row(p.a)).map { $0 - $1 }) < 1e-10)
        }
    }

    @Test func moreThanTwoNetworksUseTheSumOfTheMergedTasksHessians() throws {
        // Tasks 1 and 2 already share neuron w_a; task 3 brings w_b. The summed Hessian makes the
        // pair cost the least total error increase over all three tasks.
        let n = 5
        let h1 = Self.randomSPD(n, seed: 31), h2 = Self.randomSPD(n, seed: 32), h3 = Self.randomSPD(n, seed: 33)
        let merged = LayerHessian.sum([h1, h2])
        #expect(merged == zip(h1, h2).map { $0 + $1 })
        let wa = Self.randomMatrix(3, n, seed: 34), wb = Self.randomMatrix(3, n, seed: 35)
        let pair = try HessianPair(hessianA: merged, hessianB: h3, dimension: n)
        let d = pair.costs(weightsA: wa, weightsB: wb)
        let pairs = Matching.greedy(costs: d, count: 3)
        let w = pair.mergedWeights(weightsA: wa, weightsB: wb, pairs: pairs)
        for (r, p) in pairs.enumerated() {
            let terms = [(h1, wa.row(p.a)), (h2, wa.row(p.a)), (h3, wb.row(p.b))]
            let best = Self.objective(w.row(r), terms, n: n)
            #expect(abs(best - p.cost) < 1e-10)
            let moved = w.row(r).enumerated().map { $0.offset == 0 ? $0.element + 1e-3 : $0.element }
            #expect(Self.objective(moved, terms, n: n) > best)
        }
        // The authors' option: (Σ H⁻¹)⁻¹ — for diagonal matrices the harmonic combination per entry.
        let inverseSum = try LayerHessian.inverseSum([[2, 0, 0, 4], [2, 0, 0, 12]], n: 2)
        #expect(Self.maxAbs(zip(inverseSum, [1, 0, 0, 3]).map { $0 - $1 }) < 1e-12)
    }

    @Test func euclideanCostsAndAverages() {
        let wa = Matrix([[0, 0, 1], [1, 2, 3]]), wb = Matrix([[0, 0, 0], [1, 2, 1], [4, 4, 4]])
        let d = Baseline.euclideanCosts(weightsA: wa, weightsB: wb)
        #expect(d == Matrix([[1, 5, 41], [14, 4, 14]]))
        let avg = Baseline.averagedWeights(weightsA: wa, weightsB: wb, pairs: [(a: 1, b: 1, cost: 4), (a: 0, b: 2, cost: 41)])
        #expect(avg == Matrix([[1, 2, 2], [2, 2, 2.5]]))
        // Side A standing for two merged networks weighs 2/3, the third network 1/3.
        let third = Baseline.averagedWeights(weightsA: wa, weightsB: wb, pairs: [(a: 0, b: 2, cost: 41)], shareA: 2.0 / 3)
        #expect(Self.maxAbs(zip(third.values, [4.0 / 3, 4.0 / 3, 2]).map { $0 - $1 }) < 1e-12)
    }

    // MARK: Matching

    static func triples(_ pairs: [NeuronPair]) -> [[Double]] {
        pairs.map { [Double($0.a), Double($0.b), $0.cost] }
    }

    @Test func greedyMatchingOnHandMadeCosts() {
        // Ties: all equal → row order, then column order.
        #expect(Self.triples(Matching.greedy(costs: Matrix([[1, 1], [1, 1]]), count: 2)) == [[0, 0, 1], [1, 1, 1]])
        // A tie between (0,1) and (1,2) goes to the smaller row.
        let c = Matrix([[5, 1, 9], [2, 8, 1]])
        #expect(Self.triples(Matching.greedy(costs: c, count: 2)) == [[0, 1, 1], [1, 2, 1]])
        #expect(Self.triples(Matching.greedy(costs: c, count: 1)) == [[0, 1, 1]])
        #expect(Matching.greedy(costs: c, count: 0).isEmpty)
        // Rectangular, N_A > N_B: (1,0) first; (2,0) is blocked by column 0; then (2,1).
        let tall = Matrix([[4, 3], [1, 7], [2, 2]])
        #expect(Self.triples(Matching.greedy(costs: tall, count: 2)) == [[1, 0, 1], [2, 1, 2]])
        // Greedy, not optimal: it takes the cheapest pair even when that forces an expensive one.
        #expect(Self.triples(Matching.greedy(costs: Matrix([[1, 2], [2, 100]]), count: 2)) == [[0, 0, 1], [1, 1, 100]])
        // k = min(N_A, N_B) uses every neuron of the smaller side exactly once.
        let big = Self.randomMatrix(7, 4, seed: 51)
        let all = Matching.greedy(costs: big, count: 4)
        #expect(Set(all.map(\.b)) == Set(0..<4) && Set(all.map(\.a)).count == 4)
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.cost <= $1.cost })
    }

    @Test func randomPairingIsReproducibleAndOneToOne() {
        let costs = Self.randomMatrix(6, 9, seed: 61)
        let p1 = Matching.random(countA: 6, countB: 9, count: 5, seed: 3, costs: costs)
        let p2 = Matching.random(countA: 6, countB: 9, count: 5, seed: 3, costs: costs)
        let p3 = Matching.random(countA: 6, countB: 9, count: 5, seed: 4)
        #expect(Self.triples(p1) == Self.triples(p2))
        #expect(p1.map(\.a) != p3.map(\.a) || p1.map(\.b) != p3.map(\.b))
        #expect(Set(p1.map(\.a)).count == 5 && Set(p1.map(\.b)).count == 5)
        #expect(p1.allSatisfy { $0.cost == costs[$0.a, $0.b] })
        #expect(p3.allSatisfy { $0.cost == 0 })
        #expect(Matching.random(countA: 3, countB: 3, count: 0, seed: 1).isEmpty)
    }

    // MARK: Reports and layout

    @Test func costCurveSummarisesAcceptedCosts() throws {
        let curve = try #require(CostCurve(costs: [1, 2, 3, 4, 5]))
        #expect(curve.count == 5 && curve.min == 1 && curve.max == 5 && curve.median == 3 && curve.mean == 3)
        #expect([curve.at25, curve.at50, curve.at75, curve.at100] == [2, 3, 4, 5])
        let even = try #require(CostCurve(pairs: [(a: 0, b: 0, cost: 4), (a: 1, b: 1, cost: 1), (a: 2, b: 2, cost: 2), (a: 3, b: 3, cost: 8)]))
        #expect(even.median == 3 && even.min == 1 && even.max == 8 && even.mean == 3.75)
        #expect([even.at25, even.at50, even.at75, even.at100] == [4, 1, 2, 8])
        let one = try #require(CostCurve(costs: [7]))
        #expect([one.at25, one.at50, one.at75, one.at100, one.median] == [7, 7, 7, 7, 7])
        #expect(CostCurve(costs: []) == nil)
        #expect(curve.description.hasPrefix("k=5 "))
    }

    @Test func neuronLayoutSelectsSharedChannelsOfEveryTapAndTheBias() {
        // 2 neurons, 3 taps, 4 input channels of which 2 shared.
        let layout = NeuronLayout(taps: 3, inChannels: 4, sharedChannels: 2)
        #expect(layout.vectorLength == 7)
        let weights = (0..<24).map(Float.init), biases: [Float] = [100, 200]
        let m = layout.neuronVectors(weights: weights, biases: biases)
        #expect(m == Matrix([[0, 1, 4, 5, 8, 9, 100], [12, 13, 16, 17, 20, 21, 200]]))
        var w = weights, b = biases
        layout.store([-1, -2, -3, -4, -5, -6, -7], neuron: 1, weights: &w, biases: &b)
        #expect(Array(w[12..<24]) == [-1, -2, 14, 15, -3, -4, 18, 19, -5, -6, 22, 23])
        #expect(b == [100, -7] && Array(w[0..<12]) == Array(weights[0..<12]))
    }

    // MARK: Performance smoke (no timing assertions)

    #if DEBUG
    // Debug builds compile the C kernels without optimisation: smaller sizes, same code paths.
    static let hessianSize = (dimension: 201, rows: 6_000)
    static let costSize = (neurons: 100, dimension: 201)
    #else
    static let hessianSize = (dimension: 801, rows: 60_000)
    static let costSize = (neurons: 500, dimension: 801)
    #endif

    @Test func performanceSmoke() throws {
        let (d, rows) = Self.hessianSize
        let data = seededFloats(count: 4096 * d, seed: 71, range: 0...1)
        let clock = ContinuousClock()
        var h = LayerHessian(dimension: d)
        let hessianTime = clock.measure {
            var left = rows
            data.withUnsafeBufferPointer { p in
                while left > 0 {
                    let m = min(left, 4096)
                    h.add(rows: p.baseAddress!, count: m, stride: d)
                    left -= m
                }
            }
        }
        #expect(h.sampleCount == rows)
        let n = d + 1
        let ha = h.matrix(damping: 1e-4)
        let hb = LayerHessian.damped(ha.enumerated().map { $0.offset % (n + 1) == 0 ? $0.element * 1.5 : $0.element }, n: n, lambda: 1e-4)
        let (count, _) = Self.costSize
        let wa = Self.randomMatrix(count, n, seed: 72), wb = Self.randomMatrix(count, n, seed: 73)
        var pairTime = Duration.zero, costTime = Duration.zero, matchTime = Duration.zero, mergeTime = Duration.zero
        var pair: HessianPair?
        pairTime = try clock.measure { pair = try HessianPair(hessianA: ha, hessianB: hb, dimension: n) }
        var d2 = Matrix(rows: 0, cols: 0)
        costTime = clock.measure { d2 = pair!.costs(weightsA: wa, weightsB: wb) }
        var pairs: [NeuronPair] = []
        matchTime = clock.measure { pairs = Matching.greedy(costs: d2, count: count) }
        mergeTime = clock.measure { _ = pair!.mergedWeights(weightsA: wa, weightsB: wb, pairs: pairs) }
        let euclidTime = clock.measure { _ = Baseline.euclideanCosts(weightsA: wa, weightsB: wb) }
        #expect(pairs.count == count)
        print("MathTests timings: hessian d=\(d) rows=\(rows): \(hessianTime); HessianPair n=\(n): \(pairTime); costs \(count)×\(count): \(costTime); greedy: \(matchTime); merge \(count) pairs: \(mergeTime); euclidean: \(euclidTime)")
    }
}
