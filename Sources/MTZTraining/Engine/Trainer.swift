import Dispatch
import MTZCore

/// Settings of a training run.
public struct TrainingOptions: Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Float
    public var schedule: LearningRateSchedule
    public var momentum: Float
    public var weightDecay: Float
    /// Seeds shuffling and dropout (the weights are seeded when the model is built).
    public var seed: UInt64
    /// Runs the tasks' mini-batches of an iteration through the network as one batch, so that a
    /// batch norm shared by the tasks normalises with statistics over every task's images (which is
    /// what its folded running statistics describe). Each task's loss is still taken on its own
    /// images only. A node computes only the images of the tasks on whose path it is, so a batch norm
    /// of one task's own neurons normalises with that task's images alone. A batch norm with one
    /// input per task (`Operation.batchNorm`) normalises each task's images as they come out of that
    /// task's input, with statistics over all of them.
    public var jointBatches: Bool

    /// Creates options; the defaults train LeNet-scale networks well with SGD.
    public init(epochs: Int = 10, batchSize: Int = 64, learningRate: Float = 0.01, schedule: LearningRateSchedule = .cosine,
                momentum: Float = 0.9, weightDecay: Float = 5e-4, seed: UInt64 = 1, jointBatches: Bool = false) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.schedule = schedule
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.seed = seed
        self.jointBatches = jointBatches
    }
}

/// What a progress callback is told after each training iteration.
public struct TrainingProgress: Sendable {
    public var epoch: Int
    public var epochs: Int
    public var iteration: Int
    public var iterationsPerEpoch: Int
    /// Mean loss and top-1 accuracy over the epoch so far (summed over tasks for the loss).
    public var loss: Double
    public var accuracy: Double
    /// Training images per second over the epoch so far (all tasks).
    public var imagesPerSecond: Double
    /// Seconds since the epoch started.
    public var elapsed: Double
}

/// The result of one training epoch.
public struct EpochReport: Sendable, Codable {
    public var epoch: Int
    /// Seconds of the training pass (without evaluation).
    public var seconds: Double
    public var iterations: Int
    public var learningRate: Float
    /// Mean training loss and accuracy per task.
    public var loss: [String: Double]
    public var accuracy: [String: Double]
}

/// Labelled images for one task, and optionally a teacher's outputs on them to distil.
public struct TaskData: Sendable {
    public var images: LabeledImages
    /// A teacher's log-probabilities for every image of `images`, taught besides the labels.
    public var distillation: Distillation?
    /// Creates task data.
    public init(images: LabeledImages, distillation: Distillation? = nil) {
        self.images = images
        self.distillation = distillation
    }
}

/// Trains a `TrainableModel` with mini-batch SGD. With several tasks, every iteration takes one
/// mini-batch per task, runs each task's forward and backward pass (or one pass over all of them,
/// `TrainingOptions.jointBatches`), sums the gradients (parameter blocks shared by tasks receive
/// every task's gradient) and applies one update.
public final class Trainer {
    public let model: TrainableModel
    public let options: TrainingOptions
    private let executor: BatchExecutor
    private var optimizer: SGD
    private var random: SeededRandom
    /// Per task: output node of the logits (the softmax input when the head ends in a softmax).
    private let logitNodes: [String: Int]
    private let stepsByTask: [String: [Int]]
    /// Every task's steps, for `jointBatches`.
    private let jointSteps: [Int]
    private var labelBuffer: [Int32]
    /// Task name → its index in the model's task order.
    private let taskIndex: [String: Int]
    /// The teacher's rows of the current batch (distillation).
    private var teacherBuffer: [Float] = []

