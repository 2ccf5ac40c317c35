import ArgumentParser
import MTZCore
import MTZImage
import MTZRuntime

/// `mtz run`: predictions of several tasks for each image.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model's tasks on images and print each task's top labels.",
        discussion: """
            Each image is decoded (PNG or JPEG), converted to the model's input (channels, size, \
            normalisation from the model's input spec) and run once: the layers the requested tasks share \
            are computed once, then each task's own layers. The time of the shared part and of each task's \
            own part is printed.

            An image that cannot be read is reported on stderr and the other images still run; the exit \
            code is then 65.
            """
    )

    @Argument(help: "The .mtz model file.")
    var model: String

    @Argument(help: "PNG or JPEG images.")
    var images: [String] = []

    @Option(name: .long, help: "Comma-separated task names to run (default: all tasks of the model).")
    var tasks: String?

    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Number of labels to print per task.")
    var topK: Int = 3

    @Option(name: .long, parsing: .unconditional, help: "Intra-op threads (results do not depend on it).")
    var threads: Int = 1

    @Flag(name: .long, help: "Print JSON on stdout instead of text.")
    var json = false

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
        if let tasks, taskList(tasks).isEmpty { throw ValidationError("--tasks is empty") }
    }

    func run() throws {
        let loaded = try loadModel(model)
        let session: Session
        do {
            session = try loaded.makeSession(tasks: tasks.map(taskList), threads: threads)
        } catch {
            throw report(error)
        }
        var results: [ImageResult] = []
        var failed = false
        for path in images {
            do {
                let t0 = Clock.now
                let image = try ImageDecoder.decode(contentsOf: path)
                let decoded = Clock.now
                let outputs = try session.run(image: image)
                results.append(ImageResult(path: path, session: session, outputs: outputs, topK: topK,
                                           decodeSeconds: Clock.seconds(from: t0, to: decoded)))
            } catch {
                failed = true
                _ = report(error, context: path)
                results.append(ImageResult(path: path, error: String(describing: error)))
            }
        }
        if json {
            try printJSON(RunReport(model: model, isa: loaded.isa.rawValue, threads: threads, images: results))
        } else {
            printText(results)
        }
        if failed { throw Exit.data }
    }

    private func printText(_ results: [ImageResult]) {
        for (n, r) in results.enumerated() {
            if n > 0 { print("") }
            guard let tasks = r.tasks else {
                print("\(r.path): error: \(r.error ?? "unknown")")
                continue
            }
            print("\(r.path)")
            for t in tasks {
                print("  \(t.task)  (own layers \(milliseconds(t.seconds)))")
                let width = t.top.map(\.label.count).max() ?? 0
                for (rank, p) in t.top.enumerated() {
                    print("    \(rank + 1). \(pad(p.label, width))  \(String(format: "%.4f", p.probability))")
                }
            }
            print("  time: shared \(milliseconds(r.sharedSeconds ?? 0)), total \(milliseconds(r.totalSeconds ?? 0)), decode \(milliseconds(r.decodeSeconds ?? 0))")
        }
    }
}

/// Splits a comma-separated task list.
func taskList(_ s: String) -> [String] {
    s.split(separator: ",").map { $0.trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
}

extension StringProtocol {
    /// The string without leading and trailing characters from `set`.
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

/// JSON shape of `mtz run --json`.
struct RunReport: Encodable {
    var model: String
    var isa: String
    var threads: Int
    var images: [ImageResult]
}

/// One image's results, or its error.
struct ImageResult: Encodable {
    struct Prediction: Encodable {
        var index: Int
        var label: String
        var probability: Float
    }
    struct TaskResult: Encodable {
        var task: String
        var top: [Prediction]
        var seconds: Double
    }
    var path: String
    var tasks: [TaskResult]?
    var sharedSeconds: Double?
    var totalSeconds: Double?
    var decodeSeconds: Double?
    var error: String?

    init(path: String, error: String) {
        self.path = path
        self.error = error
    }

    init(path: String, session: Session, outputs: [String: [Float]], topK: Int, decodeSeconds: Double) {
        self.path = path
        let heads = Dictionary(uniqueKeysWithValues: session.model.model.tasks.map { ($0.name, $0) })
        tasks = session.tasks.map { name in
            let scores = outputs[name] ?? []
            let labels = heads[name]?.labels ?? []
            let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
            let top = order.prefix(topK).map { i in
                Prediction(index: i, label: i < labels.count ? labels[i] : "class \(i)", probability: scores[i])
            }
            return TaskResult(task: name, top: top, seconds: session.timings.perTask[name] ?? 0)
        }
        sharedSeconds = session.timings.shared
        totalSeconds = session.timings.total
        self.decodeSeconds = decodeSeconds
    }
}
