#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed-size, zero-initialised, 64-byte aligned block of floats that owns its memory.
///
/// The one place in the runtime that allocates raw memory. Pointers are lent through closures or
/// used only by the type that owns the buffer for the duration of a call.
package final class AlignedBuffer: @unchecked Sendable {
    /// Number of floats.
    package let count: Int
    private let base: UnsafeMutablePointer<Float>

    /// Allocates `count` floats (at least one), or throws if the memory cannot be had.
    /// - Parameter zeroed: zero the floats (the default); pass `false` only when the caller
    ///   overwrites all of them before any read (weight packing), which saves touching the pages twice.
    package init(count: Int, zeroed: Bool = true) throws(RuntimeError) {
        let n = max(count, 1)
        guard n <= Int.max / 4 - 64 else { throw RuntimeError.outOfMemory(bytes: n) }
        var raw: UnsafeMutableRawPointer?
        // 64 bytes of tail padding so vector loads at the very end stay inside the allocation.
        guard posix_memalign(&raw, 64, n * 4 + 64) == 0, let raw else { throw RuntimeError.outOfMemory(bytes: n * 4) }
        if zeroed {
            memset(raw, 0, n * 4 + 64)
        } else {
            memset(raw + n * 4, 0, 64)
        }
        self.count = n
        self.base = raw.bindMemory(to: Float.self, capacity: n + 16)
    }

    deinit { free(base) }

    /// The start of the buffer. Valid while `self` is alive; callers keep `self` alive across use.
    package var pointer: UnsafeMutablePointer<Float> { base }

    /// Copies `values` in at `offset`.
    package func store(_ values: UnsafeBufferPointer<Float>, at offset: Int = 0) {
        precondition(offset >= 0 && offset + values.count <= count)
        guard let src = values.baseAddress else { return }
        (base + offset).update(from: src, count: values.count)
    }
}
