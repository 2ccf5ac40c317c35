import ArgumentParser
import MTZRuntime

/// `mtz bench`: model latency, or GEMM kernel throughput against the FMA peak.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a model's latency, or the GEMM kernels' GFLOP/s against the CPU's FMA peak.",
        discussion: """
            mtz bench MODEL            latency of MODEL (warm-up, then median/min/max), load time, memory.
            mtz bench MODEL --profile  the same plus every node's median time, GFLOP/s and share of the run.
            mtz bench --gemm 512       single-thread GFLOP/s of an N×N×N GEMM for every ISA this CPU runs, \
            next to the FMA peak measured by the same tool (a register-resident FMA loop).
            mtz bench --gemm 12544x16x144   the same for an M×N×K GEMM (C[M][N] = A[M][K]·B[K][N] + bias): \
            e.g. a layer's convolution as im2col GEMM (M = batch·pixels, N = output channels, \
            K = input channels·kernel size), or its weight gradient (M = output channels, K = batch·pixels).
            """
    )

    @Argument(help: "The .mtz model file (omit with --gemm).")
    var model: String?

    @Option(name: .long, parsing: .unconditional, help: "Benchmark a GEMM instead of a model: N (N×N×N) or M×N×K, each 1...16384, M·N·K ≤ 4096³.")
    var gemm: String?

    @Option(name: .long, help: "Comma-separated task names (default: all).")
    var tasks: String?

    @Option(name: .long, parsing: .unconditional, help: "Intra-op threads.")
    var threads: Int = 1

    @Option(name: .long, parsing: .unconditional, help: "Timed iterations.")
    var iterations: Int = 50

    @Option(name: .long, parsing: .unconditional, help: "Untimed runs before the timed ones.")
    var warmup: Int = 3

    @Flag(name: .long, help: "Per-node breakdown: median time, GFLOP/s and share of the run.")
    var profile = false

    @Option(name: .long, help: "Convolution algorithms: automatic (Winograd where faster), gemm-only, winograd (wherever eligible).")
    var convolutions: String = ConvolutionPolicy.automatic.rawValue

    @Flag(name: .long, help: "Print JSON on stdout instead of text.")
    var json = false

    func validate() throws {
        if gemm == nil, model == nil { throw ValidationError("give a model, or --gemm N") }
        if gemm != nil, model != nil { throw ValidationError("give either a model or --gemm, not both") }
        if let gemm, gemmShape(gemm) == nil { throw ValidationError("--gemm must be N or MxNxK, each in 1...16384 and M·N·K at most 4096³ (got '\(gemm)')") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
        guard (1...1_000_000).contains(iterations) else { throw ValidationError("--iterations must be in 1...1000000") }
        guard (0...1_000_000).contains(warmup) else { throw ValidationError("--warmup must be in 0...1000000") }
        guard ConvolutionPolicy(rawValue: convolutions) != nil else {
            throw ValidationError("--convolutions must be one of: \(ConvolutionPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        if let gemm { try runGEMM(gemmShape(gemm)!) } else { try runModel(model!) }
    }

    /// `N` or `MxNxK` (also with '×'), each in 1...16384 and M·N·K at most 4096³ (about a second
    /// per run on one core).
    private func gemmShape(_ text: String) -> (m: Int, n: Int, k: Int)? {
        let sizes = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "x" || $0 == "×" }).map { Int($0) }
        guard sizes.count == 1 || sizes.count == 3, sizes.allSatisfy({ $0.map { (1...16384).contains($0) } ?? false }) else { return nil }
        let s = sizes.map { $0! }
        let shape = s.count == 1 ? (m: s[0], n: s[0], k: s[0]) : (m: s[0], n: s[1], k: s[2])
        return shape.m * shape.n * shape.k <= 4096 * 4096 * 4096 ? shape : nil
    }

    private func runGEMM(_ shape: (m: Int, n: Int, k: Int)) throws {
        let (m, n, k) = shape
        var results: [KernelBenchmark.GEMMResult] = []
        for isa in KernelISA.supported {
            do {
                let reps = max(3, min(50, Int(2e9 / (2 * Double(m) * Double(n) * Double(k)))))
                results.append(try KernelBenchmark.gemm(isa: isa, m: m, n: n, k: k, repetitions: reps))
            } catch {
                throw report(error)
            }
        }
        if json {
            try printJSON(results)
            return
        }
        print("GEMM \(m)x\(n)x\(k), 1 thread (best of runs; peak = register-resident FMA loop)")
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
        let baseRSS = ModelBenchmark.peakResidentBytes() // the process before the model: code, runtime libraries
        let t0 = Clock.now
        let loaded = try loadModel(path, convolutions: ConvolutionPolicy(rawValue: convolutions)!)
        let loadSeconds = Clock.seconds(from: t0, to: Clock.now)
        let result: ModelBenchmark.Result
        let session: Session
        let readySeconds: Double
        do {
            session = try loaded.makeSession(tasks: tasks.map(taskList), threads: threads)
            readySeconds = Clock.seconds(from: t0, to: Clock.now)
            result = try ModelBenchmark.run(session, iterations: iterations, warmup: warmup, profile: profile)
        } catch {
            throw report(error)
        }
        let algorithms = loaded.convolutionAlgorithmCounts
        let report = BenchReport(model: path, isa: loaded.isa.rawValue, tile: "\(loaded.isa.gemmTile.mr)x\(loaded.isa.gemmTile.nr)",
                                 threads: threads, tasks: session.tasks, loadSeconds: loadSeconds, readySeconds: readySeconds,
                                 packedWeightBytes: loaded.packedWeightBytes, mappedWeightBytes: loaded.mappedWeightBytes,
                                 arenaBytes: session.arenaBytes,
                                 workspaceBytes: session.workspaceBytes, baseRSSBytes: baseRSS,
                                 peakRSSBytes: ModelBenchmark.peakResidentBytes(),
                                 convolutionPolicy: loaded.convolutionPolicy.rawValue,
                                 convolutionAlgorithms: Dictionary(uniqueKeysWithValues: algorithms.map { ($0.key.rawValue, $0.value) }),
                                 winogradTile: loaded.winogradVariants.isEmpty ? nil : loaded.winogradVariants.joined(separator: " + "),
                                 latency: result)
        if json {
            try printJSON(report)
            return
        }
        let convs = ConvolutionAlgorithm.allCases.compactMap { a in algorithms[a].map { "\($0) \(a.rawValue)" } }
        print("model: \(path)  tasks: \(session.tasks.joined(separator: ","))  isa: \(report.isa) (GEMM tile \(report.tile))  threads: \(threads)")
        print("convolutions (\(report.convolutionPolicy)): \(convs.isEmpty ? "none" : convs.joined(separator: ", "))"
            + (report.winogradTile.map { ", Winograd \($0)" } ?? ""))
        print("load: \(milliseconds(loadSeconds)) (mmap, checks, weight packing), ready to run: \(milliseconds(readySeconds))")
        print("packed weights: \(byteString(report.packedWeightBytes))  read in place: \(byteString(report.mappedWeightBytes))  "
            + "arena: \(byteString(report.arenaBytes))  "
            + "scratch: \(byteString(report.workspaceBytes))")
        print("peak RSS: \(byteString(report.peakRSSBytes)) = \(byteString(report.baseRSSBytes)) before loading (the program and "
            + "its libraries) + \(byteString(report.peakRSSBytes - report.baseRSSBytes)) for the model and session")
        print("latency over \(result.iterations) runs after \(result.warmup) warm-up: median \(milliseconds(result.medianSeconds)), "
            + "min \(milliseconds(result.minSeconds)), max \(milliseconds(result.maxSeconds)); "
            + "CPU time per run \(milliseconds(result.cpuSecondsPerRun))")
        print("  shared part: \(milliseconds(result.medianSharedSeconds))")
        for t in session.tasks { print("  \(t): \(milliseconds(result.medianTaskSeconds[t] ?? 0))") }
        if let nodes = result.profile {
            print("")
            print(pad("node", 28) + pad("op", 16) + pad("median", 12, left: true) + pad("GFLOP/s", 10, left: true) + pad("% run", 8, left: true))
            for n in nodes {
                print(pad(n.name, 28) + pad(n.op, 16) + pad(milliseconds(n.medianSeconds), 12, left: true)
                    + pad(n.flops > 0 ? String(format: "%.1f", n.gflops) : "-", 10, left: true)
                    + pad(String(format: "%.1f", n.percentOfRun), 8, left: true))
            }
        }
    }
}

/// JSON shape of `mtz bench MODEL --json`.
struct BenchReport: Encodable {
    var model: String
    var isa: String
    var tile: String
    var threads: Int
    var tasks: [String]
    /// mmap, validation, optimisation and weight packing.
    var loadSeconds: Double
    /// Load plus session creation (planning, arena): first-run readiness.
    var readySeconds: Double
    var packedWeightBytes: Int
    var mappedWeightBytes: Int
    var arenaBytes: Int
    var workspaceBytes: Int
    /// Peak RSS before the model was loaded (the program and its libraries).
    var baseRSSBytes: Int
    var peakRSSBytes: Int
    var convolutionPolicy: String
    var convolutionAlgorithms: [String: Int]
    var winogradTile: String?
    var latency: ModelBenchmark.Result
}
