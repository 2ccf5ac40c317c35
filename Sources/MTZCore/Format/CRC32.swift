/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by zlib, PNG and gzip.
///
/// Table-driven, one byte at a time; `CRC32.checksum("123456789".utf8) == 0xCBF43926`.
enum CRC32 {
    /// The 256-entry lookup table for the reflected IEEE polynomial.
    static let table: [UInt32] = (0..<256).map { (n: Int) -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 {
            c = (c & 1) != 0 ? (0xEDB8_8320 ^ (c >> 1)) : (c >> 1)
        }
        return c
    }

    /// The CRC-32 of `bytes`.
    static func checksum<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        finish(update(start, with: bytes))
    }

    /// The running value before any byte.
    static let start: UInt32 = 0xFFFF_FFFF

    /// Folds `bytes` into a running value.
    static func update<S: Sequence>(_ crc: UInt32, with bytes: S) -> UInt32 where S.Element == UInt8 {
        let t = table
        var c = crc
        for b in bytes {
            c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8)
        }
        return c
    }

    /// The checksum of a running value.
    static func finish(_ crc: UInt32) -> UInt32 { crc ^ 0xFFFF_FFFF }
}
