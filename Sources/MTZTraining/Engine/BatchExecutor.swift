import CMTZKernels
import MTZCore
import MTZRuntime

/// Runs the forward and backward passes of a `TrainableModel` on mini-batches.
///
/// Values are NHWC per sample with the samples of a batch back to back. A channel slice of a value
/// over the whole batch is a `[batch·pixels][channels]` view with the producer's channel count as the
/// row stride, so element-wise ops treat a batch as one long list of pixels. Convolutions and
/// pooling run per sample on the C kernels; the weight and input gradients of convolution and FC
/// layers are GEMMs on the same kernels (`mtz_gemm` with `mtz_gemm_pack_kn`), with im2col/col2im
/// for convolutions.
final class BatchExecutor {
    let model: TrainableModel
    /// Largest batch the buffers hold.
    let capacity: Int
    /// Samples in the current batch (`1...capacity`); set before `forward`.
    var batch: Int
    /// Per task (the model's task order): the samples of the current batch that are its images;
    /// set with `batch`. A batch of one task's images gives it `0..<batch` and the others nothing.
    var sampleRanges: [Range<Int>] = [] { didSet { plan = nil } }
    /// Per node: the tasks on whose path it is (set by the trainer; a node not listed serves every
    /// task). With several tasks' samples in a batch, a node computes only its tasks' samples (from
    /// the first to the last of them), and a batch norm's statistics count only its tasks' samples.
    /// A batch norm with one input per task (shared by them, see `Operation.batchNorm`) counts every
    /// task's samples, each read from its task's input.
    var nodeTasks: [Int: [Int]] = [:] { didSet { plan = nil } }
    /// While a node is computed: its first sample; `batch` is then its number of samples.
    private var offset = 0
    /// What `sampleRanges` and `nodeTasks` mean for a batch of `batch` samples, per node: the
    /// samples it computes (`window`) and, for a batch norm, the rows its statistics count
    /// (`batchNormParts`). Built by the first pass over a batch, reused by the others.
    private struct Plan {
        var batch: Int
        var windows: [Range<Int>?]
        var batchNormParts: [Int: [(ref: ValueRef, rows: Range<Int>)]]
    }
    private var plan: Plan?
    let isa: mtz_isa
    private let nodes: [Node]
    private let shapes: [ValueShape]
    private var values: [BatchTensor?]
    private var grads: [BatchTensor?]
    /// Per batch-norm node: batch mean and 1/sqrt(var + eps) of the last training forward pass.
    private var batchMean: [Int: [Float]] = [:]
    private var batchInvStd: [Int: [Float]] = [:]
    /// Per dropout node: the mask (0 or 1/(1-p)) of the last training forward pass.
    private var dropoutMasks: [Int: BatchTensor] = [:]
    private var random: UInt64
    /// Packed weights per node for the forward GEMM and, per node, W as a [K][N] GEMM operand.
    private var packedForward: [Int: (version: Int, buffer: AlignedBuffer)] = [:]
    private var packedBackward: [Int: (version: Int, buffer: AlignedBuffer)] = [:]
    private let im2colScratch = Scratch()
    private let transposeScratch = Scratch()
    private let packScratch = Scratch()
    private let dcolScratch = Scratch()
    /// Per conv node: the im2col rows of the last training forward pass (all groups).
    private var colCache: [Int: AlignedBuffer] = [:]

    init(model: TrainableModel, capacity: Int, seed: UInt64, isa: KernelISA = .selected) {
        self.model = model
        self.capacity = capacity
        self.batch = capacity
        self.isa = isa.raw
        nodes = model.structure.nodes
        shapes = model.shapes
        values = [BatchTensor?](repeating: nil, count: nodes.count)
        grads = [BatchTensor?](repeating: nil, count: nodes.count)
        random = seed &+ 0x9E37_79B9_7F4A_7C15
    }

    // MARK: - Views

    /// Pointer to the first element a reference reads for sample 0, the pixel stride, and the
    /// number of channels it reads.
    private func view(_ r: ValueRef, in tensors: [BatchTensor?]) -> (UnsafeMutablePointer<Float>, stride: Int, channels: Int) {
        let stride = shapes[r.node].channels
        return (tensors[r.node]!.pointer + offset * shapes[r.node].elementCount + r.channelOffset, stride,
                r.channelCount ?? (stride - r.channelOffset))
    }

