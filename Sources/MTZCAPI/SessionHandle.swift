import CMTZ
import MTZImage
import MTZRuntime

/// What an `mtz_session *` points to: a runtime session and the state the C API adds to it.
final class SessionHandle: OpaqueHandle {
    static let parameterName = "session"

    /// Keeps the model's strings (task names, labels) alive as long as the session.
    let owner: ModelHandle
    let session: Session
    /// Model index of each session task.
    let modelTaskIndices: [Int]
    private let preprocessor: Preprocessor
    /// The preprocessed image, reused by every run so that runs after the first allocate only
    /// what decoding needs (`Session.run(image:)` would return fresh arrays each time).
    private var input: [Float]
    /// Whether the last run call succeeded, so that scores of an earlier input are never read by
    /// mistake after a failed one.
    private var hasResults = false

    init(model: ModelHandle, tasks: [String]?, threads: Int) throws {
        owner = model
        session = try model.model.makeSession(tasks: tasks, threads: threads)
        modelTaskIndices = try session.tasks.map { (name) throws(APIError) in try model.taskIndex(name) }
        preprocessor = Preprocessor(spec: model.model.model.input)
        input = [Float](repeating: 0, count: model.model.inputCount)
    }

    /// Preprocesses `image` as `mtz run` does and runs the session's tasks on it.
    func run(_ image: Image) throws(RuntimeError) {
        input.withUnsafeMutableBufferPointer { preprocessor.run(image, into: $0) }
        try input.withUnsafeBufferPointer { (input) throws(RuntimeError) in try run(input) }
    }

    /// Runs the session's tasks on a preprocessed input.
    func run(_ input: UnsafeBufferPointer<Float>) throws(RuntimeError) {
        try session.run(input: input)
        hasResults = true
    }

    /// Forgets the last results; every run call starts here, before anything can fail.
    func dropResults() {
        hasResults = false
    }

    /// Lends session task `task`'s output from the last successful run.
    func withScores<R>(_ task: Int, _ body: (UnsafeBufferPointer<Float>) -> R) throws(APIError) -> R {
        let task = try checked(task, below: session.tasks.count, "task")
        guard hasResults else {
            throw APIError(status: MTZ_ERROR_NO_RESULTS, message: "no results: the session has not run successfully since it was created or since its last failed run")
        }
        do {
            return try session.withOutput(of: session.tasks[task], body)
        } catch {
            throw APIError(error)
        }
    }

    /// The labels of session task `task`.
    func labels(_ task: Int) -> CStringTable { owner.labels[modelTaskIndices[task]] }
}

/// Writes the `out.count` highest-scoring classes into `out`, best first, ties to the lower index.
///
/// Insertion into the caller's array: O(classes × k) and no allocation, which beats sorting for
/// the small k callers ask for. Returns how many entries were written (fewer if there are fewer
/// classes).
func selectTop(_ scores: UnsafeBufferPointer<Float>, labels: CStringTable,
               into out: UnsafeMutableBufferPointer<mtz_prediction>) -> Int {
    var filled = 0
    for (index, score) in scores.enumerated() {
        var position = filled
        // Strictly greater: an equal score stays behind the earlier (lower) index.
        while position > 0, score > out[position - 1].score { position -= 1 }
        guard position < out.count else { continue }
        var i = min(filled, out.count - 1)
        while i > position {
            out[i] = out[i - 1]
            i -= 1
        }
        out[position] = mtz_prediction(index: index, score: score, label: labels[index])
        filled = min(filled + 1, out.count)
    }
    return filled
}

// MARK: - C entry points (documented in mtz.h)

@_cdecl("mtz_session_create")
public func mtzSessionCreate(_ model: OpaquePointer?, _ tasks: UnsafePointer<UnsafePointer<CChar>?>?, _ taskCount: Int,
                             _ threads: Int, _ session: UnsafeMutablePointer<OpaquePointer?>?) -> mtz_status {
    apiCall {
        let handle = try ModelHandle.borrow(model)
        let session = try required(session, "session")
        var names: [String]?
        if taskCount != 0 {
            guard taskCount > 0 else { throw APIError.invalidArgument("task_count \(UInt(bitPattern: taskCount)) is not a count") }
            let tasks = try required(tasks, "tasks")
            names = try (0..<taskCount).map { (i) throws(APIError) in try string(tasks[i], "tasks[\(i)]") }
        }
        guard threads >= 1 else { throw APIError.invalidArgument("thread count \(UInt(bitPattern: threads)) is outside 1...256") }
        session.pointee = try SessionHandle(model: handle, tasks: names, threads: threads).retainedPointer()
    }
}

