/*
 * gemm_avx2.c — AVX2 + FMA3 GEMM microkernel (see the contract in internal.h).
 *
 * 6x16 tile: 12 ymm accumulators (6 rows x 2 vectors of 8 columns), 2 ymm for the B row, 1 for the
 * broadcast A value = 15 of 16 registers. Per k step: 2 B loads, 6 broadcasts, 12 FMAs, which keeps
 * both FMA pipes busy with enough independent chains to hide the 4-cycle FMA latency. Edge tiles
 * (cut by the M or N edge) have their own kernel, sized to the tile.
 */
#include "internal.h"

#if MTZ_HAVE_X86
#include <immintrin.h>

#define MTZ_AVX2 __attribute__((target("avx2,fma")))

/* relu / relu6 on one vector; sigmoid / tanh are applied after the store (scalar). */
MTZ_AVX2 static inline __m256 mtz_act_clamp_avx2(__m256 x, mtz_activation act) {
    if (act == MTZ_ACT_RELU) return _mm256_max_ps(x, _mm256_setzero_ps());
    if (act == MTZ_ACT_RELU6)
        return _mm256_min_ps(_mm256_max_ps(x, _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
    return x;
}

/* Stores the first n (1...8) lanes of v. Not `_mm256_maskstore_ps`: on AMD Zen a masked store is
 * microcoded, and six of them per tile cost an edge tile of 14 columns and K = 144 a tenth of its
 * time; 4-, 2- and 1-lane stores do not. */
MTZ_AVX2 static inline void mtz_store_lanes_avx2(float *p, __m256 v, size_t n) {
    if (n == 8) {
        _mm256_storeu_ps(p, v);
        return;
    }
    __m128 part = _mm256_castps256_ps128(v);
    if (n & 4) {
        _mm_storeu_ps(p, part);
        part = _mm256_extractf128_ps(v, 1);
        p += 4;
    }
    if (n & 2) {
        _mm_storel_pi((__m64 *)p, part);
        part = _mm_movehl_ps(part, part);
        p += 2;
    }
    if (n & 1) _mm_store_ss(p, part);
}

/* The 6x16 tile for every shape a tile can take, as in gemm_avx512.c: `mr` rows (1...6) and `nv`
 * vectors of 8 columns (1 or 2) are compile-time constants in each instantiation, so the loops unroll
 * into registers. The full tile is (6, 2) with plain loads and stores; an edge tile computes only its
 * rows and vectors, reads its columns through AVX masks (lanes off the mask are not read) and writes
 * only them. Every valid element sees the same operations in the same order in every instantiation:
 * results are bitwise identical. */
MTZ_AVX2 static inline __attribute__((always_inline)) void
mtz_gemm_6x16_body(size_t mr, size_t nv, int edge, size_t cols, size_t kc, const float *a, size_t lda,
                   const float *b, const float *bias, float *c, size_t ldc, int load_c, mtz_activation act) {
    enum { MR = 6, NV = 2 /* vectors of 8 per row, at most */ };
    const float *ar[MR];
    for (size_t i = 0; i < mr; i++) ar[i] = a + i * lda;
    __m256i mask[NV];
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (size_t v = 0; v < nv; v++) mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cols - 8 * (int)v), lane);

    __m256 init[NV], acc[MR][NV];
    for (size_t v = 0; v < nv; v++) init[v] = bias ? _mm256_loadu_ps(bias + 8 * v) : _mm256_setzero_ps();
    for (size_t i = 0; i < mr; i++)
        for (size_t v = 0; v < nv; v++) {
            acc[i][v] = init[v];
            if (load_c)
                acc[i][v] = _mm256_add_ps(init[v], edge ? _mm256_maskload_ps(c + i * ldc + 8 * v, mask[v])
                                                        : _mm256_loadu_ps(c + i * ldc + 8 * v));
        }

    for (size_t p = 0; p < kc; p++) {
        __m256 bv[NV];
        for (size_t v = 0; v < nv; v++) bv[v] = _mm256_loadu_ps(b + 8 * v);
        b += 16;
        for (size_t i = 0; i < mr; i++) {
            const __m256 av = _mm256_broadcast_ss(ar[i] + p);
            for (size_t v = 0; v < nv; v++) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
        }
    }

    for (size_t i = 0; i < mr; i++)
        for (size_t v = 0; v < nv; v++) {
            const __m256 r = mtz_act_clamp_avx2(acc[i][v], act);
            if (edge) mtz_store_lanes_avx2(c + i * ldc + 8 * v, r, cols - 8 * v < 8 ? cols - 8 * v : 8);
            else _mm256_storeu_ps(c + i * ldc + 8 * v, r);
        }
    if (act == MTZ_ACT_SIGMOID || act == MTZ_ACT_TANH) mtz_act_rows_scalar(c, mr, cols, ldc, act);
}

