import Foundation
import MTZCore

/// Writes a model as one ONNX graph (opset 13) with one output per task, named after the task.
///
/// The graph input `input` is the preprocessed image as an NCHW float tensor `[1, C, H, W]` (the
/// input spec — mean, std, colour format, resize — is recorded in the model's metadata properties,
/// so `ONNXImporter` restores it). Spatial values are `[1, C, H, W]` and 1×1 feature vectors `[1, C]`.
/// Every weight tensor becomes one initializer, however many nodes read it, so weights shared
/// between tasks are stored once; an assembled tensor (a partly shared layer's matrix, see
/// `WeightAssembly`) is `Concat` nodes over its parts' initializers. Channel slices become `Slice`,
/// a conv/FC addend an `Add` after the `Conv`/`Gemm`, batch norm `Mul` + `Add`, and the IR's
/// HWC-order flatten `Transpose` + `Flatten`.
public enum ONNXExporter {
    /// The ONNX operator set version the exporter writes.
    public static let opsetVersion = 13
    /// The ONNX IR version the exporter writes (readable by onnxruntime ≥ 1.10 and older tools).
    public static let irVersion = 8

    /// The serialised ONNX model.
    ///
    /// - Throws: `ONNXError` of kind `.invalidModel` if the model fails `Model.validate()`.
    public static func export(_ model: Model) throws(ONNXError) -> Data {
        var writer = try GraphExporter(model)
        let proto = writer.run()
        do {
            return try proto.serializedData()
        } catch {
            throw ONNXError(.malformed, "cannot serialise the ONNX model: \(error)")
        }
    }

    /// Exports `model` and writes it to `path` atomically (temporary file, fsync, rename).
    ///
    /// - Throws: `ONNXError` for an invalid model; `FormatError` (kind `.io`) when writing fails.
    public static func write(_ model: Model, to path: String) throws {
        let data = try export(model)
        try AtomicFile.write([UInt8](data), to: path)
    }
}

/// One export: IR nodes in order → ONNX nodes.
struct GraphExporter {
    let model: Model
    let shapes: [ValueShape]
    var graph = Onnx_GraphProto()
    var usedNames = UniqueNames()
    /// ONNX name and rank (2 or 4) of every IR node's value.
    var valueNames: [String] = []
    var valueRanks: [Int] = []
    /// Names of derived tensors (slices, rank changes) and initializers, by key.
    var derived: [String: String] = [:]

    init(_ model: Model) throws(ONNXError) {
        self.model = model
        do {
            shapes = try model.validate()
        } catch {
            throw ONNXError(.invalidModel, "the model is not valid: \(error.message)")
        }
        if let shared = model.nodes.first(where: { if case .batchNorm = $0.op { $0.inputs.count > 1 } else { false } }) {
            throw ONNXError(.invalidModel, "node '\(shared.name)' is a batch norm shared by tasks (one input per task): it exists only while training")
        }
    }

    mutating func run() -> Onnx_ModelProto {
        graph.name = "mtz"
        for (i, node) in model.nodes.enumerated() {
            let (name, rank) = export(node, index: i)
            valueNames.append(name)
            valueRanks.append(rank)
        }
        for task in model.tasks {
            let out = unique(task.name)
            let source = valueNames[task.output]
            graph.node.append(makeNode("Identity", [source], [out], name: "output." + task.name))
            graph.output.append(valueInfo(out, dims: dims(of: task.output, rank: valueRanks[task.output])))
        }
        var proto = Onnx_ModelProto()
        proto.irVersion = Int64(ONNXExporter.irVersion)
        proto.producerName = "mtz"
        proto.producerVersion = "0.1.0"
        proto.docString = model.metadata["description"] ?? ""
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(ONNXExporter.opsetVersion)
        proto.opsetImport = [opset]
        proto.graph = graph
        proto.metadataProps = metadata()
        return proto
    }

    private func metadata() -> [Onnx_StringStringEntryProto] {
        var props: [(String, String)] = []
        let spec = model.input
        props.append((MetadataKeys.inputFormat, spec.format.name))
        props.append((MetadataKeys.inputMean, spec.mean.map { "\($0)" }.joined(separator: ",")))
        props.append((MetadataKeys.inputStd, spec.std.map { "\($0)" }.joined(separator: ",")))
        props.append((MetadataKeys.inputResize, spec.resize.name))
        for task in model.tasks {
            props.append((MetadataKeys.taskName + task.name, task.name))
            if !task.labels.isEmpty { props.append((MetadataKeys.labels + task.name, task.labels.joined(separator: "\n"))) }
            if !task.summary.isEmpty { props.append((MetadataKeys.summary + task.name, task.summary)) }
        }
        for (key, value) in model.metadata.sorted(by: { $0.key < $1.key }) {
            props.append((MetadataKeys.metadata + key, value))
        }
        return props.map { kv in
            var e = Onnx_StringStringEntryProto()
            e.key = kv.0
            e.value = kv.1
            return e
        }
    }

