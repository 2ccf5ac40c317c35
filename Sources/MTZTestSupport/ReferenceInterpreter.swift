import Foundation
import MTZCore

/// A dense NHWC value (batch 1) as the reference interpreter passes it from node to node.
///
/// Element `(y, x, c)` is stored at `(y * width + x) * channels + c`.
public struct ReferenceTensor: Sendable, Hashable {
    /// Height, width and channels.
    public var shape: ValueShape
    /// The `shape.elementCount` values in NHWC order.
    public var values: [Float]

    /// Creates a tensor; `values.count` must equal `shape.elementCount`.
    public init(shape: ValueShape, values: [Float]) {
        precondition(values.count == shape.elementCount, "\(values.count) values for a \(shape) tensor")
        self.shape = shape
        self.values = values
    }

    /// A zero-filled tensor.
    public init(zeros shape: ValueShape) {
        self.init(shape: shape, values: [Float](repeating: 0, count: shape.elementCount))
    }

    /// Position of element `(y, x, c)` in `values`.
    public func offset(_ y: Int, _ x: Int, _ c: Int) -> Int {
        (y * shape.width + x) * shape.channels + c
    }

    /// Element `(y, x, c)`.
    public subscript(y: Int, x: Int, c: Int) -> Float {
        get { values[offset(y, x, c)] }
        set { values[offset(y, x, c)] = newValue }
    }
}

/// A naive, obviously-correct interpreter for whole models: the oracle the fast runtime is tested against.
///
/// Every op is a plain loop over output elements that follows the definition in `Operation`'s
/// documentation. Sums are accumulated in `Double`; values between nodes are `Float`. It is slow
/// on purpose and shares no code with the runtime or the C kernels.
public enum ReferenceInterpreter {
    /// Runs `model` on an already normalised NHWC `input` and returns every node's value (index = node index).
    ///
    /// - Throws: `ModelError` if the model does not validate or `input` has the wrong number of values.
    /// - Complexity: O(multiply-adds of the model); memory holds every node's value at once.
    public static func run(_ model: Model, input: [Float]) throws(ModelError) -> [[Float]] {
        try runTensors(model, input: input).map(\.values)
    }

    /// Runs `model` and returns each task's output value, keyed by task name.
    ///
    /// - Throws: `ModelError` as `run(_:input:)`.
    public static func outputs(_ model: Model, input: [Float]) throws(ModelError) -> [String: [Float]] {
        let values = try run(model, input: input)
        var result: [String: [Float]] = [:]
        for task in model.tasks { result[task.name] = values[task.output] }
        return result
    }

    /// Runs `model` and returns every node's value with its shape (index = node index).
    ///
    /// - Throws: `ModelError` as `run(_:input:)`.
    public static func runTensors(_ model: Model, input: [Float]) throws(ModelError) -> [ReferenceTensor] {
        let shapes = try model.validate()
        let inputShape = ValueShape(height: model.input.height, width: model.input.width, channels: model.input.channels)
        guard input.count == inputShape.elementCount else {
            throw ModelError("the input has \(input.count) values, but the model expects \(inputShape) = \(inputShape.elementCount)")
        }

        var values: [ReferenceTensor] = []
        values.reserveCapacity(model.nodes.count)
        for (index, node) in model.nodes.enumerated() {
            let ins = node.inputs.map { ref in
                let source = values[ref.node]
                return slice(source, channelOffset: ref.channelOffset,
                             channelCount: ref.channelCount ?? (source.shape.channels - ref.channelOffset))
            }
            func weight(_ i: Int) -> [Float] { model.weights[i].values.array }

            let out: ReferenceTensor
            switch node.op {
            case .input:
                out = ReferenceTensor(shape: inputShape, values: input)
            case .conv2d(let c):
                out = conv2d(ins[0], c, weight: weight(c.weight), bias: c.bias.map(weight), addend: ins.count > 1 ? ins[1] : nil)
            case .fullyConnected(let f):
                out = fullyConnected(ins[0], f, weight: weight(f.weight), bias: f.bias.map(weight), addend: ins.count > 1 ? ins[1] : nil)
            case .activation(let a):
                out = activation(ins[0], a)
            case .maxPool(let p):
                out = maxPool(ins[0], p)
            case .averagePool(let p):
                out = averagePool(ins[0], p)
            case .globalAveragePool:
                out = globalAveragePool(ins[0])
            case .add(let a):
                out = add(ins[0], ins[1], activation: a)
            case .concat:
                out = concat(ins)
            case .flatten:
                out = flatten(ins[0])
            case .softmax:
                out = softmax(ins[0])
            case .batchNorm(let scale, let shift):
                precondition(ins.count == 1, "a batch norm shared by tasks exists only while training")
                out = batchNorm(ins[0], scale: weight(scale), shift: weight(shift))
            }
            guard out.shape == shapes[index] else {
                throw ModelError("reference interpreter: node '\(node.name)' produced \(out.shape), validation says \(shapes[index])")
            }
            values.append(out)
        }
        return values
    }

