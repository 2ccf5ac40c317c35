/// The automatic mode's choice of what to try next: how many neurons each layer shares.
///
/// A candidate gives every searchable layer (a hidden layer not tied to an earlier one by a
/// residual add) a shared count; the `Zipper` zips with those counts, retrains with the whole
/// budget (the per-layer budgets and the final one) and reports whether every task's validation
/// error stayed within the budget. Judging only finished candidates is what makes this work: the
/// final retraining recovers most of what a merge costs, so a layer judged right after its own
/// short budget looks far worse than it ends up.
///
/// 1. **Global levels.** Level `m` of `levels` shares `m/levels` of every layer's maximum. The
///    search starts at the fully shared end and steps down by two levels (quarters) until a
///    level fits, then tries the level between it and the failed one above. More sharing in
///    every layer is assumed to cost more; the best fitting candidate is kept either way.
/// 2. **Layer refinement.** From the best fitting counts, one layer at a time is raised to its
///    next level, the move with the highest `score` first (the `Zipper` scores parameters gained
///    against the rise of the layer's pair costs d[i,j]). A raise that fits is kept and the layer
///    may rise again; one that does not drops the layer (raising others only adds harm).
///
/// Every candidate counts against `limit`; the originals (nothing shared) fit by definition.
struct ShareSearch {
    enum Phase: String, Sendable, Codable {
        case global
        case layer
    }

    /// Shared neurons per searchable layer, with how the search came to it.
    struct Candidate: Sendable, Equatable {
        var counts: [Int]
        var phase: Phase
        /// The global level (phase 1).
        var level: Int?
        /// E.g. "every layer 6/8" or "raise fc1 to 438".
        var label: String
    }

    /// One layer raised from the best counts, `base`.
    struct Move: Sendable, Equatable {
        var base: [Int]
        var layer: Int
        var from: Int
        var to: Int
    }

    /// Levels in eighths: fine enough to land near the budget, few enough to search in minutes.
    static let levels = 8

    /// Per searchable layer: its name and the most neurons it may share (`--share` of its neurons).
    let names: [String]
    let maxCounts: [Int]
    /// Candidates to try at most.
    let limit: Int
    /// Candidates tried and whether each fitted the budget, in order.
    private(set) var tried: [(candidate: Candidate, fits: Bool)] = []
    /// The counts of the best fitting candidate so far (zeros: nothing shared, the originals).
    private(set) var best: [Int]
    /// The highest global level known to fit and the lowest known not to (`levels + 1`: none yet).
    private var fitLevel = 0
    private var failLevel = ShareSearch.levels + 1
    /// Layers whose raise did not fit.
    private var exhausted = Set<Int>()

    init(names: [String], maxCounts: [Int], limit: Int) {
        precondition(names.count == maxCounts.count)
        self.names = names
        self.maxCounts = maxCounts
        self.limit = limit
        best = maxCounts.map { _ in 0 }
    }

    /// Shared counts of global level `m`.
    func counts(level m: Int) -> [Int] {
        maxCounts.map { Int((Double($0) * Double(m) / Double(Self.levels)).rounded()) }
    }

    /// The next candidate, or nil when the search is over. `score` ranks the layer moves of phase 2
    /// (higher first); it is only called for moves that change something.
    mutating func next(score: (Move) throws -> Double) rethrows -> Candidate? {
        guard tried.count < limit else { return nil }
        while let level = nextLevel() {
            let counts = counts(level: level)
            // Nothing shared is the originals, which fit by definition; small layers round several
            // levels to the same counts, whose verdict is known already.
            if counts.allSatisfy({ $0 == 0 }) {
                settle(level: level, fits: true)
                continue
            }
            if let known = tried.first(where: { $0.candidate.counts == counts }) {
                settle(level: level, fits: known.fits)
                continue
            }
            return Candidate(counts: counts, phase: .global, level: level, label: "every layer \(level)/\(Self.levels)")
        }
        var bestMove: (move: Move, score: Double)?
        for move in moves() {
            let s = try score(move)
            if bestMove == nil || s > bestMove!.score { bestMove = (move, s) }
        }
        guard let move = bestMove?.move else { return nil }
        var counts = best
        counts[move.layer] = move.to
        return Candidate(counts: counts, phase: .layer, level: nil, label: "raise \(names[move.layer]) to \(move.to)/\(maxCounts[move.layer])")
    }

    /// Records the verdict on `candidate` (the one `next` returned).
    mutating func record(_ candidate: Candidate, fits: Bool) {
        tried.append((candidate, fits))
        switch candidate.phase {
        case .global:
            if let level = candidate.level { settle(level: level, fits: fits) }
        case .layer:
            guard let layer = candidate.counts.indices.first(where: { candidate.counts[$0] != best[$0] }) else { return }
            if !fits { exhausted.insert(layer) }
        }
        // Every candidate shares at least what the best one does (global levels rise past the best
        // fitting level, moves raise it), so a fitting one is the new best.
        if fits, zip(candidate.counts, best).allSatisfy({ $0 >= $1 }) { best = candidate.counts }
    }

    /// The global level to try next: the fully shared end first, then down by quarters until one
    /// fits, then the level between the fitting one and the failed one above it.
    private func nextLevel() -> Int? {
        guard failLevel - fitLevel > 1 else { return nil }
        if failLevel > Self.levels { return Self.levels }
        return failLevel - fitLevel > 2 && fitLevel == 0 ? failLevel - 2 : (fitLevel + failLevel) / 2
    }

    private mutating func settle(level: Int, fits: Bool) {
        if fits { fitLevel = max(fitLevel, level) } else { failLevel = min(failLevel, level) }
        if fitLevel >= failLevel { failLevel = fitLevel + 1 }   // noise: trust the fitting level
    }

    /// Raises of one layer from `best` to its next level. A layer above one that shares nothing
    /// cannot share (sharing grows from the input), so only layers up to the first zero move.
    func moves() -> [Move] {
        var result: [Move] = []
        for l in best.indices {
            if !exhausted.contains(l), let up = (1...Self.levels).lazy.map({ self.counts(level: $0)[l] }).first(where: { $0 > best[l] }) {
                result.append(Move(base: best, layer: l, from: best[l], to: up))
            }
            if best[l] == 0 { break }
        }
        return result
    }
}