    // MARK: - Nodes

    private mutating func export(_ node: Node, index i: Int) -> (String, Int) {
        let shape = shapes[i]
        let out = unique(node.name)
        switch node.op {
        case .input:
            graph.input.append(valueInfo(out, dims: [1, shape.channels, shape.height, shape.width]))
            return (out, 4)

        case .conv2d(let c):
            let x = ref(node.inputs[0], rank: 4)
            let w = initializer(c.weight, form: .oihw)
            var ins = [x, w]
            if let b = c.bias { ins.append(initializer(b, form: .plain)) }
            let p = c.window.padding
            var n = makeNode("Conv", ins, [node.inputs.count == 2 || c.activation != .none ? unique(node.name + ".conv") : out], name: node.name)
            n.attribute = [
                intsAttribute("kernel_shape", [c.window.kernelH, c.window.kernelW]),
                intsAttribute("strides", [c.window.strideH, c.window.strideW]),
                intsAttribute("dilations", [c.window.dilationH, c.window.dilationW]),
                intsAttribute("pads", [p.top, p.left, p.bottom, p.right]),
                intAttribute("group", c.groups),
            ]
            graph.node.append(n)
            return (epilogue(n.output[0], addend: node.inputs.count == 2 ? ref(node.inputs[1], rank: 4) : nil,
                             activation: c.activation, out: out, name: node.name), 4)

        case .fullyConnected(let f):
            let x = ref(node.inputs[0], rank: 2)
            var ins = [x, initializer(f.weight, form: .plain)]
            if let b = f.bias { ins.append(initializer(b, form: .plain)) }
            var n = makeNode("Gemm", ins, [node.inputs.count == 2 || f.activation != .none ? unique(node.name + ".gemm") : out], name: node.name)
            n.attribute = [intAttribute("transB", 1)]
            graph.node.append(n)
            return (epilogue(n.output[0], addend: node.inputs.count == 2 ? ref(node.inputs[1], rank: 2) : nil,
                             activation: f.activation, out: out, name: node.name), 2)

        case .activation(let a):
            let rank = naturalRank(node.inputs[0])
            return (epilogue(ref(node.inputs[0], rank: rank), addend: nil, activation: a, out: out, name: node.name), rank)

        case .maxPool(let p), .averagePool(let p):
            let isMax: Bool
            if case .maxPool = node.op { isMax = true } else { isMax = false }
            var n = makeNode(isMax ? "MaxPool" : "AveragePool", [ref(node.inputs[0], rank: 4)], [out], name: node.name)
            let w = p.window, pad = w.padding
            n.attribute = [
                intsAttribute("kernel_shape", [w.kernelH, w.kernelW]),
                intsAttribute("strides", [w.strideH, w.strideW]),
                intsAttribute("pads", [pad.top, pad.left, pad.bottom, pad.right]),
            ]
            if !isMax { n.attribute.append(intAttribute("count_include_pad", p.countIncludePad ? 1 : 0)) }
            graph.node.append(n)
            return (out, 4)

        case .globalAveragePool:
            graph.node.append(makeNode("GlobalAveragePool", [ref(node.inputs[0], rank: 4)], [out], name: node.name))
            return (out, 4)

        case .add(let a):
            let rank = naturalRank(node.inputs[0])
            let sum = a == .none ? out : unique(node.name + ".sum")
            graph.node.append(makeNode("Add", [ref(node.inputs[0], rank: rank), ref(node.inputs[1], rank: rank)], [sum], name: node.name))
            return (epilogue(sum, addend: nil, activation: a, out: out, name: node.name), rank)

        case .concat:
            let rank = naturalRank(node.inputs[0])
            var n = makeNode("Concat", node.inputs.map { ref($0, rank: rank) }, [out], name: node.name)
            n.attribute = [intAttribute("axis", 1)]
            graph.node.append(n)
            return (out, rank)

        case .flatten:
            let r = node.inputs[0]
            let source = shapeOf(r)
            if source.height * source.width == 1 { return (ref(r, rank: 2), 2) }
            var x = ref(r, rank: 4)
            if source.channels > 1 {
                // The IR flattens in HWC order: transpose NCHW to NHWC first.
                let t = unique(node.name + ".nhwc")
                var tn = makeNode("Transpose", [x], [t], name: node.name + ".nhwc")
                tn.attribute = [intsAttribute("perm", [0, 2, 3, 1])]
                graph.node.append(tn)
                x = t
            }
            var n = makeNode("Flatten", [x], [out], name: node.name)
            n.attribute = [intAttribute("axis", 1)]
            graph.node.append(n)
            return (out, 2)

        case .softmax:
            var n = makeNode("Softmax", [ref(node.inputs[0], rank: 2)], [out], name: node.name)
            n.attribute = [intAttribute("axis", -1)]
            graph.node.append(n)
            return (out, 2)

        case .batchNorm(let scale, let shift):
            let rank = naturalRank(node.inputs[0])
            let form: WeightForm = rank == 4 ? .perChannel : .plain
            let scaled = unique(node.name + ".scaled")
            graph.node.append(makeNode("Mul", [ref(node.inputs[0], rank: rank), initializer(scale, form: form)], [scaled], name: node.name + ".scale"))
            graph.node.append(makeNode("Add", [scaled, initializer(shift, form: form)], [out], name: node.name))
            return (out, rank)
        }
    }

