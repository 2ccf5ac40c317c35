import ArgumentParser

/// The `mtz` command: run, inspect and measure multi-task models.
@main
struct MTZ: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtz",
        abstract: "Run several correlated CNNs on one image for little more than the cost of one.",
        discussion: """
            A .mtz file holds one multi-head network: parts shared by several tasks are stored once and \
            computed once per image; each task adds only its own layers.

            Exit codes: 0 success, 64 usage error, 65 bad model, image or data, 1 anything else.
            Environment: MTZ_ISA=scalar|avx2|avx512|neon caps the kernels' instruction set.
            """,
        version: "0.1.0",
        subcommands: [RunCommand.self, InspectCommand.self, BenchCommand.self, TrainCommand.self, EvalCommand.self, PackCommand.self, PrepackCommand.self, ZipCommand.self, ImportCommand.self, ExportCommand.self, RunTensorCommand.self, BenchModelCommand.self]
    )
}
