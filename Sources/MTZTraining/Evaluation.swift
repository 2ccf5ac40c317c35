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
        try topOnePredictions(of: model, task: task, dataset: dataset, images: images, threads: threads).result
    }

    /// Runs `task` of `model` on every image, using `threads` sessions that split the images: the
    /// top-1 error and each image's predicted class (-1 where the run failed), in image order — what
    /// a paired comparison of two models on the same images needs (`PairedComparison`).
    public static func topOnePredictions(of model: InferenceModel, task: String, dataset: DatasetName, images: LabeledImages,
                                         threads: Int = 1) throws -> (result: Result, predictions: [Int32]) {
        let start = DispatchTime.now().uptimeNanoseconds
        var predictions = [Int32](repeating: -1, count: images.count)
        try predictions.withUnsafeMutableBufferPointer { predicted in
            // Each index is written once, by the thread that ran it.
            try forEachOutput(of: model, task: task, images: images, threads: threads) { _, i, out in
                if let out, let best = out.indices.max(by: { out[$0] < out[$1] }) { predicted[i] = Int32(best) }
            }
        }
        let errors = zip(predictions, images.labels).reduce(0) { $0 + ($1.0 != Int32($1.1) ? 1 : 0) }
        let result = Result(task: task, dataset: dataset.rawValue, images: images.count, errors: errors,
                            errorRate: Double(errors) / Double(max(images.count, 1)),
                            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        return (result, predictions)
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
