import ArgumentParser
import MTZRuntime

/// `mtz bench`: model latency, or GEMM kernel throughput against the FMA peak.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a model's latency, or the GEMM kernels' GFLOP/s against the CPU's FMA peak.",
        discussion: """
            mtz bench MODEL            latency of MODEL (warm-up, then median/min/max), load time, memory.
            mtz bench --gemm 512       single-thread GFLOP/s of an N×N×N GEMM for every ISA this CPU runs, \
            next to the FMA peak measured by the same tool (a register-resident FMA loop).
            """
    )

    @Argument(help: "The .mtz model file (omit with --gemm).")
    var model: String?

    @Option(name: .long, help: "Benchmark an N×N×N GEMM instead of a model.")
    var gemm: Int?

    @Option(name: .long, help: "Comma-separated task names (default: all).")
    var tasks: String?

    @Option(name: .long, help: "Intra-op threads.")
    var threads: Int = 1

    @Option(name: .long, help: "Timed iterations.")
    var iterations: Int = 50

    @Flag(name: .long, help: "Print JSON on stdout instead of text.")
    var json = false

    func validate() throws {
        if gemm == nil, model == nil { throw ValidationError("give a model, or --gemm N") }
        if gemm != nil, model != nil { throw ValidationError("give either a model or --gemm, not both") }
        if let gemm, !(1...4096).contains(gemm) { throw ValidationError("--gemm must be in 1...4096") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
        guard (1...1_000_000).contains(iterations) else { throw ValidationError("--iterations must be in 1...1000000") }
    }

    func run() throws {
        if let gemm { try runGEMM(size: gemm) } else { try runModel(model!) }
    }

    private func runGEMM(size: Int) throws {
        var results: [KernelBenchmark.GEMMResult] = []
        for isa in KernelISA.supported {
            do {
                let reps = max(3, min(50, Int(2e9 / (2 * Double(size) * Double(size) * Double(size)))))
                results.append(try KernelBenchmark.gemm(isa: isa, m: size, n: size, k: size, repetitions: reps))
            } catch {
                throw report(error)
            }
        }
        if json {
            try printJSON(results)
            return
        }
        print("GEMM \(size)x\(size)x\(size), 1 thread (best of runs; peak = register-resident FMA loop)")
        print(pad("isa", 8) + pad("tile", 8) + pad("GFLOP/s", 10, left: true) + pad("median", 10, left: true) + pad("peak", 10, left: true) + pad("of peak", 10, left: true))
        for r in results {
            print(pad(r.isa, 8) + pad("\(r.mr)x\(r.nr)", 8)
                + pad(String(format: "%.1f", r.bestGflops), 10, left: true)
                + pad(String(format: "%.1f", r.medianGflops), 10, left: true)
                + pad(String(format: "%.1f", r.peakGflops), 10, left: true)
                + pad(r.isa == "scalar" ? "n/a" : String(format: "%.1f %%", 100 * r.fractionOfPeak), 10, left: true))
        }
        print("(scalar: portable C that the compiler may auto-vectorise, against a one-lane FMA loop: no meaningful ratio)")
    }

    private func runModel(_ path: String) throws {
        let t0 = Clock.now
        let loaded = try loadModel(path)
        let loadSeconds = Clock.seconds(from: t0, to: Clock.now)
        let result: ModelBenchmark.Result
        let session: Session
        do {
            session = try loaded.makeSession(tasks: tasks.map(taskList), threads: threads)
            result = try ModelBenchmark.run(session, iterations: iterations)
        } catch {
            throw report(error)
        }
        let report = BenchReport(model: path, isa: loaded.isa.rawValue, tile: "\(loaded.isa.gemmTile.mr)x\(loaded.isa.gemmTile.nr)",
                                 threads: threads, tasks: session.tasks, loadSeconds: loadSeconds,
                                 packedWeightBytes: loaded.packedWeightBytes, arenaBytes: session.arenaBytes, latency: result)
        if json {
            try printJSON(report)
            return
        }
        print("model: \(path)  tasks: \(session.tasks.joined(separator: ","))  isa: \(report.isa) (\(report.tile))  threads: \(threads)")
        print("load: \(milliseconds(loadSeconds))  packed weights: \(byteString(report.packedWeightBytes))  arena: \(byteString(report.arenaBytes))")
        print("latency over \(result.iterations) runs: median \(milliseconds(result.medianSeconds)), min \(milliseconds(result.minSeconds)), max \(milliseconds(result.maxSeconds))")
        print("  shared part: \(milliseconds(result.medianSharedSeconds))")
        for t in session.tasks { print("  \(t): \(milliseconds(result.medianTaskSeconds[t] ?? 0))") }
    }
}

/// JSON shape of `mtz bench MODEL --json`.
struct BenchReport: Encodable {
    var model: String
    var isa: String
    var tile: String
    var threads: Int
    var tasks: [String]
    var loadSeconds: Double
    var packedWeightBytes: Int
    var arenaBytes: Int
    var latency: ModelBenchmark.Result
}
