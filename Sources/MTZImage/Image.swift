/// A decoded image: 8-bit samples, interleaved, rows top to bottom without padding.
///
/// `channels` is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
public struct Image: Sendable, Hashable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Samples per pixel: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
    public let channels: Int
    /// `width * height * channels` samples; pixel (x, y) starts at `(y * width + x) * channels`.
    public let pixels: [UInt8]

    /// Creates an image from interleaved samples.
    ///
    /// - Precondition: `width` and `height` are positive, `channels` is in 1...4 and
    ///   `pixels.count == width * height * channels`.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "image dimensions must be positive")
        precondition((1...4).contains(channels), "an image has 1 to 4 channels")
        let (area, areaOverflow) = width.multipliedReportingOverflow(by: height)
        let (count, countOverflow) = area.multipliedReportingOverflow(by: channels)
        precondition(!areaOverflow && !countOverflow && pixels.count == count,
                     "pixel count does not match width * height * channels")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// Whether the last channel is alpha (2 or 4 channels).
    public var hasAlpha: Bool { channels == 2 || channels == 4 }

    /// Whether the colour samples are gray (1 or 2 channels) rather than RGB.
    public var isGray: Bool { channels <= 2 }

    /// The sample of `channel` at pixel (`x`, `y`).
    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        precondition((0..<width).contains(x) && (0..<height).contains(y) && (0..<channels).contains(channel),
                     "pixel index out of range")
        return pixels[(y * width + x) * channels + channel]
    }
}
