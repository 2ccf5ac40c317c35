#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole regular file mapped read-only into memory (`mmap(PROT_READ, MAP_PRIVATE)`); unmapped
/// when the last reference goes away.
///
/// The mapping is immutable through this type, so sharing it across threads is safe. The file must
/// not be truncated by another process while it is mapped (the kernel would deliver `SIGBUS`).
final class MappedFile: ByteRegionOwner, @unchecked Sendable {
    /// The path the file was opened with (for error messages).
    let path: String
    /// Number of bytes mapped (the file size at open time).
    let byteCount: Int
    private let base: UnsafeRawPointer

    /// Opens, checks and maps `path`.
    ///
    /// - Throws: `FormatError` (kind `.io`) naming the path and the `strerror` text when the file
    ///   cannot be opened, inspected or mapped, or when it is a directory, not a regular file, or empty.
    init(path: String) throws(FormatError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FormatError.system("cannot open", path: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FormatError.system("cannot stat", path: path) }
        let type = info.st_mode & S_IFMT
        guard type != S_IFDIR else { throw FormatError(.io, "is a directory, not a model file", path: path) }
        guard type == S_IFREG else { throw FormatError(.io, "is not a regular file", path: path) }
        guard info.st_size > 0 else { throw FormatError(.io, "is empty (0 bytes)", path: path) }
        guard info.st_size <= Int64(Int.max) else { throw FormatError(.io, "is too large to map", path: path) }
        let size = Int(info.st_size)
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
              p != UnsafeMutableRawPointer(bitPattern: -1)
        else { throw FormatError.system("cannot map \(size) bytes of", path: path) }
        base = UnsafeRawPointer(p)
        byteCount = size
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), byteCount)
    }

    /// Lends the mapped bytes for the duration of `body`.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: byteCount))
    }
}
