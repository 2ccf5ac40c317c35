/// Parses IDX files (the MNIST file format) of unsigned bytes: images and labels.
///
/// An IDX file is a 4-byte magic number (`00 00 08 ndim`: unsigned bytes, `ndim` dimensions), then
/// `ndim` big-endian 32-bit sizes, then the values in row-major order. Images are
/// `count × rows × cols`, labels are `count`. The header is validated before any payload is
/// allocated, and the file's length must match the header exactly.
public enum IDXReader {
    /// Magic number of an unsigned-byte, 3-dimensional IDX file (images).
    public static let imageMagic: UInt32 = 0x0000_0803
    /// Magic number of an unsigned-byte, 1-dimensional IDX file (labels).
    public static let labelMagic: UInt32 = 0x0000_0801
    /// Most items (images or labels) one file may announce.
    public static let maxCount = 10_000_000
    /// Most pixels one image side may have.
    public static let maxSide = 1024

    /// The images of an IDX image file.
    public struct Images: Sendable, Equatable {
        /// Number of images.
        public let count: Int
        /// Pixel rows per image.
        public let rows: Int
        /// Pixel columns per image.
        public let cols: Int
        /// `count · rows · cols` grey levels, image after image, each row-major.
        public let pixels: [UInt8]
    }

    /// Parses an IDX image file held in memory; `source` names it in errors.
    /// - Throws: `DatasetError` `.gzipped`, `.badMagic`, `.tooLarge`, `.truncated` or `.trailingBytes`.
    public static func images(from bytes: [UInt8], source: String = "IDX image data") throws(DatasetError) -> Images {
        let header = try Header.parse(bytes, magic: imageMagic, source: source)
        try checkLength(bytes.count, header: header, source: source)
        return Images(count: header.count, rows: header.rows, cols: header.cols,
                      pixels: Array(bytes[header.byteCount...]))
    }

    /// Parses an IDX label file held in memory; `source` names it in errors.
    /// - Throws: `DatasetError` `.gzipped`, `.badMagic`, `.tooLarge`, `.truncated` or `.trailingBytes`.
    public static func labels(from bytes: [UInt8], source: String = "IDX label data") throws(DatasetError) -> [UInt8] {
        let header = try Header.parse(bytes, magic: labelMagic, source: source)
        try checkLength(bytes.count, header: header, source: source)
        return Array(bytes[header.byteCount...])
    }

    /// Reads the IDX image file at `path`, checking its header and length before reading the pixels.
    /// - Throws: `DatasetError` as `images(from:source:)`, or `.io` if the file cannot be read.
    public static func images(atPath path: String) throws(DatasetError) -> Images {
        let (header, payload) = try read(path: path, magic: imageMagic)
        return Images(count: header.count, rows: header.rows, cols: header.cols, pixels: payload)
    }

    /// Reads the IDX label file at `path`, checking its header and length before reading the labels.
    /// - Throws: `DatasetError` as `labels(from:source:)`, or `.io` if the file cannot be read.
    public static func labels(atPath path: String) throws(DatasetError) -> [UInt8] {
        try read(path: path, magic: labelMagic).payload
    }

    // MARK: - Internals

    /// A validated IDX header.
    struct Header {
        var count: Int
        var rows: Int
        var cols: Int
        /// Bytes in the header: 4 for the magic plus 4 per dimension.
        var byteCount: Int
        /// Bytes in the payload the header announces.
        var payloadCount: Int { count * rows * cols }
        /// Bytes in the whole file.
        var fileCount: Int { byteCount + payloadCount }

        /// Parses and checks the header at the start of `bytes` (which may hold only a prefix of the file).
        static func parse(_ bytes: [UInt8], magic expected: UInt32, source: String) throws(DatasetError) -> Header {
            if bytes.count >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B { throw .gzipped(source: source) }
            let dimensions = Int(expected & 0xFF)
            let byteCount = 4 + 4 * dimensions
            guard bytes.count >= 4 else {
                throw .truncated(source: source, expectedBytes: byteCount, actualBytes: bytes.count)
            }
            let magic = bigEndian(bytes, at: 0)
            guard magic == expected else { throw .badMagic(source: source, found: magic, expected: expected) }
            guard bytes.count >= byteCount else {
                throw .truncated(source: source, expectedBytes: byteCount, actualBytes: bytes.count)
            }
            let count = Int(bigEndian(bytes, at: 4))
            let rows = dimensions == 3 ? Int(bigEndian(bytes, at: 8)) : 1
            let cols = dimensions == 3 ? Int(bigEndian(bytes, at: 12)) : 1
            guard count <= IDXReader.maxCount, rows <= IDXReader.maxSide, cols <= IDXReader.maxSide else {
                throw .tooLarge(source: source, dimensions: dimensions == 3 ? [count, rows, cols] : [count])
            }
            return Header(count: count, rows: rows, cols: cols, byteCount: byteCount)
        }
    }

    private static func checkLength(_ actual: Int, header: Header, source: String) throws(DatasetError) {
        if actual < header.fileCount {
            throw .truncated(source: source, expectedBytes: header.fileCount, actualBytes: actual)
        }
        if actual > header.fileCount {
            throw .trailingBytes(source: source, expectedBytes: header.fileCount, actualBytes: actual)
        }
    }

    /// Reads and checks the header, checks the file's size against it, then reads the payload.
    private static func read(path: String, magic: UInt32) throws(DatasetError) -> (header: Header, payload: [UInt8]) {
        let file = try DataFile(path: path)
        let headerBytes = try file.read(count: 4 + 4 * Int(magic & 0xFF), at: 0)
        let header = try Header.parse(headerBytes, magic: magic, source: path)
        try checkLength(file.size, header: header, source: path)
        let payload = try file.read(count: header.payloadCount, at: header.byteCount)
        // The file shrank between fstat and read.
        if payload.count < header.payloadCount {
            throw .truncated(source: path, expectedBytes: header.fileCount,
                             actualBytes: header.byteCount + payload.count)
        }
        return (header, payload)
    }

    private static func bigEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }
}
