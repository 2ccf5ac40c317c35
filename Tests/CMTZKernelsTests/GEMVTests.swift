// Tests of mtz_gemv (fully connected layers on one vector, weights read in place) against the naive
// GEMM reference for every ISA this machine can run, and a check that no kernel reads past the last
// weight: mapped weights may end exactly at the end of a file's last page.
//
// Tolerance as in GEMMTests.swift: absolute 1e-4 or relative 1e-5 scaled by sqrt(K).
#if canImport(Glibc)
import Glibc
#endif
import CMTZKernels
import Testing

@Suite("GEMV")
struct GEMVTests {
    /// Row counts around the 4-row step, K around the vector widths (4, 8, 16) and their unrolled
    /// steps (8, 16, 32), row strides with gaps, bias or not, accumulate or not, every activation.
    @Test func matchesTheReference() {
        var rng = KernelTestRNG(seed: 41)
        for isa in runnableISAs {
            for n in [1, 3, 4, 5, 9, 17] {
                for k in [1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 800] {
                    for gap in [0, 3] {
                        let ldw = k + gap
                        let act = allActivations[(n + k + gap) % allActivations.count]
                        let accumulate: Int32 = (n + k) % 2 == 0 ? 1 : 0
                        let withBias = (k + gap) % 3 != 0
                        let x = FloatBuffer(random: k, &rng, -0.5, 0.5)
                        let w = FloatBuffer(random: n * ldw, &rng, -0.5, 0.5)
                        let bias = FloatBuffer(random: n, &rng, -0.5, 0.5)
                        let y = FloatBuffer(random: n, &rng, -0.5, 0.5)
                        let expected = y.copy()
                        mtz_gemm_reference(1, n, k, x.base, k, w.base, ldw, withBias ? bias.base : nil,
                                           expected.base, n, accumulate, act)
                        mtz_gemv(isa, n, k, x.base, w.base, ldw, withBias ? bias.base : nil, y.base, accumulate, act)
                        let rel = 1e-5 * Float(k).squareRoot()
                        if let m = firstMismatch(y, expected, abs: 1e-4, rel: rel) {
                            Issue.record("\(isaName(isa)) n \(n) k \(k) ldw \(ldw) acc \(accumulate) act \(act.rawValue) bias \(withBias): \(m)")
                        }
                    }
                }
            }
        }
    }

    /// Weights and input that end exactly where an inaccessible page starts: a vector load past
    /// the end would fault.
    @Test func neverReadsPastTheEnd() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let region = mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              region != MAP_FAILED else {
            Issue.record("mmap failed")
            return
        }
        defer { munmap(region, 2 * page) }
        #expect(mprotect(region + page, page, PROT_NONE) == 0)
        for isa in runnableISAs {
            for (n, k) in [(5, 13), (4, 35), (1, 1), (3, 100)] {
                let end = region.assumingMemoryBound(to: Float.self) + page / 4
                let w = end - n * k, x = w - k
                for i in 0..<(n * k + k) { x[i] = Float(i % 7) * 0.25 }
                let y = FloatBuffer(count: n), expected = FloatBuffer(count: n)
                mtz_gemm_reference(1, n, k, x, k, w, k, nil, expected.base, n, 0, MTZ_ACT_NONE)
                mtz_gemv(isa, n, k, x, w, k, nil, y.base, 0, MTZ_ACT_NONE)
                #expect(firstMismatch(y, expected, abs: 1e-4, rel: 1e-4) == nil, "\(isaName(isa)) n \(n) k \(k)")
            }
        }
    }
}
