/*
 * gemm_avx512.c — AVX-512F GEMM microkernel (see the contract in internal.h).
 *
 * 7x32 tile: 14 zmm accumulators (7 rows x 2 vectors of 16 columns), 2 zmm for the B row and one
 * broadcast. Per k step: 2 B loads, 7 broadcasts, 14 FMAs. On Zen 4 a 512-bit FMA is double-pumped
 * (one per cycle), so the peak equals AVX2's; the wider tile still wins a few percent because it
 * needs fewer loads and broadcasts per FMA. Measured on Zen 4 (512^3, % of FMA peak): 7x32 ~97%,
 * 8x32 ~98%, 12x32 ~96%, 14x16 ~95%. 7x32 is kept: MR = 7 divides the 7/14/28/56-based spatial
 * sizes of 224-input CNNs (49, 196, 784, 3136 pixels), and small-M calls waste fewer rows.
 *
 * The tile is written with small constant-bound loops over arrays of vectors; clang fully unrolls
 * them at -O2 and keeps every element in a register.
 */
#include "internal.h"

#if MTZ_HAVE_X86
#include <immintrin.h>

#define MTZ_AVX512 __attribute__((target("avx512f")))

/* relu / relu6 on one vector; sigmoid / tanh are applied after the store (scalar). */
MTZ_AVX512 static inline __m512 mtz_act_clamp_avx512(__m512 x, mtz_activation act) {
    if (act == MTZ_ACT_RELU) return _mm512_max_ps(x, _mm512_setzero_ps());
    if (act == MTZ_ACT_RELU6)
        return _mm512_min_ps(_mm512_max_ps(x, _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
    return x;
}

/* The 7x32 tile, written once for every shape a tile can take: `mr` rows (1...7) and `nv` vectors
 * of 16 columns (1 or 2) are compile-time constants in each instantiation below, so the loops unroll
 * and every accumulator stays in a register. The full tile is (7, 2). An edge tile (cut by the M or N
 * edge: every tile of a layer with fewer than 32 outputs, the last rows of a weight gradient whose M
 * is a layer's channel count) runs the instantiation that covers its `rows` and `cols` and nothing
 * more — a 2-row, 8-column tile does 2 FMAs per k step, not the full tile's 14 — and loads and stores
 * its last vector of each row through an AVX-512 mask, so there is no on-stack tile and copy.
 * Masked-off lanes are neither read nor written; every valid element sees the same operations in the
 * same order whichever instantiation computes it, so results are bitwise identical. */
MTZ_AVX512 static inline __attribute__((always_inline)) void
mtz_gemm_7x32_body(size_t mr, size_t nv, size_t cols, size_t kc, const float *a, size_t lda, const float *b,
                   const float *bias, float *c, size_t ldc, int load_c, mtz_activation act) {
    enum { MR = 7, NV = 2 /* vectors of 16 per row, at most */ };
    const float *ar[MR];
    for (size_t i = 0; i < mr; i++) ar[i] = a + i * lda;
    __mmask16 mask[NV];
    for (size_t v = 0; v < nv; v++)
        mask[v] = cols >= 16 * (v + 1) ? 0xFFFF : (__mmask16)((1u << (cols - 16 * v)) - 1);

    __m512 init[NV], acc[MR][NV];
    for (size_t v = 0; v < nv; v++) init[v] = bias ? _mm512_loadu_ps(bias + 16 * v) : _mm512_setzero_ps();
    for (size_t i = 0; i < mr; i++)
        for (size_t v = 0; v < nv; v++)
            acc[i][v] = load_c ? _mm512_add_ps(init[v], _mm512_maskz_loadu_ps(mask[v], c + i * ldc + 16 * v)) : init[v];

    for (size_t p = 0; p < kc; p++) {
        __m512 bv[NV];
        for (size_t v = 0; v < nv; v++) bv[v] = _mm512_loadu_ps(b + 16 * v);
        b += 32;
        for (size_t i = 0; i < mr; i++) {
            const __m512 av = _mm512_set1_ps(ar[i][p]);
            for (size_t v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
    }

    for (size_t i = 0; i < mr; i++)
        for (size_t v = 0; v < nv; v++)
            _mm512_mask_storeu_ps(c + i * ldc + 16 * v, mask[v], mtz_act_clamp_avx512(acc[i][v], act));
    if (act == MTZ_ACT_SIGMOID || act == MTZ_ACT_TANH) mtz_act_rows_scalar(c, mr, cols, ldc, act);
}

MTZ_AVX512 void mtz_f32_gemm_7x32_avx512(size_t rows, size_t kc, const float *a, size_t lda,
                                         const float *b, const float *bias, float *c, size_t ldc,
                                         int load_c, mtz_activation act) {
    if (rows < 7) { /* the driver sends partial tiles to the edge kernel; any other caller gets it too */
        mtz_f32_gemm_7x32_edge_avx512(rows, 32, kc, a, lda, b, bias, c, ldc, load_c, act);
        return;
    }
    mtz_gemm_7x32_body(7, 2, 32, kc, a, lda, b, bias, c, ldc, load_c, act);
}

MTZ_AVX512 void mtz_f32_gemm_7x32_edge_avx512(size_t rows, size_t cols, size_t kc, const float *a, size_t lda,
                                              const float *b, const float *bias, float *c, size_t ldc,
                                              int load_c, mtz_activation act) {
#define MTZ_EDGE_ROWS(R)                                                                                  \
    case R:                                                                                               \
        if (cols > 16) mtz_gemm_7x32_body(R, 2, cols, kc, a, lda, b, bias, c, ldc, load_c, act);          \
        else mtz_gemm_7x32_body(R, 1, cols, kc, a, lda, b, bias, c, ldc, load_c, act);                    \
        break;
    switch (rows) {
        MTZ_EDGE_ROWS(1) MTZ_EDGE_ROWS(2) MTZ_EDGE_ROWS(3) MTZ_EDGE_ROWS(4) MTZ_EDGE_ROWS(5) MTZ_EDGE_ROWS(6)
        MTZ_EDGE_ROWS(7)
    default: break; /* the driver never sends 0 or more than MR rows */
    }
#undef MTZ_EDGE_ROWS
}

/*
 * 1 x 64 row kernel for single-row calls (M == 1, e.g. fully connected layers): one A row against two
 * consecutive panels (4 accumulator chains, enough for one 512-bit FMA per cycle). Each output element
 * sees exactly the same operations in the same order as in the 7x32 kernel, so results are bitwise
 * identical whichever kernel computes a row.
 */
MTZ_AVX512 void mtz_f32_gemm_1x64_avx512(size_t kc, const float *a, const float *b, const float *bias,
                                         size_t panel_stride, float *c, int load_c, mtz_activation act) {
    enum { NV = 4 /* vectors of 16: two per panel */ };
    const float *b1 = b + panel_stride;
    __m512 acc[NV];
    for (size_t v = 0; v < NV; v++) {
        const float *bv = bias ? bias + (v / 2) * panel_stride + 16 * (v % 2) : NULL;
        acc[v] = bv ? _mm512_loadu_ps(bv) : _mm512_setzero_ps();
        if (load_c) acc[v] = _mm512_add_ps(acc[v], _mm512_loadu_ps(c + 16 * v));
    }
    for (size_t p = 0; p < kc; p++) {
        const __m512 av = _mm512_set1_ps(a[p]);
        acc[0] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b), acc[0]);
        acc[1] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + 16), acc[1]);
        acc[2] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b1), acc[2]);
        acc[3] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b1 + 16), acc[3]);
        b += 32;
        b1 += 32;
    }
    for (size_t v = 0; v < NV; v++) _mm512_storeu_ps(c + 16 * v, mtz_act_clamp_avx512(acc[v], act));
    if (act == MTZ_ACT_SIGMOID || act == MTZ_ACT_TANH) mtz_act_rows_scalar(c, 1, 16 * NV, 0, act);
}

#endif /* MTZ_HAVE_X86 */
