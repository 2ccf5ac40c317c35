/// Finds the directory that holds a dataset's IDX files.
///
/// Search order: an explicit `root`; else `$MTZ_DATA_DIR`; else `./data`, then `data/` beside a
/// `Package.swift` in the current directory or any directory above it (so tests and the CLI work
/// from anywhere inside the repository). An explicit `root` or a set `$MTZ_DATA_DIR` is the only
/// place looked in: data asked for somewhere is never silently taken from elsewhere.
/// In each place the dataset lives in `<place>/<DatasetName.directoryName>`.
public struct DatasetLocator: Sendable, Equatable {
    /// The data root given by the caller, if any.
    public var root: String?
    /// The value of `$MTZ_DATA_DIR` (nil or empty: not set).
    public var environmentRoot: String?
    /// The directory relative paths and the upward search start from.
    public var currentDirectory: String

    /// A locator using `root`, the process's `$MTZ_DATA_DIR` and its current directory.
    public init(root: String? = nil) {
        self.init(root: root, environmentRoot: DataFile.environment("MTZ_DATA_DIR"),
                  currentDirectory: DataFile.currentDirectory())
    }

    /// A locator with every input given explicitly (for tests and tools).
    public init(root: String?, environmentRoot: String?, currentDirectory: String) {
        self.root = root
        self.environmentRoot = environmentRoot
        self.currentDirectory = currentDirectory
    }

    /// The directories that would be tried for `name`, in order.
    public func candidates(for name: DatasetName) -> [String] {
        if let root, !root.isEmpty { return [join(absolute(root), name.directoryName)] }
        if let environmentRoot, !environmentRoot.isEmpty {
            return [join(absolute(environmentRoot), name.directoryName)]
        }
        var places = [join(currentDirectory, "data/" + name.directoryName)]
        var directory = currentDirectory
        while true {
            let candidate = join(directory, "data/" + name.directoryName)
            if DataFile.exists(join(directory, "Package.swift")), !places.contains(candidate) {
                places.append(candidate)
            }
            guard let parent = parent(of: directory) else { break }
            directory = parent
        }
        return places
    }

    /// The first candidate directory for `name` that exists.
    /// - Throws: `DatasetError.missing` listing every directory tried.
    public func locate(_ name: DatasetName) throws(DatasetError) -> String {
        let places = candidates(for: name)
        if let found = places.first(where: DataFile.isDirectory) { return found }
        throw .missing(dataset: name, tried: places)
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : join(currentDirectory, path)
    }

    private func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The parent of an absolute, slash-separated path; nil at "/" or for a relative path's top.
    private func parent(of path: String) -> String? {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return nil }
        if slash == trimmed.startIndex { return trimmed.count > 1 ? "/" : nil }
        return String(trimmed[..<slash])
    }
}
