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
    /// - Complexity: for each request, the placed tensors alive during its lifetime are found
    ///   through per-step lists, so the cost grows with how many tensors are alive together, not with
    ///   the square of the node count (a 65,536-node chain took seconds with a scan of every placed
    ///   tensor per request).
    static func plan(_ requests: [Request]) -> (offsets: [Int], arenaSize: Int) {
        func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
        let order = requests.indices.sorted {
            requests[$0].size != requests[$1].size ? requests[$0].size > requests[$1].size : $0 < $1
        }
        let steps = (requests.map(\.last).max() ?? -1) + 1
        var aliveAt = [[Int]](repeating: [], count: max(steps, 0)) // placed tensors alive at each step
        var seenBy = [Int](repeating: -1, count: requests.count)    // last request that collected i
        var offsets = [Int](repeating: 0, count: requests.count)
        var arena = 0
        var busy: [(start: Int, end: Int)] = []
        for i in order {
            let r = requests[i]
            let end = min(max(r.last, r.first, 0) + 1, aliveAt.count)
            let lifetime = min(max(r.first, 0), end)..<end // the steps it is alive, inside the plan
            // Intervals of placed tensors alive at the same time, by offset.
            busy.removeAll(keepingCapacity: true)
            for step in lifetime {
                for j in aliveAt[step] where seenBy[j] != i {
                    seenBy[j] = i
                    busy.append((offsets[j], offsets[j] + aligned(requests[j].size)))
                }
            }
            busy.sort { $0.start < $1.start }
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
            for step in lifetime { aliveAt[step].append(i) }
            arena = max(arena, candidate + aligned(r.size))
        }
        return (offsets, arena)
    }
}
