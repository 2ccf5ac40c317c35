import ArgumentParser
import MTZCore

/// `mtz bench-model` (hidden): writes one of the benchmark networks with seeded random weights.
struct BenchModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-model",
        abstract: "Write a benchmark network (random weights) as a .mtz file.",
        discussion: """
            Architectures: \(BenchmarkModels.Architecture.allCases.map(\.rawValue).joined(separator: ", ")). \
            Inputs are 224×224 RGB; the weights are seeded, so the same file comes out every time. \
            scripts/make-bench-models.sh writes all of them.
            """,
        shouldDisplay: false
    )

    @Argument(help: "The architecture.")
    var architecture: String

    @Option(name: [.short, .customLong("output")], help: "Where to write the model.")
    var output: String

    func validate() throws {
        guard BenchmarkModels.Architecture(rawValue: architecture) != nil else {
            throw ValidationError("unknown architecture '\(architecture)' (expected one of: "
                + BenchmarkModels.Architecture.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
    }

    func run() throws {
        let model = BenchmarkModels.make(BenchmarkModels.Architecture(rawValue: architecture)!)
        do {
            try ModelFile.write(model, to: output)
            let stats = try ModelStatistics(model)
            print("wrote \(output): \(architecture), \(grouped(stats.parameters)) parameters, "
                + String(format: "%.2f GFLOP", Double(stats.flopsTogether) / 1e9))
        } catch {
            throw report(error)
        }
    }
}