    /// `act(value + addend)` ending in `out`; `value` itself when there is neither.
    private mutating func epilogue(_ value: String, addend: String?, activation: MTZCore.Activation, out: String, name: String) -> String {
        var current = value
        if let addend {
            current = activation == .none ? out : unique(name + ".sum")
            graph.node.append(makeNode("Add", [value, addend], [current], name: name + ".addend"))
        }
        switch activation {
        case .none: return current
        case .relu: graph.node.append(makeNode("Relu", [current], [out], name: name + ".relu"))
        case .relu6: graph.node.append(makeNode("Clip", [current, scalar(0), scalar(6)], [out], name: name + ".relu6"))
        case .sigmoid: graph.node.append(makeNode("Sigmoid", [current], [out], name: name + ".sigmoid"))
        case .tanh: graph.node.append(makeNode("Tanh", [current], [out], name: name + ".tanh"))
        }
        return out
    }

    // MARK: - Values

    private func shapeOf(_ r: ValueRef) -> ValueShape {
        let s = shapes[r.node]
        return ValueShape(height: s.height, width: s.width, channels: r.channelCount ?? (s.channels - r.channelOffset))
    }

    private func naturalRank(_ r: ValueRef) -> Int { valueRanks[r.node] }

    private func dims(of node: Int, rank: Int) -> [Int] {
        let s = shapes[node]
        return rank == 4 ? [1, s.channels, s.height, s.width] : [1, s.channels]
    }

    /// The ONNX name of what `r` reads, as a rank-2 (`[1, C]`, only for 1×1 values) or rank-4 tensor.
    private mutating func ref(_ r: ValueRef, rank: Int) -> String {
        var name = valueNames[r.node]
        var currentRank = valueRanks[r.node]
        let channels = shapes[r.node].channels
        let count = r.channelCount ?? (channels - r.channelOffset)
        if r.channelOffset != 0 || count != channels {
            let key = "slice:\(r.node):\(r.channelOffset):\(count)"
            if let s = derived[key] {
                name = s
            } else {
                let s = unique("\(name).c\(r.channelOffset)_\(r.channelOffset + count)")
                graph.node.append(makeNode("Slice", [name, intConstant([Int64(r.channelOffset)]), intConstant([Int64(r.channelOffset + count)]), intConstant([1])], [s], name: s))
                derived[key] = s
                name = s
            }
        }
        if currentRank != rank {
            let key = "rank\(rank):\(name)"
            if let s = derived[key] {
                name = s
            } else {
                let s = unique("\(name).r\(rank)")
                let shape: [Int64] = rank == 2 ? [1, Int64(count)] : [1, Int64(count), 1, 1]
                graph.node.append(makeNode("Reshape", [name, intConstant(shape)], [s], name: s))
                derived[key] = s
                name = s
            }
            currentRank = rank
        }
        return name
    }

    enum WeightForm: String {
        /// As stored (FC weights `[out, in]`, biases, vectors).
        case plain
        /// Conv weights OHWI → OIHW.
        case oihw
        /// A per-channel vector `[C]` as `[C, 1, 1]` for NCHW broadcasting.
        case perChannel
    }