    private func tensor(_ i: Int, _ list: inout [BatchTensor?]) -> BatchTensor {
        if let t = list[i] { return t }
        let t = BatchTensor(batch: capacity, sampleSize: shapes[i].elementCount)
        list[i] = t
        return t
    }

    /// The output of node `i` from the last forward pass (`batch × elementCount` floats).
    func output(_ i: Int) -> UnsafeMutablePointer<Float> { values[i]!.pointer }

    /// The gradient buffer of node `i`'s value, to be filled by the loss before `backward`.
    func outputGradient(_ i: Int) -> UnsafeMutablePointer<Float> { tensor(i, &grads).pointer }

    /// Nodes needed to compute `outputs`, in topological order (the input node first).
    func steps(for outputs: [Int]) -> [Int] {
        var needed = [Bool](repeating: false, count: nodes.count)
        var stack = outputs
        while let i = stack.popLast() {
            guard !needed[i] else { continue }
            needed[i] = true
            stack.append(contentsOf: nodes[i].inputs.map(\.node))
        }
        return nodes.indices.filter { needed[$0] }
    }

    // MARK: - Forward

    /// Runs `steps` on a batch whose input (`batch × inputSize` floats, normalised) is already in
    /// place via `inputPointer`. `training` selects batch statistics and dropout.
    func forward(_ steps: [Int], training: Bool) {
        let full = batch
        let windows = currentPlan().windows
        defer { (offset, batch) = (0, full) }
        for i in steps where i != 0 {
            guard let samples = windows[i] else { continue }
            (offset, batch) = (samples.lowerBound, samples.count)
            forwardNode(i, training: training)
        }
    }

    /// The plan for the current batch (`batch` outside a pass is the whole batch).
    private func currentPlan() -> Plan {
        if let plan, plan.batch == batch { return plan }
        var parts: [Int: [(ref: ValueRef, rows: Range<Int>)]] = [:]
        for i in nodes.indices { if case .batchNorm = nodes[i].op { parts[i] = batchNormParts(i, batch: batch) } }
        let made = Plan(batch: batch, windows: nodes.indices.map { window($0, batch: batch) }, batchNormParts: parts)
        plan = made
        return made
    }

    /// The samples of a batch of `batch` that node `i` computes: those of the tasks on whose path
    /// it is, from the first to the last; nil when none of its tasks has any. A batch norm computes
    /// every sample (`batchNormParts` picks the rows its statistics count).
    private func window(_ i: Int, batch: Int) -> Range<Int>? {
        guard let tasks = nodeTasks[i], !sampleRanges.isEmpty else { return 0..<batch }
        let ranges = tasks.map { sampleRanges.indices.contains($0) ? sampleRanges[$0] : 0..<0 }.filter { !$0.isEmpty }
        guard let first = ranges.map(\.lowerBound).min(), let last = ranges.map(\.upperBound).max() else { return nil }
        if case .batchNorm = nodes[i].op { return 0..<batch }
        return first..<last
    }

    /// Where to write the normalised batch input.
    var inputPointer: UnsafeMutablePointer<Float> { tensor(0, &values).pointer }

