/// Constants of the `.mtz` byte layout, in one place. `docs/FORMAT.md` describes them in prose.
enum ModelFileLayout {
    /// The 8-byte magic: `\x89 M T Z \r \n \x1A \n` (catches 7-bit and line-ending mangling, like PNG).
    static let magic: [UInt8] = [0x89, 0x4D, 0x54, 0x5A, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The major version this code writes and reads. A reader refuses a file with a newer major.
    static let versionMajor: UInt16 = 1
    /// The minor version this code writes for a file without assembled tensors: 1.0, which every
    /// 1.x reader reads.
    static let versionMinorPlain: UInt16 = 0
    /// The minor version of a file with an `ASMB` section (1.1). The section is marked required, so
    /// a 1.0 reader refuses such a file by name instead of misreading it.
    static let versionMinorAssemblies: UInt16 = 1

    /// Header flags understood by this reader (none are defined in 1.0; any set bit is refused).
    static let knownHeaderFlags: UInt32 = 0

    /// Size of the fixed header in bytes.
    static let headerSize = 64
    /// Size of one section table entry in bytes.
    static let sectionEntrySize = 32
    /// Alignment of every section's start (the tensor data section uses `tensorAlignment`).
    static let sectionAlignment = 8
    /// Alignment of every tensor's first byte, relative to the file start.
    static let tensorAlignment = 64

    /// Byte offsets of the header fields.
    enum Header {
        static let magic = 0            // 8 bytes
        static let versionMajor = 8     // u16
        static let versionMinor = 10    // u16
        static let flags = 12           // u32
        static let fileSize = 16        // u64
        static let headerSize = 24      // u32
        static let sectionCount = 28    // u32
        static let tableOffset = 32     // u64
        static let entrySize = 40       // u32
        static let tableCRC = 44        // u32: CRC32 of the section table bytes
        // 48..<60 reserved, zero
        static let headerCRC = 60       // u32: CRC32 of header bytes 0..<60
    }

    /// Byte offsets of the fields of one section table entry.
    enum Entry {
        static let kind = 0             // 4 ASCII bytes
        static let flags = 4            // u32
        static let offset = 8           // u64, from the file start
        static let size = 16            // u64
        static let crc = 24             // u32: CRC32 of the section bytes
        // 28..<32 reserved, zero
    }

    /// Section flag: a reader that does not know the section kind must refuse the file.
    static let sectionRequired: UInt32 = 1

    /// Sentinel for "no index" (no bias) and "all remaining channels" in 32-bit fields.
    static let none: UInt32 = 0xFFFF_FFFF

    /// Tensor element type codes of the tensor directory.
    enum DType {
        /// IEEE 754 binary32, little-endian.
        static let f32: UInt8 = 1
    }
}

/// Limits the reader enforces before allocating anything (in addition to `ModelLimits`).
enum FormatLimits {
    /// Maximum number of sections in the table.
    static let maxSections = 64
    /// Maximum UTF-8 bytes of a name: node, layer, tensor, task, label, metadata key.
    static let maxNameBytes = 4096
    /// Maximum UTF-8 bytes of a free text: metadata value, task summary.
    static let maxTextBytes = 1 << 20
    /// Maximum number of metadata entries.
    static let maxMetadataEntries = 4096
    /// Maximum number of inputs of one node.
    static let maxNodeInputs = 1024
    /// Maximum number of labels of one task.
    static let maxLabels = 1 << 20
    /// Maximum mean/std entries in the input spec.
    static let maxInputChannels = 16
}

/// A section kind: four ASCII characters stored as their bytes, e.g. `GRPH`.
struct SectionKind: Hashable, Sendable, CustomStringConvertible {
    /// The four bytes as a little-endian `UInt32` (first character in the low byte).
    let rawValue: UInt32

    /// Wraps a raw code as read from the file.
    init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Makes a code from exactly four ASCII characters.
    init(_ code: StaticString) {
        precondition(code.utf8CodeUnitCount == 4, "a section kind has four characters")
        var v: UInt32 = 0
        code.withUTF8Buffer { b in for i in 0..<4 { v |= UInt32(b[i]) << (8 * UInt32(i)) } }
        rawValue = v
    }

    /// The four characters, or a hex code when they are not printable ASCII.
    var description: String {
        let bytes = (0..<4).map { UInt8(truncatingIfNeeded: rawValue >> (8 * UInt32($0))) }
        if bytes.allSatisfy({ (0x20...0x7E).contains($0) }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        return "0x" + String(rawValue, radix: 16)
    }

    /// Key/value metadata.
    static let metadata = SectionKind("META")
    /// The input spec.
    static let input = SectionKind("INPT")
    /// The node graph.
    static let graph = SectionKind("GRPH")
    /// Task heads and their labels.
    static let tasks = SectionKind("TASK")
    /// The tensor directory: name, dtype, shape, offset and size of every weight tensor.
    static let tensorDirectory = SectionKind("TDIR")
    /// Raw tensor data, each tensor 64-byte aligned.
    static let tensorData = SectionKind("TDAT")
    /// Weight tensors stored as assemblies of blocks of other tensors (`WeightAssembly`; 1.1).
    static let weightAssemblies = SectionKind("ASMB")
    /// Reserved: packed weight variants keyed by a kernel fingerprint (not written yet).
    static let packedWeights = SectionKind("PACK")
}

/// Operation codes of the graph section. The attribute encoding of each is in `docs/FORMAT.md`.
enum OpCode: UInt8 {
    case input = 0
    case conv2d = 1
    case fullyConnected = 2
    case activation = 3
    case maxPool = 4
    case averagePool = 5
    case globalAveragePool = 6
    case add = 7
    case concat = 8
    case flatten = 9
    case softmax = 10
    case batchNorm = 11
}
