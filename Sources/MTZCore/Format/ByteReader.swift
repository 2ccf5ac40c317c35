/// A bounds-checked little-endian cursor over a range of borrowed bytes.
///
/// Every read throws `FormatError` (kind `.truncated`) instead of reading past `end`; counts are
/// checked against the remaining bytes and a limit before the caller allocates anything. The
/// reader borrows its bytes: it is only valid inside the `withUnsafeBytes` closure that lent them
/// and must not escape it. Offsets in errors are absolute (from the start of the lent bytes).
struct ByteReader {
    private let bytes: UnsafeRawBufferPointer
    /// First byte of the range this reader may read.
    let start: Int
    /// One past the last byte this reader may read.
    let end: Int
    /// Absolute offset of the next read.
    private(set) var position: Int
    /// Name of the section (or `header`/`section table`) for error messages.
    let section: String

    /// A reader over `range` of `bytes`; `range` must lie inside `bytes` (checked).
    init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>, section: String) {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "ByteReader range outside its bytes")
        self.bytes = bytes
        self.start = range.lowerBound
        self.end = range.upperBound
        self.position = range.lowerBound
        self.section = section
    }

    /// Number of bytes left to read.
    var remaining: Int { end - position }

    /// An error located at the current position.
    func error(_ kind: FormatError.Kind, _ message: String, at offset: Int? = nil, node: Int? = nil) -> FormatError {
        FormatError(kind, message, section: section, offset: offset ?? position, node: node)
    }

    private mutating func take(_ n: Int, _ what: String) throws(FormatError) -> Int {
        guard n >= 0, n <= remaining else {
            throw error(.truncated, "\(what) needs \(n) bytes, but only \(remaining) remain before byte \(end)")
        }
        let p = position
        position += n
        return p
    }

    /// Reads one byte.
    mutating func u8(_ what: String = "a byte field") throws(FormatError) -> UInt8 {
        let p = try take(1, what)
        return bytes[p]
    }

    /// Reads a little-endian `UInt16`.
    mutating func u16(_ what: String = "a 16-bit field") throws(FormatError) -> UInt16 {
        let p = try take(2, what)
        return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: p, as: UInt16.self))
    }

    /// Reads a little-endian `UInt32`.
    mutating func u32(_ what: String = "a 32-bit field") throws(FormatError) -> UInt32 {
        let p = try take(4, what)
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: p, as: UInt32.self))
    }

    /// Reads a little-endian `UInt64`.
    mutating func u64(_ what: String = "a 64-bit field") throws(FormatError) -> UInt64 {
        let p = try take(8, what)
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: p, as: UInt64.self))
    }

    /// Reads a little-endian IEEE 754 binary32.
    mutating func f32(_ what: String = "a float field") throws(FormatError) -> Float {
        Float(bitPattern: try u32(what))
    }

    /// Reads a `UInt32` as an `Int` (always in `0...UInt32.max`, so later arithmetic cannot overflow).
    mutating func int(_ what: String) throws(FormatError) -> Int {
        Int(try u32(what))
    }

    /// Reads an optional index: `0xFFFFFFFF` means `nil`.
    mutating func optionalInt(_ what: String) throws(FormatError) -> Int? {
        let v = try u32(what)
        return v == ModelFileLayout.none ? nil : Int(v)
    }

    /// Reads a `u32` element count and checks it against `limit` and against the bytes left, given
    /// that each element takes at least `minBytesEach` bytes. Call before reserving capacity.
    mutating func count(_ what: String, limit: Int, minBytesEach: Int) throws(FormatError) -> Int {
        let at = position
        let n = Int(try u32("the \(what) count"))
        guard n <= limit else {
            throw error(.limit, "\(what) count \(n) exceeds the limit of \(limit)", at: at)
        }
        guard n * minBytesEach <= remaining else {
            throw error(.truncated, "\(what) count \(n) needs at least \(n * minBytesEach) bytes, but only \(remaining) remain", at: at)
        }
        return n
    }

    /// Reads a `u32` length and that many bytes of valid UTF-8 (at most `maxBytes`).
    mutating func string(_ what: String, maxBytes: Int = FormatLimits.maxNameBytes) throws(FormatError) -> String {
        let at = position
        let n = Int(try u32("the length of \(what)"))
        guard n <= maxBytes else {
            throw error(.limit, "\(what) is \(n) bytes long (limit \(maxBytes))", at: at)
        }
        let p = try take(n, what)
        guard let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[p..<(p + n)]), as: UTF8.self) else {
            throw error(.malformed, "\(what) is not valid UTF-8", at: p)
        }
        return s
    }

    /// Skips `n` bytes.
    mutating func skip(_ n: Int, _ what: String = "reserved bytes") throws(FormatError) {
        _ = try take(n, what)
    }

    /// Moves to the absolute offset `offset`, which must lie in `start...end`.
    mutating func seek(to offset: Int) throws(FormatError) {
        guard offset >= start, offset <= end else {
            throw error(.truncated, "offset \(offset) lies outside \(start)..<\(end)")
        }
        position = offset
    }

    /// Throws unless every byte of the range has been read.
    func expectEnd() throws(FormatError) {
        guard remaining == 0 else {
            throw error(.malformed, "\(remaining) unexpected bytes at the end of the section")
        }
    }

    /// CRC-32 of the absolute byte range `range`, which must lie inside this reader's range.
    func crc32(of range: Range<Int>) -> UInt32 {
        precondition(range.lowerBound >= start && range.upperBound <= end, "CRC range outside the reader")
        return CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    /// Whether the bytes at `offset` equal `expected` (false when they do not fit).
    func bytesEqual(at offset: Int, _ expected: [UInt8]) -> Bool {
        guard offset >= start, offset <= end - expected.count else { return false }
        for (i, b) in expected.enumerated() where bytes[offset + i] != b { return false }
        return true
    }

    /// The absolute offset of the first non-zero byte in `range` (inside this reader's range), if any.
    func firstNonZeroByte(in range: Range<Int>) -> Int? {
        precondition(range.lowerBound >= start && range.upperBound <= end, "range outside the reader")
        return range.first { bytes[$0] != 0 }
    }

    /// A copy of `count` little-endian float32 values at the absolute offset `offset`, which must
    /// lie inside this reader's range (checked by the caller; a precondition here).
    func floats(at offset: Int, count: Int) -> [Float] {
        precondition(offset >= start && count >= 0 && count <= (end - offset) / 4, "float range outside the reader")
        // The host is little-endian (checked before decoding), so the bytes are the floats.
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 4 * count)]))
            initialized = count
        }
    }

    /// A reader over the absolute sub-range `range` (which must lie inside this reader's range).
    func subReader(_ range: Range<Int>, section: String) -> ByteReader {
        precondition(range.lowerBound >= start && range.upperBound <= end, "sub-range outside the reader")
        return ByteReader(bytes, range: range, section: section)
    }
}
