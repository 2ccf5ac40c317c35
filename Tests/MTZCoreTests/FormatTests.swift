import MTZCore
import Foundation
import MTZTestSupport
import Testing
@testable import MTZCore

// MARK: - Fixtures and helpers

func seededValues(_ count: Int, seed: UInt64) -> [Float] {
    var g = SeededRandom(seed: seed)
    return (0..<count).map { _ in Float(Int(g.next() % 2001) - 1000) / 1000 }
}

/// input 8x8 rgb → grouped conv (bias, relu) → maxpool → concat of two channel slices → batch norm
/// → flatten → fc A (bias) → fc B (addend = fc A) → softmax ×2, two tasks with labels, metadata.
private func sampleModel() -> Model {
    let weights = [
        WeightTensor(name: "conv1.weight", shape: [6, 3, 3, 1], values: seededValues(54, seed: 1)),
        WeightTensor(name: "conv1.bias", shape: [6], values: seededValues(6, seed: 2)),
        WeightTensor(name: "bn.scale", shape: [4], values: seededValues(4, seed: 3)),
        WeightTensor(name: "bn.shift", shape: [4], values: seededValues(4, seed: 4)),
        WeightTensor(name: "alpha/fc.weight", shape: [3, 64], values: seededValues(192, seed: 5)),
        WeightTensor(name: "alpha/fc.bias", shape: [3], values: seededValues(3, seed: 6)),
        WeightTensor(name: "beta/fc.weight", shape: [3, 64], values: seededValues(192, seed: 7)),
    ]
    let nodes = [
        Node(name: "image", op: .input, inputs: []),
        Node(name: "conv1", layer: "layer1",
             op: .conv2d(Conv2D(window: .square(3, padding: 1), outChannels: 6, groups: 3, weight: 0, bias: 1, activation: .relu)),
             inputs: [ValueRef(0)]),
        Node(name: "pool1", op: .maxPool(Pool(window: .square(2, stride: 2))), inputs: [ValueRef(1)]),
        Node(name: "slices", op: .concat,
             inputs: [ValueRef(2, channelOffset: 0, channelCount: 2), ValueRef(2, channelOffset: 4)]),
        Node(name: "bn", op: .batchNorm(scale: 2, shift: 3), inputs: [ValueRef(3)]),
        Node(name: "flat", op: .flatten, inputs: [ValueRef(4)]),
        Node(name: "alpha/fc", op: .fullyConnected(FullyConnected(outFeatures: 3, weight: 4, bias: 5)), inputs: [ValueRef(5)]),
        Node(name: "beta/fc", op: .fullyConnected(FullyConnected(outFeatures: 3, weight: 6, bias: nil, activation: .tanh)),
             inputs: [ValueRef(5), ValueRef(6)]),
        Node(name: "alpha/prob", op: .softmax, inputs: [ValueRef(6)]),
        Node(name: "beta/prob", op: .softmax, inputs: [ValueRef(7)]),
    ]
    let tasks = [
        TaskHead(name: "alpha", output: 8, labels: ["cat", "dog", "émeu"], summary: "SUMMARY_ALPHA"),
        TaskHead(name: "beta", output: 9, labels: ["x", "y", "z"], summary: "SUMMARY_BETA"),
    ]
    let input = InputSpec(width: 8, height: 8, format: .rgb, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: .centerCrop)
    return Model(input: input, nodes: nodes, weights: weights, tasks: tasks,
                 metadata: ["producer": "FormatTests", "description": "a tiny two-task model ✓"])
}

