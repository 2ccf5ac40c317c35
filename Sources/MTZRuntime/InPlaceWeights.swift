import MTZCore

/// A weight tensor as the kernels read it without repacking: a pointer into the memory-mapped model
/// file (whose mapping this object keeps alive), or into one aligned copy when the model's weights
/// live in ordinary arrays (a model built or imported in memory).
package final class InPlaceWeights: @unchecked Sendable {
    /// The first float; valid while `self` is alive.
    package let pointer: UnsafePointer<Float>
    /// Number of floats.
    package let count: Int
    /// Floats copied because the values were not mapped (0 when read in place).
    package let copiedCount: Int
    /// The mapping's owner, or the copy: whatever `pointer` points into.
    private let keepAlive: AnyObject

    /// Weights packed at load: the buffer is kept alive and read in place.
    package init(packed buffer: AlignedBuffer) {
        pointer = UnsafePointer(buffer.pointer)
        count = buffer.count
        copiedCount = buffer.count
        keepAlive = buffer
    }

    package init(_ values: FloatStorage) throws(RuntimeError) {
        count = values.count
        if let (owner, offset) = values.mappedRegion {
            // The owner's region is stable for its lifetime (ByteRegionOwner), and we keep it alive.
            pointer = owner.withUnsafeBytes { UnsafeRawPointer($0.baseAddress!).advanced(by: offset).assumingMemoryBound(to: Float.self) }
            keepAlive = owner
            copiedCount = 0
        } else {
            let copy = try AlignedBuffer(count: values.count, zeroed: false)
            values.withUnsafeBufferPointer { copy.store($0) }
            pointer = UnsafePointer(copy.pointer)
            keepAlive = copy
            copiedCount = values.count
        }
    }
}