@_cdecl("mtz_session_free")
public func mtzSessionFree(_ session: OpaquePointer?) {
    SessionHandle.release(session)
}

@_cdecl("mtz_session_task_count")
public func mtzSessionTaskCount(_ session: OpaquePointer?, _ count: UnsafeMutablePointer<Int>?) -> mtz_status {
    apiCall {
        let handle = try SessionHandle.borrow(session)
        try required(count, "count").pointee = handle.modelTaskIndices.count
    }
}

@_cdecl("mtz_session_task_name")
public func mtzSessionTaskName(_ session: OpaquePointer?, _ task: Int, _ name: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> mtz_status {
    apiCall {
        let handle = try SessionHandle.borrow(session)
        let name = try required(name, "name")
        let task = try checked(task, below: handle.modelTaskIndices.count, "task")
        name.pointee = handle.owner.taskNames[handle.modelTaskIndices[task]]
    }
}

@_cdecl("mtz_session_task_index")
public func mtzSessionTaskIndex(_ session: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ task: UnsafeMutablePointer<Int>?) -> mtz_status {
    apiCall {
        let handle = try SessionHandle.borrow(session)
        let task = try required(task, "task")
        let name = try string(name, "name")
        guard let index = handle.session.tasks.firstIndex(of: name) else {
            throw APIError(status: MTZ_ERROR_UNKNOWN_TASK,
                           message: "the session does not run task '\(name)'; it runs: \(handle.session.tasks.joined(separator: ", "))")
        }
        task.pointee = index
    }
}

@_cdecl("mtz_session_run_file")
public func mtzSessionRunFile(_ session: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> mtz_status {
    apiCall {
        let handle = try SessionHandle.borrow(session)
        handle.dropResults()
        let path = try string(path, "path")
        do {
            try handle.run(try ImageDecoder.decode(contentsOf: path))
        } catch {
            // Decoding errors do not name the file (reading errors do); the caller should always
            // see which file failed.
            var failure = APIError(error)
            if !failure.message.contains(path) { failure.message = "\(path): \(failure.message)" }
            throw failure
        }
    }
}

@_cdecl("mtz_session_run_pixels")
public func mtzSessionRunPixels(_ session: OpaquePointer?, _ pixels: UnsafePointer<UInt8>?, _ size: Int,
                                _ width: Int, _ height: Int, _ channels: Int) -> mtz_status {
    apiCall {
        let handle = try SessionHandle.borrow(session)
        handle.dropResults()
        try handle.run(try pixelImage(try required(pixels, "pixels"), size: size, width: width, height: height,
                                      channels: channels, rowStride: nil))
    }
}

@_cdecl("mtz_session_run_pixels_strided")
public func mtzSessionRunPixelsStrided(_ session: OpaquePointer?, _ pixels: UnsafePointer<UInt8>?, _ size: Int,
                                       _ width: Int, _ height: Int, _ channels: Int, _ rowStride: Int) -> mtz_status {
    apiCall {
        let handle = try SessionHandle.borrow(session)
        handle.dropResults()
        try handle.run(try pixelImage(try required(pixels, "pixels"), size: size, width: width, height: height,
                                      channels: channels, rowStride: rowStride))
    }
}

/// Checks a caller's 8-bit pixel buffer and copies it into an `Image`: rows of `width * channels`
/// bytes, `rowStride` bytes apart (nil: back to back, and `size` must be exactly the image's bytes;
/// with a stride, `size` must reach the end of the last row). Checked here because `Image` traps on
/// dimensions it cannot hold, and C cannot catch a trap.
private func pixelImage(_ pixels: UnsafePointer<UInt8>, size: Int, width: Int, height: Int, channels: Int,
                        rowStride: Int?) throws -> Image {
    guard width > 0, height > 0 else { throw APIError.invalidArgument("image size \(width) x \(height) is empty or too large") }
    guard (1...4).contains(channels) else { throw APIError.invalidArgument("\(channels) channels; an image has 1 to 4") }
    let (area, areaOverflow) = width.multipliedReportingOverflow(by: height)
    let (expected, overflow) = area.multipliedReportingOverflow(by: channels)
    guard !areaOverflow, !overflow else {
        throw APIError(status: MTZ_ERROR_SIZE_MISMATCH,
                       message: "pixel buffer has \(UInt(bitPattern: size)) bytes; \(width) x \(height) x \(channels) needs \(area &* channels)")
    }
    guard let rowStride else {
        guard size == expected else {
            throw APIError(status: MTZ_ERROR_SIZE_MISMATCH,
                           message: "pixel buffer has \(UInt(bitPattern: size)) bytes; \(width) x \(height) x \(channels) needs \(expected)")
        }
        return Image(width: width, height: height, channels: channels, pixels: Array(UnsafeBufferPointer(start: pixels, count: size)))
    }
    let rowBytes = width * channels // cannot overflow: width * height * channels did not
    guard rowStride >= rowBytes else {
        throw APIError.invalidArgument("row stride \(rowStride) is less than a row's \(rowBytes) bytes (\(width) x \(channels))")
    }
    let (span, spanOverflow) = (height - 1).multipliedReportingOverflow(by: rowStride)
    let (needed, neededOverflow) = span.addingReportingOverflow(rowBytes)
    guard !spanOverflow, !neededOverflow, size >= needed else {
        throw APIError(status: MTZ_ERROR_SIZE_MISMATCH,
                       message: "pixel buffer has \(UInt(bitPattern: size)) bytes; \(height) rows \(rowStride) bytes apart need \(spanOverflow || neededOverflow ? "more" : "\(needed)")")
    }
    var packed = [UInt8](repeating: 0, count: expected)
    packed.withUnsafeMutableBufferPointer { dst in
        for y in 0..<height {
            (dst.baseAddress! + y * rowBytes).update(from: pixels + y * rowStride, count: rowBytes)
        }
    }
    return Image(width: width, height: height, channels: channels, pixels: packed)
}

@_cdecl("mtz_session_run_tensor")
public func mtzSessionRunTensor(_ session: OpaquePointer?, _ input: UnsafePointer<Float>?, _ count: Int) -> mtz_status {
    apiCall {
        let handle = try SessionHandle.borrow(session)
        handle.dropResults()
        let input = try required(input, "input")
        let expected = handle.session.model.inputCount
        guard count == expected else {
            throw APIError(status: MTZ_ERROR_SIZE_MISMATCH, message: "input has \(UInt(bitPattern: count)) values, the model expects \(expected)")
        }
        try handle.run(UnsafeBufferPointer(start: input, count: count))
    }
}

@_cdecl("mtz_session_scores")
public func mtzSessionScores(_ session: OpaquePointer?, _ task: Int, _ scores: UnsafeMutablePointer<UnsafePointer<Float>?>?,
                             _ count: UnsafeMutablePointer<Int>?) -> mtz_status {
    apiCall {
        let handle = try SessionHandle.borrow(session)
        let (scores, count) = (try required(scores, "scores"), try required(count, "count"))
        // The output lives in the session's arena, whose address is fixed for the session's
        // lifetime, so the pointer stays valid after the closure (until the next run overwrites it).
        let output = try handle.withScores(task) { $0 }
        scores.pointee = output.baseAddress
        count.pointee = output.count
    }
}

@_cdecl("mtz_session_top_k")
public func mtzSessionTopK(_ session: OpaquePointer?, _ task: Int, _ k: Int, _ predictions: UnsafeMutablePointer<mtz_prediction>?,
                           _ count: UnsafeMutablePointer<Int>?) -> mtz_status {
    apiCall {
        let handle = try SessionHandle.borrow(session)
        let count = try required(count, "count")
        guard k >= 0 else { throw APIError.invalidArgument("k \(UInt(bitPattern: k)) is not a count") }
        let out = UnsafeMutableBufferPointer(start: k == 0 ? predictions : try required(predictions, "predictions"), count: k)
        let labels = handle.labels(try checked(task, below: handle.modelTaskIndices.count, "task"))
        count.pointee = try handle.withScores(task) { selectTop($0, labels: labels, into: out) }
    }
}
