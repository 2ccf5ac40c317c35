import Foundation
import Synchronization

/// What a child process printed, and how it ended.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs `executable` with `arguments` to the end (the CLI and C sample tests).
public func runProcess(_ executable: String, _ arguments: [String]) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessOutput(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

/// Writes `bytes` to a file `name` in the per-process folder `folder` (`scratchFolder`).
public func temporaryTestFile(_ name: String, bytes: [UInt8], folder: String) throws -> String {
    let url = try scratchFolder(folder).appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
}

/// The folder `<prefix>-<pid>` under the temporary directory, created on first use and removed with
/// everything in it when the test process exits: the tests of one process share its files, and a
/// test run leaves nothing behind.
public func scratchFolder(_ prefix: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let first = scratchFolders.withLock { folders in
        defer { folders.insert(dir.path) }
        return folders.isEmpty
    }
    if first { atexit { removeScratchFolders() } }
    return dir
}

private let scratchFolders = Mutex<Set<String>>([])

private func removeScratchFolders() {
    for path in scratchFolders.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
}