    // MARK: - Operations

    /// Channels `channelOffset ..< channelOffset + channelCount` of every pixel of `x`.
    public static func slice(_ x: ReferenceTensor, channelOffset: Int, channelCount: Int) -> ReferenceTensor {
        precondition(channelOffset >= 0 && channelCount >= 1 && channelOffset + channelCount <= x.shape.channels, "bad channel slice")
        var out = ReferenceTensor(zeros: ValueShape(height: x.shape.height, width: x.shape.width, channels: channelCount))
        for y in 0..<x.shape.height {
            for xx in 0..<x.shape.width {
                for c in 0..<channelCount {
                    out[y, xx, c] = x[y, xx, channelOffset + c]
                }
            }
        }
        return out
    }

    /// `act(conv(x, W) + b + addend)`. `conv.weight`/`conv.bias` indices are ignored: the tensors are passed in.
    ///
    /// `weight` is OHWI `[outChannels][kernelH][kernelW][inChannels / groups]`; output channel `o`
    /// belongs to group `o / (outChannels / groups)` and reads that group's input channels only.
    /// Padded positions contribute zero.
    public static func conv2d(_ x: ReferenceTensor, _ conv: Conv2D, weight: [Float], bias: [Float]?, addend: ReferenceTensor?) -> ReferenceTensor {
        let w = conv.window
        let inPerGroup = x.shape.channels / conv.groups
        let outPerGroup = conv.outChannels / conv.groups
        precondition(x.shape.channels % conv.groups == 0 && conv.outChannels % conv.groups == 0, "channels do not split into groups")
        precondition(weight.count == conv.outChannels * w.kernelH * w.kernelW * inPerGroup, "conv weight has the wrong size")
        precondition(bias == nil || bias!.count == conv.outChannels, "conv bias has the wrong size")
        let shape = windowOutputShape(x.shape, w, channels: conv.outChannels)
        precondition(addend == nil || addend!.shape == shape, "addend shape differs from the output shape")

        var out = ReferenceTensor(zeros: shape)
        for oy in 0..<shape.height {
            for ox in 0..<shape.width {
                for o in 0..<conv.outChannels {
                    let group = o / outPerGroup
                    var sum = 0.0
                    for ky in 0..<w.kernelH {
                        let iy = oy * w.strideH - w.padding.top + ky * w.dilationH
                        if iy < 0 || iy >= x.shape.height { continue }
                        for kx in 0..<w.kernelW {
                            let ix = ox * w.strideW - w.padding.left + kx * w.dilationW
                            if ix < 0 || ix >= x.shape.width { continue }
                            for i in 0..<inPerGroup {
                                let wv = weight[((o * w.kernelH + ky) * w.kernelW + kx) * inPerGroup + i]
                                sum += Double(wv) * Double(x[iy, ix, group * inPerGroup + i])
                            }
                        }
                    }
                    if let bias { sum += Double(bias[o]) }
                    if let addend { sum += Double(addend[oy, ox, o]) }
                    out[oy, ox, o] = Float(apply(conv.activation, to: sum))
                }
            }
        }
        return out
    }

