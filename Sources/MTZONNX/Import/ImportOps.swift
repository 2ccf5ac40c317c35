import Foundation
import MTZCore

extension GraphImporter {
    /// Imports one node and returns its outputs' values in order (optional trailing outputs omitted).
    mutating func importNode(_ node: Onnx_NodeProto) throws(ONNXError) -> [ImportedValue] {
        let attrs = try Attributes(node)
        let ins = try node.input.map { (name) throws(ONNXError) -> ImportedValue? in
            if name.isEmpty { return nil }
            guard let v = values[name] else {
                throw ONNXError(.malformed, "input '\(name)' is produced by no earlier node (nodes must be in topological order)")
            }
            return v
        }
        let inputNames = node.input
        let name = Self.readableName(currentNode, op: node.opType)

        // Everything computable now is folded, whatever the op.
        if !ins.isEmpty, ins.allSatisfy({ if case .constant? = $0 { return true } else { return $0 == nil } }),
           let folded = try foldConstants(node.opType, ins.map { v in if case .constant(let c)? = v { return c } else { return nil } }, attrs) {
            return folded.map { .constant($0) }
        }

        switch node.opType {
        case "Constant":
            return [.constant(try constantAttribute(attrs))]
        case "Identity", "Dropout":
            if node.opType == "Dropout", ins.count >= 3, let mode = ins[2] {
                guard case .constant(let c) = mode, (try c.ints()).allSatisfy({ $0 == 0 }) else {
                    throw ONNXError(.unsupported, "Dropout in training mode is not supported")
                }
            }
            return [try required(ins, 0)]
        case "Cast":
            let to = try attrs.int("to") ?? 1
            guard to == 1 else { throw ONNXError(.unsupported, "Cast of a computed tensor to type \(to) (only float is supported)") }
            return [.activation(try activation(ins, 0))]
        case "Conv":
            return [.activation(try conv(ins, attrs, names: inputNames, name: name))]
        case "Gemm":
            return [.activation(try gemm(ins, attrs, names: inputNames, name: name))]
        case "MatMul":
            return [.activation(try matMul(ins, names: inputNames, name: name))]
        case "Add", "Sub", "Mul", "Div":
            return [.activation(try binary(node.opType, ins, inputNames: inputNames, name: name))]
        case "Sum":
            guard !ins.isEmpty else { throw ONNXError(.malformed, "Sum without inputs") }
            var acc = try required(ins, 0)
            for k in 1..<max(ins.count, 1) {
                acc = .activation(try binary("Add", [acc, ins[k]], inputNames: ["", ""], name: k == ins.count - 1 ? name : "\(name).\(k)"))
            }
            return [acc]
        case "Relu":
            return [.activation(try activationOp(.relu, ins, name: name))]
        case "Sigmoid":
            return [.activation(try activationOp(.sigmoid, ins, name: name))]
        case "Tanh":
            return [.activation(try activationOp(.tanh, ins, name: name))]
        case "Clip":
            return [.activation(try clip(ins, attrs, name: name))]
        case "MaxPool", "AveragePool":
            return [.activation(try pool(node.opType == "MaxPool", ins, attrs, name: name))]
        case "GlobalAveragePool", "GlobalMaxPool":
            return [.activation(try globalPool(node.opType == "GlobalMaxPool", ins, name: name))]
        case "BatchNormalization":
            return [.activation(try batchNorm(ins, attrs, name: name))]
        case "Flatten":
            let a = try activation(ins, 0)
            var axis = try attrs.int("axis") ?? 1
            if axis < 0 { axis += a.dims.count }
            guard axis == 1 || (axis == 0 && batch == 1) else {
                throw ONNXError(.unsupported, "Flatten with axis \(axis) (only axis 1, after the batch dimension, is supported)")
            }
            return [.activation(try reshape(a, to: [batch, a.dims.dropFirst().reduce(1, *)], name: name))]
        case "Reshape":
            let a = try activation(ins, 0)
            let target: [Int]
            if opset < 5 {
                guard let s = try attrs.ints("shape") else { throw ONNXError(.malformed, "Reshape without a shape") }
                target = s
            } else {
                target = try constant(ins, 1).smallInts()
            }
            if try attrs.int("allowzero") == 1, target.contains(0) {
                throw ONNXError(.unsupported, "Reshape with allowzero and a zero dimension")
            }
            return [.activation(try reshape(a, to: try resolveReshape(a.dims, target), name: name))]
        case "Squeeze", "Unsqueeze":
            let a = try activation(ins, 0)
            let axes = try axesOperand(ins, attrs)
            let dims = node.opType == "Squeeze" ? try squeezed(a.dims, axes) : try unsqueezed(a.dims, axes)
            return [.activation(try reshape(a, to: dims, name: name))]
        case "Transpose":
            var a = try activation(ins, 0)
            let perm = try attrs.ints("perm") ?? Array((0..<a.dims.count).reversed())
            if case .channelGroups(let g, let t) = a.layout, perm == [0, 2, 1, 3, 4] {
                a.dims.swapAt(1, 2)
                a.layout = .channelGroups(groups: g, transposed: !t)
                return [.activation(a)]
            }
            guard a.dims.count == 4, perm == [0, 2, 3, 1], a.layout == .standard else {
                throw ONNXError(.unsupported, "Transpose with perm \(perm) of a computed tensor (only [0, 2, 3, 1] before a flatten is supported)")
            }
            a.dims = [a.dims[0], a.dims[2], a.dims[3], a.dims[1]]
            a.layout = .channelsLast
            return [.activation(a)]
        case "Concat":
            return [.activation(try concat(ins, attrs, name: name))]
        case "Pad":
            return [.activation(try pad(ins, attrs))]
        case "Softmax":
            return [.activation(try softmax(ins, attrs, name: name))]
        case "Slice":
            return [.activation(try slice(ins, attrs))]
        case "Split":
            return try split(ins, attrs, outputs: node.output.count).map { .activation($0) }
        case "Shape":
            let dims: [Int]
            switch try required(ins, 0) {
            case .activation(let a): dims = a.dims
            case .constant(let c): dims = c.shape
            }
            return [.constant(try shapeOf(dims, attrs))]
        default:
            throw ONNXError(.unsupported, "unsupported operator \(node.opType)\(ins.contains { if case .activation? = $0 { return true } else { return false } } ? "" : " on these inputs")")
        }
    }

