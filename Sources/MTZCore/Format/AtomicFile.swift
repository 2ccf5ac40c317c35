#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes whole files atomically: a temporary file in the destination's directory is written,
/// `fsync`ed and renamed over the destination, so readers see either the old file or the new one,
/// never a partial file. The temporary file is removed on every failure path.
public enum AtomicFile {
    /// Replaces (or creates) `path` with `bytes`.
    ///
    /// - Throws: `FormatError` (kind `.io`) naming the path and the `strerror` text.
    public static func write(_ bytes: [UInt8], to path: String) throws(FormatError) {
        guard !path.isEmpty, !path.hasSuffix("/") else {
            throw FormatError(.io, "is not a file path", path: path)
        }
        let directory: String
        let name: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
            name = String(path[path.index(after: slash)...])
        } else {
            directory = "."
            name = path
        }
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let temp = (directory == "/" ? "/" : directory + "/") + ".\(name).tmp-\(getpid())-\(suffix)"

        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let code = errno
            var folder = stat()
            if code == ENOENT || code == ENOTDIR, stat(directory, &folder) != 0 || (folder.st_mode & S_IFMT) != S_IFDIR {
                throw FormatError(.io, "cannot write: '\(directory)' is not an existing folder", path: path)
            }
            errno = code
            throw FormatError.system("cannot create a temporary file to write", path: path)
        }
        var fdOpen = true
        do throws(FormatError) {
            try writeAll(fd, bytes, path: path)
            guard fsync(fd) == 0 else { throw FormatError.system("cannot sync", path: path) }
            fdOpen = false
            guard close(fd) == 0 else { throw FormatError.system("cannot close", path: path) }
            guard rename(temp, path) == 0 else { throw FormatError.system("cannot rename the temporary file over", path: path) }
        } catch {
            if fdOpen { close(fd) }
            unlink(temp)
            throw error
        }
        // Make the rename durable; a failure here does not undo the (already visible) write.
        let dirFD = open(directory, O_RDONLY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FormatError) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                systemWrite(fd, raw.baseAddress! + written, raw.count - written)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FormatError.system("cannot write", path: path)
            }
            written += n
        }
    }
}

/// `write(2)`, named so that `AtomicFile.write` does not shadow it.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
