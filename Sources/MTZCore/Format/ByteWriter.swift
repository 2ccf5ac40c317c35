/// An append-only little-endian byte buffer for building `.mtz` files.
struct ByteWriter {
    /// The bytes written so far.
    private(set) var bytes: [UInt8] = []

    /// Creates an empty writer.
    init() {}

    /// Number of bytes written so far.
    var count: Int { bytes.count }

    /// Appends one byte.
    mutating func u8(_ v: UInt8) { bytes.append(v) }

    /// Appends a little-endian `UInt16`.
    mutating func u16(_ v: UInt16) { appendLittleEndian(UInt64(v), byteCount: 2) }

    /// Appends a little-endian `UInt32`.
    mutating func u32(_ v: UInt32) { appendLittleEndian(UInt64(v), byteCount: 4) }

    /// Appends a little-endian `UInt64`.
    mutating func u64(_ v: UInt64) { appendLittleEndian(v, byteCount: 8) }

    /// Appends a non-negative `Int` as a `UInt32`. Values outside `0...UInt32.max` are truncated
    /// (the model is validated before encoding, so they do not occur; tests use this to craft files).
    mutating func u32(_ v: Int) { u32(UInt32(truncatingIfNeeded: v)) }

    /// Appends an optional index: the index, or `0xFFFFFFFF` for `nil`.
    mutating func optionalU32(_ v: Int?) { u32(v.map { UInt32(truncatingIfNeeded: $0) } ?? ModelFileLayout.none) }

    /// Appends a `Float` as its little-endian IEEE 754 bit pattern.
    mutating func f32(_ v: Float) { u32(v.bitPattern) }

    /// Appends a `u32` byte length followed by the UTF-8 bytes of `s`.
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(utf8.count)
        bytes.append(contentsOf: utf8)
    }

    /// Appends raw bytes.
    mutating func append<S: Sequence>(contentsOf other: S) where S.Element == UInt8 {
        bytes.append(contentsOf: other)
    }

    /// Appends float32 values in little-endian order.
    mutating func floats(_ values: FloatStorage) {
        values.withUnsafeBufferPointer { buffer in
            bytes.reserveCapacity(bytes.count + 4 * buffer.count)
            for v in buffer { u32(v.bitPattern) }
        }
    }

    /// Appends zero bytes until `count` is a multiple of `alignment`.
    mutating func pad(toMultipleOf alignment: Int) {
        let rem = bytes.count % alignment
        if rem != 0 { bytes.append(contentsOf: repeatElement(0, count: alignment - rem)) }
    }

    /// Overwrites four bytes at `offset` with a little-endian `UInt32`.
    mutating func setU32(_ v: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }

    private mutating func appendLittleEndian(_ v: UInt64, byteCount: Int) {
        for i in 0..<byteCount { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
}
