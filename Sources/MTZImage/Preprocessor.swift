import MTZCore

/// Turns a decoded `Image` into the network input described by an `InputSpec`.
///
/// Steps, fused into one pass over the output so that `run(_:into:)` never allocates:
/// 1. alpha is dropped or composited (see `AlphaHandling`);
/// 2. the image is resampled to `spec.width × spec.height` — `.stretch` maps the whole image,
///    `.centerCrop` scales it uniformly so that it covers the target and keeps the centre. Per
///    axis, upscaling (or equal size) is bilinear with half-pixel centres and edge clamping, and
///    downscaling averages the covered source area (box filter with fractional edge weights), so
///    large reductions are not aliased;
/// 3. channels are converted: gray → RGB/BGR replicates, RGB → gray is ITU-R BT.601 luma
///    (0.299 R + 0.587 G + 0.114 B), BGR swaps R and B;
/// 4. values are normalised: `x = (v / 255 − mean[c]) / std[c]`.
///
/// The output is NHWC float32 with batch 1: element `(y * width + x) * channels + c`. Resampled
/// values are not rounded back to 8 bits. Since resampling and channel conversion are both
/// linear, their order does not change the result.
public struct Preprocessor: Sendable {
    /// The network input this preprocessor produces.
    public let spec: InputSpec
    /// What happens to an alpha channel.
    public let alpha: AlphaHandling
    private let mean: SIMD4<Float>
    private let std: SIMD4<Float>

    /// Creates a preprocessor for `spec`.
    ///
    /// - Precondition: `spec.width` and `spec.height` are positive; `spec.mean` and `spec.std`
    ///   have one entry per channel (or a single entry used for every channel); no std is 0.
    public init(spec: InputSpec, alpha: AlphaHandling = .drop) {
        precondition(spec.width > 0 && spec.height > 0, "input size must be positive")
        let channels = spec.channels
        precondition(spec.mean.count == channels || spec.mean.count == 1,
                     "mean needs \(channels) entries (or 1), has \(spec.mean.count)")
        precondition(spec.std.count == channels || spec.std.count == 1,
                     "std needs \(channels) entries (or 1), has \(spec.std.count)")
        var meanLanes = SIMD4<Float>(repeating: 0), stdLanes = SIMD4<Float>(repeating: 1)
        for c in 0..<channels {
            let mean = spec.mean.count == 1 ? spec.mean[0] : spec.mean[c]
            let std = spec.std.count == 1 ? spec.std[0] : spec.std[c]
            precondition(std != 0 && std.isFinite && mean.isFinite, "mean/std must be finite and std non-zero")
            meanLanes[c] = mean
            stdLanes[c] = std
        }
        self.spec = spec
        self.alpha = alpha
        self.mean = meanLanes
        self.std = stdLanes
    }

    /// Number of floats one input takes: `spec.width * spec.height * spec.channels`.
    public var outputCount: Int { spec.width * spec.height * spec.channels }

