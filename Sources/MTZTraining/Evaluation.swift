import Dispatch
import MTZCore
import MTZImage
import MTZRuntime

/// Top-1 error of deployed (`.mtz`) models on labelled datasets, through the inference runtime —
/// the same code path `mtz run` uses.
public enum Evaluation {
    /// The result of evaluating one task.
    public struct Result: Sendable, Codable {
        public var task: String
        public var dataset: String
        public var images: Int
        public var errors: Int
        /// `errors / images`.
        public var errorRate: Double
        public var seconds: Double
    }

    /// Metadata key under which a model records the dataset a task was trained on.
    public static func datasetKey(task: String) -> String { "task.\(task).dataset" }

    /// Metadata key under which a model records how many images at the end of the training split
    /// its task was *not* trained on (the held-out validation images).
    public static func holdoutKey(task: String) -> String { "task.\(task).holdout" }

    /// The number of held-out training images `task` of `model` records (0 if none).
    public static func recordedHoldout(of task: String, in model: Model) -> Int {
        model.metadata[holdoutKey(task: task)].flatMap { Int($0) } ?? 0
    }

    /// The dataset `task` of `model` records, if any.
    public static func recordedDataset(of task: String, in model: Model) -> DatasetName? {
        model.metadata[datasetKey(task: task)].flatMap(DatasetName.init(rawValue:))
    }

    /// Runs `task` of `model` on every image and counts top-1 mistakes, using `threads` sessions
    /// that split the images.
    public static func topOneError(of model: InferenceModel, task: String, dataset: DatasetName, images: LabeledImages, threads: Int = 1) throws -> Result {
        let start = DispatchTime.now().uptimeNanoseconds
        let threads = max(1, min(threads, images.count))
        // One slot per thread, written only by that thread.
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads)
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        try forEachOutput(of: model, task: task, images: images, threads: threads) { t, i, out in
            let predicted = out.flatMap { out in out.indices.max { out[$0] < out[$1] } } ?? -1
            if predicted != Int(images.labels[i]) { counts[t] += 1 }
        }
        let errors = counts.reduce(0, +)
        return Result(task: task, dataset: dataset.rawValue, images: images.count, errors: errors,
                      errorRate: Double(errors) / Double(max(images.count, 1)),
                      seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
    }

    /// Runs `task` of `model` on every image with `threads` sessions that split the images, and
    /// hands each image's output to `body(thread, index, output)` on the thread that ran it (nil
    /// output: the run failed). `body` runs concurrently for different threads; each index comes
    /// once. `progress` is told about how many images are done (estimated from thread 0's share,
    /// every 256 of its images, and once at the end).
    static func forEachOutput(of model: InferenceModel, task: String, images: LabeledImages, threads: Int,
                              progress: ((Int) -> Void)? = nil,
                              _ body: (_ thread: Int, _ index: Int, _ output: UnsafeBufferPointer<Float>?) -> Void) throws {
        let threads = max(1, min(threads, images.count))
        let sessions = try (0..<threads).map { _ in try model.makeSession(tasks: [task]) }
        let preprocessor = Preprocessor(spec: model.model.input)
        let chunk = (images.count + threads - 1) / threads
        withoutActuallyEscaping(body) { body in
            let work = { (t: Int) in
                let session = sessions[t]
                var input = [Float](repeating: 0, count: model.inputCount)
                for i in (t * chunk)..<min(images.count, (t + 1) * chunk) {
                    input.withUnsafeMutableBufferPointer { preprocessor.run(images.grayImage(at: i), into: $0) }
                    let ran = input.withUnsafeBufferPointer { (try? session.run(input: $0)) != nil }
                    if !ran || (try? session.withOutput(of: task, { body(t, i, $0) })) == nil { body(t, i, nil) }
                    let done = i + 1 - t * chunk
                    if t == 0, done % 256 == 0 { progress?(min(images.count, done * threads)) }
                }
            }
            let box = UncheckedSendable(work)
            DispatchQueue.concurrentPerform(iterations: threads) { box.value($0) }
        }
        progress?(images.count)
    }
}
