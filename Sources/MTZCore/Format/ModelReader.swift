/// Decodes and fully validates `.mtz` bytes (layout in `docs/FORMAT.md`).
///
/// Order of checks: header (magic, version, CRC, flags, size), section table (bounds, CRC), every
/// section (inside the file, clear of the header, the table and each other, CRC), then each known
/// section's contents field by field, then `Model.validate()`. Nothing is allocated from a count
/// before the count is checked against a limit and against the bytes that remain.
enum ModelReader {
    /// One entry of the section table, after bounds checking.
    struct SectionEntry {
        var kind: SectionKind
        var flags: UInt32
        var range: Range<Int>
        var crc: UInt32
        /// Absolute offset of the table entry (for errors).
        var entryOffset: Int
        var isRequired: Bool { flags & ModelFileLayout.sectionRequired != 0 }
    }

    /// Decodes a model from `bytes`. With an `owner` (whose bytes are exactly `bytes`), weights
    /// borrow from it; otherwise they are copied into owned arrays.
    /// The packed weight variants of the optional `PACK` section come along (checked whenever the
    /// section is present, even by callers that only want the model).
    static func decodeWithPackedWeights(_ bytes: UnsafeRawBufferPointer, owner: (any ByteRegionOwner)?) throws(FormatError)
        -> (model: Model, packedWeights: [PackedWeights]) {
        #if _endian(big)
        throw FormatError(.unsupportedHost, "big-endian hosts are not supported: .mtz files store little-endian float32 weights that are used in place")
        #else
        precondition(owner == nil || owner!.byteCount == bytes.count, "owner and bytes disagree")
        let entries = try sectionTable(bytes)
        // The known sections (each kind at most once: the table check refuses duplicates). An array,
        // not a dictionary keyed by SectionKind: at most 64 entries, and a hashed collection of a
        // type costs a scan of every protocol conformance in the process the first time it is
        // created (~0.1 ms in `mtz`, a tenth of a model load).
        var found: [SectionEntry] = []
        for e in entries {
            switch e.kind {
            case .metadata, .input, .graph, .tasks, .tensorDirectory, .tensorData, .weightAssemblies:
                found.append(e)
            case .packedWeights:
                // Packed variants are an optional cache of what loading would compute: never required.
                guard !e.isRequired else {
                    throw FormatError(.malformed, "packed weight variants are marked required; they must be optional", section: "\(e.kind)", offset: e.entryOffset)
                }
                found.append(e)
            default:
                guard !e.isRequired else {
                    throw FormatError(.malformed, "unknown required section kind '\(e.kind)'", section: "\(e.kind)", offset: e.entryOffset)
                }
            }
        }
        func reader(_ kind: SectionKind) throws(FormatError) -> ByteReader {
            guard let e = found.first(where: { $0.kind == kind }) else {
                throw FormatError(.malformed, "the file has no \(kind) section", section: "\(kind)")
            }
            return ByteReader(bytes, range: e.range, section: "\(kind)")
        }
        var meta: [String: String] = [:]
        if found.contains(where: { $0.kind == .metadata }) {
            var r = try reader(.metadata)
            meta = try metadata(&r)
        }
        var inputReader = try reader(.input)
        let inputSpec = try input(&inputReader)
        var graphReader = try reader(.graph)
        let nodes = try graph(&graphReader)
        var taskReader = try reader(.tasks)
        let taskHeads = try tasks(&taskReader)
        var directoryReader = try reader(.tensorDirectory)
        let data = try reader(.tensorData)
        var (weights, unstored) = try tensors(&directoryReader, data: data, owner: owner)
        if found.contains(where: { $0.kind == .weightAssemblies }) {
            var r = try reader(.weightAssemblies)
            try assemblies(&r, weights: &weights, unstored: &unstored)
        }
        if let (i, at) = unstored.min(by: { $0.key < $1.key }) {
            let w = weights[i]
            throw FormatError(.malformed, "tensor '\(w.name)' has shape \(w.shape) (\(4 * w.elementCount) bytes) but a byte size of 0 and no assembly",
                              section: "\(SectionKind.tensorDirectory)", offset: at)
        }

        let model = Model(input: inputSpec, nodes: nodes, weights: weights, tasks: taskHeads, metadata: meta)
        do {
            _ = try model.validate()
        } catch {
            throw FormatError(.invalidModel, "the model is invalid: \(error.message)", modelError: error)
        }
        var packed: [PackedWeights] = []
        if found.contains(where: { $0.kind == .packedWeights }) {
            var r = try reader(.packedWeights)
            packed = try PackedWeightsSection.decode(&r, owner: owner)
        }
        return (model, packed)
        #endif
    }

