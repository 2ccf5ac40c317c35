import MTZCore

/// Which nodes a set of requested tasks needs, in which order, where their values live in the
/// arena, and to whom their time is attributed.
struct ExecutionPlan {
    /// Who a node's work is for.
    enum Owner: Equatable {
        /// Needed by two or more of the requested tasks: computed once for all of them.
        case shared
        /// Needed by exactly one requested task (index into `Session.tasks`).
        case task(Int)
    }

    /// Node indices to execute, in topological order (always starts with the input node).
    let steps: [Int]
    /// Arena offset (floats) of each node's value; -1 for nodes not executed.
    let offsets: [Int]
    /// Owner of each node; only meaningful for executed nodes.
    let owners: [Owner]
    /// Floats of arena the plan needs.
    let arenaSize: Int
    /// Output node of each requested task.
    let outputs: [Int]

    /// Plans the execution of `taskIndices` (indices into `model.tasks`).
    init(model: Model, shapes: [ValueShape], taskIndices: [Int]) {
        let count = model.nodes.count
        // needers[i]: the requested tasks (numbered k) that need node i, ascending. Each task's walk
        // runs before the next one's, so "already visited by k" is "the last entry is k". (Arrays,
        // not Sets: the first hashed collection of Int in a process costs a scan of every protocol
        // conformance, ~0.1 ms, on the path from loading to the first run.)
        var needers = [[Int]](repeating: [], count: count)
        for (k, t) in taskIndices.enumerated() {
            var stack = [model.tasks[t].output]
            while let i = stack.popLast() {
                guard needers[i].last != k else { continue }
                needers[i].append(k)
                stack.append(contentsOf: model.nodes[i].inputs.map(\.node))
            }
        }
        needers[0] = Array(0..<max(taskIndices.count, 1)) // the input is shared by every task
        steps = (0..<count).filter { !needers[$0].isEmpty }
        owners = needers.map { $0.count == 1 ? .task($0.first!) : .shared }
        outputs = taskIndices.map { model.tasks[$0].output }

        // Lifetimes in step numbers; task outputs stay alive to the end so results can be read.
        var lastUse = [Int](repeating: -1, count: count)
        for (step, i) in steps.enumerated() {
            lastUse[i] = max(lastUse[i], step)
            for r in model.nodes[i].inputs { lastUse[r.node] = max(lastUse[r.node], step) }
        }
        for o in outputs { lastUse[o] = steps.count }
        let requests = steps.enumerated().map { step, i in
            MemoryPlanner.Request(size: shapes[i].elementCount, first: step, last: lastUse[i])
        }
        let (placed, arena) = MemoryPlanner.plan(requests)
        var offsets = [Int](repeating: -1, count: count)
        for (k, i) in steps.enumerated() { offsets[i] = placed[k] }
        self.offsets = offsets
        self.arenaSize = arena
    }
}
