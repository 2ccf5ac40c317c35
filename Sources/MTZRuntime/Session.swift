import CMTZKernels
import Dispatch
import MTZCore
import MTZImage

/// Time spent in one run, split into the work shared by the requested tasks and each task's own.
public struct RunTimings: Sendable, Equatable, Codable {
    /// Seconds in nodes needed by two or more requested tasks (run once for all of them).
    public var shared: Double
    /// Seconds in nodes needed by one task only, per task name.
    public var perTask: [String: Double]
    /// Seconds of the whole run.
    public var total: Double
}

/// Runs a subset of a model's tasks on one input at a time, with activations in one pre-planned
/// arena.
///
/// A session is not thread-safe: use one session per thread (they can share one `InferenceModel`).
/// After the first run, `run(input:)` allocates no memory.
public final class Session {
    /// The model this session runs.
    public let model: InferenceModel
    /// Names of the requested tasks, in model order.
    public let tasks: [String]
    /// Intra-op threads; results do not depend on it.
    public let threads: Int
    /// Timings of the last run.
    public private(set) var timings: RunTimings
    /// Number of nodes each run executes (the input node included).
    public var executedNodeCount: Int { plan.steps.count }
    /// Bytes of the activation arena.
    public var arenaBytes: Int { 4 * arena.count }
    /// Bytes of the kernels' scratch (im2col patches, Winograd tiles) for all threads.
    public var workspaceBytes: Int { 4 * workspace.count }
    /// Nanoseconds each node took in the last run, by node index (0 for nodes not executed).
    private(set) var nodeNanoseconds: [UInt64]

    let plan: ExecutionPlan
    private let arena: AlignedBuffer
    private let workspace: AlignedBuffer
    private let workspacePerThread: Int
    private var taskSeconds: [Double]

    init(model: InferenceModel, tasks requested: [String]?, threads: Int) throws(RuntimeError) {
        guard (1...256).contains(threads) else { throw RuntimeError.invalidOption("thread count \(threads) is outside 1...256") }
        let all = model.taskNames
        var indices: [Int] = []
        if let requested {
            for name in requested {
                guard let i = all.firstIndex(of: name) else { throw RuntimeError.unknownTask(name, available: all) }
                if !indices.contains(i) { indices.append(i) }
            }
            guard !indices.isEmpty else { throw RuntimeError.invalidOption("no task requested") }
            indices.sort()
        } else {
            indices = Array(all.indices)
        }
        self.model = model
        self.tasks = indices.map { all[$0] }
        self.threads = threads
        self.plan = ExecutionPlan(model: model.model, shapes: model.shapes, taskIndices: indices)
        self.arena = try AlignedBuffer(count: plan.arenaSize)
        var perThread = 0
        for i in plan.steps {
            if case .convolution(let c) = model.nodes[i] { perThread = max(perThread, c.workspace) }
        }
        perThread = (perThread + 15) / 16 * 16
        self.workspacePerThread = perThread
        self.workspace = try AlignedBuffer(count: perThread * threads)
        self.taskSeconds = [Double](repeating: 0, count: indices.count)
        self.nodeNanoseconds = [UInt64](repeating: 0, count: model.nodes.count)
        self.timings = RunTimings(shared: 0, perTask: [:], total: 0)
    }

    /// Runs the requested tasks on a preprocessed NHWC input of `model.inputCount` values.
    /// Results are read with `output(of:)` / `withOutput(of:_:)` until the next run.
    public func run(input: UnsafeBufferPointer<Float>) throws(RuntimeError) {
        guard input.count == model.inputCount else { throw RuntimeError.inputSizeMismatch(expected: model.inputCount, got: input.count) }
        arena.store(input, at: plan.offsets[0])
        execute()
    }

    /// Runs the requested tasks on a preprocessed NHWC input and returns each task's output.
    public func run(input: [Float]) throws(RuntimeError) -> [String: [Float]] {
        try input.withUnsafeBufferPointer { (p) throws(RuntimeError) in try run(input: p) }
        var result: [String: [Float]] = [:]
        for name in tasks { result[name] = try output(of: name) }
        return result
    }

    /// Converts a decoded image to the model's input (channels, size, normalisation from the
    /// model's input spec) directly into the arena, runs, and returns each task's output.
    public func run(image: Image) throws(RuntimeError) -> [String: [Float]] {
        let input = UnsafeMutableBufferPointer(start: arena.pointer + plan.offsets[0], count: model.inputCount)
        Preprocessor(spec: model.model.input).run(image, into: input)
        execute()
        var result: [String: [Float]] = [:]
        for name in tasks { result[name] = try output(of: name) }
        return result
    }

