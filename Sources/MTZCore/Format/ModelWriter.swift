/// Encodes a model into `.mtz` bytes (layout in `docs/FORMAT.md`). Does not validate: callers
/// (`ModelFile.encode`) validate first, and tests use it to craft hostile files.
enum ModelWriter {
    /// One section to place in a file.
    struct Section {
        var kind: SectionKind
        var flags: UInt32 = ModelFileLayout.sectionRequired
        var bytes: [UInt8]
        /// Alignment of the section start relative to the file start.
        var alignment: Int = ModelFileLayout.sectionAlignment
    }

    /// The bytes of `model`, assuming it is valid. `extraSections` are placed after the tensor data
    /// (for future optional sections such as packed weights, and for tests).
    static func encode(_ model: Model, extraSections: [Section] = []) -> [UInt8] {
        var sections = [
            Section(kind: .metadata, bytes: metadata(model.metadata)),
            Section(kind: .input, bytes: input(model.input)),
            Section(kind: .graph, bytes: graph(model.nodes)),
            Section(kind: .tasks, bytes: tasks(model.tasks)),
        ]
        // The directory holds absolute tensor offsets, which depend on where the data section lands;
        // its size does not, so place a draft first, then fill in the offsets.
        let assembled = assembledTensors(model)
        let (dataBytes, relativeOffsets) = tensorData(model.weights, assembled: assembled)
        let directoryIndex = sections.count
        sections.append(Section(kind: .tensorDirectory, bytes: tensorDirectory(model.weights, offsets: relativeOffsets, base: 0)))
        if assembled.contains(true) {
            sections.append(Section(kind: .weightAssemblies, bytes: weightAssemblies(model.weights, assembled: assembled)))
        }
        let dataIndex = sections.count
        sections.append(Section(kind: .tensorData, bytes: dataBytes, alignment: ModelFileLayout.tensorAlignment))
        sections += extraSections
        let dataStart = layout(sections).offsets[dataIndex]
        sections[directoryIndex].bytes = tensorDirectory(model.weights, offsets: relativeOffsets, base: dataStart)
        let minor = assembled.contains(true) ? ModelFileLayout.versionMinorAssemblies : ModelFileLayout.versionMinorPlain
        return assemble(sections, versionMinor: minor)
    }

    /// Which tensors are stored as their assembly: those with one that reproduces their values
    /// exactly (a tensor changed after it was assembled is stored as it is).
    static func assembledTensors(_ model: Model) -> [Bool] {
        model.weights.indices.map { i in
            let w = model.weights[i]
            guard let a = w.assembly, model.assemblyProblem(of: i) == nil else { return false }
            let built = a.assemble(elementCount: w.elementCount) { model.weights[$0].values }
            return w.values.withUnsafeBufferPointer { $0.elementsEqual(built) }
        }
    }

    /// Where each section starts, and the total file size, when `sections` are placed in order after
    /// the header and the section table.
    static func layout(_ sections: [Section]) -> (offsets: [Int], fileSize: Int) {
        var cursor = ModelFileLayout.headerSize + sections.count * ModelFileLayout.sectionEntrySize
        var offsets: [Int] = []
        for s in sections {
            cursor = alignUp(cursor, s.alignment)
            offsets.append(cursor)
            cursor += s.bytes.count
        }
        return (offsets, cursor)
    }

    /// A complete file: header, section table and the sections in order, with every CRC filled in.
    static func assemble(_ sections: [Section], versionMinor: UInt16 = ModelFileLayout.versionMinorPlain) -> [UInt8] {
        let (offsets, fileSize) = layout(sections)
        var table = ByteWriter()
        for (s, offset) in zip(sections, offsets) {
            table.append(contentsOf: s.kind.rawValue.littleEndianBytes)
            table.u32(s.flags)
            table.u64(UInt64(offset))
            table.u64(UInt64(s.bytes.count))
            table.u32(CRC32.checksum(s.bytes))
            table.u32(UInt32(0))
        }
        var w = ByteWriter()
        w.append(contentsOf: ModelFileLayout.magic)
        w.u16(ModelFileLayout.versionMajor)
        w.u16(versionMinor)
        w.u32(UInt32(0))                                   // flags
        w.u64(UInt64(fileSize))
        w.u32(ModelFileLayout.headerSize)
        w.u32(sections.count)
        w.u64(UInt64(ModelFileLayout.headerSize))          // section table offset
        w.u32(ModelFileLayout.sectionEntrySize)
        w.u32(CRC32.checksum(table.bytes))
        w.u64(UInt64(0))                                   // reserved
        w.u32(UInt32(0))                                   // reserved
        w.u32(CRC32.checksum(w.bytes))                     // header CRC over bytes 0..<60
        w.append(contentsOf: table.bytes)
        for (s, offset) in zip(sections, offsets) {
            w.append(contentsOf: repeatElement(0, count: offset - w.count))
            w.append(contentsOf: s.bytes)
        }
        return w.bytes
    }

    // MARK: Sections

    static func metadata(_ metadata: [String: String]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(metadata.count)
        for key in metadata.keys.sorted() {
            w.string(key)
            w.string(metadata[key]!)
        }
        return w.bytes
    }