    /// `act(W · x + b + addend)` over all `H·W·C` values of `x` in NHWC order. Weight indices in `fc` are ignored.
    ///
    /// `weight` is `[outFeatures][inFeatures]`; the result is `1×1×outFeatures`.
    public static func fullyConnected(_ x: ReferenceTensor, _ fc: FullyConnected, weight: [Float], bias: [Float]?, addend: ReferenceTensor?) -> ReferenceTensor {
        let inFeatures = x.values.count
        precondition(weight.count == fc.outFeatures * inFeatures, "fc weight has the wrong size")
        precondition(bias == nil || bias!.count == fc.outFeatures, "fc bias has the wrong size")
        precondition(addend == nil || addend!.values.count == fc.outFeatures, "fc addend has the wrong size")
        var out = ReferenceTensor(zeros: ValueShape(height: 1, width: 1, channels: fc.outFeatures))
        for o in 0..<fc.outFeatures {
            var sum = 0.0
            for i in 0..<inFeatures {
                sum += Double(weight[o * inFeatures + i]) * Double(x.values[i])
            }
            if let bias { sum += Double(bias[o]) }
            if let addend { sum += Double(addend.values[o]) }
            out.values[o] = Float(apply(fc.activation, to: sum))
        }
        return out
    }

    /// Maximum over the window positions that lie inside the input (padding is ignored, not zero).
    ///
    /// A window that lies entirely in the padding yields 0 (the IR leaves this case undefined).
    public static func maxPool(_ x: ReferenceTensor, _ pool: Pool) -> ReferenceTensor {
        let shape = windowOutputShape(x.shape, pool.window, channels: x.shape.channels)
        var out = ReferenceTensor(zeros: shape)
        for oy in 0..<shape.height {
            for ox in 0..<shape.width {
                for c in 0..<shape.channels {
                    var best: Float? = nil
                    forEachValidPosition(of: pool.window, oy, ox, in: x.shape) { iy, ix in
                        let v = x[iy, ix, c]
                        if best == nil || v > best! { best = v }
                    }
                    out[oy, ox, c] = best ?? 0
                }
            }
        }
        return out
    }

    /// Sum over the window positions inside the input, divided by the window area (`countIncludePad`)
    /// or by the number of positions inside the input.
    ///
    /// A window that lies entirely in the padding yields 0.
    public static func averagePool(_ x: ReferenceTensor, _ pool: Pool) -> ReferenceTensor {
        let shape = windowOutputShape(x.shape, pool.window, channels: x.shape.channels)
        let area = pool.window.kernelH * pool.window.kernelW
        var out = ReferenceTensor(zeros: shape)
        for oy in 0..<shape.height {
            for ox in 0..<shape.width {
                for c in 0..<shape.channels {
                    var sum = 0.0
                    var valid = 0
                    forEachValidPosition(of: pool.window, oy, ox, in: x.shape) { iy, ix in
                        sum += Double(x[iy, ix, c])
                        valid += 1
                    }
                    let divisor = pool.countIncludePad ? area : valid
                    out[oy, ox, c] = valid == 0 ? 0 : Float(sum / Double(divisor))
                }
            }
        }
        return out
    }

    /// Per-channel mean over all pixels; the result is `1×1×C`.
    public static func globalAveragePool(_ x: ReferenceTensor) -> ReferenceTensor {
        var out = ReferenceTensor(zeros: ValueShape(height: 1, width: 1, channels: x.shape.channels))
        for c in 0..<x.shape.channels {
            var sum = 0.0
            for y in 0..<x.shape.height {
                for xx in 0..<x.shape.width {
                    sum += Double(x[y, xx, c])
                }
            }
            out.values[c] = Float(sum / Double(x.shape.pixels))
        }
        return out
    }

    /// `act(a + b)`, element by element.
    public static func add(_ a: ReferenceTensor, _ b: ReferenceTensor, activation: Activation) -> ReferenceTensor {
        precondition(a.shape == b.shape, "cannot add \(a.shape) and \(b.shape)")
        var out = ReferenceTensor(zeros: a.shape)
        for i in 0..<a.values.count {
            out.values[i] = Float(apply(activation, to: Double(a.values[i]) + Double(b.values[i])))
        }
        return out
    }

    /// The inputs' channels one after the other, pixel by pixel.
    public static func concat(_ xs: [ReferenceTensor]) -> ReferenceTensor {
        precondition(!xs.isEmpty, "concat needs an input")
        let h = xs[0].shape.height, w = xs[0].shape.width
        precondition(xs.allSatisfy { $0.shape.height == h && $0.shape.width == w }, "concat inputs differ in size")
        let channels = xs.reduce(0) { $0 + $1.shape.channels }
        var out = ReferenceTensor(zeros: ValueShape(height: h, width: w, channels: channels))
        for y in 0..<h {
            for x in 0..<w {
                var c = 0
                for t in xs {
                    for tc in 0..<t.shape.channels {
                        out[y, x, c] = t[y, x, tc]
                        c += 1
                    }
                }
            }
        }
        return out
    }