    /// A copy of a requested task's output from the last run.
    public func output(of task: String) throws(RuntimeError) -> [Float] {
        try withOutput(of: task) { Array($0) }
    }

    /// Lends a requested task's output from the last run.
    public func withOutput<R>(of task: String, _ body: (UnsafeBufferPointer<Float>) -> R) throws(RuntimeError) -> R {
        guard let k = tasks.firstIndex(of: task) else { throw RuntimeError.unknownTask(task, available: tasks) }
        let node = plan.outputs[k]
        return body(UnsafeBufferPointer(start: arena.pointer + plan.offsets[node], count: model.shapes[node].elementCount))
    }

    // MARK: - Execution

    private func execute() {
        var shared: UInt64 = 0
        taskSeconds.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        let start = DispatchTime.now().uptimeNanoseconds
        // Index loops: no iterator objects, so unoptimised builds do not allocate either.
        var step = 1
        while step < plan.steps.count {
            let i = plan.steps[step]
            step += 1
            let t0 = DispatchTime.now().uptimeNanoseconds
            executeNode(i)
            let dt = DispatchTime.now().uptimeNanoseconds - t0
            nodeNanoseconds[i] = dt
            switch plan.owners[i] {
            case .shared: shared += dt
            case .task(let k): taskSeconds[k] += Double(dt) * 1e-9
            }
        }
        let total = DispatchTime.now().uptimeNanoseconds - start
        timings.shared = Double(shared) * 1e-9
        timings.total = Double(total) * 1e-9
        var k = 0
        while k < tasks.count {
            timings.perTask[tasks[k]] = taskSeconds[k]
            k += 1
        }
    }

    /// Pointer to the first channel a reference reads, and the pixel stride of its value.
    private func view(_ r: ValueRef) -> (UnsafeMutablePointer<Float>, Int) {
        (arena.pointer + plan.offsets[r.node] + r.channelOffset, model.shapes[r.node].channels)
    }