    private func forwardNode(_ i: Int, training: Bool) {
        let node = nodes[i]
        let shape = shapes[i]
        let out = tensor(i, &values).pointer + offset * shape.elementCount
        let rows = batch * shape.pixels
        switch node.op {
        case .input:
            break
        case .conv2d(let c):
            convForward(i, c, out: out, training: training)
        case .fullyConnected(let f):
            let (x, xStride, xChannels) = view(node.inputs[0], in: values)
            let accumulate: Int32 = node.inputs.count == 2 ? 1 : 0
            if accumulate != 0 { copyInto(node.inputs[1], out, rows: batch, channels: f.outFeatures) }
            let packed = forwardPackedFC(i, f: f, inFeatures: xChannels)
            mtz_gemm(isa, batch, f.outFeatures, xChannels, x, xStride, packed, out, f.outFeatures, accumulate, f.activation.kernel)
        case .activation(let a):
            let (x, xStride, _) = view(node.inputs[0], in: values)
            mtz_activate(isa, rows, shape.channels, x, xStride, out, shape.channels, a.kernel)
        case .maxPool(let pool), .averagePool(let pool):
            let (x, xStride, _) = view(node.inputs[0], in: values)
            var p = windowParams(pool.window, input: inputShape(node.inputs[0]), inputStride: xStride, output: shape, groups: shape.channels)
            let inElems = shapes[node.inputs[0].node].elementCount
            for s in 0..<batch {
                if case .maxPool = node.op {
                    mtz_maxpool2d(isa, &p, x + s * inElems, out + s * shape.elementCount, 0, shape.pixels)
                } else {
                    mtz_avgpool2d(isa, &p, x + s * inElems, out + s * shape.elementCount, 0, shape.pixels, pool.countIncludePad ? 1 : 0)
                }
            }
        case .globalAveragePool:
            let (x, xStride, _) = view(node.inputs[0], in: values)
            let source = shapes[node.inputs[0].node]
            for s in 0..<batch {
                mtz_global_avgpool(isa, source.pixels, shape.channels, x + s * source.elementCount, xStride, out + s * shape.channels)
            }
        case .add(let a):
            let (x, xs, _) = view(node.inputs[0], in: values)
            let (y, ys, _) = view(node.inputs[1], in: values)
            mtz_add(isa, rows, shape.channels, x, xs, y, ys, out, shape.channels, a.kernel)
        case .concat:
            var offset = 0
            for r in node.inputs {
                let (x, xs, channels) = view(r, in: values)
                mtz_copy(rows, channels, x, xs, out + offset, shape.channels)
                offset += channels
            }
        case .flatten:
            let r = node.inputs[0]
            let (x, xs, channels) = view(r, in: values)
            mtz_copy(batch * shapes[r.node].pixels, channels, x, xs, out, channels)
        case .softmax:
            let (x, xs, _) = view(node.inputs[0], in: values)
            for s in 0..<batch { mtz_softmax(isa, shape.channels, x + s * xs, out + s * shape.channels) }
        case .batchNorm(let gamma, let beta):
            batchNormForward(i, gamma: gamma, beta: beta, out: out, training: training)
        }
        if training, let rate = model.dropout[i] { applyDropout(i, rate: rate, out: out, count: batch * shape.elementCount) }
    }

    private func applyDropout(_ i: Int, rate: Float, out: UnsafeMutablePointer<Float>, count: Int) {
        let mask = dropoutMasks[i] ?? BatchTensor(batch: capacity, sampleSize: shapes[i].elementCount)
        dropoutMasks[i] = mask
        let keep = 1 / (1 - rate)
        let threshold = UInt64(Double(rate) * Double(1 << 32))
        let m = mask.pointer + offset * shapes[i].elementCount
        for k in 0..<count {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            m[k] = (random >> 32) < threshold ? 0 : keep
            out[k] *= m[k]
        }
    }

    /// The parts of batch-norm node `i`'s input its statistics count: per part, the value read and
    /// its row range (rows are pixels of samples). One input: its rows of the tasks on the node's
    /// path. One input per task: each task's rows of its own input.
    private func batchNormParts(_ i: Int, batch: Int) -> [(ref: ValueRef, rows: Range<Int>)] {
        let node = nodes[i]
        let pixels = shapes[i].pixels
        func rows(_ t: Int) -> Range<Int> {
            let s = sampleRanges.indices.contains(t) ? sampleRanges[t] : 0..<0
            return (s.lowerBound * pixels)..<(s.upperBound * pixels)
        }
        if node.inputs.count > 1 {
            return node.inputs.enumerated().map { ($1, rows($0)) }.filter { !$0.rows.isEmpty }
        }
        guard let tasks = nodeTasks[i] else { return [(node.inputs[0], 0..<(batch * pixels))] }
        return tasks.map { (node.inputs[0], rows($0)) }.filter { !$0.rows.isEmpty }
    }