/// A model that uses every op code the sample model does not.
private func allOpsModel() -> Model {
    let weights = [
        WeightTensor(name: "c.w", shape: [2, 1, 1, 1], values: [0.5, -2]),
        WeightTensor(name: "fc.w", shape: [2, 2], values: [1, 2, 3, 4]),
    ]
    let nodes = [
        Node(name: "in", op: .input, inputs: []),
        Node(name: "c", op: .conv2d(Conv2D(window: Window(kernelH: 1, kernelW: 1, strideH: 1, strideW: 2, padding: Padding()),
                                           outChannels: 2, weight: 0, bias: nil)), inputs: [ValueRef(0)]),
        Node(name: "act", op: .activation(.relu6), inputs: [ValueRef(1)]),
        Node(name: "avg", op: .averagePool(Pool(window: .square(2, stride: 1, padding: 1), countIncludePad: true)), inputs: [ValueRef(2)]),
        Node(name: "sum", op: .add(.sigmoid), inputs: [ValueRef(3), ValueRef(3)]),
        Node(name: "gap", op: .globalAveragePool, inputs: [ValueRef(4)]),
        Node(name: "fc", op: .fullyConnected(FullyConnected(outFeatures: 2, weight: 1, bias: nil)), inputs: [ValueRef(5)]),
    ]
    return Model(input: InputSpec(width: 5, height: 4, format: .gray, mean: [0], std: [1]),
                 nodes: nodes, weights: weights, tasks: [TaskHead(name: "t", output: 6, labels: [])])
}

private func expectEqual(_ a: Model, _ b: Model) {
    #expect(a.input == b.input)
    #expect(a.nodes == b.nodes)
    #expect(a.tasks == b.tasks)
    #expect(a.metadata == b.metadata)
    #expect(a.weights.map(\.name) == b.weights.map(\.name))
    #expect(a.weights.map(\.shape) == b.weights.map(\.shape))
    for (x, y) in zip(a.weights, b.weights) {
        #expect(x.values.array.map(\.bitPattern) == y.values.array.map(\.bitPattern), "values of \(x.name)")
    }
}

func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
}
func u64(_ b: [UInt8], _ at: Int) -> UInt64 {
    (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
}
func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
    for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
}
func put64(_ b: inout [UInt8], _ at: Int, _ v: UInt64) {
    for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
}

/// One section table entry as found in (well-formed) bytes.
struct Entry {
    var kind: String
    var entryOffset: Int
    var offset: Int
    var size: Int
}

func entries(_ b: [UInt8]) -> [Entry] {
    let count = Int(u32(b, 28)), table = Int(u64(b, 32))
    return (0..<count).map { i in
        let e = table + 32 * i
        return Entry(kind: String(decoding: b[e..<(e + 4)], as: UTF8.self), entryOffset: e,
                     offset: Int(u64(b, e + 8)), size: Int(u64(b, e + 16)))
    }
}

func section(_ b: [UInt8], _ kind: String) -> Entry {
    entries(b).first { $0.kind == kind }!
}

/// Recomputes every CRC that can be recomputed (sections that lie inside the bytes, the table, the
/// header), so that a corrupted file gets past the checksums and exercises the field checks.
func reseal(_ b: inout [UInt8]) {
    guard b.count >= 64 else { return }
    let count = UInt64(u32(b, 28)), table = u64(b, 32)
    if count <= 64, table >= 64, table <= UInt64(b.count), count * 32 <= UInt64(b.count) - table {
        for i in 0..<Int(count) {
            let e = Int(table) + 32 * i
            let offset = u64(b, e + 8), size = u64(b, e + 16)
            if offset <= UInt64(b.count), size <= UInt64(b.count) - offset {
                put32(&b, e + 24, CRC32.checksum(b[Int(offset)..<Int(offset + size)]))
            }
        }
        put32(&b, 44, CRC32.checksum(b[Int(table)..<Int(table + 32 * count)]))
    }
    put32(&b, 60, CRC32.checksum(b[0..<60]))
}