    /// Writes the network input for `image` into the first `outputCount` elements of `output`.
    ///
    /// - Precondition: `output.count >= outputCount`.
    /// - Complexity: O(output pixels × source pixels covered by each); no allocation.
    public func run(_ image: Image, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count >= outputCount, "output buffer holds \(output.count) floats, needs \(outputCount)")
        let (xAxis, yAxis) = Self.axes(image: image, spec: spec)
        let outputWidth = spec.width, outputChannels = spec.channels
        let format = spec.format
        let grayToGray = image.isGray && format == .gray
        let mean = self.mean, std = self.std
        image.pixels.withUnsafeBufferPointer { samples in
            let source = PixelSource(samples: samples, channels: image.channels, alpha: alpha)
            for outputY in 0..<spec.height {
                let rows = yAxis.taps(outputY)
                for outputX in 0..<outputWidth {
                    let columns = xAxis.taps(outputX)
                    var sum = SIMD4<Float>(repeating: 0)
                    for j in 0..<rows.count {
                        let rowStart = (rows.start + j) * image.width + columns.start
                        var rowSum = SIMD4<Float>(repeating: 0)
                        for i in 0..<columns.count {
                            rowSum += columns.weight(i) * source.colour(at: rowStart + i)
                        }
                        sum += rows.weight(j) * rowSum
                    }
                    let value = Self.convert(sum, sourceIsGray: image.isGray, grayToGray: grayToGray, to: format)
                    let normalised = (value / 255 - mean) / std
                    let base = (outputY * outputWidth + outputX) * outputChannels
                    for c in 0..<outputChannels {
                        output[base + c] = normalised[c]
                    }
                }
            }
        }
    }

    /// Returns the network input for `image` as a new array of `outputCount` floats.
    public func run(_ image: Image) -> [Float] {
        [Float](unsafeUninitializedCapacity: outputCount) { buffer, initialized in
            run(image, into: buffer)
            initialized = outputCount
        }
    }

    /// The resampling of each axis for `image` under `spec`'s size and resize mode.
    private static func axes(image: Image, spec: InputSpec) -> (x: ResampleAxis, y: ResampleAxis) {
        let sourceWidth = Double(image.width), sourceHeight = Double(image.height)
        let targetWidth = Double(spec.width), targetHeight = Double(spec.height)
        switch spec.resize {
        case .stretch:
            return (ResampleAxis(sourceSize: image.width, scale: sourceWidth / targetWidth, offset: 0),
                    ResampleAxis(sourceSize: image.height, scale: sourceHeight / targetHeight, offset: 0))
        case .centerCrop:
            let scale = Swift.min(sourceWidth / targetWidth, sourceHeight / targetHeight)
            return (ResampleAxis(sourceSize: image.width, scale: scale, offset: (sourceWidth - targetWidth * scale) / 2),
                    ResampleAxis(sourceSize: image.height, scale: scale, offset: (sourceHeight - targetHeight * scale) / 2))
        }
    }

    /// Converts a resampled colour (gray in lane 0, or RGB in lanes 0–2) to the model's channels.
    @inline(__always)
    private static func convert(_ colour: SIMD4<Float>, sourceIsGray: Bool, grayToGray: Bool,
                                to format: InputSpec.ColorFormat) -> SIMD4<Float> {
        if grayToGray { return colour }
        if sourceIsGray { return SIMD4(colour[0], colour[0], colour[0], 0) }
        switch format {
        case .gray: return SIMD4(0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2], 0, 0, 0)
        case .rgb: return colour
        case .bgr: return SIMD4(colour[2], colour[1], colour[0], 0)
        }
    }
}

/// Reads one pixel's colour samples as floats, handling alpha; borrowed for one `run` call.
private struct PixelSource {
    let samples: UnsafeBufferPointer<UInt8>
    let channels: Int
    /// Whether alpha is composited over `background` (false when dropped or absent).
    let composite: Bool
    let background: Float

    init(samples: UnsafeBufferPointer<UInt8>, channels: Int, alpha: AlphaHandling) {
        self.samples = samples
        self.channels = channels
        switch alpha {
        case .drop:
            composite = false
            background = 0
        case let .composite(level):
            composite = channels == 2 || channels == 4
            background = Float(level)
        }
    }

    /// Gray in lane 0 (1–2 channels) or RGB in lanes 0–2 (3–4 channels), in 0...255.
    @inline(__always)
    func colour(at pixel: Int) -> SIMD4<Float> {
        let base = pixel * channels
        var colour: SIMD4<Float>
        let alpha: Float
        switch channels {
        case 1, 2:
            colour = SIMD4(Float(samples[base]), 0, 0, 0)
            alpha = channels == 2 ? Float(samples[base + 1]) : 255
        default:
            colour = SIMD4(Float(samples[base]), Float(samples[base + 1]), Float(samples[base + 2]), 0)
            alpha = channels == 4 ? Float(samples[base + 3]) : 255
        }
        if composite {
            let a = alpha / 255
            colour = colour * a + SIMD4(repeating: background * (1 - a))
            if channels == 2 { colour[1] = 0; colour[2] = 0 }
        }
        return colour
    }
}

/// Returns the NHWC float32 network input for `image` under `spec`, dropping any alpha channel.
///
/// Shorthand for `Preprocessor(spec: spec).run(image)`; see `Preprocessor` for the steps.
public func preprocess(_ image: Image, spec: InputSpec) -> [Float] {
    Preprocessor(spec: spec).run(image)
}
