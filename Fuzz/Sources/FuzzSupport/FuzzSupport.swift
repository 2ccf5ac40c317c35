import MTZCore
import MTZRuntime

/// Helpers shared by the fuzz targets. Everything here must itself be free of traps: a trap in the
/// harness would be reported as a finding in the code under test.
public enum FuzzSupport {
    /// Runs a model the way an application would: prepare it for inference, make a session, run once
    /// on zeros. Errors are fine (they are the expected outcome for most inputs); traps, memory
    /// errors and absurd allocations are findings.
    ///
    /// Models that decode but would take long to *run* (many FLOPs or large activations) are only
    /// prepared, not run: they are legitimate, merely too slow for thousands of executions a second.
    public static func loadAndRun(_ model: Model, packedWeights: [PackedWeights] = []) {
        guard let loaded = try? InferenceModel(model, packedWeights: packedWeights) else { return }
        guard isCheapToRun(loaded) else { return }
        guard let session = try? loaded.makeSession() else { return }
        let zeros = [Float](repeating: 0, count: loaded.inputCount)
        _ = try? session.run(input: zeros)
    }

    /// Whether one run of `loaded` stays within a budget that keeps fuzzing fast.
    static func isCheapToRun(_ loaded: InferenceModel) -> Bool {
        let values = loaded.shapes.reduce(0) { $0 + $1.elementCount }
        guard values <= 1 << 22 else { return false }
        var flops = 0
        for i in loaded.model.nodes.indices {
            flops += ModelStatistics.flops(of: i, in: loaded.model, shapes: loaded.shapes)
            if flops > 1 << 26 { return false }
        }
        return true
    }

    /// A copy of `.mtz` bytes whose file size field and CRCs are recomputed, so that mutations reach
    /// the section decoders instead of stopping at a checksum. Offsets follow docs/FORMAT.md; the
    /// header fields that locate the section table are trusted only as far as they are in bounds.
    public static func repairingChecksums(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        let headerSize = 64, entrySize = 32
        guard bytes.count >= headerSize else { return bytes }
        store64(UInt64(bytes.count), at: 16, in: &bytes)
        let count = Int(load32(at: 28, in: bytes))
        let table = load64(at: 32, in: bytes)
        if count <= 64, table <= UInt64(bytes.count), UInt64(count * entrySize) <= UInt64(bytes.count) - table {
            let tableStart = Int(table)
            for i in 0..<count {
                let entry = tableStart + i * entrySize
                let offset = load64(at: entry + 8, in: bytes), size = load64(at: entry + 16, in: bytes)
                if offset <= UInt64(bytes.count), size <= UInt64(bytes.count) - offset {
                    let section = Int(offset)..<Int(offset + size)
                    store32(crc32(bytes[section]), at: entry + 24, in: &bytes)
                }
            }
            store32(crc32(bytes[tableStart..<(tableStart + count * entrySize)]), at: 44, in: &bytes)
        }
        store32(crc32(bytes[0..<60]), at: 60, in: &bytes)
        return bytes
    }

    // MARK: Little-endian fields and CRC-32 (IEEE), written out here so that the harness does not
    // depend on the reader's internals it is testing.

    static func load32(at offset: Int, in bytes: [UInt8]) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    static func load64(at offset: Int, in bytes: [UInt8]) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }

    static func store32(_ value: UInt32, at offset: Int, in bytes: inout [UInt8]) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    static func store64(_ value: UInt64, at offset: Int, in bytes: inout [UInt8]) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    static let crcTable: [UInt32] = (0..<256).map { (n: UInt32) in
        (0..<8).reduce(n) { c, _ in c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }

    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        ~bytes.reduce(~UInt32(0)) { crcTable[Int(($0 ^ UInt32($1)) & 0xFF)] ^ ($0 >> 8) }
    }

    /// The input of a fuzz call as an array.
    public static func bytes(_ data: UnsafePointer<UInt8>, _ count: Int) -> [UInt8] {
        Array(UnsafeBufferPointer(start: data, count: count))
    }
}
