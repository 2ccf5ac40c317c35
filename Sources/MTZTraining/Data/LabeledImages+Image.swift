import MTZImage
extension LabeledImages {
    /// Image `index` as a decoded 8-bit gray `Image`, ready for a `Preprocessor`.
    public func grayImage(at index: Int) -> Image {
        Image(width: cols, height: rows, channels: 1, pixels: Array(image(at: index)))
    }
}