    /// The IR name for an ONNX node name: PyTorch's `/layer1/conv1/Conv` becomes `layer1/conv1`.
    static func readableName(_ name: String, op: String) -> String {
        var parts = name.split(separator: "/").map(String.init)
        if parts.count >= 2, let last = parts.last, last == op || last.hasPrefix(op + "_") { parts.removeLast() }
        return parts.isEmpty ? name : parts.joined(separator: "/")
    }

    // MARK: - Operand access

    func required(_ ins: [ImportedValue?], _ i: Int) throws(ONNXError) -> ImportedValue {
        guard i < ins.count, let v = ins[i] else { throw ONNXError(.malformed, "input \(i) is missing") }
        return v
    }

    func activation(_ ins: [ImportedValue?], _ i: Int) throws(ONNXError) -> RuntimeValue {
        guard case .activation(let a) = try required(ins, i) else {
            throw ONNXError(.unsupported, "input \(i) is a constant where mtz expects a value computed from the image")
        }
        return a
    }

    func constant(_ ins: [ImportedValue?], _ i: Int) throws(ONNXError) -> ConstTensor {
        guard case .constant(let c) = try required(ins, i) else {
            throw ONNXError(.unsupported, "input \(i) is computed from the image where mtz needs a constant (weights, shapes and axes must be known when importing)")
        }
        return c
    }

    func optionalConstant(_ ins: [ImportedValue?], _ i: Int) throws(ONNXError) -> ConstTensor? {
        guard i < ins.count, ins[i] != nil else { return nil }
        return try constant(ins, i)
    }

    func standard(_ a: RuntimeValue, _ what: String) throws(ONNXError) -> RuntimeValue {
        guard a.layout == .standard else {
            throw ONNXError(.unsupported, "\(what) of a transposed or CHW-flattened value is not supported")
        }
        return a
    }

    func axesOperand(_ ins: [ImportedValue?], _ attrs: Attributes) throws(ONNXError) -> [Int] {
        if opset >= 13 {
            return try optionalConstant(ins, 1)?.smallInts() ?? []
        }
        return try attrs.ints("axes") ?? []
    }

    // MARK: - Convolution and fully connected

    /// Spatial geometry of a conv or pool over a rank-3 (`[N, C, L]`) or rank-4 value.
    struct Geometry {
        var window: Window
        var outH: Int
        var outW: Int
    }

    func geometry(input a: RuntimeValue, kernel: [Int], attrs: Attributes, ceil: Bool = false, swapAxes: Bool = false) throws(ONNXError) -> (Geometry, extraBottom: Int, extraRight: Int) {
        let spatial = a.dims.count - 2
        guard spatial == 1 || spatial == 2 else {
            throw ONNXError(.unsupported, "\(spatial)-D windows are not supported (1-D and 2-D are)")
        }
        guard kernel.count == spatial, kernel.allSatisfy({ (1...ModelLimits.maxWindowParameter).contains($0) }) else {
            throw ONNXError(.shape, "kernel shape \(kernel) does not fit a \(spatial)-D input")
        }
        var strides = try attrs.ints("strides") ?? [Int](repeating: 1, count: spatial)
        var dilations = try attrs.ints("dilations") ?? [Int](repeating: 1, count: spatial)
        var pads = try attrs.ints("pads") ?? [Int](repeating: 0, count: 2 * spatial)
        if swapAxes, spatial == 2, strides.count == 2, dilations.count == 2, pads.count == 4 {
            strides.reverse()
            dilations.reverse()
            pads = [pads[1], pads[0], pads[3], pads[2]]
        }
        guard strides.count == spatial, dilations.count == spatial, pads.count == 2 * spatial,
              (strides + dilations).allSatisfy({ (1...ModelLimits.maxWindowParameter).contains($0) }),
              pads.allSatisfy({ (0...ModelLimits.maxWindowParameter).contains($0) }) else {
            throw ONNXError(.shape, "strides \(strides), dilations \(dilations) or pads \(pads) do not fit a \(spatial)-D window")
        }
        let inSizes = Array(a.dims.dropFirst(2))
        let autoPad = try attrs.string("auto_pad") ?? "NOTSET"
        switch autoPad {
        case "NOTSET", "":
            break
        case "VALID":
            pads = [Int](repeating: 0, count: 2 * spatial)
        case "SAME_UPPER", "SAME_LOWER":
            for d in 0..<spatial {
                let out = (inSizes[d] + strides[d] - 1) / strides[d]
                let span = (kernel[d] - 1) * dilations[d] + 1
                let total = max(0, (out - 1) * strides[d] + span - inSizes[d])
                let small = total / 2
                pads[d] = autoPad == "SAME_UPPER" ? small : total - small
                pads[d + spatial] = total - pads[d]
            }
        default:
            throw ONNXError(.unsupported, "auto_pad '\(autoPad)'")
        }
        var extra = [Int](repeating: 0, count: spatial)
        if ceil {
            for d in 0..<spatial {
                let span = (kernel[d] - 1) * dilations[d] + 1
                let padded = inSizes[d] + pads[d] + pads[d + spatial]
                guard padded >= span else { break }
                var out = (padded - span + strides[d] - 1) / strides[d] + 1
                if (out - 1) * strides[d] >= inSizes[d] + pads[d] { out -= 1 }
                extra[d] = max(0, (out - 1) * strides[d] + span - padded)
            }
        }
        // 1-D windows run along the IR width (height 1).
        var w: Window
        if spatial == 1 {
            w = Window(kernelH: 1, kernelW: kernel[0], strideH: 1, strideW: strides[0], dilationH: 1, dilationW: dilations[0],
                       padding: Padding(top: 0, left: pads[0], bottom: 0, right: pads[1] + extra[0]))
        } else {
            w = Window(kernelH: kernel[0], kernelW: kernel[1], strideH: strides[0], strideW: strides[1],
                       dilationH: dilations[0], dilationW: dilations[1],
                       padding: Padding(top: pads[0], left: pads[1], bottom: pads[2] + extra[0], right: pads[3] + extra[1]))
        }
        if case .zeroPadded(let p) = a.layout {
            // A preceding zero Pad: the IR reads the unpadded value with the pads added.
            w.padding = Padding(top: w.padding.top + p.top, left: w.padding.left + p.left,
                                bottom: w.padding.bottom + p.bottom, right: w.padding.right + p.right)
        }
        let s = a.irShape
        guard let oh = Window.outputExtent(input: s.height, kernel: w.kernelH, stride: w.strideH, dilation: w.dilationH, padBefore: w.padding.top, padAfter: w.padding.bottom),
              let ow = Window.outputExtent(input: s.width, kernel: w.kernelW, stride: w.strideW, dilation: w.dilationW, padBefore: w.padding.left, padAfter: w.padding.right) else {
            throw ONNXError(.shape, "a \(kernel) window does not fit the input \(a.dims)")
        }
        return (Geometry(window: w, outH: oh, outW: ow), spatial == 1 ? 0 : extra[0], extra.last ?? 0)
    }

