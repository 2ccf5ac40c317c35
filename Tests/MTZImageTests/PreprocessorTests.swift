import MTZCore
import MTZImage
import Testing

/// An identity-normalising spec (x = v / 255) of the given size and format.
func unitSpec(_ width: Int, _ height: Int, _ format: InputSpec.ColorFormat,
              resize: InputSpec.ResizeMode = .stretch) -> InputSpec {
    InputSpec(width: width, height: height, format: format,
              mean: Array(repeating: 0, count: format.channels),
              std: Array(repeating: 1, count: format.channels), resize: resize)
}

/// `values` scaled to 0...255 (undoing the unit spec's division by 255).
func levels(_ values: [Float]) -> [Float] { values.map { $0 * 255 } }

/// Whether two arrays agree within `tolerance` everywhere.
func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-3) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance }
}

@Suite("Preprocessing: channels, alpha and normalisation")
struct PreprocessorTests {
    let rgbPixel = Image(width: 1, height: 1, channels: 3, pixels: [200, 100, 50])

    @Test("RGB stays RGB, BGR swaps, gray uses BT.601 luma")
    func colourConversions() {
        #expect(close(levels(preprocess(rgbPixel, spec: unitSpec(1, 1, .rgb))), [200, 100, 50]))
        #expect(close(levels(preprocess(rgbPixel, spec: unitSpec(1, 1, .bgr))), [50, 100, 200]))
        let luma: Float = 0.299 * 200 + 0.587 * 100 + 0.114 * 50
        #expect(close(levels(preprocess(rgbPixel, spec: unitSpec(1, 1, .gray))), [luma]))
    }

    @Test("gray is replicated to RGB and BGR, and kept exactly as gray")
    func grayConversions() {
        let gray = Image(width: 2, height: 1, channels: 1, pixels: [0, 77])
        #expect(close(levels(preprocess(gray, spec: unitSpec(2, 1, .rgb))), [0, 0, 0, 77, 77, 77]))
        #expect(close(levels(preprocess(gray, spec: unitSpec(2, 1, .bgr))), [0, 0, 0, 77, 77, 77]))
        #expect(preprocess(gray, spec: unitSpec(2, 1, .gray)) == [0, Float(77) / 255])
    }

    @Test("alpha is dropped by default")
    func alphaDropped() {
        let rgba = Image(width: 1, height: 1, channels: 4, pixels: [200, 100, 50, 0])
        #expect(close(levels(preprocess(rgba, spec: unitSpec(1, 1, .rgb))), [200, 100, 50]))
        let grayAlpha = Image(width: 1, height: 1, channels: 2, pixels: [90, 10])
        #expect(close(levels(preprocess(grayAlpha, spec: unitSpec(1, 1, .gray))), [90]))
    }

    @Test("alpha can be composited over a background level")
    func alphaComposited() {
        let rgba = Image(width: 1, height: 1, channels: 4, pixels: [200, 100, 0, 51])  // a = 0.2
        let overWhite = Preprocessor(spec: unitSpec(1, 1, .rgb), alpha: .composite(background: 255)).run(rgba)
        let white: [Float] = [0.2 * 200 + 0.8 * 255, 0.2 * 100 + 0.8 * 255, 0.8 * 255]
        #expect(close(levels(overWhite), white))
        let grayAlpha = Image(width: 1, height: 1, channels: 2, pixels: [100, 51])
        let overBlack = Preprocessor(spec: unitSpec(1, 1, .rgb), alpha: .composite(background: 0)).run(grayAlpha)
        #expect(close(levels(overBlack), [20, 20, 20]))
    }

    @Test("normalisation is (v / 255 - mean) / std per channel")
    func normalisation() {
        let spec = InputSpec(width: 1, height: 1, format: .rgb, mean: [0.5, 0.25, 0], std: [0.5, 0.25, 2])
        let out = preprocess(rgbPixel, spec: spec)
        let r: Float = (200 / 255 - 0.5) / 0.5
        let g: Float = (100 / 255 - 0.25) / 0.25
        let b: Float = (50 / 255 - 0) / 2
        let expected = [r, g, b]
        #expect(close(out, expected, tolerance: 1e-6))
    }

    @Test("a single mean/std entry applies to every channel")
    func broadcastNormalisation() {
        let spec = InputSpec(width: 1, height: 1, format: .bgr, mean: [0.1], std: [0.2])
        let expected = [50, 100, 200].map { (Float($0) / 255 - 0.1) / 0.2 }
        #expect(close(preprocess(rgbPixel, spec: spec), expected, tolerance: 1e-6))
    }

    @Test("run(into:) writes exactly outputCount floats and matches the allocating form")
    func intoBuffer() throws {
        let image = try ImageDecoder.decode(contentsOf: FixtureCatalog.path("rgb.png"))
        let preprocessor = Preprocessor(spec: InputSpec(width: 5, height: 3, format: .bgr,
                                                        mean: [0.4, 0.5, 0.6], std: [0.2, 0.3, 0.4]))
        #expect(preprocessor.outputCount == 45)
        var buffer = [Float](repeating: .nan, count: 50)
        buffer.withUnsafeMutableBufferPointer { preprocessor.run(image, into: $0) }
        #expect(Array(buffer.prefix(45)) == preprocessor.run(image))
        #expect(buffer.suffix(5).allSatisfy { $0.isNaN })
    }

    @Test("same size and format is an exact copy")
    func identity() throws {
        let image = try ImageDecoder.decode(contentsOf: FixtureCatalog.path("rgb.png"))
        let out = preprocess(image, spec: unitSpec(image.width, image.height, .rgb))
        #expect(out == image.pixels.map { Float($0) / 255 })
    }
}
