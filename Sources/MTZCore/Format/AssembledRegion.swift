/// The memory the reader builds assembled tensors' values in (`WeightAssembly`, the `ASMB`
/// section): one block, every tensor 64-byte aligned and followed by at least 64 zero bytes, as in
/// a mapped file. A runtime can then read them in place like mapped weights instead of copying them
/// into aligned buffers of its own.
final class AssembledRegion: ByteRegionOwner, @unchecked Sendable {
    let byteCount: Int
    private let base: UnsafeMutableRawPointer

    /// Where each of `counts` floats lands (byte offsets), and the region's size.
    static func layout(_ counts: [Int]) -> (offsets: [Int], byteCount: Int) {
        var offsets: [Int] = []
        var cursor = 0
        for n in counts {
            offsets.append(cursor)
            cursor += (4 * n + 64 + 63) / 64 * 64
        }
        return (offsets, cursor)
    }

    /// A zeroed region of `byteCount` bytes.
    init(byteCount: Int) {
        self.byteCount = byteCount
        base = .allocate(byteCount: max(byteCount, 1), alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }

    deinit { base.deallocate() }

    /// `count` floats at `byteOffset`, to be filled once while the region is being built.
    func floats(at byteOffset: Int, count: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(byteOffset % 64 == 0 && byteOffset + 4 * count <= byteCount)
        return UnsafeMutableBufferPointer(start: (base + byteOffset).assumingMemoryBound(to: Float.self), count: count)
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: byteCount))
    }
}