    func outDims(_ a: RuntimeValue, channels: Int, _ g: Geometry) -> [Int] {
        a.dims.count == 3 ? [a.dims[0], channels, g.outW] : [a.dims[0], channels, g.outH, g.outW]
    }

    mutating func conv(_ ins: [ImportedValue?], _ attrs: Attributes, names: [String], name: String) throws(ONNXError) -> RuntimeValue {
        var x = try activation(ins, 0)
        if case .zeroPadded = x.layout {} else { x = try standard(x, "Conv") }
        let w = try constant(ins, 1)
        let groups = try attrs.int("group") ?? 1
        guard w.shape.count == x.dims.count, w.shape.count >= 3 else {
            throw ONNXError(.shape, "weight of shape \(w.shape) does not fit input \(x.dims)")
        }
        let outC = w.shape[0], inPerGroup = w.shape[1]
        let kernel = Array(w.shape.dropFirst(2))
        if let k = try attrs.ints("kernel_shape"), k != kernel {
            throw ONNXError(.shape, "kernel_shape \(k) differs from the weight's \(kernel)")
        }
        guard groups >= 1, outC >= 1, inPerGroup >= 1, x.dims[1] == inPerGroup * groups, outC % groups == 0 else {
            throw ONNXError(.shape, "weight \(w.shape) with \(groups) groups does not fit \(x.dims[1]) input channels")
        }
        let (g, _, _) = try geometry(input: x, kernel: kernel, attrs: attrs)
        let kh = g.window.kernelH, kw = g.window.kernelW
        let weight = sharedWeight(key: "ohwi", initializer: names[1]) { () -> (String, [Int], [Float]) in
            // OIHW (or OIL) -> OHWI.
            let src = w.floats
            var ohwi = [Float](repeating: 0, count: src.count)
            for o in 0..<outC {
                for i in 0..<inPerGroup {
                    for y in 0..<kh {
                        for xx in 0..<kw {
                            ohwi[((o * kh + y) * kw + xx) * inPerGroup + i] = src[((o * inPerGroup + i) * kh + y) * kw + xx]
                        }
                    }
                }
            }
            return ("\(name).weight", [outC, kh, kw, inPerGroup], ohwi)
        }
        var bias: Int?
        if let b = try optionalConstant(ins, 2) {
            guard b.count == outC else { throw ONNXError(.shape, "bias has \(b.count) values for \(outC) output channels") }
            bias = sharedWeight(key: "vector", initializer: names[2]) { ("\(name).bias", [outC], b.floats) }
        }
        let op = Conv2D(window: g.window, outChannels: outC, groups: groups, weight: weight, bias: bias)
        let dims = outDims(x, channels: outC, g)
        let shape = RuntimeValue.irShape(dims: dims, layout: .standard)
        let index = addNode(name, .conv2d(op), inputs: [x.ref], shape: shape)
        return RuntimeValue(ref: ValueRef(index), dims: dims, layout: .standard)
    }

    /// The index of a weight made from an initializer by a conversion named `key`: converted once
    /// when several nodes read the same initializer the same way, so shared weights stay shared.
    mutating func sharedWeight(key: String, initializer: String?, _ make: () -> (String, [Int], [Float])) -> Int {
        let cacheKey = initializer.flatMap { $0.isEmpty ? nil : "\(key)|\($0)" }
        if let cacheKey, let index = convertedWeights[cacheKey] { return index }
        let (name, shape, values) = make()
        let index = addWeight(name, shape: shape, values: values)
        if let cacheKey { convertedWeights[cacheKey] = index }
        return index
    }

