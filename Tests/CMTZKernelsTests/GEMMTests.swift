// Tests of the ISA selection and the packed GEMM (mtz_gemm) against the naive reference, for every
// ISA this machine can run. Uses the shared helpers in KernelTestHelpers.swift.
//
// Tolerance: an element passes if |got - expected| <= 1e-4 + 1e-5 * sqrt(max(K, 1)) * |expected|,
// i.e. absolute 1e-4 or relative 1e-5 scaled by sqrt(K) (the reference accumulates in double; the
// kernels in float with a K-blocked order). Inputs are uniform in [-0.5, 0.5) and fixed by seeds, so
// the outcome is deterministic. Floats outside the described C view must stay bit-identical.
import MTZCore
import CMTZKernels
import Foundation
import Testing

// MARK: - ISA selection

@Suite("ISA selection")
struct ISATests {
    @Test("mtz_isa_name gives the lower-case names, and mtz_isa_parse inverts it")
    func namesRoundTrip() {
        let expected = ["scalar", "avx2", "avx512", "neon"]
        for raw in 0..<Int(MTZ_ISA_COUNT) {
            let isa = mtz_isa(UInt32(raw))
            #expect(isaName(isa) == expected[raw])
            var parsed = MTZ_ISA_SCALAR
            #expect(mtz_isa_parse(expected[raw], &parsed) == 1)
            #expect(parsed == isa)
        }
        for bad in ["", "AVX2", "avx", "avx2 ", "sse"] {
            #expect(mtz_isa_parse(bad, nil) == 0, "\(bad) should not parse")
        }
        #expect(mtz_isa_parse(nil, nil) == 0)
    }

    @Test("scalar is always supported, and the selected ISA is supported")
    func supportAndSelection() {
        #expect(mtz_isa_supported(MTZ_ISA_SCALAR) == 1)
        #expect(mtz_isa_supported(mtz_isa(UInt32(MTZ_ISA_COUNT))) == 0)
        #expect(mtz_isa_supported(mtz_isa_selected()) == 1)
        // The process-wide selection follows the same rule as mtz_isa_resolve on the real variable.
        var error: UnsafePointer<CChar>? = nil
        #expect(mtz_isa_resolve(getenv("MTZ_ISA"), &error) == mtz_isa_selected())
        #expect((error == nil) == (mtz_isa_env_error() == nil))
        #if arch(x86_64)
        #expect(mtz_isa_supported(MTZ_ISA_NEON) == 0)
        #elseif arch(arm64)
        #expect(mtz_isa_supported(MTZ_ISA_AVX2) == 0)
        #expect(mtz_isa_supported(MTZ_ISA_NEON) == 1)
        #endif
    }

    @Test("MTZ_ISA caps the best ISA; unknown or unsupported values are ignored and reported")
    func environmentCap() {
        var error: UnsafePointer<CChar>? = nil
        let best = mtz_isa_resolve(nil, &error)
        #expect(error == nil)
        #expect(mtz_isa_supported(best) == 1)
        #expect(mtz_isa_resolve("", &error) == best && error == nil)

        for isa in runnableISAs {
            #expect(mtz_isa_resolve(isaName(isa), &error) == isa)
            #expect(error == nil)
        }
        #expect(mtz_isa_resolve("sse9", &error) == best)
        #expect(error != nil)
        for raw in 0..<Int(MTZ_ISA_COUNT) where mtz_isa_supported(mtz_isa(UInt32(raw))) == 0 {
            let isa = mtz_isa(UInt32(raw))
            #expect(mtz_isa_resolve(isaName(isa), &error) == best)
            #expect(error != nil, "unsupported \(isaName(isa)) should be reported")
        }
    }

