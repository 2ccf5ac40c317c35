/// Why a dataset or one of its IDX files could not be found or read.
///
/// `source` is the file path, or a caller-chosen name for bytes parsed from memory.
public enum DatasetError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No directory or file for `dataset` was found; `tried` lists every path looked at, in order.
    case missing(dataset: DatasetName, tried: [String])
    /// The file is gzip-compressed (starts with 1f 8b); the reader wants the raw IDX bytes.
    case gzipped(source: String)
    /// The first four bytes are not the expected IDX magic number.
    case badMagic(source: String, found: UInt32, expected: UInt32)
    /// The data ends before the header or the payload the header announces is complete.
    case truncated(source: String, expectedBytes: Int, actualBytes: Int)
    /// The data continues past the payload the header announces.
    case trailingBytes(source: String, expectedBytes: Int, actualBytes: Int)
    /// An image file and its label file disagree on how many items there are.
    case countMismatch(images: Int, labels: Int, source: String)
    /// The header announces more items, or larger images, than the reader accepts; `dimensions`
    /// are the header's sizes (`[count, rows, cols]` for images, `[count]` for labels).
    case tooLarge(source: String, dimensions: [Int])
    /// A label is outside 0..<classCount.
    case badLabel(source: String, index: Int, value: UInt8, classCount: Int)
    /// The file could not be opened or read; `reason` is the system's error text.
    case io(path: String, reason: String)

    /// A one-line, human-readable explanation.
    public var description: String {
        switch self {
        case let .missing(dataset, tried):
            "\(dataset.displayName) not found (looked in: \(tried.joined(separator: ", "))); "
                + "run scripts/fetch-datasets.sh to fetch it, or set MTZ_DATA_DIR to the directory holding '\(dataset.directoryName)/'"
        case let .gzipped(source):
            "\(source) is gzip-compressed; the IDX reader needs the raw file: run scripts/fetch-datasets.sh, which decompresses it"
        case let .badMagic(source, found, expected):
            "\(source) is not an IDX \(Self.kindName(expected)) file: magic number \(Self.hex(found)), expected \(Self.hex(expected))"
                + (Self.kindName(found) == "unknown" ? "" : " (it looks like an IDX \(Self.kindName(found)) file)")
        case let .truncated(source, expected, actual):
            "\(source) is truncated: \(actual) bytes, expected \(expected)"
        case let .trailingBytes(source, expected, actual):
            "\(source) has \(actual - expected) unexpected bytes after its data (\(actual) bytes, expected \(expected))"
        case let .countMismatch(images, labels, source):
            "\(source): \(images) images but \(labels) labels"
        case let .tooLarge(source, dimensions):
            "\(source) announces dimensions \(dimensions.map(String.init).joined(separator: " x ")), beyond the reader's limits "
                + "(\(IDXReader.maxCount) items, \(IDXReader.maxSide) pixels per side)"
        case let .badLabel(source, index, value, classCount):
            "\(source): label \(value) at index \(index) is not a class (expected 0..<\(classCount))"
        case let .io(path, reason):
            "cannot read \(path): \(reason)"
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    private static func kindName(_ magic: UInt32) -> String {
        switch magic {
        case IDXReader.imageMagic: "image"
        case IDXReader.labelMagic: "label"
        default: "unknown"
        }
    }
}
