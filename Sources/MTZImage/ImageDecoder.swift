import CMTZImage

/// Decodes PNG and JPEG files into `Image`s through the system libpng and libjpeg(-turbo).
///
/// The format is recognised from the signature, never from the file name. PNG gives 1 to 4
/// channels (palettes and low bit depths expanded, tRNS as alpha, 16-bit scaled to 8-bit); JPEG
/// gives 1 (gray) or 3 (RGB) channels. No gamma or colour-profile conversion is applied.
public enum ImageDecoder {
    /// Files larger than this (256 MiB) are refused before they are read.
    public static let maxFileSize = 1 << 28

    /// Reads and decodes the image file at `path`.
    ///
    /// - Throws: `ImageError.fileUnreadable`, `.fileTooLarge` or `.empty` for file problems, and
    ///   any error of `decode(bytes:)`.
    public static func decode(contentsOf path: String) throws(ImageError) -> Image {
        let bytes = try FileContents.readAll(path: path, limit: maxFileSize)
        if bytes.isEmpty { throw .empty(path: path) }
        return try decode(bytes: bytes)
    }

    /// Decodes a PNG or JPEG held in memory.
    ///
    /// - Throws: `ImageError.empty`, `.unsupportedFormat`, `.truncated`, `.corrupt`, `.tooLarge`
    ///   or `.outOfMemory`.
    /// - Complexity: one pass over the data; the pixels are allocated once by C and copied once.
    public static func decode(bytes: [UInt8]) throws(ImageError) -> Image {
        if bytes.isEmpty { throw .empty(path: nil) }
        guard let format = ImageFormat(sniffing: bytes) else {
            throw .unsupportedFormat("not a PNG or JPEG file (starts with \(hexPrefix(bytes)))")
        }

        var decoded = mtz_image()
        var message = [CChar](repeating: 0, count: Int(MTZ_IMAGE_MESSAGE_CAPACITY))
        let status = bytes.withUnsafeBufferPointer { input in
            message.withUnsafeMutableBufferPointer { text in
                switch format {
                case .png: mtz_png_decode(input.baseAddress, input.count, &decoded, text.baseAddress, text.count)
                case .jpeg: mtz_jpeg_decode(input.baseAddress, input.count, &decoded, text.baseAddress, text.count)
                }
            }
        }
        defer { mtz_image_free(&decoded) }

        guard status == MTZ_IMAGE_OK, let pixels = decoded.pixels else {
            throw error(for: status, format: format, message: string(from: message), decoded: decoded)
        }
        let width = Int(decoded.width), height = Int(decoded.height), channels = Int(decoded.channels)
        let samples = Array(UnsafeBufferPointer(start: pixels, count: width * height * channels))
        return Image(width: width, height: height, channels: channels, pixels: samples)
    }

    /// Maps a C status to the Swift error.
    private static func error(for status: mtz_image_status, format: ImageFormat, message: String,
                              decoded: mtz_image) -> ImageError {
        switch status {
        case MTZ_IMAGE_ERROR_EMPTY: .empty(path: nil)
        case MTZ_IMAGE_ERROR_WRONG_SIGNATURE: .unsupportedFormat("not a \(format.rawValue) file: \(message)")
        case MTZ_IMAGE_ERROR_UNSUPPORTED: .unsupportedFormat("\(format.rawValue): \(message)")
        case MTZ_IMAGE_ERROR_TRUNCATED: .truncated(format, message: message)
        case MTZ_IMAGE_ERROR_TOO_LARGE: .tooLarge(width: Int(decoded.width), height: Int(decoded.height))
        case MTZ_IMAGE_ERROR_OUT_OF_MEMORY: .outOfMemory
        default: .corrupt(format, message: message)
        }
    }

    /// The NUL-terminated text in a C message buffer.
    private static func string(from buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The first bytes of `bytes` in hex, for "unknown format" messages.
    private static func hexPrefix(_ bytes: [UInt8]) -> String {
        bytes.prefix(8).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return byte < 16 ? "0" + hex : hex
        }.joined(separator: " ")
    }
}