    /// Builds an FC node from an `[out, in]` weight (ONNX feature order of `x`); `weightKey` and
    /// `biasKey` identify the conversions from initializers, for sharing.
    mutating func fullyConnected(_ x: RuntimeValue, weight w: [Float], out: Int, bias: [Float]?, addend: RuntimeValue?, name: String,
                                 weightKey: String? = nil, biasKey: String? = nil) throws(ONNXError) -> RuntimeValue {
        guard x.dims.count == 2 else {
            throw ONNXError(.shape, "a fully connected layer needs a 2-D input [N, features], got \(x.dims)")
        }
        let features = x.dims[1]
        var weight = w
        switch x.layout {
        case .standard: break
        case .channelsLast, .swappedHW, .channelGroups, .zeroPadded: throw ONNXError(.unsupported, "Gemm over a transposed or padded value")
        case .flattenedCHW(let s):
            // ONNX column c·H·W + h·W + w is IR column (h·W + w)·C + c.
            let hw = s.height * s.width
            for o in 0..<out {
                for c in 0..<s.channels {
                    for p in 0..<hw {
                        weight[o * features + p * s.channels + c] = w[o * features + c * hw + p]
                    }
                }
            }
        }
        let layoutKey = "\(x.layout)"
        let wi = sharedWeight(key: "fc|\(layoutKey)", initializer: weightKey) { ("\(name).weight", [out, features], weight) }
        let bi = bias.map { b in sharedWeight(key: "vector", initializer: biasKey) { ("\(name).bias", [out], b) } }
        var inputs = [x.ref]
        if let addend {
            guard addend.dims == [batch, out], addend.layout == .standard else {
                throw ONNXError(.shape, "the added value \(addend.dims) does not match the output [\(batch), \(out)]")
            }
            inputs.append(addend.ref)
        }
        let index = addNode(name, .fullyConnected(FullyConnected(outFeatures: out, weight: wi, bias: bi)), inputs: inputs,
                            shape: ValueShape(height: 1, width: 1, channels: out))
        return RuntimeValue(ref: ValueRef(index), dims: [batch, out], layout: .standard)
    }

    mutating func gemm(_ ins: [ImportedValue?], _ attrs: Attributes, names: [String], name: String) throws(ONNXError) -> RuntimeValue {
        let x = try activation(ins, 0)
        let b = try constant(ins, 1)
        guard try attrs.int("transA") ?? 0 == 0 else { throw ONNXError(.unsupported, "Gemm with transA = 1 (the batch would not be the first dimension)") }
        let transB = try attrs.int("transB") ?? 0 != 0
        let alpha = try attrs.float("alpha") ?? 1, beta = try attrs.float("beta") ?? 1
        guard b.shape.count == 2, x.dims.count == 2 else { throw ONNXError(.shape, "Gemm of \(x.dims) and \(b.shape)") }
        let features = x.dims[1]
        let out = transB ? b.shape[0] : b.shape[1]
        guard (transB ? b.shape[1] : b.shape[0]) == features, out >= 1 else {
            throw ONNXError(.shape, "weight \(b.shape)\(transB ? " (transposed)" : "") does not fit \(features) input features")
        }
        var w = b.floats
        if !transB { w = transpose2D(w, rows: features, cols: out) }
        if alpha != 1 { w = w.map { $0 * alpha } }
        var bias: [Float]?
        var addend: RuntimeValue?
        if ins.count > 2, let c = ins[2] {
            switch c {
            case .constant(let c):
                bias = try broadcastVector(c, length: out, what: "Gemm's C").map { $0 * beta }
            case .activation(let a):
                guard beta == 1 else { throw ONNXError(.unsupported, "Gemm with a computed C and beta \(beta)") }
                addend = a
            }
        }
        return try fullyConnected(x, weight: w, out: out, bias: bias, addend: addend, name: name,
                                  weightKey: names.count > 1 ? "gemm|\(transB)|\(alpha)|\(names[1])" : nil,
                                  biasKey: names.count > 2 && bias != nil ? "beta|\(beta)|\(names[2])" : nil)
    }

    mutating func matMul(_ ins: [ImportedValue?], names: [String], name: String) throws(ONNXError) -> RuntimeValue {
        let x = try activation(ins, 0)
        let b = try constant(ins, 1)
        guard x.dims.count == 2, b.shape.count == 2, b.shape[0] == x.dims[1] else {
            throw ONNXError(.unsupported, "MatMul of \(x.dims) and a constant \(b.shape) (only [N, features] × [features, out] is supported)")
        }
        return try fullyConnected(x, weight: transpose2D(b.floats, rows: b.shape[0], cols: b.shape[1]), out: b.shape[1], bias: nil, addend: nil, name: name,
                                  weightKey: names.count > 1 ? "matmul|\(names[1])" : nil)
    }

    func transpose2D(_ a: [Float], rows: Int, cols: Int) -> [Float] {
        var t = [Float](repeating: 0, count: a.count)
        for r in 0..<rows { for c in 0..<cols { t[c * rows + r] = a[r * cols + c] } }
        return t
    }

    /// A constant that broadcasts to one value per channel (or feature): a scalar, `[C]`, `[1, C]`,
    /// `[C, 1, 1]`, `[1, C, 1, 1]`, ...
    func broadcastVector(_ c: ConstTensor, length: Int, what: String) throws(ONNXError) -> [Float] {
        if c.count == 1 { return [Float](repeating: c.floats[0], count: length) }
        guard c.count == length else { throw ONNXError(.shape, "\(what) of shape \(c.shape) does not broadcast to \(length) values") }
        return c.floats
    }

    /// The per-channel vector of a constant operand of an element-wise op on `a`, or nil when the
    /// constant broadcasts along other axes.
    func perChannel(_ c: ConstTensor, for a: RuntimeValue) -> [Float]? {
        let channels = a.dims[1]
        if c.count == 1 { return [Float](repeating: c.floats[0], count: channels) }
        var shape = c.shape
        while shape.count > a.dims.count - 1, shape.first == 1 { shape.removeFirst() }
        guard shape.count == a.dims.count - 1, shape[0] == channels, shape.dropFirst().allSatisfy({ $0 == 1 }) else { return nil }
        switch a.layout {
        case .standard, .swappedHW: return c.floats
        case .channelsLast, .flattenedCHW, .channelGroups, .zeroPadded: return nil
        }
    }

    // MARK: - Element-wise

