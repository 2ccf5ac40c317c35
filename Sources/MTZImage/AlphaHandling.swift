/// What preprocessing does with an image's alpha channel (the network input never has one).
public enum AlphaHandling: Sendable, Hashable {
    /// Ignore alpha and keep the stored colour, as Pillow's `convert("RGB")` and OpenCV's
    /// `imread` do. The default.
    case drop
    /// Composite over a uniform background of this 8-bit level (0 black, 255 white):
    /// `colour * a + background * (1 − a)` with `a = alpha / 255`.
    case composite(background: UInt8)
}
