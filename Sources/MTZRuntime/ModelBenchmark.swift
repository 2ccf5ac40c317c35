#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import MTZCore
import CMTZKernels

/// Latency of whole-model runs, with an optional per-node breakdown.
public enum ModelBenchmark {
    /// One executed node's share of a run.
    public struct NodeProfile: Sendable, Codable {
        /// Node name.
        public var name: String
        /// Op name; convolutions add the algorithm, e.g. `conv/winograd`.
        public var op: String
        /// Median seconds over the timed runs.
        public var medianSeconds: Double
        /// Floating-point operations per run (a multiply-add counts two), as `mtz inspect` counts
        /// them: Winograd's savings show as a higher GFLOP/s, not as fewer FLOPs.
        public var flops: Int
        /// `flops / medianSeconds`, in GFLOP/s.
        public var gflops: Double
        /// `medianSeconds` as a percentage of the median run.
        public var percentOfRun: Double
    }

    /// Latency statistics over timed runs.
    public struct Result: Sendable, Codable {
        public var iterations: Int
        /// Untimed runs before the timed ones.
        public var warmup: Int
        public var medianSeconds: Double
        public var minSeconds: Double
        public var maxSeconds: Double
        /// Median of the shared part and of each task's own part.
        public var medianSharedSeconds: Double
        public var medianTaskSeconds: [String: Double]
        /// Process CPU time (user + system, all threads) per timed run: on a loaded machine, where
        /// the wall-clock latency includes time the threads waited for a core, this is the work one
        /// run costs (at 1 thread, close to the latency an idle core would give).
        public var cpuSecondsPerRun: Double
        /// Per executed node in execution order (input node excluded), when profiling was asked for.
        public var profile: [NodeProfile]?
    }

    /// Runs `session` on a fixed input `warmup` times untimed, then `iterations` times timed.
    /// - Parameter profile: also record every node's time and report a per-node breakdown.
    public static func run(_ session: Session, iterations: Int, warmup: Int = 3, profile: Bool = false) throws(RuntimeError) -> Result {
        guard iterations >= 1 else { throw RuntimeError.invalidOption("iterations must be at least 1") }
        guard warmup >= 0 else { throw RuntimeError.invalidOption("warm-up runs must not be negative") }
        let input = [Float](repeating: 0.25, count: session.model.inputCount)
        let steps = Array(session.plan.steps.dropFirst())
        var totals: [Double] = []
        var shared: [Double] = []
        var perTask: [String: [Double]] = [:]
        var perNode = [[Double]](repeating: [], count: profile ? steps.count : 0)
        var cpuStart = 0.0
        try input.withUnsafeBufferPointer { (p) throws(RuntimeError) in
            for _ in 0..<warmup { try session.run(input: p) }
            cpuStart = processCPUSeconds()
            for _ in 0..<iterations {
                try session.run(input: p)
                totals.append(session.timings.total)
                shared.append(session.timings.shared)
                for (name, s) in session.timings.perTask { perTask[name, default: []].append(s) }
                if profile {
                    for (k, i) in steps.enumerated() { perNode[k].append(Double(session.nodeNanoseconds[i]) * 1e-9) }
                }
            }
        }
        let cpuPerRun = (processCPUSeconds() - cpuStart) / Double(iterations)
        let medianTotal = median(totals)
        var nodes: [NodeProfile]?
        if profile {
            let model = session.model
            nodes = steps.enumerated().map { k, i in
                let seconds = median(perNode[k])
                let flops = ModelStatistics.flops(of: i, in: model.model, shapes: model.shapes)
                var op = model.model.nodes[i].op.name
                if case .convolution(let c) = model.nodes[i], c.algorithm != .depthwise { op += "/\(c.algorithm.rawValue)" }
                return NodeProfile(name: model.model.nodes[i].name, op: op, medianSeconds: seconds, flops: flops,
                                   gflops: seconds > 0 ? Double(flops) / seconds / 1e9 : 0,
                                   percentOfRun: medianTotal > 0 ? 100 * seconds / medianTotal : 0)
            }
        }
        return Result(iterations: iterations, warmup: warmup, medianSeconds: medianTotal, minSeconds: totals.min()!,
                      maxSeconds: totals.max()!, medianSharedSeconds: median(shared), medianTaskSeconds: perTask.mapValues(median),
                      cpuSecondsPerRun: cpuPerRun, profile: nodes)
    }

    /// Peak resident set size of this process so far, in bytes: Linux's `VmHWM`, which starts afresh
    /// at `exec` (getrusage's `ru_maxrss` keeps the high-water mark of a big parent that forked
    /// this process); `getrusage` elsewhere; 0 where neither is available.
    public static func peakResidentBytes() -> Int {
        if let kib = statusField("VmHWM:") { return kib * 1024 }
        guard let usage = processUsage() else { return 0 }
        #if canImport(Darwin)
        return Int(usage.ru_maxrss) // bytes on Darwin
        #else
        return Int(usage.ru_maxrss) * 1024 // kilobytes on Linux
        #endif
    }

    /// A "Name:   N kB" line of /proc/self/status, in KiB (nil off Linux or when absent).
    private static func statusField(_ name: String) -> Int? {
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix(name) else { continue }
            return Int(text.dropFirst(name.count).split(separator: " ").first ?? "")
        }
        return nil
    }

    /// User plus system CPU seconds of this process (all threads) so far.
    private static func processCPUSeconds() -> Double {
        guard let u = processUsage() else { return 0 }
        return Double(u.ru_utime.tv_sec) + Double(u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
    }

    private static func processUsage() -> rusage? {
        var usage = rusage()
        #if canImport(Glibc)
        let who = __rusage_who_t(RUSAGE_SELF.rawValue)
        #else
        let who = RUSAGE_SELF
        #endif
        return getrusage(who, &usage) == 0 ? usage : nil
    }

    private static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.isEmpty ? 0 : s[s.count / 2]
    }
}

extension InferenceModel {
    /// How many convolution nodes use each algorithm.
    public var convolutionAlgorithmCounts: [ConvolutionAlgorithm: Int] {
        var counts: [ConvolutionAlgorithm: Int] = [:]
        for case .convolution(let c) in nodes { counts[c.algorithm, default: 0] += 1 }
        return counts
    }

    /// The Winograd variants the model's convolutions use, e.g. `["F(4x4,3x3)", "F(2x2,5x5)"]`
    /// (empty when none does).
    public var winogradVariants: [String] {
        var kernels: [Int] = []
        for case .convolution(let c) in nodes where c.algorithm == .winograd && !kernels.contains(c.params.kernel_h) {
            kernels.append(c.params.kernel_h)
        }
        return kernels.sorted().map { k in
            var p = mtz_conv2d_params()
            p.kernel_h = k
            let m = mtz_winograd_tile_size(&p)
            return "F(\(m)x\(m),\(k)x\(k))"
        }
    }
}
