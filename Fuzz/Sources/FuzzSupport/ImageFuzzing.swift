import MTZCore
import MTZImage

extension FuzzSupport {
    /// Preprocessing specs that cover every path of `Preprocessor`: gray/RGB/BGR output, stretch
    /// and centre crop, up- and downscaling on either axis, alpha dropped or composited.
    static let specs: [(InputSpec, AlphaHandling)] = [
        (InputSpec(width: 7, height: 5, format: .rgb, mean: [0.5], std: [0.25], resize: .stretch), .drop),
        (InputSpec(width: 3, height: 9, format: .gray, mean: [0], std: [1], resize: .centerCrop), .composite(background: 255)),
        (InputSpec(width: 33, height: 2, format: .bgr, mean: [0.1, 0.2, 0.3], std: [1, 2, 3], resize: .centerCrop), .drop),
    ]

    /// Decodes `bytes` with `ImageDecoder` and, if that succeeds, preprocesses the image for each
    /// spec; every output value must be finite.
    public static func decodeAndPreprocess(_ bytes: [UInt8]) {
        guard let image = try? ImageDecoder.decode(bytes: bytes) else { return }
        precondition(image.pixels.count == image.width * image.height * image.channels, "pixel count disagrees with the size")
        for (spec, alpha) in specs {
            let values = Preprocessor(spec: spec, alpha: alpha).run(image)
            precondition(values.allSatisfy(\.isFinite), "preprocessing produced a non-finite value")
        }
    }
}
