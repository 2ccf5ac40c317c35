#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A problem with a `.mtz` file or its bytes: I/O, layout, checksum, limits, or a decoded model that
/// fails validation.
///
/// The message names what was wrong; `section`, `offset` and `node` say where, and `path` names the
/// file when there is one. `description` joins them into one readable line.
public struct FormatError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The category of a format error, for callers that map errors to exit codes or retry policies.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Opening, reading, writing, syncing or renaming a file failed (see the message for `strerror`).
        case io
        /// The bytes do not start with the `.mtz` magic.
        case notAModel
        /// The file's major format version is newer than this reader understands.
        case unsupportedVersion
        /// The host cannot use the format (big-endian byte order).
        case unsupportedHost
        /// The bytes end before a header, table, section or field does.
        case truncated
        /// A CRC32 checksum does not match.
        case checksum
        /// Sections or tensors overlap, lie outside their container, or are misaligned.
        case layout
        /// A field holds a value that the format does not allow (unknown code, invalid UTF-8, ...).
        case malformed
        /// A count or size exceeds a documented limit.
        case limit
        /// The file decoded, but the model fails `Model.validate()`; see `modelError`.
        case invalidModel
    }

    /// What kind of problem this is.
    public var kind: Kind
    /// The problem, in words.
    public var message: String
    /// The file involved, if any.
    public var path: String?
    /// The four-character code of the section involved (e.g. `GRPH`), if any.
    public var section: String?
    /// The absolute byte offset in the file where the problem was found, if known.
    public var offset: Int?
    /// The index of the node involved, if any.
    public var node: Int?
    /// The structural problem, when `kind == .invalidModel`.
    public var modelError: ModelError?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String, path: String? = nil, section: String? = nil,
                offset: Int? = nil, node: Int? = nil, modelError: ModelError? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
        self.section = section
        self.offset = offset
        self.node = node
        self.modelError = modelError
    }

    /// One line: `path: section GRPH, byte 120, node 3: message`.
    public var description: String {
        var location: [String] = []
        if let section { location.append("section \(section)") }
        if let offset { location.append("byte \(offset)") }
        if let node { location.append("node \(node)") }
        var text = location.isEmpty ? message : location.joined(separator: ", ") + ": " + message
        if let path { text = "\(path): " + text }
        return text
    }

    /// A copy with `path` set (when it was not set already).
    func at(path: String) -> FormatError {
        var e = self
        if e.path == nil { e.path = path }
        return e
    }
}

extension FormatError {
    /// An `.io` error for a failed system call, with the current `errno` and its `strerror` text.
    static func system(_ what: String, path: String) -> FormatError {
        let code = errno
        return FormatError(.io, "\(what) the file: \(String(cString: strerror(code))) (errno \(code))", path: path)
    }
}
