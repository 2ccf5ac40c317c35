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

    /// Eight 256-entry tables for slicing-by-8: `slices[k*256 + n]` is the CRC contribution of byte
    /// value `n` followed by `k` zero bytes (`slices[0..<256]` is `table`).
    static let slices: [UInt32] = {
        var s = table + [UInt32](repeating: 0, count: 7 * 256)
        for k in 1..<8 {
            for n in 0..<256 {
                let prev = s[(k - 1) * 256 + n]
                s[k * 256 + n] = (prev >> 8) ^ table[Int(prev & 0xFF)]
            }
        }
        return s
    }()

    /// The CRC-32 of raw memory (what the reader checks every section with), eight bytes per step
    /// (slicing-by-8): about 5× the byte-at-a-time speed, which makes it a small part of loading a
    /// model rather than most of it.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        let n = bytes.count
        var c = start
        var i = 0
        slices.withUnsafeBufferPointer { t in
            while i + 8 <= n {
                let lo = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ c
                let hi = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        return finish(c)
    }
}
