/// A file format the decoder understands, recognised by its signature (never by file name).
public enum ImageFormat: String, Sendable, Hashable, CaseIterable {
    case png = "PNG"
    case jpeg = "JPEG"

    /// The format whose signature starts `bytes`, or `nil`.
    ///
    /// A prefix of a signature (a file cut short inside it, at least 2 bytes) also counts, so that
    /// such a file is reported as truncated rather than as an unknown format.
    public init?(sniffing bytes: some Collection<UInt8>) {
        for format in ImageFormat.allCases {
            let signature = format.signature
            let count = Swift.min(bytes.count, signature.count)
            if count >= 2 && bytes.prefix(count).elementsEqual(signature.prefix(count)) {
                self = format
                return
            }
        }
        return nil
    }

    /// The leading bytes every file of this format starts with.
    public var signature: [UInt8] {
        switch self {
        case .png: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        case .jpeg: [0xFF, 0xD8, 0xFF]
        }
    }
}