    @Test("the FMA peak probe returns a positive rate for supported ISAs and 0 otherwise")
    func peakProbe() {
        for raw in 0..<Int(MTZ_ISA_COUNT) {
            let isa = mtz_isa(UInt32(raw))
            let gflops = mtz_measure_fma_peak_gflops(isa, 0.002)
            if mtz_isa_supported(isa) == 1 { #expect(gflops > 0) } else { #expect(gflops == 0) }
        }
    }
}

// MARK: - GEMM

/// One mtz_gemm problem: sizes, strides (>= the dense ones) and the epilogue.
private struct GEMMCase: CustomStringConvertible {
    var m, n, k: Int
    var lda, ldw, ldc: Int
    var hasBias = true
    var accumulate = false
    var act = MTZ_ACT_NONE

    var description: String {
        "M=\(m) N=\(n) K=\(k) lda=\(lda) ldw=\(ldw) ldc=\(ldc) bias=\(hasBias) acc=\(accumulate) act=\(act.rawValue)"
    }
}

/// Floats kept free in front of and behind C's view, filled with the sentinel.
private let cGuard = 19

/// Random source data shared by the cases of one test (copying slices is cheap in debug builds).
private func makePool(seed: UInt64) -> FloatBuffer {
    var rng = KernelTestRNG(seed: seed)
    return FloatBuffer(random: 1 << 18, &rng, -0.5, 0.5)
}

/// A [rows][cols] matrix with row stride `ld` whose gaps hold `gap`, filled from `pool` at `offset`.
private func matrix(rows: Int, cols: Int, ld: Int, gap: Float, pool: FloatBuffer, offset: Int) -> FloatBuffer {
    let count = rows == 0 ? 0 : (rows - 1) * ld + cols
    let buffer = FloatBuffer(count: count, fill: gap)
    for r in 0..<rows where cols > 0 {
        (buffer.base + r * ld).update(from: pool.base + (offset + r * cols) % (pool.count - cols), count: cols)
    }
    return buffer
}

/// Packs the case's weights for `isa`, runs mtz_gemm and the reference, and returns a description
/// of the first problem found (nil if none).
private func checkGEMM(_ isa: mtz_isa, _ c: GEMMCase, pool: FloatBuffer, seed: Int) -> String? {
    // NaN in the A and W gaps: reading anything outside the views poisons the result.
    let a = matrix(rows: c.m, cols: c.k, ld: c.lda, gap: .nan, pool: pool, offset: seed * 7919)
    let w = matrix(rows: c.n, cols: c.k, ld: c.ldw, gap: .nan, pool: pool, offset: seed * 104_729 + 13)
    let bias = matrix(rows: 1, cols: c.n, ld: c.n, gap: 0, pool: pool, offset: seed * 31 + 5)

    let packed = FloatBuffer(count: mtz_gemm_packed_size(isa, c.k, c.n), fill: .nan)
    mtz_gemm_pack(isa, c.k, c.n, w.base, c.ldw, c.hasBias ? bias.base : nil, packed.base)
    if let i = (0..<packed.count).first(where: { packed[$0].isNaN }) {
        return "packed[\(i)] was not written (or copied a gap)"
    }

    // C: the view starts at cGuard; every float outside it holds the sentinel.
    let viewEnd = cGuard + (c.m - 1) * c.ldc + c.n
    let out = FloatBuffer(count: viewEnd + cGuard, fill: outputSentinel)
    for i in 0..<c.m {
        (out.base + cGuard + i * c.ldc).update(from: pool.base + (seed * 17 + i * c.n) % (pool.count - c.n), count: c.n)
    }
    let expected = out.copy()
    mtz_gemm_reference(c.m, c.n, c.k, a.base, c.lda, w.base, c.ldw, c.hasBias ? bias.base : nil,
                       expected.base + cGuard, c.ldc, c.accumulate ? 1 : 0, c.act)
    mtz_gemm(isa, c.m, c.n, c.k, a.base, c.lda, packed.base, out.base + cGuard, c.ldc,
             c.accumulate ? 1 : 0, c.act)

    for i in 0..<out.count {
        let inView = i >= cGuard && i < viewEnd && (i - cGuard) % c.ldc < c.n
        if !inView && out[i].bitPattern != outputSentinel.bitPattern {
            return "wrote outside C's view at offset \(i - cGuard)"
        }
    }
    let rel = 1e-5 * Float(max(c.k, 1)).squareRoot()
    return firstMismatch(out, expected, abs: 1e-4, rel: rel)
}

/// The edge-case grid around one ISA's tile: below, at and past MR/NR, several tiles plus a
/// remainder, and K values that cross the driver's K blocks (K = 1000 needs three).
private func edgeGrid(_ isa: mtz_isa) -> [GEMMCase] {
    let mr = mtz_gemm_mr(isa), nr = mtz_gemm_nr(isa)
    // Every row count of a last tile (1 ..< MR as M % MR), and columns at the half-tile boundary
    // (AVX-512 edge tiles of at most 16 columns run on one vector per row).
    let ms = Array(Set([1, 2, mr - 1, mr, mr + 1, mr + 4, 2 * mr + 3, 3 * mr + 5, 37].filter { $0 >= 1 })).sorted()
    let ns = Array(Set([1, nr / 2, nr / 2 + 1, nr - 1, nr, nr + 1, 2 * nr + 5, 100].filter { $0 >= 1 })).sorted()
    let ks = [0, 1, 2, 7, 64, 255, 300, 1000]
    var cases: [GEMMCase] = []
    var index = 0
    for k in ks {
        for m in ms {
            for n in ns {
                // Rotate the epilogue, strides and bias through the grid so every combination of
                // activation x accumulate appears at many shapes without running the full product.
                let strided = index % 3 != 0
                var c = GEMMCase(m: m, n: n, k: k,
                                 lda: strided ? k + 3 : k, ldw: strided ? k + 5 : k, ldc: strided ? n + 7 : n)
                c.act = allActivations[index % allActivations.count]
                c.accumulate = (index / allActivations.count) % 2 == 1
                c.hasBias = index % 4 != 3
                cases.append(c)
                index += 1
            }
        }
    }
    return cases
}

@Suite("GEMM")
struct GEMMTests {
    @Test("tile sizes and packed sizes follow the documented layout", arguments: runnableISAs)
    func packedLayout(isa: mtz_isa) {
        let nr = mtz_gemm_nr(isa), k = 3, n = nr + 1
        #expect(mtz_gemm_mr(isa) >= 1 && mtz_gemm_mr(isa) <= 16)
        #expect(mtz_gemm_panel_stride(isa, k) == nr * (k + 1))
        #expect(mtz_gemm_packed_size(isa, k, n) == 2 * nr * (k + 1))

        // w[j][p] = 100 j + p, bias[j] = -j - 1.
        let w = FloatBuffer((0..<n).flatMap { j in (0..<k).map { p in Float(100 * j + p) } })
        let bias = FloatBuffer((0..<n).map { -Float($0) - 1 })
        let packed = FloatBuffer(count: mtz_gemm_packed_size(isa, k, n), fill: .nan)
        mtz_gemm_pack(isa, k, n, w.base, k, bias.base, packed.base)
        for panel in 0..<2 {
            let base = panel * nr * (k + 1)
            for j in 0..<nr {
                let col = panel * nr + j
                #expect(packed[base + j] == (col < n ? -Float(col) - 1 : 0))
                for p in 0..<k {
                    #expect(packed[base + nr + p * nr + j] == (col < n ? Float(100 * col + p) : 0))
                }
            }
        }
    }

