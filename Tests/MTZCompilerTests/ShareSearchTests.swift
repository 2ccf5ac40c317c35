import Testing
@testable import MTZCompiler

/// The automatic mode's candidate order, against a known verdict instead of real zipping.
@Suite struct ShareSearchTests {
    /// Runs a search to its end; `fits` plays the zipping and validation, `score` ranks moves.
    static func run(_ search: inout ShareSearch, fits: ([Int]) -> Bool,
                    score: (ShareSearch.Move) -> Double = { Double($0.to - $0.from) }) -> [(String, Bool)] {
        var trace: [(String, Bool)] = []
        while let candidate = search.next(score: score) {
            let verdict = fits(candidate.counts)
            search.record(candidate, fits: verdict)
            trace.append((candidate.label, verdict))
        }
        return trace
    }

    @Test("levels are eighths of each layer's maximum, rounded")
    func levels() {
        let search = ShareSearch(names: ["conv1", "conv2", "fc1"], maxCounts: [20, 50, 500], limit: 5)
        #expect(search.counts(level: 8) == [20, 50, 500])
        #expect(search.counts(level: 6) == [15, 38, 375])
        #expect(search.counts(level: 7) == [18, 44, 438])
        #expect(search.counts(level: 0) == [0, 0, 0])
    }

    @Test("fully shared fits: one candidate")
    func everythingFits() {
        var search = ShareSearch(names: ["a", "b"], maxCounts: [10, 10], limit: 5)
        let trace = Self.run(&search) { _ in true }
        #expect(trace.map(\.0) == ["every layer 8/8"])
        #expect(search.best == [10, 10])
    }

    @Test("down by quarters from the fully shared end, one bisection step, then single-layer raises by the score")
    func descendThenRaise() {
        // conv2 may share at most 40 of 50 neurons, the others anything.
        var search = ShareSearch(names: ["conv1", "conv2", "fc1"], maxCounts: [20, 50, 500], limit: 7)
        let trace = Self.run(&search) { $0[1] <= 40 }
        #expect(trace.map(\.0) == ["every layer 8/8", "every layer 6/8", "every layer 7/8",
                                   "raise fc1 to 438/500", "raise fc1 to 500/500", "raise conv2 to 44/50", "raise conv1 to 18/20"])
        #expect(trace.map(\.1) == [false, true, false, true, true, false, true])
        #expect(search.best == [18, 38, 500])
    }

    @Test("a failed raise ends that layer's raises; the limit ends the search")
    func limitAndExhaustion() {
        var search = ShareSearch(names: ["a", "b"], maxCounts: [8, 8], limit: 100)
        let trace = Self.run(&search) { $0[0] <= 5 && $0[1] <= 3 }
        // 8/8, 6/8 and 4/8 fail, 2/8 fits, 3/8 fits; then a → 4, 5 (fit), 6 (fails); b → 4 (fails).
        #expect(trace.map(\.0) == ["every layer 8/8", "every layer 6/8", "every layer 4/8", "every layer 2/8", "every layer 3/8",
                                   "raise a to 4/8", "raise a to 5/8", "raise a to 6/8", "raise b to 4/8"])
        #expect(search.best == [5, 3])
        var short = ShareSearch(names: ["a", "b"], maxCounts: [8, 8], limit: 2)
        #expect(Self.run(&short) { $0[0] <= 5 && $0[1] <= 3 }.count == 2)
        #expect(short.best == [0, 0])
    }

    @Test("a layer above one that shares nothing cannot rise")
    func sharingGrowsFromTheInput() {
        var search = ShareSearch(names: ["a", "b"], maxCounts: [4, 4], limit: 20)
        let trace = Self.run(&search) { $0[1] == 0 }
        #expect(trace.map(\.0) == ["every layer 8/8", "every layer 6/8", "every layer 4/8", "every layer 2/8",
                                   "raise a to 1/4", "raise a to 2/4", "raise a to 3/4", "raise a to 4/4", "raise b to 1/4"])
        #expect(search.best == [4, 0])
        // Nothing fits: once the first layer cannot rise, neither can the one above it.
        var none = ShareSearch(names: ["a", "b"], maxCounts: [4, 4], limit: 20)
        #expect(Self.run(&none) { _ in false }.map(\.0) == ["every layer 8/8", "every layer 6/8", "every layer 4/8", "every layer 2/8",
                                                            "raise a to 1/4"])
        #expect(none.best == [0, 0])
    }
}