    /// The initializer holding weight `index` in `form`, created once. An assembled tensor
    /// (`WeightAssembly`) of a convolution or FC weight or of a bias is `Concat`s of its parts'
    /// initializers, so a block several tasks' matrices hold is stored once here too.
    private mutating func initializer(_ index: Int, form: WeightForm) -> String {
        let key = "w\(index):\(form.rawValue)"
        if let name = derived[key] { return name }
        let w = model.weights[index]
        if let assembly = w.assembly, form != .perChannel {
            let name = assembled(w, assembly, form: form)
            derived[key] = name
            return name
        }
        let name = unique(form == .plain || derived.keys.allSatisfy({ !$0.hasPrefix("w\(index):") }) ? w.name : "\(w.name).\(form.rawValue)")
        let values = w.values.array
        let tensor: Onnx_TensorProto
        switch form {
        case .plain:
            tensor = ConstTensor.proto(name: name, shape: w.shape, floats: values)
        case .perChannel:
            tensor = ConstTensor.proto(name: name, shape: [values.count, 1, 1], floats: values)
        case .oihw:
            let (o, kh, kw, i) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
            var t = [Float](repeating: 0, count: values.count)
            for a in 0..<o { for y in 0..<kh { for x in 0..<kw { for c in 0..<i {
                t[((a * i + c) * kh + y) * kw + x] = values[((a * kh + y) * kw + x) * i + c]
            } } } }
            tensor = ConstTensor.proto(name: name, shape: [o, i, kh, kw], floats: t)
        }
        graph.initializer.append(tensor)
        derived[key] = name
        return name
    }

    /// `Concat` nodes that build assembled tensor `w` from its parts' initializers in `form`: each
    /// row band's cells along the channel axis, then the row bands along axis 0. The channel axis
    /// is 1 in OIHW; a plain `[rows, M·C]` matrix is reshaped to `[rows, M, C]` around it.
    private mutating func assembled(_ w: WeightTensor, _ a: WeightAssembly, form: WeightForm) -> String {
        let rows = w.shape[0], c = a.channelBands.reduce(0, +), inner = w.elementCount / (rows * c)
        let split3D = form == .plain && c > 1 && a.channelBands.count > 1
        var bands: [String] = []
        for (i, rb) in a.rowBands.enumerated() {
            var cells = a.parts[(i * a.channelBands.count)..<((i + 1) * a.channelBands.count)].map { initializer($0, form: form) }
            if split3D {
                cells = zip(cells, a.channelBands).map { cell, cb in
                    reshaped(cell, to: [rb, inner, cb], name: "\(w.name).cell")
                }
            }
            if cells.count == 1 {
                bands.append(cells[0])
            } else {
                let band = unique("\(w.name).band\(i)")
                var node = makeNode("Concat", cells, [band], name: band)
                node.attribute = [intAttribute("axis", form == .oihw ? 1 : 2)]
                graph.node.append(node)
                bands.append(band)
            }
        }
        var name = unique(w.name)
        var node = makeNode("Concat", bands, [name], name: name)
        node.attribute = [intAttribute("axis", 0)]
        graph.node.append(node)
        if split3D { name = reshaped(name, to: [rows, inner * c], name: w.name + ".matrix") }
        return name
    }

    /// A `Reshape` of `value` to `shape`.
    private mutating func reshaped(_ value: String, to shape: [Int], name: String) -> String {
        let out = unique(name)
        graph.node.append(makeNode("Reshape", [value, intConstant(shape.map(Int64.init))], [out], name: out))
        return out
    }

    private mutating func intConstant(_ values: [Int64]) -> String {
        let key = "i64:" + values.map(String.init).joined(separator: ",")
        if let name = derived[key] { return name }
        let name = unique("const." + values.map(String.init).joined(separator: "_"))
        graph.initializer.append(ConstTensor.proto(name: name, shape: [values.count], ints: values))
        derived[key] = name
        return name
    }

    private mutating func scalar(_ value: Float) -> String {
        let key = "f32:\(value)"
        if let name = derived[key] { return name }
        let name = unique("const.\(value)")
        graph.initializer.append(ConstTensor.proto(name: name, shape: [], floats: [value]))
        derived[key] = name
        return name
    }

    private mutating func unique(_ base: String) -> String {
        usedNames.claim(base, fallback: "value")
    }

    private func makeNode(_ op: String, _ inputs: [String], _ outputs: [String], name: String) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = name
        return n
    }

    private func valueInfo(_ name: String, dims: [Int]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = Int64(d)
            return dim
        }
        t.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = t
        v.type = type
        return v
    }

    private func intAttribute(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    private func intsAttribute(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map { Int64($0) }
        return a
    }
}