    private func executeNode(_ i: Int) {
        let node = model.model.nodes[i]
        let out = arena.pointer + plan.offsets[i]
        let shape = model.shapes[i]
        let isa = model.isa.raw
        switch model.nodes[i] {
        case .input:
            break

        case .convolution(let c):
            let (x, _) = view(node.inputs[0])
            let accumulate: Int32 = node.inputs.count == 2 ? 1 : 0
            if accumulate != 0 { copyValue(node.inputs[1], to: out, channels: shape.channels, pixels: shape.pixels) }
            let mr = model.isa.gemmTile.mr
            let work = shape.pixels * c.params.kernel_h * c.params.kernel_w * (c.params.in_c / c.params.groups) * shape.channels
            withUnsafePointer(to: c.params) { params in
                switch c.algorithm {
                case .depthwise:
                    parallel(items: shape.pixels, granule: 1, work: work) { begin, end, _ in
                        mtz_dwconv2d(isa, params, x, c.packed.pointer, out, begin, end, accumulate, c.activation)
                    }
                case .gemm:
                    parallel(items: shape.pixels, granule: mr, work: work) { begin, end, thread in
                        let ws = c.workspace > 0 ? workspace.pointer + thread * workspacePerThread : nil
                        mtz_conv2d(isa, params, x, c.packed.pointer, out, ws, begin, end, accumulate, c.activation)
                    }
                case .winograd:
                    // Threads take whole 4×4 output tiles, or, when there are too few tiles for each
                    // thread to fill more than one tile block, column panels (so the transformed
                    // weights are streamed once in all rather than once per thread). Either way an
                    // element's result does not depend on the split.
                    let tiles = mtz_winograd_tiles(params)
                    let ws = workspace.pointer
                    if tiles < threads * mtz_winograd_block_tiles(isa, params) {
                        let nr = model.isa.gemmTile.nr
                        parallel(items: (shape.channels + nr - 1) / nr, granule: 1, work: work) { begin, end, thread in
                            mtz_conv2d_winograd(isa, params, x, c.packed.pointer, out, ws + thread * workspacePerThread,
                                                0, tiles, begin * nr, end * nr, accumulate, c.activation)
                        }
                    } else {
                        parallel(items: tiles, granule: 1, work: work) { begin, end, thread in
                            mtz_conv2d_winograd(isa, params, x, c.packed.pointer, out, ws + thread * workspacePerThread,
                                                begin, end, 0, shape.channels, accumulate, c.activation)
                        }
                    }
                }
            }

        case .fullyConnected(let f):
            let (x, _) = view(node.inputs[0])
            let accumulate: Int32 = node.inputs.count == 2 ? 1 : 0
            if accumulate != 0 { copyValue(node.inputs[1], to: out, channels: shape.channels, pixels: 1) }
            let w = f.weights.pointer, bias = f.bias?.pointer, k = f.inFeatures
            // Threads take whole blocks of 4 rows, the kernel's step.
            parallel(items: f.outFeatures, granule: 4, work: k * f.outFeatures) { first, end, _ in
                mtz_gemv(isa, end - first, k, x, w + first * k, k, bias.map { $0 + first }, out + first, accumulate, f.activation)
            }

        case .activation(let a):
            let (x, stride) = view(node.inputs[0])
            mtz_activate(isa, shape.pixels, shape.channels, x, stride, out, shape.channels, a)

        case .maxPool(let p):
            let (x, _) = view(node.inputs[0])
            withUnsafePointer(to: p) { params in
                parallel(items: shape.pixels, granule: 1, work: shape.elementCount * p.kernel_h * p.kernel_w) { begin, end, _ in
                    mtz_maxpool2d(isa, params, x, out, begin, end)
                }
            }

        case .averagePool(let p, let includePad):
            let (x, _) = view(node.inputs[0])
            withUnsafePointer(to: p) { params in
                parallel(items: shape.pixels, granule: 1, work: shape.elementCount * p.kernel_h * p.kernel_w) { begin, end, _ in
                    mtz_avgpool2d(isa, params, x, out, begin, end, includePad ? 1 : 0)
                }
            }

        case .globalAveragePool:
            let (x, stride) = view(node.inputs[0])
            mtz_global_avgpool(isa, model.shapes[node.inputs[0].node].pixels, shape.channels, x, stride, out)

        case .add(let a):
            let (x, xs) = view(node.inputs[0])
            let (y, ys) = view(node.inputs[1])
            mtz_add(isa, shape.pixels, shape.channels, x, xs, y, ys, out, shape.channels, a)

        case .concat:
            var offset = 0
            var k = 0
            while k < node.inputs.count {
                let r = node.inputs[k]
                k += 1
                let (x, stride) = view(r)
                let channels = r.channelCount ?? (model.shapes[r.node].channels - r.channelOffset)
                mtz_copy(shape.pixels, channels, x, stride, out + offset, shape.channels)
                offset += channels
            }

        case .flatten:
            let r = node.inputs[0]
            let (x, stride) = view(r)
            let source = model.shapes[r.node]
            let channels = r.channelCount ?? (source.channels - r.channelOffset)
            mtz_copy(source.pixels, channels, x, stride, out, channels)

        case .softmax:
            let (x, _) = view(node.inputs[0])
            mtz_softmax(isa, shape.channels, x, out)

        case .scaleShift(let scale, let shift):
            let (x, stride) = view(node.inputs[0])
            mtz_scale_shift(isa, shape.pixels, shape.channels, x, stride, scale.pointer, shift.pointer, out, shape.channels)
        }
    }

    /// Copies the value `r` reads into a contiguous `[pixels][channels]` output (the addend of an
    /// accumulating layer).
    private func copyValue(_ r: ValueRef, to out: UnsafeMutablePointer<Float>, channels: Int, pixels: Int) {
        let (x, stride) = view(r)
        if x != out { mtz_copy(pixels, channels, x, stride, out, channels) }
    }

    /// Splits `items` into at most `threads` contiguous chunks (multiples of `granule`) and runs
    /// `body(begin, end, thread)` for each. Small jobs (`work` below a threshold) run inline.
    ///
    /// `work` counts multiply-adds (or elements). A chunk gets at least 2^21 of them, ≈ 20-40 µs
    /// here: waking a pooled thread costs tens of microseconds, so splitting smaller layers made a
    /// small network slower on 2 threads than on 1 (LeNet-5: 0.156 ms against 0.085 ms with 2^16).
    private func parallel(items: Int, granule: Int, work: Int, _ body: (Int, Int, Int) -> Void) {
        let minWorkPerThread = 1 << 21
        let chunks = min(threads, max(1, work / minWorkPerThread), (items + granule - 1) / granule)
        if chunks <= 1 {
            body(0, items, 0)
            return
        }
        let granules = (items + granule - 1) / granule
        let perChunk = (granules + chunks - 1) / chunks * granule
        // The chunks write disjoint output ranges; the closure only lives for this call.
        withoutActuallyEscaping(body) { body in
            let work = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { t in
                let begin = t * perChunk
                let end = min(items, begin + perChunk)
                if begin < end { work.value(begin, end, t) }
            }
        }
    }
}
