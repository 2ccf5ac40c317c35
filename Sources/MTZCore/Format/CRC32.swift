import CMTZChecksum

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by zlib, PNG and gzip:
/// `CRC32.checksum("123456789".utf8) == 0xCBF43926`.
///
/// The reader checks every byte of a file with it, weights included, so it runs at memory speed:
/// the C implementation (`CMTZChecksum`) folds with carry-less multiplication on x86, uses the CRC32
/// instructions on ARMv8 and falls back to slicing-by-8 tables elsewhere.
enum CRC32 {
    /// The CRC-32 of raw memory.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        mtz_crc32(0, bytes.baseAddress, bytes.count)
    }

    /// The CRC-32 of a byte sequence (contiguous storage is read in place).
    static func checksum<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        if let crc = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0)) }) { return crc }
        return Array(bytes).withUnsafeBytes { checksum($0) }
    }
}
