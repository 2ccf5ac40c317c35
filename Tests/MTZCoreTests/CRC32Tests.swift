import CMTZChecksum
import MTZTestSupport
import Testing

@testable import MTZCore

/// The accelerated CRC paths against a byte-at-a-time reference written out here.
@Suite("CRC32Tests")
struct CRC32Tests {
    /// Bitwise CRC-32/IEEE, the definition itself.
    static func reference(_ bytes: ArraySlice<UInt8>, start: UInt32 = 0) -> UInt32 {
        var c = ~start
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (0xEDB8_8320 ^ (c >> 1)) : (c >> 1) }
        }
        return ~c
    }

    @Test func standardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        #expect(["pclmul", "armv8-crc", "portable"].contains(String(cString: mtz_crc32_implementation())))
    }

    /// Every length up to a few folding rounds and every alignment: the folding path's edges (64-byte
    /// start, 16-byte blocks, the table tail) are all crossed. Also chained calls with a start value.
    @Test func acceleratedAndPortableAgreeWithTheDefinition() {
        var rng = SeededRandom(seed: 7)
        let bytes = (0..<700).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        bytes.withUnsafeBytes { raw in
            for start in 0..<5 {
                for end in start...700 where (end - start) < 300 || (end - start) % 37 == 0 {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                    let expected = Self.reference(bytes[start..<end])
                    #expect(mtz_crc32(0, slice.baseAddress, slice.count) == expected, "bytes \(start)..<\(end)")
                    #expect(mtz_crc32_portable(0, slice.baseAddress, slice.count) == expected, "portable \(start)..<\(end)")
                    let split = (end - start) / 3
                    let first = mtz_crc32(0, slice.baseAddress, split)
                    #expect(mtz_crc32(first, slice.baseAddress! + split, slice.count - split) == expected, "chained \(start)..<\(end)")
                }
            }
        }
    }

    /// A megabyte-sized buffer (the weights of a small model) through the four folding chains.
    @Test func largeBuffer() {
        var rng = SeededRandom(seed: 8)
        let bytes = (0..<(1 << 20) + 13).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let expected = Self.reference(bytes[...])
        #expect(CRC32.checksum(bytes) == expected)
        #expect(bytes.withUnsafeBytes { mtz_crc32_portable(0, $0.baseAddress, $0.count) } == expected)
    }
}