    /// Prepares training of `model`.
    /// - Throws: `TrainingError` if the options are out of range or a task has no logits.
    public init(model: TrainableModel, options: TrainingOptions) throws(TrainingError) {
        guard (1...100_000).contains(options.epochs) else { throw TrainingError.invalidOption("epochs must be in 1...100000") }
        guard (1...4096).contains(options.batchSize) else { throw TrainingError.invalidOption("batch size must be in 1...4096") }
        guard options.learningRate > 0, options.learningRate.isFinite else { throw TrainingError.invalidOption("the learning rate must be positive") }
        self.model = model
        self.options = options
        let capacity = options.batchSize * (options.jointBatches ? model.structure.tasks.count : 1)
        executor = BatchExecutor(model: model, capacity: capacity, seed: options.seed)
        optimizer = SGD(momentum: options.momentum, weightDecay: options.weightDecay)
        random = SeededRandom(seed: options.seed)
        var logits: [String: Int] = [:]
        var steps: [String: [Int]] = [:]
        for task in model.structure.tasks {
            var node = task.output
            if case .softmax = model.structure.nodes[node].op {
                let r = model.structure.nodes[node].inputs[0]
                guard r.channelOffset == 0, r.channelCount == nil else {
                    throw TrainingError.invalidOption("task '\(task.name)': the softmax must read a whole value")
                }
                node = r.node
            }
            logits[task.name] = node
            steps[task.name] = executor.steps(for: [node])
        }
        logitNodes = logits
        stepsByTask = steps
        jointSteps = options.jointBatches ? executor.steps(for: Array(logits.values)) : []
        // In a joint batch a node computes only the samples of the tasks on whose path it is, and a
        // task's own batch norm counts only its task's images. One shared by the tasks (one input
        // per task) reads each task's samples from that task's input, so only that input is on the
        // task's path: the other tasks' inputs never see its images.
        let tasks = model.structure.tasks
        for node in model.structure.nodes {
            if case .batchNorm = node.op, node.inputs.count != 1, node.inputs.count != tasks.count {
                throw TrainingError.invalidOption("batch norm '\(node.name)' has \(node.inputs.count) inputs: one, or one per task (\(tasks.count))")
            }
        }
        let paths = tasks.indices.map { Self.path(of: $0, from: logits[tasks[$0].name]!, in: model.structure) }
        for i in model.structure.nodes.indices {
            executor.nodeTasks[i] = tasks.indices.filter { paths[$0].contains(i) }
        }
        taskIndex = Dictionary(uniqueKeysWithValues: tasks.enumerated().map { ($1.name, $0) })
        labelBuffer = [Int32](repeating: 0, count: capacity)
    }

    /// Per node: the tasks on whose path it is (`path(of:from:in:)`); what a joint batch computes.
    var nodeTasks: [Int: [Int]] { executor.nodeTasks }

    /// The nodes task `t`'s logits `output` depend on for its own images: every ancestor, except
    /// that through a batch norm with one input per task only input `t` is followed.
    static func path(of t: Int, from output: Int, in model: Model) -> Set<Int> {
        var path = Set<Int>()
        var stack = [output]
        while let i = stack.popLast() {
            guard path.insert(i).inserted else { continue }
            let node = model.nodes[i]
            if case .batchNorm = node.op, node.inputs.count > 1 {
                stack.append(node.inputs[t].node)
            } else {
                stack.append(contentsOf: node.inputs.map(\.node))
            }
        }
        return path
    }

