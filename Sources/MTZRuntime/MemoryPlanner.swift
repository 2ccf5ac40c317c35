/// Places tensors with known lifetimes in one arena so that tensors alive at the same time never
/// overlap (the TFLite/XNNPACK "greedy by size" strategy).
///
/// Tensors are placed largest first; each goes into the smallest gap left free by the already placed
/// tensors whose lifetimes overlap its own (best fit), or above them all.
enum MemoryPlanner {
    /// A tensor to place: `size` floats, alive from step `first` to step `last` inclusive.
    struct Request: Equatable {
        var size: Int
        var first: Int
        var last: Int
    }

    /// Alignment of every offset, in floats (64 bytes).
    static let alignment = 16

    /// Returns an offset (in floats) per request and the arena size in floats.
    /// - Complexity: O(n² log n) for n requests; n is the number of nodes of a model.
    static func plan(_ requests: [Request]) -> (offsets: [Int], arenaSize: Int) {
        func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
        let order = requests.indices.sorted {
            requests[$0].size != requests[$1].size ? requests[$0].size > requests[$1].size : $0 < $1
        }
        var offsets = [Int](repeating: 0, count: requests.count)
        var placed: [Int] = []
        var arena = 0
        for i in order {
            let r = requests[i]
            // Intervals of placed tensors alive at the same time, by offset.
            let busy = placed
                .filter { requests[$0].first <= r.last && r.first <= requests[$0].last }
                .map { (offsets[$0], offsets[$0] + aligned(requests[$0].size)) }
                .sorted { $0.0 < $1.0 }
            // Best fit: the smallest free gap between busy intervals that holds the tensor, else
            // the end of the highest busy interval.
            let need = aligned(r.size)
            var best: (offset: Int, gap: Int)?
            var cursor = 0
            for (start, end) in busy {
                if start >= cursor + need, best == nil || start - cursor < best!.gap {
                    best = (cursor, start - cursor)
                }
                cursor = max(cursor, end)
            }
            let candidate = best?.offset ?? cursor
            offsets[i] = candidate
            placed.append(i)
            arena = max(arena, candidate + aligned(r.size))
        }
        return (offsets, arena)
    }
}