    @Test("mtz_gemm matches the reference over the M/N/K edge grid", arguments: runnableISAs)
    func edgeGridMatchesReference(isa: mtz_isa) {
        let pool = makePool(seed: 0x6E11 + UInt64(isa.rawValue))
        for (i, c) in edgeGrid(isa).enumerated() {
            if let problem = checkGEMM(isa, c, pool: pool, seed: i) {
                Issue.record("\(isaName(isa)) \(c): \(problem)")
            }
        }
    }

    @Test("every activation x accumulate, with edge tiles and three K blocks", arguments: runnableISAs)
    func epilogues(isa: mtz_isa) {
        let pool = makePool(seed: 0xE9 + UInt64(isa.rawValue))
        let mr = mtz_gemm_mr(isa), nr = mtz_gemm_nr(isa)
        var seed = 0
        for act in allActivations {
            for accumulate in [false, true] {
                var c = GEMMCase(m: 2 * mr + 3, n: 2 * nr + 5, k: 1000, lda: 1003, ldw: 1001, ldc: 2 * nr + 9)
                c.act = act
                c.accumulate = accumulate
                if let problem = checkGEMM(isa, c, pool: pool, seed: seed) {
                    Issue.record("\(isaName(isa)) \(c): \(problem)")
                }
                seed += 1
            }
        }
    }