    // MARK: Header and section table

    static func sectionTable(_ bytes: UnsafeRawBufferPointer) throws(FormatError) -> [SectionEntry] {
        typealias H = ModelFileLayout.Header
        let headerSize = ModelFileLayout.headerSize
        guard bytes.count >= headerSize else {
            throw FormatError(.truncated, "the data is \(bytes.count) bytes, smaller than the \(headerSize)-byte header", section: "header")
        }
        var h = ByteReader(bytes, range: 0..<bytes.count, section: "header")
        guard h.bytesEqual(at: H.magic, ModelFileLayout.magic) else {
            throw FormatError(.notAModel, "not an .mtz model (wrong magic bytes)", section: "header", offset: 0)
        }
        try h.seek(to: H.versionMajor)
        let major = try h.u16(), minor = try h.u16()
        guard major == ModelFileLayout.versionMajor else {
            let newer = major > ModelFileLayout.versionMajor
            throw FormatError(.unsupportedVersion,
                              "format version \(major).\(minor) is \(newer ? "newer than" : "not supported by") this reader (\(ModelFileLayout.versionMajor).x)",
                              section: "header", offset: H.versionMajor)
        }
        let flags = try h.u32()
        let fileSize = try h.u64()
        let declaredHeaderSize = try h.u32()
        let sectionCount = try h.u32()
        let tableOffset = try h.u64()
        let entrySize = try h.u32()
        let tableCRC = try h.u32()
        try h.seek(to: H.headerCRC)
        let headerCRC = try h.u32()
        let computedHeaderCRC = h.crc32(of: 0..<H.headerCRC)
        guard computedHeaderCRC == headerCRC else {
            throw FormatError(.checksum, "header CRC mismatch (stored \(hex(headerCRC)), computed \(hex(computedHeaderCRC)))", section: "header", offset: H.headerCRC)
        }
        guard flags & ~ModelFileLayout.knownHeaderFlags == 0 else {
            throw FormatError(.malformed, "unknown header flags \(hex(flags))", section: "header", offset: H.flags)
        }
        guard fileSize == UInt64(bytes.count) else {
            let kind: FormatError.Kind = fileSize > UInt64(bytes.count) ? .truncated : .layout
            throw FormatError(kind, "the header gives a file size of \(fileSize) bytes, but there are \(bytes.count)", section: "header", offset: H.fileSize)
        }
        guard declaredHeaderSize == UInt32(headerSize) else {
            throw FormatError(.malformed, "header size is \(declaredHeaderSize), expected \(headerSize)", section: "header", offset: H.headerSize)
        }
        guard entrySize == UInt32(ModelFileLayout.sectionEntrySize) else {
            throw FormatError(.malformed, "section table entry size is \(entrySize), expected \(ModelFileLayout.sectionEntrySize)", section: "header", offset: H.entrySize)
        }
        guard sectionCount <= UInt32(FormatLimits.maxSections) else {
            throw FormatError(.limit, "section count \(sectionCount) exceeds the limit of \(FormatLimits.maxSections)", section: "header", offset: H.sectionCount)
        }
        let tableBytes = UInt64(sectionCount) * UInt64(ModelFileLayout.sectionEntrySize)
        guard tableOffset >= UInt64(headerSize), tableOffset <= fileSize, tableBytes <= fileSize - tableOffset else {
            throw FormatError(.layout, "the section table (\(sectionCount) entries at offset \(tableOffset)) does not fit between the header and the end of the file (\(fileSize) bytes)",
                              section: "header", offset: H.tableOffset)
        }
        let tableRange = Int(tableOffset)..<(Int(tableOffset) + Int(tableBytes))
        var t = h.subReader(tableRange, section: "section table")
        let computedTableCRC = t.crc32(of: tableRange)
        guard computedTableCRC == tableCRC else {
            throw FormatError(.checksum, "section table CRC mismatch (stored \(hex(tableCRC)), computed \(hex(computedTableCRC)))", section: "section table", offset: tableRange.lowerBound)
        }

        var entries: [SectionEntry] = []
        entries.reserveCapacity(Int(sectionCount))
        for i in 0..<Int(sectionCount) {
            let entryOffset = t.position
            let kind = SectionKind(rawValue: try t.u32())
            let sectionFlags = try t.u32()
            let offset = try t.u64()
            let size = try t.u64()
            let crc = try t.u32()
            try t.skip(4)
            let name = "\(kind)"
            let (end, overflow) = offset.addingReportingOverflow(size)
            guard !overflow else {
                throw FormatError(.layout, "section table entry \(i): offset \(offset) + size \(size) overflows", section: name, offset: entryOffset)
            }
            guard end <= fileSize else {
                throw FormatError(.layout, "section table entry \(i): bytes \(offset)..<\(end) lie outside the file (\(fileSize) bytes)", section: name, offset: entryOffset)
            }
            let range = Int(offset)..<Int(end)
            guard range.lowerBound >= headerSize else {
                throw FormatError(.layout, "section table entry \(i): bytes \(range) overlap the header", section: name, offset: entryOffset)
            }
            guard range.upperBound <= tableRange.lowerBound || range.lowerBound >= tableRange.upperBound else {
                throw FormatError(.layout, "section table entry \(i): bytes \(range) overlap the section table \(tableRange)", section: name, offset: entryOffset)
            }
            entries.append(SectionEntry(kind: kind, flags: sectionFlags, range: range, crc: crc, entryOffset: entryOffset))
        }

        for (i, e) in entries.enumerated() where entries[..<i].contains(where: { $0.kind == e.kind }) {
            throw FormatError(.malformed, "section kind '\(e.kind)' appears more than once", section: "\(e.kind)", offset: e.entryOffset)
        }
        let byStart = entries.sorted { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        for (a, b) in zip(byStart, byStart.dropFirst()) where b.range.lowerBound < a.range.upperBound {
            throw FormatError(.layout, "sections \(a.kind) (bytes \(a.range)) and \(b.kind) (bytes \(b.range)) overlap", section: "\(b.kind)", offset: b.entryOffset)
        }
        // Every byte outside the header, the table and the sections is alignment padding and must be
        // zero, so that no byte of the file escapes a check.
        var covered = [0..<headerSize, tableRange] + byStart.map(\.range)
        covered.sort { $0.lowerBound < $1.lowerBound }
        var cursor = 0
        for r in covered + [bytes.count..<bytes.count] {
            if r.lowerBound > cursor, let bad = h.firstNonZeroByte(in: cursor..<r.lowerBound) {
                throw FormatError(.malformed, "padding byte is not zero", section: "padding", offset: bad)
            }
            cursor = max(cursor, r.upperBound)
        }
        for e in entries {
            let computed = h.crc32(of: e.range)
            guard computed == e.crc else {
                throw FormatError(.checksum, "section CRC mismatch (stored \(hex(e.crc)), computed \(hex(computed)))", section: "\(e.kind)", offset: e.range.lowerBound)
            }
        }
        return entries
    }

    // MARK: Sections

    static func metadata(_ r: inout ByteReader) throws(FormatError) -> [String: String] {
        let n = try r.count("metadata entry", limit: FormatLimits.maxMetadataEntries, minBytesEach: 8)
        var result: [String: String] = [:]
        result.reserveCapacity(n)
        for i in 0..<n {
            let at = r.position
            let key = try r.string("metadata key \(i)")
            let value = try r.string("the value of metadata key '\(key)'", maxBytes: FormatLimits.maxTextBytes)
            guard result.updateValue(value, forKey: key) == nil else {
                throw r.error(.malformed, "metadata key '\(key)' appears more than once", at: at)
            }
        }
        try r.expectEnd()
        return result
    }

    static func input(_ r: inout ByteReader) throws(FormatError) -> InputSpec {
        let width = try r.int("the input width")
        let height = try r.int("the input height")
        let formatAt = r.position
        let formatCode = try r.u8("the input color format")
        guard let format = InputSpec.ColorFormat(rawValue: formatCode) else {
            throw r.error(.malformed, "unknown input color format code \(formatCode)", at: formatAt)
        }
        let resizeCode = try r.u8("the input resize mode")
        guard let resize = InputSpec.ResizeMode(rawValue: resizeCode) else {
            throw r.error(.malformed, "unknown input resize mode code \(resizeCode)", at: formatAt + 1)
        }
        try r.skip(2)
        var mean: [Float] = [], std: [Float] = []
        let nm = try r.count("input mean", limit: FormatLimits.maxInputChannels, minBytesEach: 4)
        for _ in 0..<nm { mean.append(try r.f32("an input mean")) }
        let ns = try r.count("input std", limit: FormatLimits.maxInputChannels, minBytesEach: 4)
        for _ in 0..<ns { std.append(try r.f32("an input std")) }
        try r.expectEnd()
        return InputSpec(width: width, height: height, format: format, mean: mean, std: std, resize: resize)
    }

    static func graph(_ r: inout ByteReader) throws(FormatError) -> [Node] {
        // name length + layer length + op code + input count
        let n = try r.count("node", limit: ModelLimits.maxNodes, minBytesEach: 13)
        var nodes: [Node] = []
        nodes.reserveCapacity(n)
        for i in 0..<n {
            do throws(FormatError) {
                nodes.append(try node(&r))
            } catch {
                var e = error
                e.node = i
                throw e
            }
        }
        try r.expectEnd()
        return nodes
    }

    static func node(_ r: inout ByteReader) throws(FormatError) -> Node {
        let name = try r.string("the node name")
        let layer = try r.string("the layer name of node '\(name)'")
        let op = try operation(&r)
        let n = try r.count("input", limit: FormatLimits.maxNodeInputs, minBytesEach: 12)
        var inputs: [ValueRef] = []
        inputs.reserveCapacity(n)
        for _ in 0..<n {
            let source = try r.int("an input node index")
            let offset = try r.int("an input channel offset")
            let count = try r.optionalInt("an input channel count")
            inputs.append(ValueRef(source, channelOffset: offset, channelCount: count))
        }
        return Node(name: name, layer: layer, op: op, inputs: inputs)
    }

    static func operation(_ r: inout ByteReader) throws(FormatError) -> Operation {
        let at = r.position
        let raw = try r.u8("the op code")
        guard let code = OpCode(rawValue: raw) else {
            throw r.error(.malformed, "unknown op code \(raw)", at: at)
        }
        switch code {
        case .input:
            return .input
        case .conv2d:
            let window = try window(&r)
            let out = try r.int("the conv output channels")
            let groups = try r.int("the conv groups")
            let weight = try r.int("the conv weight index")
            let bias = try r.optionalInt("the conv bias index")
            let act = try activation(&r)
            return .conv2d(Conv2D(window: window, outChannels: out, groups: groups, weight: weight, bias: bias, activation: act))
        case .fullyConnected:
            let out = try r.int("the fc output features")
            let weight = try r.int("the fc weight index")
            let bias = try r.optionalInt("the fc bias index")
            let act = try activation(&r)
            return .fullyConnected(FullyConnected(outFeatures: out, weight: weight, bias: bias, activation: act))
        case .activation:
            return .activation(try activation(&r))
        case .maxPool:
            return .maxPool(try pool(&r))
        case .averagePool:
            return .averagePool(try pool(&r))
        case .globalAveragePool:
            return .globalAveragePool
        case .add:
            return .add(try activation(&r))
        case .concat:
            return .concat
        case .flatten:
            return .flatten
        case .softmax:
            return .softmax
        case .batchNorm:
            let scale = try r.int("the batch norm scale index")
            let shift = try r.int("the batch norm shift index")
            return .batchNorm(scale: scale, shift: shift)
        }
    }

    static func activation(_ r: inout ByteReader) throws(FormatError) -> Activation {
        let at = r.position
        let raw = try r.u8("an activation code")
        guard let a = Activation(rawValue: raw) else {
            throw r.error(.malformed, "unknown activation code \(raw)", at: at)
        }
        return a
    }

    static func window(_ r: inout ByteReader) throws(FormatError) -> Window {
        var v: [Int] = []
        for _ in 0..<10 { v.append(try r.int("a window parameter")) }
        return Window(kernelH: v[0], kernelW: v[1], strideH: v[2], strideW: v[3], dilationH: v[4], dilationW: v[5],
                      padding: Padding(top: v[6], left: v[7], bottom: v[8], right: v[9]))
    }

    static func pool(_ r: inout ByteReader) throws(FormatError) -> Pool {
        let window = try window(&r)
        let at = r.position
        let flag = try r.u8("count-include-pad")
        guard flag <= 1 else { throw r.error(.malformed, "count-include-pad must be 0 or 1, not \(flag)", at: at) }
        return Pool(window: window, countIncludePad: flag == 1)
    }

    static func tasks(_ r: inout ByteReader) throws(FormatError) -> [TaskHead] {
        // name length + output + summary length + label count
        let n = try r.count("task", limit: ModelLimits.maxTasks, minBytesEach: 16)
        var result: [TaskHead] = []
        result.reserveCapacity(n)
        for i in 0..<n {
            let name = try r.string("the name of task \(i)")
            let output = try r.int("the output node of task '\(name)'")
            let summary = try r.string("the summary of task '\(name)'", maxBytes: FormatLimits.maxTextBytes)
            let count = try r.count("label (task '\(name)')", limit: FormatLimits.maxLabels, minBytesEach: 4)
            var labels: [String] = []
            labels.reserveCapacity(count)
            for j in 0..<count { labels.append(try r.string("label \(j) of task '\(name)'")) }
            result.append(TaskHead(name: name, output: output, labels: labels, summary: summary))
        }
        try r.expectEnd()
        return result
    }

    /// The tensors of the directory. A tensor with offset and byte size 0 is stored as an assembly
    /// (`ASMB`): it comes back without values, listed in `unstored` with its byte-size field's offset.
    static func tensors(_ r: inout ByteReader, data: ByteReader, owner: (any ByteRegionOwner)?) throws(FormatError)
        -> (weights: [WeightTensor], unstored: [Int: Int]) {
        // name length + dtype + rank + reserved + offset + size
        let n = try r.count("tensor", limit: ModelLimits.maxWeights, minBytesEach: 24)
        let alignment = UInt64(ModelFileLayout.tensorAlignment)
        var result: [WeightTensor] = []
        result.reserveCapacity(n)
        var unstored: [Int: Int] = [:]
        var previousEnd = UInt64(data.start)
        var previousName = "the start of the data section"
        for i in 0..<n {
            let entryAt = r.position
            let name = try r.string("the name of tensor \(i)")
            let dtypeAt = r.position
            let dtype = try r.u8("the dtype of tensor '\(name)'")
            guard dtype == ModelFileLayout.DType.f32 else {
                throw r.error(.malformed, "tensor '\(name)' has unsupported dtype code \(dtype) (only 1 = f32)", at: dtypeAt)
            }
            let rank = Int(try r.u8("the rank of tensor '\(name)'"))
            guard (1...ModelLimits.maxRank).contains(rank) else {
                throw r.error(.malformed, "tensor '\(name)' has rank \(rank) (1...\(ModelLimits.maxRank) allowed)", at: dtypeAt + 1)
            }
            try r.skip(2)
            var shape: [Int] = []
            var elements = 1
            for _ in 0..<rank {
                let d = try r.int("a dimension of tensor '\(name)'")
                shape.append(d)
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, p <= ModelLimits.maxWeightElements else {
                    throw r.error(.limit, "tensor '\(name)' with shape \(shape)... exceeds \(ModelLimits.maxWeightElements) elements", at: entryAt)
                }
                elements = p
            }
            let offsetAt = r.position
            let offset = try r.u64("the offset of tensor '\(name)'")
            let size = try r.u64("the byte size of tensor '\(name)'")
            if offset == 0, size == 0 {
                unstored[i] = offsetAt + 8
                result.append(WeightTensor(name: name, shape: shape, values: []))
                continue
            }
            guard size == UInt64(4 * elements) else {
                throw r.error(.malformed, "tensor '\(name)' has shape \(shape) (\(4 * elements) bytes) but a byte size of \(size)", at: offsetAt + 8)
            }
            guard offset % alignment == 0 else {
                throw r.error(.layout, "tensor '\(name)' at offset \(offset) is not \(alignment)-byte aligned", at: offsetAt)
            }
            guard offset >= UInt64(data.start), offset <= UInt64(data.end), size <= UInt64(data.end) - offset else {
                throw r.error(.layout, "tensor '\(name)' (offset \(offset), \(size) bytes) lies outside the tensor data section (bytes \(data.start)..<\(data.end))", at: offsetAt)
            }
            guard offset >= previousEnd else {
                throw r.error(.layout, "tensor '\(name)' at offset \(offset) overlaps or precedes \(previousName) (tensors must be stored in directory order without overlap)", at: offsetAt)
            }
            previousEnd = offset + size
            previousName = "tensor '\(name)'"
            let values: FloatStorage
            if let owner {
                values = FloatStorage(owner: owner, byteOffset: Int(offset), count: elements)
            } else {
                values = FloatStorage(data.floats(at: Int(offset), count: elements))
            }
            result.append(WeightTensor(name: name, shape: shape, values: values))
        }
        try r.expectEnd()
        return (result, unstored)
    }

    /// Reads the `ASMB` section: each entry gives an unstored tensor its assembly and assembled
    /// values, built in one `AssembledRegion` (they exist nowhere in the file).
    static func assemblies(_ r: inout ByteReader, weights: inout [WeightTensor], unstored: inout [Int: Int]) throws(FormatError) {
        // index + two band counts + at least one band each + one part
        let n = try r.count("assembly", limit: weights.count, minBytesEach: 24)
        var entries: [(index: Int, at: Int)] = []
        for _ in 0..<n {
            let at = r.position
            let i = try r.int("the tensor index of an assembly")
            guard i < weights.count else {
                throw r.error(.malformed, "an assembly names tensor \(i), but the directory has \(weights.count)", at: at)
            }
            guard unstored.removeValue(forKey: i) != nil else {
                throw r.error(.malformed, "tensor '\(weights[i].name)' has an assembly but is stored in the data section too, or has two assemblies", at: at)
            }
            let rows = weights[i].shape[0], elements = weights[i].elementCount
            let rowBands = try bands(&r, "row band", limit: rows, tensor: weights[i].name)
            let channelBands = try bands(&r, "channel band", limit: elements / rows, tensor: weights[i].name)
            let partCount = rowBands.count * channelBands.count
            guard 4 * partCount <= r.remaining else {
                throw r.error(.truncated, "the assembly of tensor '\(weights[i].name)' needs \(partCount) parts, but only \(r.remaining) bytes remain")
            }
            var parts: [Int] = []
            parts.reserveCapacity(partCount)
            for _ in 0..<partCount { parts.append(try r.int("a part of the assembly of tensor '\(weights[i].name)'")) }
            weights[i].assembly = WeightAssembly(rowBands: rowBands, channelBands: channelBands, parts: parts)
            entries.append((i, at))
        }
        try r.expectEnd()
        // Parts must be stored tensors: checked once every assembly is known. The assembled values
        // are allocated, not mapped, so their total is bounded before any is built.
        var total = 0
        for (i, at) in entries {
            let a = weights[i].assembly!
            if let why = a.problem(rows: weights[i].shape[0], elementCount: weights[i].elementCount, partCount: { p in
                p < weights.count && weights[p].assembly == nil && unstored[p] == nil ? weights[p].elementCount : nil
            }) {
                throw r.error(.malformed, "the assembly of tensor '\(weights[i].name)' \(why)", at: at)
            }
            total += weights[i].elementCount
            guard total <= ModelLimits.maxAssembledElements else {
                throw r.error(.limit, "assembled tensors up to '\(weights[i].name)' hold more than \(ModelLimits.maxAssembledElements) elements", at: at)
            }
        }
        let (offsets, byteCount) = AssembledRegion.layout(entries.map { weights[$0.index].elementCount })
        let region = AssembledRegion(byteCount: byteCount)
        for ((i, _), offset) in zip(entries, offsets) {
            let n = weights[i].elementCount
            weights[i].assembly!.assemble(into: region.floats(at: offset, count: n)) { weights[$0].values }
            weights[i].values = FloatStorage(owner: region, byteOffset: offset, count: n)
        }
    }

    /// A `u32` band count (1...`limit`) and that many band sizes, each 1...`limit`.
    private static func bands(_ r: inout ByteReader, _ what: String, limit: Int, tensor: String) throws(FormatError) -> [Int] {
        let at = r.position
        let n = try r.count("\(what) of tensor '\(tensor)'", limit: limit, minBytesEach: 4)
        guard n >= 1 else { throw r.error(.malformed, "the assembly of tensor '\(tensor)' has no \(what)s", at: at) }
        var result: [Int] = []
        result.reserveCapacity(n)
        for _ in 0..<n {
            let b = try r.int("a \(what) of tensor '\(tensor)'")
            guard (1...limit).contains(b) else {
                throw r.error(.malformed, "the assembly of tensor '\(tensor)' has a \(what) of \(b) (1...\(limit) allowed)")
            }
            result.append(b)
        }
        return result
    }

    static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16, uppercase: true) }
}
