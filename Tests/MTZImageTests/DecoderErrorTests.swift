import MTZCore
import Foundation
import MTZImage
import MTZTestSupport
import Testing

@Suite("Decoder errors and limits")
struct DecoderErrorTests {
    @Test("the CRC helper matches PNG's known IEND CRC")
    func crcHelper() {
        #expect(CraftedPNG.crc32(Array("IEND".utf8)) == 0xAE42_6082)
    }

    @Test("a 100000 x 100000 PNG header is refused before allocating")
    func absurdPNGDimensions() {
        let bytes = CraftedPNG.header(width: 100_000, height: 100_000)
        #expect(throws: ImageError.tooLarge(width: 100_000, height: 100_000)) {
            try ImageDecoder.decode(bytes: bytes)
        }
    }

    @Test("PNG limits: one side above 32768, or more than 256 MiB of pixels",
          arguments: [(40_000 as UInt32, 1 as UInt32, 0 as UInt8), (1, 40_000, 0), (20_000, 20_000, 0), (16_384, 8_192, 6)])
    func pngLimits(width: UInt32, height: UInt32, colorType: UInt8) {
        let bytes = CraftedPNG.header(width: width, height: height, colorType: colorType)
        #expect(throws: ImageError.tooLarge(width: Int(width), height: Int(height))) {
            try ImageDecoder.decode(bytes: bytes)
        }
    }

    @Test("a PNG header at the limit is accepted, then fails on its bogus data, not on size")
    func pngAtLimit() {
        let bytes = CraftedPNG.header(width: 8_192, height: 8_192, colorType: 6)  // exactly 2^28 bytes
        #expect {
            try ImageDecoder.decode(bytes: bytes)
        } throws: { error in
            guard let error = error as? ImageError else { return false }
            return error.caseName == "corrupt" || error.caseName == "truncated"
        }
    }

    @Test("a zero-width PNG is corrupt")
    func zeroWidthPNG() {
        #expect {
            try ImageDecoder.decode(bytes: CraftedPNG.header(width: 0, height: 5))
        } throws: { ($0 as? ImageError)?.caseName == "corrupt" }
    }

    @Test("a JPEG whose frame header claims 60000 x 60000 is refused")
    func absurdJPEGDimensions() throws {
        var bytes = try FixtureCatalog.bytes("baseline_rgb.jpg")
        let sof = try #require(bytes.indices.dropLast().first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        // SOF0: FF C0, length (2), precision (1), height (2), width (2).
        bytes[sof + 5] = 0xEA; bytes[sof + 6] = 0x60  // 60000
        bytes[sof + 7] = 0xEA; bytes[sof + 8] = 0x60
        #expect(throws: ImageError.tooLarge(width: 60_000, height: 60_000)) {
            try ImageDecoder.decode(bytes: bytes)
        }
    }

    @Test("empty input")
    func empty() throws {
        #expect(throws: ImageError.empty(path: nil)) { try ImageDecoder.decode(bytes: []) }
        let path = try FixtureCatalog.path("empty.bin")
        #expect(throws: ImageError.empty(path: path)) { try ImageDecoder.decode(contentsOf: path) }
    }

    @Test("unknown signatures are an unsupported format")
    func unknownFormat() {
        for bytes: [UInt8] in [[0x00], Array("BM6....".utf8), [0x47, 0x49, 0x46, 0x38, 0x39, 0x61], [0x89, 0x50, 0x4E, 0x48]] {
            do {
                _ = try ImageDecoder.decode(bytes: bytes)
                Issue.record("decoded \(bytes)")
            } catch {
                #expect(error.caseName == "unsupportedFormat", "\(bytes): \(error)")
            }
        }
    }

    @Test("a file cut inside the signature is truncated")
    func cutSignature() {
        for bytes: [UInt8] in [[0x89, 0x50, 0x4E], [0xFF, 0xD8]] {
            do {
                _ = try ImageDecoder.decode(bytes: bytes)
                Issue.record("decoded \(bytes)")
            } catch {
                #expect(error.caseName == "truncated", "\(bytes): \(error)")
            }
        }
    }

    @Test("a missing file reports the path and the system's reason")
    func missingFile() {
        let path = "/nonexistent-mtz-dir/none.png"
        #expect(throws: ImageError.fileUnreadable(path: path, reason: String(cString: strerror(ENOENT)))) {
            try ImageDecoder.decode(contentsOf: path)
        }
        #expect(ImageError.fileUnreadable(path: path, reason: "No such file or directory").description
            == "cannot read /nonexistent-mtz-dir/none.png: No such file or directory")
    }

    @Test("a directory is unreadable as an image")
    func directory() throws {
        let path = try FixtureCatalog.directory.path
        #expect {
            try ImageDecoder.decode(contentsOf: path)
        } throws: { ($0 as? ImageError)?.caseName == "fileUnreadable" }
    }

    @Test("CMYK JPEG is refused with a message naming the colour space")
    func cmyk() throws {
        let path = try FixtureCatalog.path("cmyk.jpg")
        do {
            _ = try ImageDecoder.decode(contentsOf: path)
            Issue.record("CMYK decoded")
        } catch {
            #expect(error.description.contains("CMYK"), "\(error)")
        }
    }

    @Test("the CRC error message comes from libpng")
    func crcMessage() throws {
        let path = try FixtureCatalog.path("idat_bad_crc.png")
        do {
            _ = try ImageDecoder.decode(contentsOf: path)
            Issue.record("decoded a PNG with a CRC error")
        } catch {
            #expect(error.description.contains("CRC"), "\(error)")
        }
    }

    @Test("every proper prefix of a valid file fails cleanly", arguments: try FixtureCatalog.decodable())
    func prefixesFail(_ fixture: FixtureEntry) throws {
        let bytes = try FixtureCatalog.bytes(fixture.file)
        let step = max(1, bytes.count / 40)
        for length in Array(stride(from: 1, to: bytes.count, by: step)) + [bytes.count - 1] {
            do {
                let image = try ImageDecoder.decode(bytes: Array(bytes.prefix(length)))
                Issue.record("\(fixture.file) cut to \(length) of \(bytes.count) bytes decoded as \(image.width)x\(image.height)")
            } catch {
                #expect(["truncated", "corrupt", "unsupportedFormat"].contains(error.caseName), "\(length): \(error)")
            }
        }
    }

    @Test("random byte damage never crashes", arguments: try FixtureCatalog.decodable())
    func damageIsSafe(_ fixture: FixtureEntry) throws {
        let original = try FixtureCatalog.bytes(fixture.file)
        var random = SeededRandom(seed: fixture.file.utf8.reduce(UInt64(17)) { $0 &* 31 &+ UInt64($1) })
        for _ in 0..<60 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                bytes[position] = UInt8.random(in: 0...255, using: &random)
            }
            do {
                let image = try ImageDecoder.decode(bytes: bytes)
                #expect(image.pixels.count == image.width * image.height * image.channels)
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
    }
}