    @Test("an ISA the CPU lacks keeps its packing layout and computes through the portable fallback")
    func unsupportedISAFallback() {
        let pool = makePool(seed: 0xFA11)
        let missing = (0..<Int(MTZ_ISA_COUNT)).map { mtz_isa(UInt32($0)) }.filter { mtz_isa_supported($0) == 0 }
        for isa in missing {
            // Every 7th case of the grid keeps this quick; the scalar kernel is the oracle's twin anyway.
            for (i, c) in edgeGrid(isa).enumerated() where i % 7 == 0 {
                if let problem = checkGEMM(isa, c, pool: pool, seed: i) {
                    Issue.record("\(isaName(isa)) (fallback) \(c): \(problem)")
                }
            }
        }
    }

    @Test("splitting M by rows (down to single rows) and N by panels gives bit-identical results",
          arguments: runnableISAs)
    func splitIsBitIdentical(isa: mtz_isa) {
        let pool = makePool(seed: 0x5B + UInt64(isa.rawValue))
        let nr = mtz_gemm_nr(isa)
        let m = 37, n = 2 * nr + 69, k = 1000 // n >= 64: single-row calls use the row kernels
        let a = matrix(rows: m, cols: k, ld: k, gap: 0, pool: pool, offset: 1)
        let w = matrix(rows: n, cols: k, ld: k, gap: 0, pool: pool, offset: 50_001)
        let bias = matrix(rows: 1, cols: n, ld: n, gap: 0, pool: pool, offset: 7)
        let packed = FloatBuffer(count: mtz_gemm_packed_size(isa, k, n))
        mtz_gemm_pack(isa, k, n, w.base, k, bias.base, packed.base)

        let whole = FloatBuffer(count: m * n)
        mtz_gemm(isa, m, n, k, a.base, k, packed.base, whole.base, n, 0, MTZ_ACT_RELU)

        // Four calls: rows [0, 11) and [11, m) x panels [0, 1) and [1, ...): last tiles of 4 and 5
        // rows on AVX-512 (where `whole` has one of 2), computed by other edge-kernel instantiations.
        let split = FloatBuffer(count: m * n, fill: outputSentinel)
        let panelStride = mtz_gemm_panel_stride(isa, k)
        for (r0, r1) in [(0, 11), (11, m)] {
            for (c0, c1) in [(0, nr), (nr, n)] {
                mtz_gemm(isa, r1 - r0, c1 - c0, k, a.base + r0 * k, k, packed.base + (c0 / nr) * panelStride,
                         split.base + r0 * n + c0, n, 0, MTZ_ACT_RELU)
            }
        }
        #expect(split.bitwiseEqual(whole))

        // Single-row calls (M == 1 takes a dedicated row kernel on x86) must match their rows too.
        let rowwise = FloatBuffer(count: m * n, fill: outputSentinel)
        for r in 0..<m {
            mtz_gemm(isa, 1, n, k, a.base + r * k, k, packed.base, rowwise.base + r * n, n, 0, MTZ_ACT_RELU)
        }
        #expect(rowwise.bitwiseEqual(whole))
    }
}