/// Decodes bytes that must be refused, and returns the error.
func refused(_ b: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> FormatError? {
    #expect(throws: FormatError.self, sourceLocation: sourceLocation) { try ModelFile.decode(b) }
}

private func firstIndex(of needle: [UInt8], in hay: [UInt8]) -> Int? {
    guard needle.count <= hay.count else { return nil }
    return (0...(hay.count - needle.count)).first { hay[$0..<($0 + needle.count)].elementsEqual(needle) }
}

/// Absolute position of the offset field of tensor `index` in the tensor directory.
private func tensorOffsetField(_ b: [UInt8], index: Int) -> Int {
    var p = section(b, "TDIR").offset + 4
    for i in 0...index {
        p += 4 + Int(u32(b, p))            // name
        let rank = Int(b[p + 1])
        p += 4 + 4 * rank                  // dtype, rank, reserved, dims
        if i == index { return p }
        p += 16                            // offset, size
    }
    fatalError("unreachable")
}

private func temporaryDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtz-format-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

// MARK: - Tests

@Suite("FormatTests")
struct FormatTests {
    @Test func roundTripThroughBytes() throws {
        let model = sampleModel()
        let bytes = try ModelFile.encode(model)
        expectEqual(try ModelFile.decode(bytes), model)
        #expect(try ModelFile.encode(try ModelFile.decode(bytes)) == bytes, "encoding is deterministic")
        let other = allOpsModel()
        expectEqual(try ModelFile.decode(try ModelFile.encode(other)), other)
    }

    @Test func roundTripThroughAMappedFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/sample.mtz"
        let model = sampleModel()
        try ModelFile.write(model, to: path)
        let read = try ModelFile.read(contentsOf: path)
        expectEqual(read, model)
        for w in read.weights {
            guard case .mapped(_, let offset, _) = w.values.backing else {
                Issue.record("weight \(w.name) was copied, not mapped")
                continue
            }
            #expect(offset % 64 == 0)
            w.values.withUnsafeBufferPointer { #expect(Int(bitPattern: $0.baseAddress) % 64 == 0) }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["sample.mtz"])
    }

    @Test func tensorOffsetsAreAligned() throws {
        let bytes = try ModelFile.encode(sampleModel())
        let data = section(bytes, "TDAT")
        for i in 0..<sampleModel().weights.count {
            let offset = Int(u64(bytes, tensorOffsetField(bytes, index: i)))
            #expect(offset % 64 == 0, "tensor \(i) at \(offset)")
            #expect(offset >= data.offset && offset < data.offset + data.size)
        }
    }

    @Test func encodeRefusesAnInvalidModel() {
        var model = sampleModel()
        model.nodes[3].inputs[0] = ValueRef(7)
        #expect(throws: ModelError.self) { try ModelFile.encode(model) }
    }

    @Test func everyTruncationThrows() throws {
        let bytes = try ModelFile.encode(sampleModel())
        for n in 0..<bytes.count {
            let e = refused(Array(bytes[0..<n]))
            #expect(e?.kind == .truncated, "prefix of \(n) bytes: \(e.map(String.init(describing:)) ?? "")")
        }
        // With the header's size and CRCs fixed up, the section bounds checks must catch it.
        var cuts = Set(entries(bytes).flatMap { [$0.offset, $0.offset + $0.size, $0.offset + $0.size / 2] })
        cuts.formUnion(stride(from: 64, to: bytes.count, by: 7))
        for n in cuts.sorted() where n >= 64 && n < bytes.count {
            var cut = Array(bytes[0..<n])
            put64(&cut, 16, UInt64(n))
            reseal(&cut)
            _ = refused(cut)
        }
    }

    @Test func randomByteFlipsThrow() throws {
        let bytes = try ModelFile.encode(sampleModel())
        var g = SeededRandom(seed: 42)
        var accepted = 0
        var unnoticed: [Int] = []
        for _ in 0..<3000 {
            var b = bytes
            let at = Int(g.next() % UInt64(b.count))
            b[at] ^= UInt8(1 + g.next() % 255)
            if (try? ModelFile.decode(b)) != nil { unnoticed.append(at) }
            // Re-sealed: past the CRCs, the field checks must either refuse it or yield a valid model.
            reseal(&b)
            do {
                let model = try ModelFile.decode(b)
                _ = try model.validate()
                accepted += 1
            } catch {
                #expect(error is FormatError, "\(error)")
            }
        }
        #expect(unnoticed.isEmpty, "flips at these offsets were not detected: \(unnoticed.prefix(10))")
        // Flips in weight values or metadata text are legitimately accepted once re-sealed.
        #expect(accepted > 0)
    }

    @Test func versionsMagicAndUnknownSections() throws {
        let bytes = try ModelFile.encode(sampleModel())
        var b = bytes
        b[0] = 0x88
        #expect(refused(b)?.kind == .notAModel)

        b = bytes
        b[8] = 2
        reseal(&b)
        let newer = refused(b)
        #expect(newer?.kind == .unsupportedVersion)
        #expect(newer?.description.contains("2.0 is newer") == true)

        b = bytes
        b[10] = 7                          // a newer minor is fine
        reseal(&b)
        #expect(throws: Never.self) { try ModelFile.decode(b) }

        let optional = ModelWriter.Section(kind: SectionKind("XTRA"), flags: 0, bytes: [1, 2, 3])
        expectEqual(try ModelFile.decode(ModelWriter.encode(sampleModel(), extraSections: [optional])), sampleModel())
        // A PACK section is checked like every known section, even by readers that ignore its variants.
        let garbage = ModelWriter.Section(kind: .packedWeights, flags: 0, bytes: [9, 9], alignment: 64)
        #expect(refused(ModelWriter.encode(sampleModel(), extraSections: [garbage]))?.section == "PACK")

        let required = ModelWriter.Section(kind: SectionKind("XTRA"), bytes: [1, 2, 3])
        let e = refused(ModelWriter.encode(sampleModel(), extraSections: [required]))
        #expect(e?.description.contains("unknown required section kind 'XTRA'") == true)
    }

    /// Two packed variants (one without a bias) round-trip; plain decoding still gives the model.
    private func packedVariants() -> [PackedWeights] {
        [PackedWeights(isa: 2, algorithm: 2, layout: 1, inChannels: 3, outChannels: 6, kernelHeight: 3, kernelWidth: 3,
                       groups: 1, weightCRC: 0xDEAD_BEEF, biasCRC: 0x1234_5678, values: FloatStorage(seededValues(100, seed: 7))),
         PackedWeights(isa: 1, algorithm: 0, layout: 1, inChannels: 4, outChannels: 2, kernelHeight: 1, kernelWidth: 5,
                       groups: 2, weightCRC: 7, biasCRC: nil, values: FloatStorage(seededValues(37, seed: 8)))]
    }

    @Test func packedWeightsRoundTrip() throws {
        let bytes = try ModelFile.encode(sampleModel(), packedWeights: packedVariants())
        let entry = section(bytes, "PACK")
        #expect(entry.offset % 64 == 0 && u32(bytes, entry.entryOffset + 4) == 0) // 64-aligned, optional
        let (model, packed) = try bytes.withUnsafeBytes { raw in try ModelReader.decodeWithPackedWeights(raw, owner: nil) }
        expectEqual(model, sampleModel())
        expectEqual(try ModelFile.decode(bytes), sampleModel())
        #expect(packed.count == 2)
        for (got, want) in zip(packed, packedVariants()) {
            #expect(got.isa == want.isa && got.algorithm == want.algorithm && got.layout == want.layout)
            #expect(got.inChannels == want.inChannels && got.outChannels == want.outChannels && got.groups == want.groups)
            #expect(got.kernelHeight == want.kernelHeight && got.kernelWidth == want.kernelWidth)
            #expect(got.weightCRC == want.weightCRC && got.biasCRC == want.biasCRC)
            #expect(got.values.array == want.values.array)
        }
        // Every variant's floats start 64-byte aligned in the file (mapped, the kernels read them in place).
        let first = Int(u64(bytes, entry.offset + 8 + 48))
        #expect((entry.offset + first) % 64 == 0)
        // Writing the model alone drops the section.
        #expect(entries(try ModelFile.encode(sampleModel())).allSatisfy { $0.kind != "PACK" })
    }

    @Test func brokenPackedWeightsAreRefused() throws {
        let bytes = try ModelFile.encode(sampleModel(), packedWeights: packedVariants())
        let pack = section(bytes, "PACK").offset
        let entry0 = pack + 8, entry1 = pack + 8 + 64
        func broken(_ change: (inout [UInt8]) -> Void, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
            var b = bytes
            change(&b)
            reseal(&b)
            let e = refused(b, sourceLocation: sourceLocation)
            #expect(e?.section == "PACK", sourceLocation: sourceLocation)
            #expect(e?.description.contains(text) == true, "\(e?.description ?? "accepted")", sourceLocation: sourceLocation)
        }
        broken({ put32(&$0, pack, 2) }, "version 2 is not supported")
        broken({ put32(&$0, pack + 4, 0xFFFF_FFFF) }, "exceeds")
        broken({ put64(&$0, entry0 + 48, u64(bytes, entry0 + 48) + 4) }, "not 64-byte aligned")
        broken({ put64(&$0, entry1 + 48, u64(bytes, entry0 + 48)) }, "overlaps another or lies outside")
        broken({ put64(&$0, entry1 + 56, 1 << 20) }, "overlaps another or lies outside")
        broken({ put64(&$0, entry1 + 48, 0xFFFF_FFFF_FFFF_FFC0) }, "overlaps another or lies outside") // no overflow
        broken({ put64(&$0, entry1 + 56, u64(bytes, entry1 + 56) + 27) }, "followed by 64 bytes")       // eats its tail
        broken({ put32(&$0, entry0 + 44, 1) }, "non-zero reserved")
        broken({ put32(&$0, entry1 + 36, 5) }, "non-zero reserved")         // a bias CRC without the flag
        broken({ put32(&$0, entry0 + 12, 0) }, "impossible geometry")        // in_c 0
        broken({ put32(&$0, entry0 + 28, 4) }, "impossible geometry")        // groups > in_c
        // Marked required: packed variants are a cache and must stay optional.
        var b = bytes
        put32(&b, section(bytes, "PACK").entryOffset + 4, 1)
        reseal(&b)
        #expect(refused(b)?.description.contains("must be optional") == true)
    }

    @Test func hugeCountsAreRefusedBeforeAllocating() throws {
        let bytes = try ModelFile.encode(sampleModel())

        var b = bytes
        put32(&b, section(b, "GRPH").offset, 0xFFFF_FFFF)
        reseal(&b)
        var e = refused(b)
        #expect(e?.kind == .limit && e?.section == "GRPH")
        #expect(e?.description.contains("node count 4294967295 exceeds") == true)

        b = bytes
        put32(&b, section(b, "GRPH").offset, 60000)        // under the limit, but no room for it
        reseal(&b)
        e = refused(b)
        #expect(e?.kind == .truncated && e?.description.contains("node count 60000 needs") == true)

        b = bytes
        put32(&b, section(b, "TDIR").offset, 0x7FFF_FFFF)
        reseal(&b)
        e = refused(b)
        #expect(e?.section == "TDIR" && e?.description.contains("tensor count") == true)

        b = bytes
        let summary = firstIndex(of: Array("SUMMARY_BETA".utf8), in: b)!
        put32(&b, summary + 12, 0x00FF_FFFF)
        reseal(&b)
        e = refused(b)
        #expect(e?.section == "TASK" && e?.description.contains("label (task 'beta') count 16777215") == true)

        b = bytes
        put32(&b, 28, 100_000)                            // section count
        reseal(&b)
        #expect(refused(b)?.description.contains("section count 100000 exceeds") == true)

        b = bytes
        let name = firstIndex(of: Array("conv1".utf8), in: b)!
        put32(&b, name - 4, 0x7FFF_0000)                  // string length
        reseal(&b)
        e = refused(b)
        #expect(e?.kind == .limit && e?.section == "GRPH" && e?.node == 1)
        #expect(e?.description.contains("bytes long (limit 4096)") == true)
    }

    @Test func hostileSectionTable() throws {
        let bytes = try ModelFile.encode(sampleModel())
        let graph = section(bytes, "GRPH"), input = section(bytes, "INPT")

        var b = bytes
        put64(&b, graph.entryOffset + 8, UInt64.max - 10)
        reseal(&b)
        var e = refused(b)
        #expect(e?.kind == .layout && e?.section == "GRPH" && e?.description.contains("overflows") == true)

        b = bytes
        put64(&b, graph.entryOffset + 16, UInt64(bytes.count))
        reseal(&b)
        #expect(refused(b)?.description.contains("lie outside the file") == true)

        b = bytes
        put64(&b, input.entryOffset + 8, UInt64(graph.offset))
        reseal(&b)
        e = refused(b)
        #expect(e?.kind == .layout && e?.description.contains("overlap") == true)
        #expect(e?.description.contains("INPT") == true && e?.description.contains("GRPH") == true)

        b = bytes
        put64(&b, input.entryOffset + 8, 8)
        reseal(&b)
        #expect(refused(b)?.description.contains("overlap the header") == true)

        b = bytes
        put64(&b, input.entryOffset + 8, 80)
        reseal(&b)
        #expect(refused(b)?.description.contains("overlap the section table") == true)

        b = bytes
        b[input.entryOffset] = UInt8(ascii: "G")
        b[input.entryOffset + 1] = UInt8(ascii: "R")
        b[input.entryOffset + 2] = UInt8(ascii: "P")
        b[input.entryOffset + 3] = UInt8(ascii: "H")
        reseal(&b)
        #expect(refused(b)?.description.contains("more than once") == true)

        b = bytes
        b[graph.offset + 20] ^= 0x40
        e = refused(b)
        #expect(e?.kind == .checksum && e?.section == "GRPH")
    }

    @Test func hostileTensorDirectory() throws {
        let bytes = try ModelFile.encode(sampleModel())
        let field = tensorOffsetField(bytes, index: 1)
        let original = u64(bytes, field)

        var b = bytes
        put64(&b, field, 64)                              // aligned, but in the header
        reseal(&b)
        var e = refused(b)
        #expect(e?.kind == .layout && e?.section == "TDIR")
        #expect(e?.description.contains("tensor 'conv1.bias' (offset 64, 24 bytes) lies outside the tensor data section") == true)

        b = bytes
        put64(&b, field, UInt64(bytes.count))
        reseal(&b)
        #expect(refused(b)?.description.contains("outside the tensor data section") == true)

        b = bytes
        put64(&b, field, original + 4)
        reseal(&b)
        e = refused(b)
        #expect(e?.description.contains("tensor 'conv1.bias' at offset \(original + 4) is not 64-byte aligned") == true)

        b = bytes
        put64(&b, field, original - 64)                   // overlaps conv1.weight
        reseal(&b)
        #expect(refused(b)?.description.contains("overlaps or precedes tensor 'conv1.weight'") == true)

        b = bytes
        put64(&b, field + 8, 28)                          // byte size disagrees with the shape
        reseal(&b)
        #expect(refused(b)?.description.contains("byte size of 28") == true)
    }

    @Test func hostileStringsAndOps() throws {
        let bytes = try ModelFile.encode(sampleModel())
        var b = bytes
        let name = firstIndex(of: Array("conv1".utf8), in: b)!
        b[name + 2] = 0xFF
        reseal(&b)
        var e = refused(b)
        #expect(e?.kind == .malformed && e?.section == "GRPH" && e?.node == 1)
        #expect(e?.description.contains("not valid UTF-8") == true)

        b = bytes
        let label = firstIndex(of: Array("émeu".utf8), in: b)!
        b[label + 1] = 0x41                               // breaks the two-byte sequence for "é"
        reseal(&b)
        e = refused(b)
        #expect(e?.section == "TASK" && e?.description.contains("label 2 of task 'alpha' is not valid UTF-8") == true)

        b = bytes
        b[name + 5 + 4 + Int(u32(b, name + 5))] = 200  // op code after the layer name
        reseal(&b)
        e = refused(b)
        #expect(e?.node == 1 && e?.description.contains("unknown op code 200") == true)
    }

    @Test func graphCyclesAndForwardReferencesAreRefused() throws {
        var model = sampleModel()
        model.nodes[2].inputs = [ValueRef(3)]             // pool1 ← slices ← pool1: a cycle
        var e = refused(ModelWriter.encode(model))
        #expect(e?.kind == .invalidModel)
        #expect(e?.description.contains("node 'pool1' reads node 3, which is not an earlier node") == true)

        model = sampleModel()
        model.nodes[4].inputs = [ValueRef(4)]             // reads itself
        e = refused(ModelWriter.encode(model))
        #expect(e?.modelError?.message.contains("'bn' reads node 4") == true)

        model = sampleModel()
        model.nodes[5].inputs = [ValueRef(1_000_000)]     // far forward
        e = refused(ModelWriter.encode(model))
        #expect(e?.description.contains("reads node 1000000") == true)

        model = sampleModel()
        model.tasks[1].output = 77
        e = refused(ModelWriter.encode(model))
        #expect(e?.description.contains("task 'beta' names output node 77") == true)
    }

    @Test func atomicWrite() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default

        // A missing directory: an I/O error naming the path, and nothing created.
        let missing = dir + "/no/such/dir/m.mtz"
        let e = #expect(throws: FormatError.self) { try ModelFile.write(sampleModel(), to: missing) }
        #expect(e?.kind == .io && e?.path == missing && e?.description.contains("'\(dir)/no/such/dir' is not an existing folder") == true)
        #expect(try fm.contentsOfDirectory(atPath: dir).isEmpty)

        // The rename fails (the destination is a directory): the temp file is removed.
        let blocker = dir + "/blocker.mtz"
        try fm.createDirectory(atPath: blocker + "/inside", withIntermediateDirectories: true)
        #expect(throws: FormatError.self) { try ModelFile.write(sampleModel(), to: blocker) }
        #expect(try fm.contentsOfDirectory(atPath: dir) == ["blocker.mtz"])

        // Overwriting replaces the whole file, with no leftovers.
        let path = dir + "/m.mtz"
        var big = sampleModel()
        big.metadata["padding"] = String(repeating: "p", count: 100_000)
        try ModelFile.write(big, to: path)
        try ModelFile.write(allOpsModel(), to: path)
        let written = try #require(fm.contents(atPath: path))
        #expect(Array(written) == (try ModelFile.encode(allOpsModel())))
        expectEqual(try ModelFile.read(contentsOf: path), allOpsModel())
        #expect(try fm.contentsOfDirectory(atPath: dir).sorted() == ["blocker.mtz", "m.mtz"])

        // A relative path (no directory part) also works.
        let cwd = fm.currentDirectoryPath
        #expect(fm.changeCurrentDirectoryPath(dir))
        defer { _ = fm.changeCurrentDirectoryPath(cwd) }
        try ModelFile.write(allOpsModel(), to: "rel.mtz")
        #expect(fm.fileExists(atPath: dir + "/rel.mtz"))
    }

    @Test func readRefusesBadPaths() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var e = #expect(throws: FormatError.self) { try ModelFile.read(contentsOf: dir) }
        #expect(e?.description.contains("is a directory") == true)

        let empty = dir + "/empty.mtz"
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        e = #expect(throws: FormatError.self) { try ModelFile.read(contentsOf: empty) }
        #expect(e?.description == "\(empty): is empty (0 bytes)")

        e = #expect(throws: FormatError.self) { try ModelFile.read(contentsOf: dir + "/absent.mtz") }
        #expect(e?.kind == .io && e?.description.contains("No such file or directory") == true)

        let junk = dir + "/junk.mtz"
        #expect(FileManager.default.createFile(atPath: junk, contents: Data(repeating: 7, count: 100)))
        e = #expect(throws: FormatError.self) { try ModelFile.read(contentsOf: junk) }
        #expect(e?.kind == .notAModel && e?.path == junk)
    }
}
