import CMTZ
import Foundation
import MTZTestSupport
import Testing

/// Paths of the shipped model and samples, from this file's location in the repository.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    /// The README's default model: LeNet-5 MNIST and Fashion-MNIST, zipped.
    static let zippedModel = root + "/Models/lenet5-mnist-fashion-zipped.mtz"
    /// MNIST test image 0, a 7 (Samples/index.csv).
    static let mnistSeven = root + "/Samples/mnist/test-0000-7.png"
    /// Fashion-MNIST test image 0, an ankle boot.
    static let fashionBoot = root + "/Samples/fashion/test-0000-9.jpg"

    /// A file in a fresh per-process temporary folder.
    static func temporaryFile(_ name: String, bytes: [UInt8]) throws -> String {
        try temporaryTestFile(name, bytes: bytes, folder: "mtz-capi-tests")
    }
}

/// Calls into the C API through `mtz.h`, turning out-parameters into return values and failures
/// into thrown test failures that carry `mtz_last_error()`.
enum CAPI {
    /// This thread's `mtz_last_error()`.
    static var lastError: String { String(cString: mtz_last_error()) }

    /// Requires `status` to be `MTZ_OK`.
    static func ok(_ status: mtz_status, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try #require(status == MTZ_OK, "\(String(cString: mtz_status_name(status))): \(lastError)", sourceLocation: sourceLocation)
    }

    /// Expects a failure with `expected` whose message contains `text`.
    static func expectFailure(_ status: mtz_status, _ expected: mtz_status, mentioning text: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(status == expected, "got \(String(cString: mtz_status_name(status))): \(lastError)", sourceLocation: sourceLocation)
        #expect(lastError.contains(text), "message '\(lastError)' does not mention '\(text)'", sourceLocation: sourceLocation)
    }

    static func openModel(_ path: String = Repository.zippedModel) throws -> OpaquePointer {
        var model: OpaquePointer?
        try ok(mtz_model_open(path, &model))
        return try #require(model)
    }

    static func makeSession(_ model: OpaquePointer, tasks: [String] = [], threads: Int = 1) throws -> OpaquePointer {
        var session: OpaquePointer?
        try ok(withCStrings(tasks) { mtz_session_create(model, $0, tasks.count, threads, &session) })
        return try #require(session)
    }

    /// A copy of session task `task`'s scores.
    static func scores(_ session: OpaquePointer, _ task: Int) throws -> [Float] {
        var scores: UnsafePointer<Float>?
        var count = 0
        try ok(mtz_session_scores(session, task, &scores, &count))
        return Array(UnsafeBufferPointer(start: try #require(scores), count: count))
    }

    /// Scores of every session task, in session order.
    static func allScores(_ session: OpaquePointer) throws -> [[Float]] {
        var count = 0
        try ok(mtz_session_task_count(session, &count))
        return try (0..<count).map { try scores(session, $0) }
    }

    /// The top `k` predictions of session task `task`.
    static func top(_ session: OpaquePointer, _ task: Int, k: Int) throws -> [(index: Int, score: Float, label: String)] {
        var predictions = [mtz_prediction](repeating: mtz_prediction(), count: k)
        var count = 0
        try ok(mtz_session_top_k(session, task, k, &predictions, &count))
        return predictions.prefix(count).map { ($0.index, $0.score, String(cString: $0.label)) }
    }

    /// Lends `strings` as a `const char *const *` array (NULL when empty).
    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) throws -> R) rethrows -> R {
        let copies = strings.map { UnsafePointer(strdup($0)) }
        defer { copies.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        return try strings.isEmpty ? body(nil) : copies.withUnsafeBufferPointer { try body($0.baseAddress) }
    }
}

extension CAPI {
    /// Lends the default model and a session of `tasks` (default: all), freeing both afterwards.
    static func withSession<R>(tasks: [String] = [], _ body: (_ model: OpaquePointer, _ session: OpaquePointer) throws -> R) throws -> R {
        let model = try openModel()
        defer { mtz_model_free(model) }
        let session = try makeSession(model, tasks: tasks)
        defer { mtz_session_free(session) }
        return try body(model, session)
    }
}