    mutating func binary(_ op: String, _ ins: [ImportedValue?], inputNames: [String], name: String) throws(ONNXError) -> RuntimeValue {
        let lhs = try required(ins, 0), rhs = try required(ins, 1)
        switch (lhs, rhs) {
        case (.activation(let a), .activation(let b)):
            guard op == "Add" else { throw ONNXError(.unsupported, "\(op) of two computed tensors (only Add is supported)") }
            guard a.dims == b.dims, a.layout == b.layout else {
                throw ONNXError(.unsupported, "Add of \(a.dims) and \(b.dims) (broadcasting between computed tensors is not supported)")
            }
            let index = addNode(name, .add(.none), inputs: [a.ref, b.ref], shape: a.irShape)
            return RuntimeValue(ref: ValueRef(index), dims: a.dims, layout: a.layout)
        case (.activation(let a), .constant(let c)), (.constant(let c), .activation(let a)):
            let constantFirst: Bool
            if case .constant = lhs { constantFirst = true } else { constantFirst = false }
            var values: [Float]
            if c.count == 1, a.layout != .standard {
                values = [Float](repeating: c.floats[0], count: a.irShape.channels)
            } else {
                guard let v = perChannel(c, for: a) else {
                    throw ONNXError(.unsupported, "\(op) with a constant of shape \(c.shape) on \(a.dims) (only per-channel constants are supported)")
                }
                values = v
            }
            var scale = [Float](repeating: 1, count: values.count), shift = [Float](repeating: 0, count: values.count)
            switch (op, constantFirst) {
            case ("Add", _): shift = values
            case ("Sub", false): shift = values.map { -$0 }
            case ("Sub", true): scale = scale.map { -$0 }; shift = values
            case ("Mul", _): scale = values
            case ("Div", false): scale = values.map { 1 / $0 }
            default: throw ONNXError(.unsupported, "Div of a constant by a computed tensor")
            }
            let activationName = constantFirst ? inputNames[1] : inputNames[0]
            return try scaleShift(a, scale: scale, shift: shift, name: name, inputName: activationName)
        case (.constant, .constant):
            throw ONNXError(.unsupported, "\(op) of these constants")
        }
    }

    /// `x·scale + shift` per channel: folded into the producing conv/FC bias or batch norm when only
    /// this op reads it, otherwise a batch-norm node.
    mutating func scaleShift(_ a: RuntimeValue, scale: [Float], shift: [Float], name: String, inputName: String) throws(ONNXError) -> RuntimeValue {
        if !inputName.isEmpty, isExclusive(a, name: inputName) {
            var node = nodes[a.ref.node]
            switch node.op {
            case .batchNorm(let s, let t):
                let oldScale = weights[s].values.array, oldShift = weights[t].values.array
                weights[s].values = FloatStorage(zip(oldScale, scale).map { $0 * $1 })
                weights[t].values = FloatStorage((0..<scale.count).map { oldShift[$0] * scale[$0] + shift[$0] })
                return a
            case .conv2d(var c) where scale.allSatisfy({ $0 == 1 }) && c.bias == nil:
                c.bias = addWeight("\(node.name).bias", shape: [shift.count], values: shift)
                node.op = .conv2d(c)
                nodes[a.ref.node] = node
                return a
            case .fullyConnected(var f) where scale.allSatisfy({ $0 == 1 }) && f.bias == nil:
                f.bias = addWeight("\(node.name).bias", shape: [shift.count], values: shift)
                node.op = .fullyConnected(f)
                nodes[a.ref.node] = node
                return a
            default:
                break
            }
        }
        let s = addWeight("\(name).scale", shape: [scale.count], values: scale)
        let t = addWeight("\(name).shift", shape: [shift.count], values: shift)
        let index = addNode(name, .batchNorm(scale: s, shift: t), inputs: [a.ref], shape: a.irShape)
        return RuntimeValue(ref: ValueRef(index), dims: a.dims, layout: a.layout)
    }

    mutating func activationOp(_ act: MTZCore.Activation, _ ins: [ImportedValue?], name: String) throws(ONNXError) -> RuntimeValue {
        let a = try activation(ins, 0)
        let index = addNode(name, .activation(act), inputs: [a.ref], shape: a.irShape)
        return RuntimeValue(ref: ValueRef(index), dims: a.dims, layout: a.layout)
    }

    mutating func clip(_ ins: [ImportedValue?], _ attrs: Attributes, name: String) throws(ONNXError) -> RuntimeValue {
        var lo = -Float.greatestFiniteMagnitude, hi = Float.greatestFiniteMagnitude
        if opset < 11 {
            lo = try attrs.float("min") ?? lo
            hi = try attrs.float("max") ?? hi
        } else {
            if let c = try optionalConstant(ins, 1) { lo = try c.scalarFloat() }
            if let c = try optionalConstant(ins, 2) { hi = try c.scalarFloat() }
        }
        if lo == 0 && hi == 6 { return try activationOp(.relu6, ins, name: name) }
        if lo == 0 && hi >= Float.greatestFiniteMagnitude { return try activationOp(.relu, ins, name: name) }
        throw ONNXError(.unsupported, "Clip to [\(lo), \(hi)] (only [0, 6] (ReLU6) and [0, ∞) (ReLU) are supported)")
    }

    // MARK: - Pooling and normalisation

