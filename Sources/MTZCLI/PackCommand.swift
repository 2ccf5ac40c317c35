import ArgumentParser
import MTZCore

/// `mtz pack`: several models in one file, sharing nothing but the input.
struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Put the tasks of several models with the same input spec into one .mtz, sharing nothing.",
        discussion: """
            The result runs every task on one decoded image, but each task keeps its whole network: the \
            baseline that `mtz zip` improves on. Node and layer names are prefixed with each model's first \
            task name. Models whose input specs (size, channels, normalisation, resize) differ are refused.
            """
    )

    @Argument(help: "Two or more .mtz models.")
    var models: [String] = []

    @Option(name: [.short, .customLong("output")], help: "Where to write the combined model.")
    var output: String

    @Option(name: .long, help: "Description stored in the model's metadata.")
    var description: String?

    func validate() throws {
        guard models.count >= 2 else { throw ValidationError("give at least two models") }
    }

    func run() throws {
        var loaded: [Model] = []
        for path in models {
            do { loaded.append(try ModelFile.read(contentsOf: path)) } catch { throw report(error, context: path) }
        }
        do {
            var combined = try Model.combining(loaded)
            combined.metadata["description"] = description ?? "packed by mtz pack from \(models.joined(separator: ", ")); nothing shared"
            combined.metadata["producer"] = "mtz pack"
            try ModelFile.write(combined, to: output)
            let stats = try ModelStatistics(combined)
            print("wrote \(output): tasks \(combined.tasks.map(\.name).joined(separator: ", ")), \(grouped(stats.parameters)) parameters")
        } catch {
            throw report(error)
        }
    }
}