    /// Trains for `options.epochs` epochs on `data` (task name → its training images).
    ///
    /// An epoch is as many iterations as the largest task needs to see all its images once; smaller
    /// tasks cycle through theirs. Images are shuffled each epoch (seeded).
    public func train(
        _ data: [String: TaskData],
        afterEpoch: ((EpochReport) -> Void)? = nil,
        progress: ((TrainingProgress) -> Void)? = nil
    ) throws(TrainingError) -> [EpochReport] {
        let tasks = try checkedTasks(data)
        let largest = tasks.map { data[$0]!.images.count }.max()!
        let perEpoch = (largest + options.batchSize - 1) / options.batchSize
        let total = perEpoch * options.epochs
        var reports: [EpochReport] = []
        var orders = tasks.map { _ in [Int]() }
        var cursors = [Int](repeating: 0, count: tasks.count)
        for epoch in 1...options.epochs {
            for k in tasks.indices {
                orders[k] = Array(0..<data[tasks[k]]!.images.count)
                orders[k].shuffle(using: &random)
                cursors[k] = 0
            }
            var lossSum = [Double](repeating: 0, count: tasks.count)
            var correct = [Int](repeating: 0, count: tasks.count)
            var seen = [Int](repeating: 0, count: tasks.count)
            let start = DispatchTime.now().uptimeNanoseconds
            var rate: Float = 0
            for it in 0..<perEpoch {
                rate = options.schedule.rate(base: options.learningRate, progress: Double((epoch - 1) * perEpoch + it) / Double(total))
                var batches: [(task: String, indices: [Int])] = []
                for (k, name) in tasks.enumerated() {
                    let images = data[name]!.images
                    // The largest task's last batch may be partial; others wrap around.
                    var count = options.batchSize
                    if images.count == largest { count = min(count, images.count - cursors[k]) }
                    var indices = [Int]()
                    indices.reserveCapacity(count)
                    for _ in 0..<count {
                        if cursors[k] == orders[k].count {
                            orders[k].shuffle(using: &random)
                            cursors[k] = 0
                        }
                        indices.append(orders[k][cursors[k]])
                        cursors[k] += 1
                    }
                    batches.append((name, indices))
                }
                for (k, result) in accumulateGradients(batches, data: data).enumerated() {
                    let count = batches[k].indices.count
                    lossSum[k] += result.loss * Double(count)
                    correct[k] += result.correct
                    seen[k] += count
                }
                optimizer.step(model, learningRate: rate)
                if let progress {
                    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
                    let images = seen.reduce(0, +)
                    progress(TrainingProgress(
                        epoch: epoch, epochs: options.epochs, iteration: it + 1, iterationsPerEpoch: perEpoch,
                        loss: zip(lossSum, seen).reduce(0) { $0 + $1.0 / Double(max($1.1, 1)) },
                        accuracy: Double(correct.reduce(0, +)) / Double(max(images, 1)),
                        imagesPerSecond: Double(images) / max(elapsed, 1e-9), elapsed: elapsed))
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            var lossByTask: [String: Double] = [:]
            var accuracyByTask: [String: Double] = [:]
            for (k, name) in tasks.enumerated() {
                lossByTask[name] = lossSum[k] / Double(max(seen[k], 1))
                accuracyByTask[name] = Double(correct[k]) / Double(max(seen[k], 1))
            }
            let report = EpochReport(epoch: epoch, seconds: seconds, iterations: perEpoch, learningRate: rate, loss: lossByTask, accuracy: accuracyByTask)
            reports.append(report)
            afterEpoch?(report)
        }
        return reports
    }

    /// Runs `iterations` joint iterations (one mini-batch per task each) at a constant
    /// `learningRate`, for light retraining; returns the mean loss per task.
    public func runIterations(_ iterations: Int, data: [String: TaskData], learningRate: Float) throws(TrainingError) -> [String: Double] {
        let tasks = try checkedTasks(data)
        var loss = [String: Double]()
        for _ in 0..<iterations {
            let batches = tasks.map { name in
                let count = data[name]!.images.count
                return (task: name, indices: (0..<options.batchSize).map { _ in Int(random.next() % UInt64(count)) })
            }
            for (name, result) in Swift.zip(tasks, accumulateGradients(batches, data: data)) {
                loss[name, default: 0] += result.loss / Double(iterations)
            }
            optimizer.step(model, learningRate: learningRate)
        }
        return loss
    }

    /// Sets the batch norms' running statistics to those of the data as the model is now: `batches`
    /// random mini-batches per task run forward in training mode, with no gradient and no update.
    /// With momentum 0.1 the statistics of the model's start are forgotten after about 50 batches.
    public func calibrateBatchNorms(_ data: [String: TaskData], batches: Int) throws(TrainingError) {
        let tasks = try checkedTasks(data)
        for _ in 0..<batches {
            let parts = tasks.map { name in
                let images = data[name]!.images
                return (name, images, (0..<options.batchSize).map { _ in Int(random.next() % UInt64(images.count)) })
            }
            if options.jointBatches {
                load(parts)
                executor.forward(jointSteps, training: true)
            } else {
                for (name, part) in Swift.zip(tasks, parts) {
                    load([part])
                    executor.forward(stepsByTask[name]!, training: true)
                }
            }
        }
    }

    /// Top-1 error (fraction) and mean loss of `task` on `images`, in inference mode (running
    /// batch-norm statistics, no dropout).
    public func evaluate(task: String, images: LabeledImages) throws(TrainingError) -> (error: Double, loss: Double) {
        guard let logits = logitNodes[task] else { throw TrainingError.unknownTask(task) }
        try checkShape(images, task: task)
        let steps = stepsByTask[task]!
        let classes = model.shapes[logits].channels
        var wrong = 0
        var loss = 0.0
        var start = 0
        while start < images.count {
            let count = min(options.batchSize, images.count - start)
            load([(task, images, Array(start..<(start + count)))])
            executor.forward(steps, training: false)
            let (l, right) = labelBuffer.withUnsafeBufferPointer {
                SoftmaxCrossEntropy.evaluate(logits: executor.output(logits), labels: $0.baseAddress!, batch: count, classes: classes, gradient: nil)
            }
            wrong += count - right
            loss += l * Double(count)
            start += count
        }
        return (Double(wrong) / Double(max(images.count, 1)), loss / Double(max(images.count, 1)))
    }

    // MARK: - Private

    private func checkedTasks(_ data: [String: TaskData]) throws(TrainingError) -> [String] {
        let tasks = model.structure.tasks.map(\.name).filter { data[$0] != nil }
        guard !tasks.isEmpty else { throw TrainingError.invalidOption("no training data for any task of the model") }
        for name in data.keys where logitNodes[name] == nil { throw TrainingError.unknownTask(name) }
        for name in tasks {
            let task = data[name]!
            try checkShape(task.images, task: name)
            if let d = task.distillation {
                let classes = model.shapes[logitNodes[name]!].channels
                guard d.classes == classes, d.teacher.count == task.images.count * classes else {
                    throw TrainingError.invalidOption("task '\(name)': the teacher has \(d.teacher.count / max(d.classes, 1)) rows of \(d.classes) classes for \(task.images.count) images of \(classes) classes")
                }
            }
        }
        return tasks
    }

    private func checkShape(_ images: LabeledImages, task: String) throws(TrainingError) {
        let spec = model.structure.input
        guard images.count > 0 else { throw TrainingError.invalidOption("task '\(task)' has no images") }
        guard images.rows == spec.height, images.cols == spec.width, spec.channels == 1 else {
            throw TrainingError.invalidOption("task '\(task)': \(images.cols)x\(images.rows) gray images do not fit the model input \(spec.width)x\(spec.height)x\(spec.channels)")
        }
        let classes = model.shapes[logitNodes[task]!].channels
        if let bad = images.labels.first(where: { Int($0) >= classes }) {
            throw TrainingError.invalidOption("task '\(task)' has label \(bad) but only \(classes) outputs")
        }
    }

    /// Normalises the images of each part (a task's), back to back, into the executor's input and
    /// their labels into `labelBuffer`; the batch is all of them, each part its task's samples.
    private func load(_ parts: [(task: String, images: LabeledImages, indices: [Int])]) {
        let spec = model.structure.input
        let scale = 1 / (255 * spec.std[0])
        let offset = spec.mean[0] / spec.std[0]
        let input = executor.inputPointer
        var s = 0
        executor.sampleRanges = [Range<Int>](repeating: 0..<0, count: model.structure.tasks.count)
        for (task, images, indices) in parts {
            executor.sampleRanges[taskIndex[task]!] = s..<(s + indices.count)
            let size = images.rows * images.cols
            images.pixels.withUnsafeBufferPointer { pixels in
                for index in indices {
                    let src = pixels.baseAddress! + index * size
                    let dst = input + s * size
                    for p in 0..<size { dst[p] = Float(src[p]) * scale - offset }
                    labelBuffer[s] = Int32(images.labels[index])
                    s += 1
                }
            }
        }
        executor.batch = s
    }

    /// Forward + loss + backward of one mini-batch per task (`batches`: task and image indices);
    /// gradients are added to the model's. Returns each batch's mean loss and correct count. The
    /// loss is the label cross-entropy, mixed with the distillation term when the task has one.
    private func accumulateGradients(_ batches: [(task: String, indices: [Int])], data: [String: TaskData]) -> [(loss: Double, correct: Int)] {
        guard options.jointBatches else {
            return batches.map { batch in
                load([(batch.task, data[batch.task]!.images, batch.indices)])
                executor.forward(stepsByTask[batch.task]!, training: true)
                let result = taskLoss(batch.task, data: data[batch.task]!, indices: batch.indices, offset: 0)
                executor.backward(stepsByTask[batch.task]!, lossNodes: [logitNodes[batch.task]!])
                return result
            }
        }
        load(batches.map { ($0.task, data[$0.task]!.images, $0.indices) })
        executor.forward(jointSteps, training: true)
        var offset = 0
        var results: [(loss: Double, correct: Int)] = []
        for batch in batches {
            let classes = model.shapes[logitNodes[batch.task]!].channels
            let gradient = executor.outputGradient(logitNodes[batch.task]!)
            // A task's logits over the other tasks' images do not count.
            gradient.update(repeating: 0, count: executor.batch * classes)
            results.append(taskLoss(batch.task, data: data[batch.task]!, indices: batch.indices, offset: offset))
            offset += batch.indices.count
        }
        executor.backward(jointSteps, lossNodes: batches.map { logitNodes[$0.task]! })
        return results
    }

    /// The loss of `task` on its images at `indices`, which are the batch's samples from `offset` on;
    /// writes the loss gradient of those samples.
    private func taskLoss(_ task: String, data: TaskData, indices: [Int], offset: Int) -> (loss: Double, correct: Int) {
        let logits = logitNodes[task]!
        let classes = model.shapes[logits].channels
        let output = executor.output(logits) + offset * classes, gradient = executor.outputGradient(logits) + offset * classes
        let distilled = data.distillation?.weight ?? 0
        var result = labelBuffer.withUnsafeBufferPointer {
            SoftmaxCrossEntropy.evaluate(logits: output, labels: $0.baseAddress! + offset, batch: indices.count, classes: classes,
                                         gradient: gradient, weight: 1 - distilled)
        }
        if let d = data.distillation, d.weight > 0 {
            teacherBuffer.removeAll(keepingCapacity: true)
            for i in indices { teacherBuffer.append(contentsOf: d.teacher[(i * classes)..<((i + 1) * classes)]) }
            let taught = SoftmaxCrossEntropy.addDistillation(
                logits: output, teacher: teacherBuffer, batch: indices.count, classes: classes, temperature: d.temperature,
                weight: d.weight, gradient: gradient)
            result.loss = Double(1 - d.weight) * result.loss + Double(d.weight) * taught
        }
        return result
    }
}

/// Errors of setting up or running training.
public enum TrainingError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidOption(String)
    case unknownTask(String)
    case invalidModel(String)

    public var description: String {
        switch self {
        case .invalidOption(let why): why
        case .unknownTask(let name): "unknown task '\(name)'"
        case .invalidModel(let why): "invalid model: \(why)"
        }
    }
}