    mutating func pool(_ isMax: Bool, _ ins: [ImportedValue?], _ attrs: Attributes, name: String) throws(ONNXError) -> RuntimeValue {
        var x = try activation(ins, 0)
        guard var kernel = try attrs.ints("kernel_shape") else { throw ONNXError(.malformed, "no kernel_shape") }
        let swapped = x.layout == .swappedHW
        if swapped {
            // Pool the IR value (width H, height W) with the window's axes swapped.
            x = RuntimeValue(ref: x.ref, dims: [x.dims[0], x.dims[1], x.dims[3], x.dims[2]], layout: .standard)
            kernel.reverse()
        }
        var padded = false
        if case .zeroPadded = x.layout, !isMax, (try attrs.ints("pads") ?? []).allSatisfy({ $0 == 0 }), try attrs.string("auto_pad") ?? "NOTSET" == "NOTSET" {
            padded = true  // the Pad's zeros count in every window: include them in the divisor
        } else {
            x = try standard(x, isMax ? "MaxPool" : "AveragePool")
        }
        if let d = try attrs.ints("dilations"), d.contains(where: { $0 != 1 }) {
            throw ONNXError(.unsupported, "pooling with dilations \(d)")
        }
        if try attrs.int("storage_order") ?? 0 != 0 { throw ONNXError(.unsupported, "storage_order 1") }
        let ceil = try attrs.int("ceil_mode") ?? 0 != 0
        let includePad = try attrs.int("count_include_pad") ?? 0 != 0 || padded
        let (g, extraB, extraR) = try geometry(input: x, kernel: kernel, attrs: attrs, ceil: ceil, swapAxes: swapped)
        if !isMax, includePad, extraB + extraR > 0 || (padded && ceil) {
            throw ONNXError(.unsupported, "AveragePool with ceil_mode and count_include_pad where windows pass the padded input")
        }
        let p = Pool(window: g.window, countIncludePad: includePad)
        let dims = outDims(x, channels: x.dims[1], g)
        let index = addNode(name, isMax ? .maxPool(p) : .averagePool(p), inputs: [x.ref], shape: RuntimeValue.irShape(dims: dims, layout: .standard))
        if swapped {
            return RuntimeValue(ref: ValueRef(index), dims: [dims[0], dims[1], dims[3], dims[2]], layout: .swappedHW)
        }
        return RuntimeValue(ref: ValueRef(index), dims: dims, layout: .standard)
    }

    mutating func globalPool(_ isMax: Bool, _ ins: [ImportedValue?], name: String) throws(ONNXError) -> RuntimeValue {
        let x = try standard(try activation(ins, 0), "global pooling")
        guard x.dims.count >= 3 else { throw ONNXError(.shape, "global pooling of \(x.dims)") }
        let s = x.irShape
        let dims = [x.dims[0], x.dims[1]] + [Int](repeating: 1, count: x.dims.count - 2)
        let out = ValueShape(height: 1, width: 1, channels: s.channels)
        let index: Int
        if isMax {
            index = addNode(name, .maxPool(Pool(window: Window(kernelH: s.height, kernelW: s.width))), inputs: [x.ref], shape: out)
        } else {
            index = addNode(name, .globalAveragePool, inputs: [x.ref], shape: out)
        }
        return RuntimeValue(ref: ValueRef(index), dims: dims, layout: .standard)
    }

    mutating func batchNorm(_ ins: [ImportedValue?], _ attrs: Attributes, name: String) throws(ONNXError) -> RuntimeValue {
        let x = try standard(try activation(ins, 0), "BatchNormalization")
        if try attrs.int("training_mode") ?? 0 != 0 { throw ONNXError(.unsupported, "BatchNormalization in training mode") }
        if try attrs.int("spatial") ?? 1 != 1 { throw ONNXError(.unsupported, "BatchNormalization with spatial = 0") }
        let eps = try attrs.float("epsilon") ?? 1e-5
        let c = x.dims[1]
        var params: [[Float]] = []
        for i in 1...4 {
            let t = try constant(ins, i)
            guard t.count == c else { throw ONNXError(.shape, "parameter \(i) has \(t.count) values for \(c) channels") }
            params.append(t.floats)
        }
        var scale = [Float](repeating: 0, count: c), shift = [Float](repeating: 0, count: c)
        for k in 0..<c {
            let s = Double(params[0][k]) / (Double(params[3][k]) + Double(eps)).squareRoot()
            scale[k] = Float(s)
            shift[k] = Float(Double(params[1][k]) - Double(params[2][k]) * s)
        }
        let si = addWeight("\(name).scale", shape: [c], values: scale)
        let ti = addWeight("\(name).shift", shape: [c], values: shift)
        let index = addNode(name, .batchNorm(scale: si, shift: ti), inputs: [x.ref], shape: x.irShape)
        return RuntimeValue(ref: ValueRef(index), dims: x.dims, layout: .standard)
    }

    // MARK: - Shapes

    func resolveReshape(_ dims: [Int], _ target: [Int]) throws(ONNXError) -> [Int] {
        let total = dims.reduce(1, *)
        var out: [Int] = []
        var inferred: Int?
        for (i, t) in target.enumerated() {
            if t == 0 {
                guard i < dims.count else { throw ONNXError(.shape, "Reshape to \(target): no dimension \(i) to copy") }
                out.append(dims[i])
            } else if t == -1 {
                guard inferred == nil else { throw ONNXError(.shape, "Reshape to \(target) has two -1s") }
                inferred = i
                out.append(1)
            } else {
                guard t >= 1 else { throw ONNXError(.shape, "Reshape to \(target)") }
                out.append(t)
            }
        }
        let known = out.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        if let i = inferred {
            guard known > 0, total % known == 0 else { throw ONNXError(.shape, "cannot reshape \(dims) to \(target)") }
            out[i] = total / known
        }
        guard out.reduce(1, { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }) == total else {
            throw ONNXError(.shape, "cannot reshape \(dims) (\(total) elements) to \(target)")
        }
        return out
    }