    private func batchNormForward(_ i: Int, gamma: Int, beta: Int, out: UnsafeMutablePointer<Float>, training: Bool) {
        let node = nodes[i]
        let channels = shapes[i].channels
        let parts = plan!.batchNormParts[i]!
        var mean = [Float](repeating: 0, count: channels)
        var invStd = [Float](repeating: 0, count: channels)
        let counted = parts.reduce(0) { $0 + $1.rows.count }
        if training, counted > 0 {
            var sum = [Double](repeating: 0, count: channels)
            var sumSquares = [Double](repeating: 0, count: channels)
            for part in parts {
                let (x, xs, _) = view(part.ref, in: values)
                for r in part.rows {
                    let row = x + r * xs
                    for c in 0..<channels {
                        let v = Double(row[c])
                        sum[c] += v
                        sumSquares[c] += v * v
                    }
                }
            }
            let n = Double(counted)
            let m = Float(model.batchNormMomentum)
            for c in 0..<channels {
                let mu = sum[c] / n
                let variance = max(0, sumSquares[c] / n - mu * mu)
                mean[c] = Float(mu)
                invStd[c] = 1 / Float(variance + Double(model.batchNormEpsilon)).squareRoot()
                let unbiased = counted > 1 ? variance * n / (n - 1) : variance
                model.runningMean[i]![c] = (1 - m) * model.runningMean[i]![c] + m * Float(mu)
                model.runningVariance[i]![c] = (1 - m) * model.runningVariance[i]![c] + m * Float(unbiased)
            }
            batchMean[i] = mean
            batchInvStd[i] = invStd
        } else {
            for c in 0..<channels {
                mean[c] = model.runningMean[i]![c]
                invStd[c] = 1 / (model.runningVariance[i]![c] + model.batchNormEpsilon).squareRoot()
            }
            if training { (batchMean[i], batchInvStd[i]) = (mean, invStd) }
        }
        let g = model.values[gamma], b = model.values[beta]
        var scale = [Float](repeating: 0, count: channels)
        var shift = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            scale[c] = g[c] * invStd[c]
            shift[c] = b[c] - mean[c] * scale[c]
        }
        if node.inputs.count == 1 {
            // Rows outside the counted parts (other tasks' samples) are normalised alike; nothing
            // downstream of them reaches their task's loss.
            let (x, xs, _) = view(node.inputs[0], in: values)
            mtz_scale_shift(isa, batch * shapes[i].pixels, channels, x, xs, scale, shift, out, channels)
        } else {
            for part in parts {
                let (x, xs, _) = view(part.ref, in: values)
                mtz_scale_shift(isa, part.rows.count, channels, x + part.rows.lowerBound * xs, xs, scale, shift,
                                out + part.rows.lowerBound * channels, channels)
            }
        }
    }

    // MARK: - Backward

    /// Back-propagates the gradients of the loss nodes (set by the loss through `outputGradient`;
    /// no step may read a loss node) to every parameter the steps read; parameter gradients are
    /// *added* to `model.gradients`. Other gradient buffers are cleared first.
    func backward(_ steps: [Int], lossNodes: [Int]) {
        for i in steps where i != 0 && !lossNodes.contains(i) { tensor(i, &grads).zero(samples: batch) }
        let full = batch
        let windows = currentPlan().windows
        defer { (offset, batch) = (0, full) }
        for i in steps.reversed() where i != 0 {
            guard let samples = windows[i] else { continue }
            (offset, batch) = (samples.lowerBound, samples.count)
            backwardNode(i)
        }
    }

    private func needsGradient(_ r: ValueRef) -> Bool { r.node != 0 }

    private func backwardNode(_ i: Int) {
        let node = nodes[i]
        let shape = shapes[i]
        let rows = batch * shape.pixels
        let dy = grads[i]!.pointer + offset * shape.elementCount
        let y = values[i]!.pointer + offset * shape.elementCount
        if let mask = dropoutMasks[i], model.dropout[i] != nil {
            let m = mask.pointer + offset * shape.elementCount
            for k in 0..<(batch * shape.elementCount) { dy[k] *= m[k] }
        }
        switch node.op {
        case .input:
            break
        case .conv2d(let c):
            activationBackward(c.activation, y: y, dy: dy, count: batch * shape.elementCount)
            if node.inputs.count == 2 { addInto(node.inputs[1], dy, rows: rows, channels: shape.channels) }
            convBackward(i, c, dz: dy)
        case .fullyConnected(let f):
            activationBackward(f.activation, y: y, dy: dy, count: batch * f.outFeatures)
            if node.inputs.count == 2 { addInto(node.inputs[1], dy, rows: batch, channels: f.outFeatures) }
            fullyConnectedBackward(i, f, dz: dy)
        case .activation(let a):
            activationBackward(a, y: y, dy: dy, count: batch * shape.elementCount)
            if needsGradient(node.inputs[0]) { addInto(node.inputs[0], dy, rows: rows, channels: shape.channels) }
        case .maxPool(let pool), .averagePool(let pool):
            guard needsGradient(node.inputs[0]) else { break }
            let (x, xs, _) = view(node.inputs[0], in: values)
            let (dx, _, _) = view(node.inputs[0], in: grads)
            var p = windowParams(pool.window, input: inputShape(node.inputs[0]), inputStride: xs, output: shape, groups: shape.channels)
            let inElems = shapes[node.inputs[0].node].elementCount
            for s in 0..<batch {
                if case .maxPool = node.op {
                    mtz_maxpool2d_backward(&p, x + s * inElems, dy + s * shape.elementCount, dx + s * inElems)
                } else {
                    mtz_avgpool2d_backward(&p, dy + s * shape.elementCount, dx + s * inElems, pool.countIncludePad ? 1 : 0)
                }
            }
        case .globalAveragePool:
            guard needsGradient(node.inputs[0]) else { break }
            let (dx, xs, channels) = view(node.inputs[0], in: grads)
            let source = shapes[node.inputs[0].node]
            let inv = 1 / Float(source.pixels)
            for s in 0..<batch {
                let g = dy + s * channels
                for p in 0..<source.pixels {
                    let row = dx + s * source.elementCount + p * xs
                    for c in 0..<channels { row[c] += g[c] * inv }
                }
            }
        case .add(let a):
            activationBackward(a, y: y, dy: dy, count: batch * shape.elementCount)
            for r in node.inputs where needsGradient(r) { addInto(r, dy, rows: rows, channels: shape.channels) }
        case .concat:
            var offset = 0
            for r in node.inputs {
                let (_, _, channels) = view(r, in: values)
                if needsGradient(r) { addInto(r, dy + offset, rows: rows, channels: channels, sourceStride: shape.channels) }
                offset += channels
            }
        case .flatten:
            let r = node.inputs[0]
            if needsGradient(r) {
                let (_, _, channels) = view(r, in: values)
                addInto(r, dy, rows: batch * shapes[r.node].pixels, channels: channels)
            }
        case .softmax:
            guard needsGradient(node.inputs[0]) else { break }
            let (dx, xs, _) = view(node.inputs[0], in: grads)
            let n = shape.channels
            for s in 0..<batch {
                let ys = y + s * n, g = dy + s * n, d = dx + s * xs
                var dot: Float = 0
                for k in 0..<n { dot += ys[k] * g[k] }
                for k in 0..<n { d[k] += ys[k] * (g[k] - dot) }
            }
        case .batchNorm(let gamma, let beta):
            batchNormBackward(i, gamma: gamma, beta: beta, dy: dy)
        }
    }

    /// dy ← dy · act'(y), in place, from the activation's output.
    private func activationBackward(_ a: MTZCore.Activation, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, count: Int) {
        mtz_activation_backward(isa, count, y, dy, a.kernel)
    }

    /// The GEMM view of a convolution over the batch: per group, an `[batch·pixels][K_g]` patch
    /// matrix (the input itself for 1×1 stride-1 unpadded convolutions, else im2col rows).
    private struct ConvGeometry {
        var params: mtz_conv2d_params
        var groups: Int
        var ocg: Int
        var kg: Int
        var pixels: Int
        var inElems: Int
        /// 1×1, stride 1, no padding: the input rows are the patch rows.
        var direct: Bool
    }

    private func geometry(_ i: Int, _ c: Conv2D) -> ConvGeometry {
        let r = nodes[i].inputs[0]
        let p = convParams(c, input: r, output: shapes[i])
        let w = c.window
        let direct = w.kernelH == 1 && w.kernelW == 1 && w.strideH == 1 && w.strideW == 1
            && w.padding == Padding() && shapes[i].pixels == shapes[r.node].pixels
        return ConvGeometry(params: p, groups: c.groups, ocg: c.outChannels / c.groups,
                            kg: w.kernelH * w.kernelW * (p.in_c / c.groups), pixels: shapes[i].pixels,
                            inElems: shapes[r.node].elementCount, direct: direct)
    }

    /// Patch rows of group `g` for the whole batch: the cached im2col of the last training forward
    /// pass, the input itself for direct convolutions, or a fresh im2col into `scratch`.
    private func patches(_ i: Int, _ geo: ConvGeometry, group g: Int, fill: Bool, scratch: Scratch) -> (UnsafeMutablePointer<Float>, ld: Int) {
        let r = nodes[i].inputs[0]
        let (x, xs, _) = view(r, in: values)
        if geo.direct { return (x + g * (geo.params.in_c / geo.groups), xs) }
        let perGroup = capacity * geo.pixels * geo.kg
        let col: UnsafeMutablePointer<Float>
        if let cached = colCache[i] {
            col = cached.pointer + g * perGroup
        } else {
            col = scratch.pointer(batch * geo.pixels * geo.kg)
        }
        if fill || colCache[i] == nil {
            var p = geo.params
            for s in 0..<batch {
                mtz_im2col(&p, g, x + s * geo.inElems, 0, geo.pixels, col + s * geo.pixels * geo.kg, geo.kg)
            }
        }
        return (col, geo.kg)
    }

    /// Forward convolution as one GEMM per group over the whole batch. In training the im2col
    /// rows are kept (when they fit in `colCacheLimit` floats) for the weight gradient.
    private func convForward(_ i: Int, _ c: Conv2D, out: UnsafeMutablePointer<Float>, training: Bool) {
        let node = nodes[i]
        let shape = shapes[i]
        let geo = geometry(i, c)
        var p = geo.params
        let accumulate: Int32 = node.inputs.count == 2 ? 1 : 0
        if accumulate != 0 { copyInto(node.inputs[1], out, rows: batch * shape.pixels, channels: shape.channels) }
        let packed = forwardPacked(i, conv: c, params: &p)
        let groupPacked = mtz_gemm_packed_size(isa, geo.kg, geo.ocg)
        let cacheSize = geo.groups * capacity * geo.pixels * geo.kg
        if training, !geo.direct, colCache[i] == nil, cacheSize <= Self.colCacheLimit {
            colCache[i] = try! AlignedBuffer(count: cacheSize)
        }
        for g in 0..<geo.groups {
            let (a, lda) = patches(i, geo, group: g, fill: true, scratch: im2colScratch)
            mtz_gemm(isa, batch * geo.pixels, geo.ocg, geo.kg, a, lda, packed + g * groupPacked,
                     out + g * geo.ocg, c.outChannels, accumulate, c.activation.kernel)
        }
    }

    /// Largest im2col kept between the forward and backward pass of one node, in floats.
    static let colCacheLimit = 1 << 23

    private func convBackward(_ i: Int, _ c: Conv2D, dz: UnsafeMutablePointer<Float>) {
        let r = nodes[i].inputs[0]
        let geo = geometry(i, c)
        var p = geo.params
        let rows = batch * geo.pixels
        let (ocg, kg) = (geo.ocg, geo.kg)

        // Bias: sum of dz over samples and pixels.
        if let b = c.bias {
            model.gradients[b].withUnsafeMutableBufferPointer { db in
                for row in 0..<rows {
                    let g = dz + row * c.outChannels
                    for o in 0..<c.outChannels { db[o] += g[o] }
                }
            }
        }
        let dx = needsGradient(r) ? view(r, in: grads).0 : nil
        let packedW = dx == nil ? nil : backwardPacked(i, weight: c.weight, groups: geo.groups, rows: ocg, cols: kg)
        let dzt = transposeScratch.pointer(ocg * rows)
        let packed = packScratch.pointer(mtz_gemm_packed_size(isa, rows, kg))
        model.gradients[c.weight].withUnsafeMutableBufferPointer { dw in
            for g in 0..<geo.groups {
                // dW_g (ocg × kg) += dz_gᵀ (ocg × rows) · patches (rows × kg)
                let (col, ld) = patches(i, geo, group: g, fill: false, scratch: im2colScratch)
                let dzGroup = dz + g * ocg
                mtz_transpose(rows, ocg, dzGroup, c.outChannels, dzt, rows)
                mtz_gemm_pack_kn(isa, rows, kg, col, ld, nil, packed)
                mtz_gemm(isa, ocg, kg, rows, dzt, rows, packed, dw.baseAddress! + g * ocg * kg, kg, 1, MTZ_ACT_NONE)
                guard let dx, let packedW else { continue }
                let wg = packedW + g * mtz_gemm_packed_size(isa, ocg, kg)
                if geo.direct {
                    // dx_g (rows × kg) += dz_g · W_g, straight into the input gradient.
                    let (_, dxs, _) = view(r, in: grads)
                    mtz_gemm(isa, rows, kg, ocg, dzGroup, c.outChannels, wg, dx + g * kg, dxs, 1, MTZ_ACT_NONE)
                } else {
                    // dcol (rows × kg) = dz_g · W_g, then scattered back with col2im.
                    let dcol = dcolScratch.pointer(rows * kg)
                    mtz_gemm(isa, rows, kg, ocg, dzGroup, c.outChannels, wg, dcol, kg, 0, MTZ_ACT_NONE)
                    for s in 0..<batch {
                        mtz_col2im_add(&p, g, dcol + s * geo.pixels * kg, kg, 0, geo.pixels, dx + s * geo.inElems)
                    }
                }
            }
        }
    }

    private func fullyConnectedBackward(_ i: Int, _ f: FullyConnected, dz: UnsafeMutablePointer<Float>) {
        let r = nodes[i].inputs[0]
        let (x, xs, inFeatures) = view(r, in: values)
        let out = f.outFeatures
        if let b = f.bias {
            model.gradients[b].withUnsafeMutableBufferPointer { db in
                for s in 0..<batch { for o in 0..<out { db[o] += dz[s * out + o] } }
            }
        }
        // dW (out × in) += dzᵀ (out × batch) · x (batch × in)
        let dzt = transposeScratch.pointer(out * batch)
        mtz_transpose(batch, out, dz, out, dzt, batch)
        let packedX = packScratch.pointer(mtz_gemm_packed_size(isa, batch, inFeatures))
        mtz_gemm_pack_kn(isa, batch, inFeatures, x, xs, nil, packedX)
        model.gradients[f.weight].withUnsafeMutableBufferPointer { dw in
            mtz_gemm(isa, out, inFeatures, batch, dzt, batch, packedX, dw.baseAddress!, inFeatures, 1, MTZ_ACT_NONE)
        }
        guard needsGradient(r) else { return }
        // dx (batch × in) += dz (batch × out) · W (out × in)
        let (dx, dxs, _) = view(r, in: grads)
        let packedW = backwardPacked(i, weight: f.weight, groups: 1, rows: out, cols: inFeatures)
        mtz_gemm(isa, batch, inFeatures, out, dz, out, packedW, dx, dxs, 1, MTZ_ACT_NONE)
    }

    /// Batch-norm backward over the rows its statistics counted (`batchNormParts`): the rows of
    /// other tasks' samples get no gradient (their output reaches no loss of theirs).
    private func batchNormBackward(_ i: Int, gamma: Int, beta: Int, dy: UnsafeMutablePointer<Float>) {
        let channels = shapes[i].channels
        let parts = plan!.batchNormParts[i]!
        let counted = parts.reduce(0) { $0 + $1.rows.count }
        guard counted > 0 else { return }
        let mean = batchMean[i]!, invStd = batchInvStd[i]!
        var sumDy = [Double](repeating: 0, count: channels)
        var sumDyXhat = [Double](repeating: 0, count: channels)
        for part in parts {
            let (x, xs, _) = view(part.ref, in: values)
            for row in part.rows {
                let xr = x + row * xs, g = dy + row * channels
                for c in 0..<channels {
                    let xhat = (xr[c] - mean[c]) * invStd[c]
                    sumDy[c] += Double(g[c])
                    sumDyXhat[c] += Double(g[c] * xhat)
                }
            }
        }
        model.gradients[gamma].withUnsafeMutableBufferPointer { dg in
            for c in 0..<channels { dg[c] += Float(sumDyXhat[c]) }
        }
        model.gradients[beta].withUnsafeMutableBufferPointer { db in
            for c in 0..<channels { db[c] += Float(sumDy[c]) }
        }
        let g = model.values[gamma]
        let n = Float(counted)
        var k1 = [Float](repeating: 0, count: channels)
        var k2 = [Float](repeating: 0, count: channels)
        var k3 = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            k1[c] = g[c] * invStd[c]
            k2[c] = Float(sumDy[c]) / n
            k3[c] = Float(sumDyXhat[c]) / n
        }
        for part in parts where needsGradient(part.ref) {
            let (x, xs, _) = view(part.ref, in: values)
            let (dx, dxs, _) = view(part.ref, in: grads)
            for row in part.rows {
                let xr = x + row * xs, gr = dy + row * channels, d = dx + row * dxs
                for c in 0..<channels {
                    let xhat = (xr[c] - mean[c]) * invStd[c]
                    d[c] += k1[c] * (gr[c] - k2[c] - xhat * k3[c])
                }
            }
        }
    }

    // MARK: - Helpers

    private func inputShape(_ r: ValueRef) -> ValueShape {
        let s = shapes[r.node]
        return ValueShape(height: s.height, width: s.width, channels: r.channelCount ?? (s.channels - r.channelOffset))
    }

    private func convParams(_ c: Conv2D, input r: ValueRef, output: ValueShape) -> mtz_conv2d_params {
        windowParams(c.window, input: inputShape(r), inputStride: shapes[r.node].channels, output: output, groups: c.groups)
    }

    /// Copies the value `r` reads (rows × channels) into a contiguous buffer.
    private func copyInto(_ r: ValueRef, _ out: UnsafeMutablePointer<Float>, rows: Int, channels: Int) {
        let (x, xs, _) = view(r, in: values)
        mtz_copy(rows, channels, x, xs, out, channels)
    }

    /// Adds a `[rows][channels]` gradient (row stride `sourceStride`, default `channels`) into the
    /// gradient of the value `r` reads.
    private func addInto(_ r: ValueRef, _ g: UnsafeMutablePointer<Float>, rows: Int, channels: Int, sourceStride: Int? = nil) {
        guard needsGradient(r) else { return }
        let (dx, dxs, _) = view(r, in: grads)
        mtz_add(isa, rows, channels, dx, dxs, g, sourceStride ?? channels, dx, dxs, MTZ_ACT_NONE)
    }

    private func forwardPacked(_ i: Int, conv c: Conv2D, params p: inout mtz_conv2d_params) -> UnsafeMutablePointer<Float> {
        if let hit = packedForward[i], hit.version == model.version { return hit.buffer.pointer }
        let buffer = packedForward[i]?.buffer ?? (try! AlignedBuffer(count: mtz_conv2d_packed_size(isa, &p)))
        model.values[c.weight].withUnsafeBufferPointer { w in
            if let b = c.bias {
                model.values[b].withUnsafeBufferPointer { mtz_conv2d_pack(isa, &p, w.baseAddress, $0.baseAddress, buffer.pointer) }
            } else {
                mtz_conv2d_pack(isa, &p, w.baseAddress, nil, buffer.pointer)
            }
        }
        packedForward[i] = (model.version, buffer)
        return buffer.pointer
    }

    private func forwardPackedFC(_ i: Int, f: FullyConnected, inFeatures: Int) -> UnsafeMutablePointer<Float> {
        if let hit = packedForward[i], hit.version == model.version { return hit.buffer.pointer }
        let buffer = packedForward[i]?.buffer ?? (try! AlignedBuffer(count: mtz_gemm_packed_size(isa, inFeatures, f.outFeatures)))
        model.values[f.weight].withUnsafeBufferPointer { w in
            if let b = f.bias {
                model.values[b].withUnsafeBufferPointer { mtz_gemm_pack(isa, inFeatures, f.outFeatures, w.baseAddress, inFeatures, $0.baseAddress, buffer.pointer) }
            } else {
                mtz_gemm_pack(isa, inFeatures, f.outFeatures, w.baseAddress, inFeatures, nil, buffer.pointer)
            }
        }
        packedForward[i] = (model.version, buffer)
        return buffer.pointer
    }

    /// The weights `[groups·rows][cols]` packed per group as the B operand of `dz · W`.
    private func backwardPacked(_ i: Int, weight: Int, groups: Int, rows: Int, cols: Int) -> UnsafeMutablePointer<Float> {
        if let hit = packedBackward[i], hit.version == model.version { return hit.buffer.pointer }
        let groupSize = mtz_gemm_packed_size(isa, rows, cols)
        let buffer = packedBackward[i]?.buffer ?? (try! AlignedBuffer(count: groups * groupSize))
        model.values[weight].withUnsafeBufferPointer { w in
            for g in 0..<groups {
                mtz_gemm_pack_kn(isa, rows, cols, w.baseAddress! + g * rows * cols, cols, nil, buffer.pointer + g * groupSize)
            }
        }
        packedBackward[i] = (model.version, buffer)
        return buffer.pointer
    }
}
