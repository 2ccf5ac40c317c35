import ArgumentParser
import MTZCore
import MTZRuntime

/// `mtz inspect`: what a model holds and what its tasks share.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's tasks, layers, sharing and memory saving.",
        discussion: """
            Per layer: the output channels each task shares with another task (their incoming weights are \
            stored once) and those it has alone, the shared and per-task parameters, and whether the layer \
            is computed once for several tasks. Totals compare the model with the separate single-task \
            networks it stands for: weight bytes (and the saving in bytes and %), and FLOPs per image for \
            all tasks run together vs each network run on its own.
            """
    )

    @Argument(help: "The .mtz model file.")
    var model: String

    @Flag(name: .long, help: "Print JSON on stdout instead of text.")
    var json = false

    func run() throws {
        let stored: Model
        let stats: ModelStatistics
        let packed: [PackedWeights]
        do {
            (stored, packed) = try ModelFile.readWithPackedWeights(contentsOf: model)
            stats = try ModelStatistics(stored)
        } catch {
            throw report(error, context: model)
        }
        if json {
            try printJSON(InspectReport(path: model, model: stored, statistics: stats))
        } else {
            printText(stored, stats)
            if !packed.isEmpty {
                var isas: [String] = []
                for v in packed {
                    let name = KernelISA.allCases.first { $0.code == v.isa }?.rawValue ?? "isa \(v.isa)"
                    if !isas.contains(name) { isas.append(name) }
                }
                let bytes = packed.reduce(0) { $0 + 4 * $1.values.count }
                print("pre-packed convolution weights (mtz prepack): \(packed.count) for \(isas.joined(separator: ", ")), \(byteString(bytes))")
            }
        }
    }

    private func printText(_ m: Model, _ s: ModelStatistics) {
        let spec = m.input
        print("model: \(model)")
        for key in m.metadata.keys.sorted() { print("  \(key): \(m.metadata[key]!)") }
        print("input: \(spec.width)x\(spec.height) \(spec.format.name), mean \(spec.mean), std \(spec.std), resize \(spec.resize.name)")
        print("tasks:")
        for t in m.tasks {
            let preview = t.labels.prefix(5).joined(separator: ", ") + (t.labels.count > 5 ? ", ..." : "")
            print("  \(t.name): \(t.labels.count) labels (\(preview))\(t.summary.isEmpty ? "" : " — \(t.summary)")")
        }
        print("")
        let names = s.tasks
        let nameWidth = max(8, (s.layers.map(\.name.count).max() ?? 0) + 2)
        var header = pad("layer", nameWidth) + pad("ops", 22) + pad("once", 5)
        for t in names { header += pad("\(t) sh/own", 16, left: true) }
        header += pad("shared params", 15, left: true)
        for t in names { header += pad("\(t) params", 16, left: true) }
        header += pad("MFLOP", 10, left: true)
        print(header)
        for l in s.layers {
            var line = pad(l.name, nameWidth) + pad(opSummary(l.ops), 22) + pad(l.computedOnce ? "yes" : "", 5)
            for t in names { line += pad("\(l.sharedChannels[t] ?? 0)/\(l.specificChannels[t] ?? 0)", 16, left: true) }
            line += pad(grouped(l.sharedParameters), 15, left: true)
            for t in names { line += pad(grouped(l.taskParameters[t] ?? 0), 16, left: true) }
            line += pad(String(format: "%.3f", Double(l.flops) / 1e6), 10, left: true)
            print(line)
        }
        print("")
        print("parameters: \(grouped(s.parameters)) stored (\(grouped(s.sharedParameters)) shared)")
        for t in names {
            print("  \(t): needs \(grouped(s.parametersPerTask[t] ?? 0)), own \(grouped(s.taskParameters[t] ?? 0))")
        }
        let pct = String(format: "%.2f", 100 * s.savedFraction)
        print("weights: \(byteString(s.weightBytes)) vs \(byteString(s.separateWeightBytes)) as separate networks: saves \(byteString(s.savedBytes)) (\(pct) %)")
        let ratio = s.flopsSeparate > 0 ? Double(s.flopsTogether) / Double(s.flopsSeparate) : 1
        print("FLOPs per image: \(String(format: "%.3f", Double(s.flopsTogether) / 1e6)) M for all tasks together vs \(String(format: "%.3f", Double(s.flopsSeparate) / 1e6)) M separately (\(String(format: "%.1f", 100 * ratio)) %)")
    }
}

/// "conv×3+fc" for ["conv", "conv", "conv", "fc"].
func opSummary(_ ops: [String]) -> String {
    var parts: [(String, Int)] = []
    for op in ops {
        if let i = parts.firstIndex(where: { $0.0 == op }) { parts[i].1 += 1 } else { parts.append((op, 1)) }
    }
    return parts.map { $0.1 > 1 ? "\($0.0)×\($0.1)" : $0.0 }.joined(separator: "+")
}

/// JSON shape of `mtz inspect --json`.
struct InspectReport: Encodable {
    struct Task: Encodable {
        var name: String
        var labels: [String]
        var summary: String
        var outputNode: String
    }
    var path: String
    var metadata: [String: String]
    var input: InputSpec
    var tasks: [Task]
    var nodes: Int
    var statistics: ModelStatistics

    init(path: String, model: Model, statistics: ModelStatistics) {
        self.path = path
        metadata = model.metadata
        input = model.input
        tasks = model.tasks.map { Task(name: $0.name, labels: $0.labels, summary: $0.summary, outputNode: model.nodes[$0.output].name) }
        nodes = model.nodes.count
        self.statistics = statistics
    }
}