    /// A value with new dimensions of the same elements: free when the IR shape stays the same,
    /// an IR flatten to `[N, features]` otherwise.
    mutating func reshape(_ a: RuntimeValue, to dims: [Int], name: String) throws(ONNXError) -> RuntimeValue {
        if let shuffled = try channelShuffle(a, to: dims, name: name) { return shuffled }
        guard dims.first == a.dims[0], (2...4).contains(dims.count) else {
            throw ONNXError(.unsupported, "reshaping \(a.dims) to \(dims) (the batch dimension must stay first, rank 2 to 4)")
        }
        guard dims.reduce(1, *) == a.dims.reduce(1, *) else { throw ONNXError(.shape, "reshaping \(a.dims) to \(dims) changes the element count") }
        switch a.layout {
        case .standard, .swappedHW:
            if RuntimeValue.irShape(dims: dims, layout: .standard) == a.irShape {
                return RuntimeValue(ref: a.ref, dims: dims, layout: .standard)
            }
            if dims.count == 4, dims[2] == 1 || dims[3] == 1, RuntimeValue.irShape(dims: dims, layout: .swappedHW) == a.irShape {
                return RuntimeValue(ref: a.ref, dims: dims, layout: .swappedHW)
            }
        case .flattenedCHW:
            if dims.count == 2 { return RuntimeValue(ref: a.ref, dims: dims, layout: a.layout) }
            throw ONNXError(.unsupported, "reshaping a CHW-flattened value back to \(dims)")
        case .channelsLast:
            break
        case .channelGroups:
            throw ONNXError(.unsupported, "reshaping channel groups \(a.dims) to \(dims)")
        case .zeroPadded:
            throw ONNXError(.unsupported, "reshaping a zero-padded value (a Pad must feed a Conv or AveragePool)")
        }
        guard dims.count == 2 else { throw ONNXError(.unsupported, "reshaping \(a.dims) to \(dims) (only flattening to [N, features] is supported)") }
        let s = a.irShape
        let layout: Layout = a.layout != .channelsLast && s.height * s.width > 1 && s.channels > 1 ? .flattenedCHW(s) : .standard
        let index = addNode(name, .flatten, inputs: [a.ref], shape: ValueShape(height: 1, width: 1, channels: dims[1]))
        return RuntimeValue(ref: ValueRef(index), dims: dims, layout: layout)
    }

    /// The reshapes of a channel shuffle (`[N, C, H, W]` → `[N, g, C/g, H, W]` → transpose →
    /// `[N, C, H, W]`): free, except the last, which is an exact 1×1 convolution with a permutation
    /// matrix as weights. Nil when `a` and `dims` are not such a reshape.
    mutating func channelShuffle(_ a: RuntimeValue, to dims: [Int], name: String) throws(ONNXError) -> RuntimeValue? {
        if a.layout == .standard, a.dims.count == 4, dims.count == 5, dims[0] == a.dims[0], dims[1] >= 1,
           dims[1] * dims[2] == a.dims[1], dims[3] == a.dims[2], dims[4] == a.dims[3] {
            return RuntimeValue(ref: a.ref, dims: dims, layout: .channelGroups(groups: dims[1], transposed: false))
        }
        guard case .channelGroups(let g, let transposed) = a.layout else { return nil }
        let c = a.dims[1] * a.dims[2]
        guard dims == [a.dims[0], c, a.dims[3], a.dims[4]] else {
            throw ONNXError(.unsupported, "reshaping channel groups \(a.dims) to \(dims)")
        }
        if !transposed { return RuntimeValue(ref: a.ref, dims: dims, layout: .standard) }
        let k = c / g
        guard c <= ModelLimits.maxWindowParameter else {
            throw ONNXError(.limit, "a channel shuffle of \(c) channels (at most \(ModelLimits.maxWindowParameter))")
        }
        var permutation = [Float](repeating: 0, count: c * c)
        for o in 0..<c { permutation[o * c + (o % g) * k + o / g] = 1 }
        let w = addWeight("\(name).shuffle", shape: [c, 1, 1, c], values: permutation)
        let op = Conv2D(window: Window(kernelH: 1, kernelW: 1), outChannels: c, weight: w, bias: nil)
        let index = addNode(name, .conv2d(op), inputs: [a.ref], shape: RuntimeValue.irShape(dims: dims, layout: .standard))
        return RuntimeValue(ref: ValueRef(index), dims: dims, layout: .standard)
    }

    mutating func concat(_ ins: [ImportedValue?], _ attrs: Attributes, name: String) throws(ONNXError) -> RuntimeValue {
        var parts: [RuntimeValue] = []
        for i in ins.indices { parts.append(try standard(try activation(ins, i), "Concat")) }
        guard let first = parts.first, parts.count <= 64 else { throw ONNXError(.unsupported, "Concat of \(ins.count) inputs (1...64 supported)") }
        var axis = try attrs.int("axis") ?? 1
        if axis < 0 { axis += first.dims.count }
        guard axis == 1 else { throw ONNXError(.unsupported, "Concat along axis \(axis) of computed tensors (only channels, axis 1)") }
        var channels = 0
        for p in parts {
            guard p.dims.count == first.dims.count, Array(p.dims.dropFirst(2)) == Array(first.dims.dropFirst(2)) else {
                throw ONNXError(.shape, "cannot concatenate \(first.dims) and \(p.dims)")
            }
            channels += p.dims[1]
        }
        var dims = first.dims
        dims[1] = channels
        let index = addNode(name, .concat, inputs: parts.map(\.ref), shape: RuntimeValue.irShape(dims: dims, layout: .standard))
        return RuntimeValue(ref: ValueRef(index), dims: dims, layout: .standard)
    }

    mutating func softmax(_ ins: [ImportedValue?], _ attrs: Attributes, name: String) throws(ONNXError) -> RuntimeValue {
        let x = try activation(ins, 0)
        let rank = x.dims.count
        var axis = try attrs.int("axis") ?? (opset >= 13 ? -1 : 1)
        if axis < 0 { axis += rank }
        guard (0..<rank).contains(axis) else { throw ONNXError(.shape, "axis \(axis) of \(x.dims)") }
        let reduced = opset >= 13 ? [axis] : Array(axis..<rank)
        // Softmax runs over the channels of a 1×1×C value, per image.
        let s = x.irShape
        guard x.layout != .channelsLast, s.height == 1, s.width == 1, reduced.contains(1), !reduced.contains(0) || x.dims[0] == 1 else {
            throw ONNXError(.unsupported, "Softmax over axes \(reduced) of \(x.dims) (only over the channels of a [N, C] or [N, C, 1, 1] value)")
        }
        let index = addNode(name, .softmax, inputs: [x.ref], shape: s)
        return RuntimeValue(ref: ValueRef(index), dims: x.dims, layout: x.layout)
    }

