import Foundation
import MTZImage
import Testing

@Suite("Decoding the committed fixtures")
struct FixtureDecodeTests {
    @Test("decodes with the expected size, channels and pixels", arguments: try FixtureCatalog.decodable())
    func decodes(_ fixture: FixtureEntry) throws {
        let image = try ImageDecoder.decode(contentsOf: FixtureCatalog.path(fixture.file))
        #expect(image.width == fixture.width)
        #expect(image.height == fixture.height)
        #expect(image.channels == fixture.channels)
        let expected = try FixtureCatalog.bytes(try #require(fixture.expected))
        try #require(image.pixels.count == expected.count)
        let tolerance = fixture.tolerance ?? 0
        var worst = 0
        var firstBad: Int?
        for (index, (got, want)) in zip(image.pixels, expected).enumerated() {
            let difference = abs(Int(got) - Int(want))
            worst = max(worst, difference)
            if difference > tolerance && firstBad == nil { firstBad = index }
        }
        #expect(worst <= tolerance, "max difference \(worst) > \(tolerance); first at sample \(firstBad ?? -1)")
    }

    @Test("bad file fails with the expected error", arguments: try FixtureCatalog.broken())
    func fails(_ fixture: FixtureEntry) throws {
        let expected = try #require(fixture.error)
        let path = try FixtureCatalog.path(fixture.file)
        do {
            let image = try ImageDecoder.decode(contentsOf: path)
            Issue.record("decoded \(image.width)x\(image.height), expected \(expected)")
        } catch {
            #expect(error.caseName == expected, "got \(error)")
            #expect(!error.description.isEmpty)
        }
    }

    @Test("every fixture file is in the manifest")
    func manifestCoversDirectory() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: FixtureCatalog.directory.path)
        let listed = Set(try FixtureCatalog.all().flatMap { [$0.file] + ($0.expected.map { [$0] } ?? []) })
        let unlisted = files.filter { $0 != "manifest.json" && !listed.contains($0) }
        #expect(unlisted.isEmpty, "not in manifest.json: \(unlisted)")
        #expect(try FixtureCatalog.decodable().count >= 20)
    }

    @Test("decoding from memory matches decoding from a file")
    func bytesMatchFile() throws {
        let fromFile = try ImageDecoder.decode(contentsOf: FixtureCatalog.path("rgba.png"))
        let fromBytes = try ImageDecoder.decode(bytes: FixtureCatalog.bytes("rgba.png"))
        #expect(fromFile == fromBytes)
    }

    @Test("the format is sniffed from the signature, not the extension")
    func sniffsSignature() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("mtz-image-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let misnamed = directory.appendingPathComponent("really-a-jpeg.png")
        try Data(try FixtureCatalog.bytes("baseline_gray.jpg")).write(to: misnamed)
        let image = try ImageDecoder.decode(contentsOf: misnamed.path)
        #expect(image.channels == 1 && image.width == 32 && image.height == 24)
        #expect(ImageFormat(sniffing: try FixtureCatalog.bytes("rgb.png")) == .png)
        #expect(ImageFormat(sniffing: try FixtureCatalog.bytes("baseline_rgb.jpg")) == .jpeg)
        #expect(ImageFormat(sniffing: Array("GIF89a".utf8)) == nil)
    }

    @Test("interlaced and non-interlaced PNGs of the same pattern decode identically")
    func interlacedMatchesPlain() throws {
        let plain = try ImageDecoder.decode(contentsOf: FixtureCatalog.path("rgb.png"))
        let interlaced = try ImageDecoder.decode(contentsOf: FixtureCatalog.path("rgb_interlaced.png"))
        #expect(plain == interlaced)
    }
}
