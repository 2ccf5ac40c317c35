/// Convolution weights already in a runtime kernel's packed layout, stored in a model file's optional
/// `PACK` section so that loading maps them instead of packing them (layout in `docs/FORMAT.md`).
///
/// A variant is found by content, not by node: it records the geometry it was packed for, the
/// kernel family (ISA, algorithm, layout version) and the CRC-32 of the weights and bias it was
/// packed from, so a runtime uses it only for a convolution whose weights are exactly those. Models
/// that are changed and written again (training, zipping) simply carry no variants: `Model` does not
/// hold them, only `ModelFile.readWithPackedWeights` returns them.
public struct PackedWeights: Sendable {
    /// The kernel family: an ISA code (`mtz_isa`), an algorithm code (0 GEMM, 1 depthwise,
    /// 2 Winograd) and the packer's layout version; the runtime defines the values.
    public var isa: UInt32
    public var algorithm: UInt32
    public var layout: UInt32
    /// The convolution geometry the weights were packed for.
    public var inChannels: Int
    public var outChannels: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var groups: Int
    /// CRC-32 of the source weights' float32 bytes, and of the bias (nil: packed without a bias).
    public var weightCRC: UInt32
    public var biasCRC: UInt32?
    /// The packed floats (mapped from the file when read with `readWithPackedWeights`).
    public var values: FloatStorage

    public init(isa: UInt32, algorithm: UInt32, layout: UInt32, inChannels: Int, outChannels: Int, kernelHeight: Int,
                kernelWidth: Int, groups: Int, weightCRC: UInt32, biasCRC: UInt32?, values: FloatStorage) {
        self.isa = isa
        self.algorithm = algorithm
        self.layout = layout
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.groups = groups
        self.weightCRC = weightCRC
        self.biasCRC = biasCRC
        self.values = values
    }

    /// CRC-32 of `values`' float32 bytes (little-endian), as stored in `weightCRC` / `biasCRC`.
    public static func crc(of values: FloatStorage) -> UInt32 {
        values.withUnsafeBufferPointer { CRC32.checksum(UnsafeRawBufferPointer($0)) }
    }
}

/// Encoding of the `PACK` section: a version, the entries, then each variant's floats, 64-byte
/// aligned in the file and followed by at least 64 bytes of the section (zero padding), because
/// the kernels may load a vector past a packed buffer's last float, as they may past the buffers
/// they pack at load (`AlignedBuffer`'s tail).
enum PackedWeightsSection {
    static let version: UInt32 = 1
    static let entrySize = 64
    static let maxEntries = 4096
    static let tailBytes = 64

    /// The section's bytes; offsets are relative to the section start, which the writer places at a
    /// multiple of 64 in the file.
    static func encode(_ variants: [PackedWeights]) -> [UInt8] {
        let alignment = ModelFileLayout.tensorAlignment
        var w = ByteWriter()
        w.u32(version)
        w.u32(variants.count)
        var offset = ModelWriter.alignUp(8 + variants.count * entrySize, alignment)
        var offsets: [Int] = []
        for v in variants {
            offsets.append(offset)
            offset = ModelWriter.alignUp(offset + 4 * v.values.count + tailBytes, alignment)
        }
        for (v, at) in zip(variants, offsets) {
            for field in [v.isa, v.algorithm, v.layout, UInt32(v.inChannels), UInt32(v.outChannels), UInt32(v.kernelHeight),
                          UInt32(v.kernelWidth), UInt32(v.groups), v.weightCRC, v.biasCRC ?? 0, v.biasCRC == nil ? 0 : 1, 0] {
                w.u32(field)
            }
            w.u64(UInt64(at))
            w.u64(UInt64(v.values.count))
        }
        for (v, at) in zip(variants, offsets) {
            w.append(contentsOf: repeatElement(0, count: at - w.count))
            w.floats(v.values)
        }
        w.append(contentsOf: repeatElement(0, count: offset - w.count)) // the last variant's tail
        return w.bytes
    }

    /// Decodes and checks the section read by `r` (which must start 64-byte aligned in the file);
    /// floats borrow from `owner` when given.
    static func decode(_ r: inout ByteReader, owner: (any ByteRegionOwner)?) throws(FormatError) -> [PackedWeights] {
        let versionAt = r.position
        let v = try r.u32("the packed weights version")
        guard v == version else {
            throw r.error(.malformed, "packed weights version \(v) is not supported (only \(version))", at: versionAt)
        }
        let n = try r.count("packed weight variant", limit: maxEntries, minBytesEach: entrySize)
        let start = UInt64(r.start), end = UInt64(r.end)
        var result: [PackedWeights] = []
        result.reserveCapacity(n)
        var previousEnd = start + UInt64(8 + n * entrySize)
        for i in 0..<n {
            let entryAt = r.position
            var f: [UInt32] = []
            for _ in 0..<12 { f.append(try r.u32("a field of packed weight variant \(i)")) }
            let offset = try r.u64("the offset of packed weight variant \(i)")
            let count = try r.u64("the float count of packed weight variant \(i)")
            guard f[10] <= 1, f[11] == 0, f[10] == 1 || f[9] == 0 else {
                throw r.error(.malformed, "packed weight variant \(i) has unknown flags or non-zero reserved fields", at: entryAt + 36)
            }
            let channels = 1...UInt32(ModelLimits.maxWeightElements), kernel = 1...UInt32(ModelLimits.maxWindowParameter)
            guard channels.contains(f[3]), channels.contains(f[4]), kernel.contains(f[5]), kernel.contains(f[6]),
                  f[7] >= 1, f[7] <= f[3] else {
                throw r.error(.malformed, "packed weight variant \(i) has an impossible geometry \(f[3...7].map { $0 })", at: entryAt + 12)
            }
            guard offset % UInt64(ModelFileLayout.tensorAlignment) == 0, r.start % ModelFileLayout.tensorAlignment == 0 else {
                throw r.error(.layout, "packed weight variant \(i) at offset \(offset) is not 64-byte aligned", at: entryAt + 48)
            }
            // Compared before adding, so that no sum can overflow.
            guard offset <= end - start, count <= UInt64(ModelLimits.maxWeightElements), start + offset >= previousEnd,
                  4 * count + UInt64(tailBytes) <= end - (start + offset) else {
                throw r.error(.layout, "packed weight variant \(i) (offset \(offset), \(count) floats) overlaps another or lies outside the section (each is followed by \(tailBytes) bytes of it)", at: entryAt + 48)
            }
            let absolute = start + offset
            previousEnd = absolute + 4 * count
            let values: FloatStorage
            if let owner {
                values = FloatStorage(owner: owner, byteOffset: Int(absolute), count: Int(count))
            } else {
                values = FloatStorage(r.floats(at: Int(absolute), count: Int(count)))
            }
            result.append(PackedWeights(isa: f[0], algorithm: f[1], layout: f[2], inChannels: Int(f[3]), outChannels: Int(f[4]),
                                        kernelHeight: Int(f[5]), kernelWidth: Int(f[6]), groups: Int(f[7]), weightCRC: f[8],
                                        biasCRC: f[10] == 1 ? f[9] : nil, values: values))
        }
        return result
    }
}
