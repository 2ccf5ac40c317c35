import MTZCore
import MTZImage
import Testing

/// The committed photos in Samples/ (repository root), found from this file's location.
private func samplePath(_ name: String, file: String = #filePath) -> String {
    var components = file.split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(3)  // SampleImageTests.swift, MTZImageTests, Tests
    return (components + ["Samples", Substring(name)]).joined(separator: "/")
}

@Suite("Sample photos")
struct SampleImageTests {
    @Test("each photo decodes from PNG and JPEG, and both preprocess to nearly the same input",
          arguments: ["astronaut", "chelsea", "coffee"])
    func pngAndJPEGAgree(_ name: String) throws {
        let png = try ImageDecoder.decode(contentsOf: samplePath(name + ".png"))
        let jpeg = try ImageDecoder.decode(contentsOf: samplePath(name + ".jpg"))
        #expect(png.channels == 3 && jpeg.channels == 3)
        #expect(max(png.width, png.height) <= 256 && max(jpeg.width, jpeg.height) <= 256)

        let spec = InputSpec(width: 32, height: 32, format: .rgb, mean: [0, 0, 0], std: [1, 1, 1],
                             resize: .centerCrop)
        let a = preprocess(png, spec: spec), b = preprocess(jpeg, spec: spec)
        let meanDifference = zip(a, b).map { abs($0 - $1) }.reduce(0, +) / Float(a.count) * 255
        #expect(meanDifference < 6, "mean difference \(meanDifference) levels")
    }
}
