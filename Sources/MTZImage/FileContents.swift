#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads whole files with POSIX calls, so failures carry the system's errno text.
enum FileContents {
    /// Reads every byte of the file at `path`, refusing files larger than `limit` bytes.
    static func readAll(path: String, limit: Int) throws(ImageError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .fileUnreadable(path: path, reason: errorText()) }
        defer { close(descriptor) }

        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .fileUnreadable(path: path, reason: errorText()) }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            throw .fileUnreadable(path: path, reason: String(cString: strerror(EISDIR)))
        }
        let expected = Int(status.st_size)
        if expected > limit { throw .fileTooLarge(path: path, bytes: expected) }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(expected)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .fileUnreadable(path: path, reason: errorText())
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { throw .fileTooLarge(path: path, bytes: bytes.count) }
        }
        return bytes
    }

    /// The system's text for the current `errno`.
    private static func errorText() -> String {
        String(cString: strerror(errno))
    }
}
