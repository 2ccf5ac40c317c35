import MTZCore
import MTZImage
import Testing

@Suite("Preprocessing: resize and crop")
struct ResizeTests {
    @Test("2x2 -> 4x4 is bilinear with half-pixel centres and clamped edges")
    func bilinearUpscale() {
        let image = Image(width: 2, height: 2, channels: 1, pixels: [0, 100, 200, 40])
        let out = levels(preprocess(image, spec: unitSpec(4, 4, .gray)))
        // Along each axis the taps are (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1).
        let weights: [(Float, Float)] = [(1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1)]
        var expected: [Float] = []
        for (top, bottom) in weights {
            for (left, right) in weights {
                expected.append(top * (left * 0 + right * 100) + bottom * (left * 200 + right * 40))
            }
        }
        #expect(close(out, expected, tolerance: 1e-4))
        #expect(close(Array(out.prefix(4)), [0, 25, 75, 100], tolerance: 1e-4))
    }

    @Test("8x8 -> 2x2 averages each 4x4 block")
    func areaDownscale() {
        let pixels = (0..<64).map { UInt8(($0 * 37) % 251) }
        let image = Image(width: 8, height: 8, channels: 1, pixels: pixels)
        let out = levels(preprocess(image, spec: unitSpec(2, 2, .gray)))
        var expected: [Float] = []
        for by in 0..<2 {
            for bx in 0..<2 {
                var sum = 0
                for y in 0..<4 { for x in 0..<4 { sum += Int(pixels[(by * 4 + y) * 8 + bx * 4 + x]) } }
                expected.append(Float(sum) / 16)
            }
        }
        #expect(close(out, expected, tolerance: 1e-3))
    }

    @Test("3 -> 2 area averaging uses fractional edge weights")
    func fractionalArea() {
        let image = Image(width: 3, height: 1, channels: 1, pixels: [30, 60, 90])
        let out = levels(preprocess(image, spec: unitSpec(2, 1, .gray)))
        // Output 0 covers [0, 1.5): (30 + 0.5 * 60) / 1.5; output 1 covers [1.5, 3).
        #expect(close(out, [40, 80], tolerance: 1e-3))
    }

    @Test("stretch resamples each axis on its own: up in x, down in y")
    func mixedAxes() {
        let image = Image(width: 2, height: 4, channels: 1, pixels: [0, 100, 0, 100, 200, 40, 200, 40])
        let out = levels(preprocess(image, spec: unitSpec(4, 2, .gray)))
        // y: rows (0,1) and (2,3) average to themselves; x: bilinear as in the 2 -> 4 case.
        #expect(close(out, [0, 25, 75, 100, 200, 160, 80, 40], tolerance: 1e-4))
    }

    @Test("centre crop: a 6x4 image into 2x2 keeps the middle 4x4 and averages 2x2 blocks")
    func centreCropDownscale() {
        let pixels = (0..<24).map { UInt8($0 * 10) }
        let image = Image(width: 6, height: 4, channels: 1, pixels: pixels)
        let out = levels(preprocess(image, spec: unitSpec(2, 2, .gray, resize: .centerCrop)))
        func block(_ x0: Int, _ y0: Int) -> Float {
            Float([pixels[y0 * 6 + x0], pixels[y0 * 6 + x0 + 1], pixels[(y0 + 1) * 6 + x0], pixels[(y0 + 1) * 6 + x0 + 1]]
                .map(Int.init).reduce(0, +)) / 4
        }
        #expect(close(out, [block(1, 0), block(3, 0), block(1, 2), block(3, 2)], tolerance: 1e-3))
    }

    @Test("centre crop at the same scale just cuts the middle")
    func centreCropOnly() {
        let pixels = (0..<15).map { UInt8($0) }
        let image = Image(width: 5, height: 3, channels: 1, pixels: pixels)
        let out = levels(preprocess(image, spec: unitSpec(3, 3, .gray, resize: .centerCrop)))
        let expected = [1, 2, 3, 6, 7, 8, 11, 12, 13].map(Float.init)
        #expect(close(out, expected, tolerance: 1e-4))
    }

    @Test("stretch keeps every column when only the aspect ratio changes")
    func stretchVersusCrop() {
        let image = Image(width: 4, height: 2, channels: 1, pixels: [10, 20, 30, 40, 10, 20, 30, 40])
        let stretched = levels(preprocess(image, spec: unitSpec(2, 2, .gray)))
        #expect(close(stretched, [15, 35, 15, 35], tolerance: 1e-4))
        let cropped = levels(preprocess(image, spec: unitSpec(2, 2, .gray, resize: .centerCrop)))
        #expect(close(cropped, [20, 30, 20, 30], tolerance: 1e-4))
    }

    @Test("a large downscale of a fine checkerboard gives flat grey, not aliasing")
    func noAliasing() {
        let size = 512
        let pixels = (0..<(size * size)).map { ($0 % size + $0 / size) % 2 == 0 ? UInt8(0) : 255 }
        let image = Image(width: size, height: size, channels: 1, pixels: pixels)
        let out = levels(preprocess(image, spec: unitSpec(28, 28, .gray)))
        #expect(out.count == 28 * 28)
        // Each output covers 18.29 x 18.29 source pixels: close to half black, half white.
        #expect(out.allSatisfy { abs($0 - 127.5) < 8 }, "range \(out.min()!)...\(out.max()!)")
    }

    @Test("RGB resize works per channel and BGR output swaps after resizing")
    func colourResize() {
        let image = Image(width: 2, height: 1, channels: 3, pixels: [0, 10, 20, 100, 110, 120])
        let out = levels(preprocess(image, spec: unitSpec(1, 1, .bgr)))
        #expect(close(out, [70, 60, 50], tolerance: 1e-4))
    }

    @Test("a real photo-sized image preprocesses to a 224x224x3 input within range")
    func photoSized() throws {
        let image = try ImageDecoder.decode(contentsOf: FixtureCatalog.path("baseline_rgb.jpg"))
        let spec = InputSpec(width: 224, height: 224, format: .rgb, mean: [0.485, 0.456, 0.406],
                             std: [0.229, 0.224, 0.225], resize: .centerCrop)
        let out = preprocess(image, spec: spec)
        #expect(out.count == 224 * 224 * 3)
        #expect(out.allSatisfy { $0.isFinite && $0 >= -2.2 && $0 <= 2.7 })
    }
}