MTZ_AVX2 void mtz_f32_gemm_6x16_avx2(size_t rows, size_t kc, const float *a, size_t lda,
                                     const float *b, const float *bias, float *c, size_t ldc,
                                     int load_c, mtz_activation act) {
    if (rows < 6) { /* the driver sends partial tiles to the edge kernel; any other caller gets it too */
        mtz_f32_gemm_6x16_edge_avx2(rows, 16, kc, a, lda, b, bias, c, ldc, load_c, act);
        return;
    }
    mtz_gemm_6x16_body(6, 2, 0, 16, kc, a, lda, b, bias, c, ldc, load_c, act);
}

MTZ_AVX2 void mtz_f32_gemm_6x16_edge_avx2(size_t rows, size_t cols, size_t kc, const float *a, size_t lda,
                                          const float *b, const float *bias, float *c, size_t ldc,
                                          int load_c, mtz_activation act) {
#define MTZ_EDGE_ROWS(R)                                                                                  \
    case R:                                                                                               \
        if (cols > 8) mtz_gemm_6x16_body(R, 2, 1, cols, kc, a, lda, b, bias, c, ldc, load_c, act);        \
        else mtz_gemm_6x16_body(R, 1, 1, cols, kc, a, lda, b, bias, c, ldc, load_c, act);                 \
        break;
    switch (rows) {
        MTZ_EDGE_ROWS(1) MTZ_EDGE_ROWS(2) MTZ_EDGE_ROWS(3) MTZ_EDGE_ROWS(4) MTZ_EDGE_ROWS(5) MTZ_EDGE_ROWS(6)
    default: break; /* the driver never sends 0 or more than MR rows */
    }
#undef MTZ_EDGE_ROWS
}

/*
 * 1 x 64 row kernel for single-row calls (M == 1, e.g. fully connected layers): one A row against four
 * consecutive panels (8 accumulator chains, enough for two FMAs per cycle at 4-cycle latency). Each
 * output element sees exactly the same operations in the same order as in the 6x16 kernel, so results
 * are bitwise identical whichever kernel computes a row.
 */
MTZ_AVX2 void mtz_f32_gemm_1x64_avx2(size_t kc, const float *a, const float *b, const float *bias,
                                     size_t panel_stride, float *c, int load_c, mtz_activation act) {
    enum { NV = 8 /* vectors of 8: two per panel */ };
    const float *b1 = b + panel_stride, *b2 = b + 2 * panel_stride, *b3 = b + 3 * panel_stride;
    __m256 acc[NV];
    for (size_t v = 0; v < NV; v++) {
        const float *bv = bias ? bias + (v / 2) * panel_stride + 8 * (v % 2) : NULL;
        acc[v] = bv ? _mm256_loadu_ps(bv) : _mm256_setzero_ps();
        if (load_c) acc[v] = _mm256_add_ps(acc[v], _mm256_loadu_ps(c + 8 * v));
    }
    for (size_t p = 0; p < kc; p++) {
        const __m256 av = _mm256_broadcast_ss(a + p);
        acc[0] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b), acc[0]);
        acc[1] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 8), acc[1]);
        acc[2] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b1), acc[2]);
        acc[3] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b1 + 8), acc[3]);
        acc[4] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b2), acc[4]);
        acc[5] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b2 + 8), acc[5]);
        acc[6] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b3), acc[6]);
        acc[7] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b3 + 8), acc[7]);
        b += 16;
        b1 += 16;
        b2 += 16;
        b3 += 16;
    }
    for (size_t v = 0; v < NV; v++) _mm256_storeu_ps(c + 8 * v, mtz_act_clamp_avx2(acc[v], act));
    if (act == MTZ_ACT_SIGMOID || act == MTZ_ACT_TANH) mtz_act_rows_scalar(c, 1, 8 * NV, 0, act);
}

#endif /* MTZ_HAVE_X86 */