    static func input(_ spec: InputSpec) -> [UInt8] {
        var w = ByteWriter()
        w.u32(spec.width)
        w.u32(spec.height)
        w.u8(spec.format.rawValue)
        w.u8(spec.resize.rawValue)
        w.u16(UInt16(0))
        w.u32(spec.mean.count)
        for v in spec.mean { w.f32(v) }
        w.u32(spec.std.count)
        for v in spec.std { w.f32(v) }
        return w.bytes
    }

    static func graph(_ nodes: [Node]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(nodes.count)
        for node in nodes {
            w.string(node.name)
            w.string(node.layer)
            operation(node.op, into: &w)
            w.u32(node.inputs.count)
            for ref in node.inputs {
                w.u32(ref.node)
                w.u32(ref.channelOffset)
                w.optionalU32(ref.channelCount)
            }
        }
        return w.bytes
    }

    static func operation(_ op: Operation, into w: inout ByteWriter) {
        switch op {
        case .input:
            w.u8(OpCode.input.rawValue)
        case .conv2d(let c):
            w.u8(OpCode.conv2d.rawValue)
            window(c.window, into: &w)
            w.u32(c.outChannels)
            w.u32(c.groups)
            w.u32(c.weight)
            w.optionalU32(c.bias)
            w.u8(c.activation.rawValue)
        case .fullyConnected(let f):
            w.u8(OpCode.fullyConnected.rawValue)
            w.u32(f.outFeatures)
            w.u32(f.weight)
            w.optionalU32(f.bias)
            w.u8(f.activation.rawValue)
        case .activation(let a):
            w.u8(OpCode.activation.rawValue)
            w.u8(a.rawValue)
        case .maxPool(let p):
            w.u8(OpCode.maxPool.rawValue)
            window(p.window, into: &w)
            w.u8(p.countIncludePad ? 1 : 0)
        case .averagePool(let p):
            w.u8(OpCode.averagePool.rawValue)
            window(p.window, into: &w)
            w.u8(p.countIncludePad ? 1 : 0)
        case .globalAveragePool:
            w.u8(OpCode.globalAveragePool.rawValue)
        case .add(let a):
            w.u8(OpCode.add.rawValue)
            w.u8(a.rawValue)
        case .concat:
            w.u8(OpCode.concat.rawValue)
        case .flatten:
            w.u8(OpCode.flatten.rawValue)
        case .softmax:
            w.u8(OpCode.softmax.rawValue)
        case .batchNorm(let scale, let shift):
            w.u8(OpCode.batchNorm.rawValue)
            w.u32(scale)
            w.u32(shift)
        }
    }

    static func window(_ win: Window, into w: inout ByteWriter) {
        for v in [win.kernelH, win.kernelW, win.strideH, win.strideW, win.dilationH, win.dilationW,
                  win.padding.top, win.padding.left, win.padding.bottom, win.padding.right] {
            w.u32(v)
        }
    }

    static func tasks(_ tasks: [TaskHead]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(tasks.count)
        for t in tasks {
            w.string(t.name)
            w.u32(t.output)
            w.string(t.summary)
            w.u32(t.labels.count)
            for label in t.labels { w.string(label) }
        }
        return w.bytes
    }

    /// The tensor data section and each tensor's offset inside it (multiples of 64; nil for an
    /// assembled tensor, which has no data of its own).
    static func tensorData(_ weights: [WeightTensor], assembled: [Bool]) -> (bytes: [UInt8], offsets: [Int?]) {
        var w = ByteWriter()
        var offsets: [Int?] = []
        for (t, isAssembled) in zip(weights, assembled) {
            if isAssembled {
                offsets.append(nil)
                continue
            }
            w.pad(toMultipleOf: ModelFileLayout.tensorAlignment)
            offsets.append(w.count)
            w.floats(t.values)
        }
        return (w.bytes, offsets)
    }

    /// The directory; an assembled tensor (offset nil) has offset and byte size 0.
    static func tensorDirectory(_ weights: [WeightTensor], offsets: [Int?], base: Int) -> [UInt8] {
        var w = ByteWriter()
        w.u32(weights.count)
        for (t, offset) in zip(weights, offsets) {
            w.string(t.name)
            w.u8(ModelFileLayout.DType.f32)
            w.u8(UInt8(truncatingIfNeeded: t.shape.count))
            w.u16(UInt16(0))
            for d in t.shape { w.u32(d) }
            w.u64(UInt64(offset.map { base + $0 } ?? 0))
            w.u64(UInt64(offset == nil ? 0 : 4 * t.values.count))
        }
        return w.bytes
    }

    /// The `ASMB` section: for each tensor stored as its assembly, its index, bands and parts.
    static func weightAssemblies(_ weights: [WeightTensor], assembled: [Bool]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(assembled.filter { $0 }.count)
        for (i, t) in weights.enumerated() where assembled[i] {
            let a = t.assembly!
            w.u32(i)
            w.u32(a.rowBands.count)
            for b in a.rowBands { w.u32(b) }
            w.u32(a.channelBands.count)
            for b in a.channelBands { w.u32(b) }
            for p in a.parts { w.u32(p) }
        }
        return w.bytes
    }

    static func alignUp(_ v: Int, _ alignment: Int) -> Int {
        (v + alignment - 1) / alignment * alignment
    }
}

extension UInt32 {
    /// The four bytes of the value, least significant first.
    var littleEndianBytes: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: self >> (8 * UInt32($0))) } }
}
