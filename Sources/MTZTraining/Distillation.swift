import MTZCore
import MTZRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Knowledge distillation for one task: besides its labels, the network being trained is taught
/// a teacher network's class probabilities on the same images (Hinton, Vinyals, Dean 2015). The
/// task's loss becomes `(1 − weight) · cross-entropy(labels) + weight · T² · KL(teacher ‖ student)`
/// with both distributions softened by the temperature `T`.
///
/// `mtz zip` uses it to retrain a zipped network towards the original networks it was made from.
public struct Distillation: Sendable {
    /// The teacher's log-probabilities, `classes` per image of the task's images, in their order.
    public let teacher: [Float]
    public let classes: Int
    /// Share of the distillation term in the task's loss, in 0...1 (the labels get the rest).
    public let weight: Float
    /// Softening temperature (> 0; 1 leaves the distributions as they are).
    public let temperature: Float

    /// Wraps precomputed teacher log-probabilities (`classes` per image).
    /// - Throws: `TrainingError.invalidOption` if the weight, temperature or sizes are out of range.
    public init(teacher: [Float], classes: Int, weight: Float, temperature: Float) throws(TrainingError) {
        try Self.check(weight: weight, temperature: temperature)
        guard classes >= 1, teacher.count % classes == 0 else {
            throw TrainingError.invalidOption("\(teacher.count) teacher values are not whole rows of \(classes) classes")
        }
        guard teacher.allSatisfy({ !$0.isNaN && $0 != .infinity }) else {
            throw TrainingError.invalidOption("the teacher's outputs are not finite probabilities")
        }
        self.teacher = teacher
        self.classes = classes
        self.weight = weight
        self.temperature = temperature
    }

    /// Refuses a weight outside 0...1 or a temperature outside (0, 100].
    public static func check(weight: Float, temperature: Float) throws(TrainingError) {
        guard (0...1).contains(weight) else { throw TrainingError.invalidOption("the distillation weight must be in 0...1 (got \(weight))") }
        guard temperature > 0, temperature <= 100 else {
            throw TrainingError.invalidOption("the distillation temperature must be in (0, 100] (got \(temperature))")
        }
    }

    /// Runs `task` of `model` (the teacher) on every image and keeps its log-probabilities: the
    /// log of its output where the task ends in a softmax, else the log-softmax of its output.
    /// Splits the images over `threads` sessions; `progress` is told about how many images are done.
    public static func teacherLogProbabilities(of model: InferenceModel, task: String, images: LabeledImages,
                                               threads: Int = 1, progress: ((Int) -> Void)? = nil) throws -> (values: [Float], classes: Int) {
        guard let head = model.model.tasks.first(where: { $0.name == task }) else { throw TrainingError.unknownTask(task) }
        let endsInSoftmax = if case .softmax = model.model.nodes[head.output].op { true } else { false }
        let classes = head.labels.count
        guard classes >= 1 else { throw TrainingError.invalidModel("task '\(task)' has no outputs") }
        let values = UnsafeMutableBufferPointer<Float>.allocate(capacity: images.count * classes)
        values.initialize(repeating: .nan)
        defer { values.deallocate() }
        let threads = max(1, min(threads, images.count))
        // One slot per thread, written only by that thread.
        let failures = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads)
        failures.initialize(repeating: 0)
        defer { failures.deallocate() }
        try Evaluation.forEachOutput(of: model, task: task, images: images, threads: threads, progress: progress) { t, i, out in
            guard let out, out.count == classes else {
                failures[t] += 1
                return
            }
            Self.logProbabilities(out, softmaxed: endsInSoftmax, into: values.baseAddress! + i * classes)
        }
        guard failures.reduce(0, +) == 0 else { throw TrainingError.invalidModel("the teacher of task '\(task)' failed on \(failures.reduce(0, +)) images") }
        return (Array(values), classes)
    }

    /// Log-probabilities of one output row: `log p` (floored at the smallest normal float, so a
    /// probability that underflowed to 0 stays finite) or the log-softmax of logits.
    static func logProbabilities(_ out: UnsafeBufferPointer<Float>, softmaxed: Bool, into row: UnsafeMutablePointer<Float>) {
        if softmaxed {
            for k in out.indices { row[k] = logf(max(out[k], .leastNormalMagnitude)) }
            return
        }
        let top = out.max() ?? 0
        var sum: Float = 0
        for v in out { sum += expf(v - top) }
        let log = logf(sum)
        for k in out.indices { row[k] = out[k] - top - log }
    }
}