    /// The `1×1×(H·W·C)` value listing `x` in (h, w, c) order.
    public static func flatten(_ x: ReferenceTensor) -> ReferenceTensor {
        var flat: [Float] = []
        flat.reserveCapacity(x.values.count)
        for y in 0..<x.shape.height {
            for xx in 0..<x.shape.width {
                for c in 0..<x.shape.channels {
                    flat.append(x[y, xx, c])
                }
            }
        }
        return ReferenceTensor(shape: ValueShape(height: 1, width: 1, channels: flat.count), values: flat)
    }

    /// `exp(x_c − max) / Σ exp(x_j − max)` over the channels of a `1×1×C` value.
    public static func softmax(_ x: ReferenceTensor) -> ReferenceTensor {
        precondition(x.shape.height == 1 && x.shape.width == 1, "softmax needs a 1x1xC value")
        let largest = Double(x.values.max()!)
        let exps = x.values.map { Foundation.exp(Double($0) - largest) }
        let total = exps.reduce(0, +)
        return ReferenceTensor(shape: x.shape, values: exps.map { Float($0 / total) })
    }

    /// `x · scale[c] + shift[c]` for every pixel.
    public static func batchNorm(_ x: ReferenceTensor, scale: [Float], shift: [Float]) -> ReferenceTensor {
        precondition(scale.count == x.shape.channels && shift.count == x.shape.channels, "batchNorm parameters have the wrong size")
        var out = ReferenceTensor(zeros: x.shape)
        for y in 0..<x.shape.height {
            for xx in 0..<x.shape.width {
                for c in 0..<x.shape.channels {
                    out[y, xx, c] = Float(Double(x[y, xx, c]) * Double(scale[c]) + Double(shift[c]))
                }
            }
        }
        return out
    }

    /// `act(x)`, element by element.
    public static func activation(_ x: ReferenceTensor, _ activation: Activation) -> ReferenceTensor {
        ReferenceTensor(shape: x.shape, values: x.values.map { Float(apply(activation, to: Double($0))) })
    }

    /// The activation function applied to one value.
    public static func apply(_ activation: Activation, to v: Double) -> Double {
        switch activation {
        case .none: v
        case .relu: max(v, 0)
        case .relu6: min(max(v, 0), 6)
        case .sigmoid: 1 / (1 + Foundation.exp(-v))
        case .tanh: Foundation.tanh(v)
        }
    }

    // MARK: - Window geometry

    /// Output shape of a window op over `input` with `channels` output channels.
    private static func windowOutputShape(_ input: ValueShape, _ w: Window, channels: Int) -> ValueShape {
        guard let oh = Window.outputExtent(input: input.height, kernel: w.kernelH, stride: w.strideH, dilation: w.dilationH,
                                           padBefore: w.padding.top, padAfter: w.padding.bottom),
              let ow = Window.outputExtent(input: input.width, kernel: w.kernelW, stride: w.strideW, dilation: w.dilationW,
                                           padBefore: w.padding.left, padAfter: w.padding.right)
        else { preconditionFailure("a \(w.kernelH)x\(w.kernelW) window does not fit a \(input) input") }
        return ValueShape(height: oh, width: ow, channels: channels)
    }

    /// Calls `body(iy, ix)` for every position of output pixel `(oy, ox)`'s window that lies inside the input.
    private static func forEachValidPosition(of w: Window, _ oy: Int, _ ox: Int, in input: ValueShape, _ body: (Int, Int) -> Void) {
        for ky in 0..<w.kernelH {
            let iy = oy * w.strideH - w.padding.top + ky * w.dilationH
            if iy < 0 || iy >= input.height { continue }
            for kx in 0..<w.kernelW {
                let ix = ox * w.strideW - w.padding.left + kx * w.dilationW
                if ix < 0 || ix >= input.width { continue }
                body(iy, ix)
            }
        }
    }
}
