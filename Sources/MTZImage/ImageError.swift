/// Why an image could not be read or decoded.
public enum ImageError: Error, CustomStringConvertible, Sendable, Hashable {
    /// The file could not be opened or read; `reason` is the system's error text.
    case fileUnreadable(path: String, reason: String)
    /// The file (or byte buffer, `path == nil`) has no bytes.
    case empty(path: String?)
    /// The file is larger than `ImageDecoder.maxFileSize`.
    case fileTooLarge(path: String, bytes: Int)
    /// Not a PNG or JPEG, or a variant that is not supported (e.g. a CMYK JPEG).
    case unsupportedFormat(String)
    /// The data ends before the image is complete; `message` comes from the decoding library.
    case truncated(ImageFormat, message: String)
    /// The data is malformed (bad checksum, bad compressed stream, bad header...).
    case corrupt(ImageFormat, message: String)
    /// The image's dimensions exceed the decoder's limits (32768 per side, 256 MiB of pixels).
    case tooLarge(width: Int, height: Int)
    /// Memory for the pixels could not be allocated.
    case outOfMemory

    /// A one-line, human-readable explanation.
    public var description: String {
        switch self {
        case let .fileUnreadable(path, reason):
            "cannot read \(path): \(reason)"
        case let .empty(path):
            path.map { "\($0) is empty" } ?? "no image data (0 bytes)"
        case let .fileTooLarge(path, bytes):
            "\(path) is too large to be an image for this decoder (\(bytes) bytes)"
        case let .unsupportedFormat(reason):
            "unsupported image format: \(reason)"
        case let .truncated(format, message):
            "truncated \(format.rawValue) data: \(message)"
        case let .corrupt(format, message):
            "corrupt \(format.rawValue) data: \(message)"
        case let .tooLarge(width, height):
            "image of \(width) x \(height) pixels exceeds the decoder's limits"
        case .outOfMemory:
            "out of memory while decoding an image"
        }
    }
}
