#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open, read-only file read with POSIX calls, so failures carry the system's errno text.
struct DataFile: ~Copyable {
    let path: String
    private let descriptor: Int32
    /// The file's size in bytes when it was opened.
    let size: Int

    /// Opens the regular file at `path`.
    init(path: String) throws(DatasetError) {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(path: path, reason: Self.errorText()) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = Self.errorText()
            close(descriptor)
            throw .io(path: path, reason: reason)
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            close(descriptor)
            throw .io(path: path, reason: String(cString: strerror(EISDIR)))
        }
        self.descriptor = descriptor
        self.size = Int(status.st_size)
    }

    deinit { close(descriptor) }

    /// Reads up to `count` bytes starting at `offset`; fewer only at the end of the file.
    func read(count: Int, at offset: Int) throws(DatasetError) -> [UInt8] {
        var failure: DatasetError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = 0
            while initialized < count {
                let got = pread(descriptor, buffer.baseAddress! + initialized, count - initialized,
                                off_t(offset + initialized))
                if got < 0 {
                    if errno == EINTR { continue }
                    failure = .io(path: path, reason: Self.errorText())
                    return
                }
                if got == 0 { return }
                initialized += got
            }
        }
        if let failure { throw failure }
        return bytes
    }

    /// True when `path` names an existing directory.
    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// True when `path` names an existing file or directory.
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The process's current working directory, or "." if it cannot be determined.
    static func currentDirectory() -> String {
        guard let pointer = getcwd(nil, 0) else { return "." }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// The value of the environment variable `name`, if set.
    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// The system's text for the current `errno`.
    private static func errorText() -> String {
        String(cString: strerror(errno))
    }
}
