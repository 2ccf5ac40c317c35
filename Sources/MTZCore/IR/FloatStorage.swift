/// Read-only float32 values, either owned or borrowed from a memory-mapped file that the storage
/// keeps alive.
///
/// Pointers are only lent out through `withUnsafeBufferPointer`; nothing stores them.
public struct FloatStorage: Sendable {
    @usableFromInline
    enum Backing: Sendable {
        case owned([Float])
        case mapped(owner: any ByteRegionOwner, byteOffset: Int, count: Int)
    }

    @usableFromInline
    let backing: Backing

    /// Owned values.
    public init(_ values: [Float]) { backing = .owned(values) }

    /// `count` floats at `byteOffset` (4-byte aligned) inside `owner`'s bytes, which must hold them.
    public init(owner: any ByteRegionOwner, byteOffset: Int, count: Int) {
        precondition(byteOffset >= 0 && count >= 0 && byteOffset % 4 == 0 && byteOffset + 4 * count <= owner.byteCount,
                     "FloatStorage outside its region")
        backing = .mapped(owner: owner, byteOffset: byteOffset, count: count)
    }

    /// Number of floats.
    public var count: Int {
        switch backing {
        case .owned(let a): a.count
        case .mapped(_, _, let n): n
        }
    }

    /// Lends the values as a buffer pointer for the duration of `body`.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        switch backing {
        case .owned(let a):
            return try a.withUnsafeBufferPointer(body)
        case .mapped(let owner, let offset, let n):
            return try owner.withUnsafeBytes { raw in
                let p = raw.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Float.self)
                return try body(UnsafeBufferPointer(start: p, count: n))
            }
        }
    }

    /// Where mapped values live: their owner and byte offset in it; nil for owned values. A runtime
    /// that keeps `owner` alive may read the values in place for as long as it does (the owner's
    /// region is stable, see `ByteRegionOwner`).
    public var mappedRegion: (owner: any ByteRegionOwner, byteOffset: Int)? {
        switch backing {
        case .owned: nil
        case .mapped(let owner, let offset, _): (owner, offset)
        }
    }

    /// A copy of the values as an array.
    public var array: [Float] {
        switch backing {
        case .owned(let a): a
        case .mapped: withUnsafeBufferPointer { Array($0) }
        }
    }
}

/// Something that owns a stable region of bytes (e.g. a memory-mapped file) for its lifetime: the
/// bytes neither move nor change while the owner is alive.
public protocol ByteRegionOwner: AnyObject, Sendable {
    /// Number of bytes in the region.
    var byteCount: Int { get }
    /// Lends the region's bytes for the duration of `body`.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}
