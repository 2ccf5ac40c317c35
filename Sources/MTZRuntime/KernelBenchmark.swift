import CMTZKernels
import Dispatch

/// Throughput of the GEMM kernels against the CPU's measured FMA peak.
public enum KernelBenchmark {
    /// One GEMM measurement.
    public struct GEMMResult: Sendable, Codable {
        public var isa: String
        public var m: Int
        public var n: Int
        public var k: Int
        /// Microkernel tile.
        public var mr: Int
        public var nr: Int
        /// Best and median GFLOP/s over the repetitions (2·M·N·K flops per call).
        public var bestGflops: Double
        public var medianGflops: Double
        /// Single-thread FMA peak of the same ISA, measured by a register-resident FMA loop.
        public var peakGflops: Double
        /// `bestGflops / peakGflops`.
        public var fractionOfPeak: Double
    }

    /// Single-thread GFLOP/s of a register-resident FMA loop on `isa` (about `seconds` long).
    public static func fmaPeak(isa: KernelISA, seconds: Double = 0.2) -> Double {
        mtz_measure_fma_peak_gflops(isa.raw, seconds)
    }

    /// Times `C = A·B + bias` for an M×N×K problem on one thread.
    /// - Parameters:
    ///   - repetitions: timed calls after one warm-up call.
    public static func gemm(isa: KernelISA, m: Int, n: Int, k: Int, repetitions: Int = 20, peakSeconds: Double = 0.2) throws(RuntimeError) -> GEMMResult {
        guard isa.isSupported else { throw RuntimeError.invalidOption("ISA \(isa.rawValue) is not supported here") }
        guard m >= 1, n >= 1, k >= 1, m <= 1 << 14, n <= 1 << 14, k <= 1 << 14 else {
            throw RuntimeError.invalidOption("GEMM sizes must be in 1...16384")
        }
        let a = try AlignedBuffer(count: m * k)
        let w = try AlignedBuffer(count: n * k)
        let c = try AlignedBuffer(count: m * n)
        let packed = try AlignedBuffer(count: mtz_gemm_packed_size(isa.raw, k, n))
        var state: UInt32 = 12345
        for i in 0..<(m * k) { state = state &* 1_664_525 &+ 1_013_904_223; a.pointer[i] = Float(state >> 8) / Float(1 << 24) - 0.5 }
        for i in 0..<(n * k) { state = state &* 1_664_525 &+ 1_013_904_223; w.pointer[i] = Float(state >> 8) / Float(1 << 24) - 0.5 }
        mtz_gemm_pack(isa.raw, k, n, w.pointer, k, nil, packed.pointer)
        var times: [Double] = []
        for rep in 0...max(1, repetitions) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            mtz_gemm(isa.raw, m, n, k, a.pointer, k, packed.pointer, c.pointer, n, 0, MTZ_ACT_NONE)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            if rep > 0 { times.append(dt) }
        }
        times.sort()
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        let best = flops / times[0] / 1e9
        let median = flops / times[times.count / 2] / 1e9
        let peak = fmaPeak(isa: isa, seconds: peakSeconds)
        let tile = isa.gemmTile
        return GEMMResult(isa: isa.rawValue, m: m, n: n, k: k, mr: tile.mr, nr: tile.nr, bestGflops: best, medianGflops: median,
                          peakGflops: peak, fractionOfPeak: peak > 0 ? best / peak : 0)
    }
}