    /// A channel range of `a`, as a reference (no node).
    func channelSlice(_ a: RuntimeValue, start: Int, count: Int) throws(ONNXError) -> RuntimeValue {
        let a = try standard(a, "slicing")
        guard start >= 0, count >= 1, start + count <= a.dims[1] else {
            throw ONNXError(.shape, "channels \(start)..<\(start + count) of \(a.dims)")
        }
        var dims = a.dims
        dims[1] = count
        return RuntimeValue(ref: ValueRef(a.ref.node, channelOffset: a.ref.channelOffset + start, channelCount: count), dims: dims, layout: .standard)
    }

    func slice(_ ins: [ImportedValue?], _ attrs: Attributes) throws(ONNXError) -> RuntimeValue {
        let a = try activation(ins, 0)
        let starts: [Int], ends: [Int], axes: [Int], steps: [Int]
        if opset < 10 {
            starts = try attrs.ints("starts") ?? []
            ends = try attrs.ints("ends") ?? []
            axes = try attrs.ints("axes") ?? Array(0..<starts.count)
            steps = [Int](repeating: 1, count: starts.count)
        } else {
            starts = try constant(ins, 1).smallInts()
            ends = try constant(ins, 2).smallInts()
            axes = try optionalConstant(ins, 3)?.smallInts() ?? Array(0..<starts.count)
            steps = try optionalConstant(ins, 4)?.smallInts() ?? [Int](repeating: 1, count: starts.count)
        }
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw ONNXError(.malformed, "Slice with \(starts.count) starts, \(ends.count) ends, \(axes.count) axes")
        }
        var result = a
        for k in axes.indices {
            let axis = axes[k] < 0 ? axes[k] + a.dims.count : axes[k]
            guard (0..<a.dims.count).contains(axis) else { throw ONNXError(.shape, "axis \(axes[k]) of \(a.dims)") }
            let n = a.dims[axis]
            let lo = min(max(starts[k] < 0 ? starts[k] + n : starts[k], 0), n)
            let hi = min(max(ends[k] < 0 ? ends[k] + n : ends[k], 0), n)
            if lo == 0 && hi == n && steps[k] == 1 { continue }
            guard axis == 1, steps[k] == 1 else {
                throw ONNXError(.unsupported, "Slice of a computed tensor along axis \(axis) with step \(steps[k]) (only channel ranges are supported)")
            }
            result = try channelSlice(result, start: lo, count: hi - lo)
        }
        return result
    }

    /// A constant-zero `Pad` of the spatial axes, left for the Conv or AveragePool that reads it.
    func pad(_ ins: [ImportedValue?], _ attrs: Attributes) throws(ONNXError) -> RuntimeValue {
        let a = try standard(try activation(ins, 0), "Pad")
        let mode = try attrs.string("mode") ?? "constant"
        var pads: [Int]
        var value: Float = 0
        if opset < 11 {
            pads = try attrs.ints("pads") ?? []
            value = try attrs.float("value") ?? 0
        } else {
            pads = try constant(ins, 1).smallInts()
            if let v = try optionalConstant(ins, 2) { value = try v.scalarFloat() }
            if ins.count > 3, ins[3] != nil { throw ONNXError(.unsupported, "Pad with axes") }
        }
        let r = a.dims.count
        guard mode == "constant", value == 0 else {
            throw ONNXError(.unsupported, "Pad in mode '\(mode)' with value \(value) (only zero padding that a convolution absorbs)")
        }
        guard pads.count == 2 * r, pads.allSatisfy({ (0...ModelLimits.maxWindowParameter).contains($0) }),
              pads[0] == 0, pads[1] == 0, pads[r] == 0, pads[r + 1] == 0, r == 3 || r == 4 else {
            throw ONNXError(.unsupported, "Pad \(pads) of \(a.dims) (only non-negative padding of the spatial axes)")
        }
        let p = r == 4 ? Padding(top: pads[2], left: pads[3], bottom: pads[6], right: pads[7]) : Padding(left: pads[2], right: pads[5])
        if p == Padding() { return a }
        var dims = a.dims
        for d in 2..<r { dims[d] += pads[d] + pads[d + r] }
        return RuntimeValue(ref: a.ref, dims: dims, layout: .zeroPadded(p))
    }

    func split(_ ins: [ImportedValue?], _ attrs: Attributes, outputs: Int) throws(ONNXError) -> [RuntimeValue] {
        let a = try activation(ins, 0)
        var axis = try attrs.int("axis") ?? 0
        if axis < 0 { axis += a.dims.count }
        guard axis == 1 else { throw ONNXError(.unsupported, "Split along axis \(axis) of a computed tensor (only channels)") }
        var sizes: [Int]
        if opset >= 13, let s = try optionalConstant(ins, 1) {
            sizes = try s.smallInts()
        } else if let s = try attrs.ints("split") {
            sizes = s
        } else {
            let n = try attrs.int("num_outputs") ?? outputs
            guard n >= 1 else { throw ONNXError(.malformed, "Split into \(n) parts") }
            let size = (a.dims[1] + n - 1) / n
            sizes = (0..<n).map { min(size, max(0, a.dims[1] - $0 * size)) }
        }
        guard sizes.reduce(0, +) == a.dims[1], sizes.count == outputs else {
            throw ONNXError(.shape, "Split sizes \(sizes) do not fit \(a.dims[1]) channels and \(outputs) outputs")
        }
        var offset = 0
        var parts: [RuntimeValue] = []
        for s in sizes {
            parts.append(try channelSlice(a, start: offset, count: s))
            offset += s
        }
        return parts
    }
}
