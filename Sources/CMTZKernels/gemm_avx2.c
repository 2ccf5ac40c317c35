/*
 * gemm_avx2.c — AVX2 + FMA3 GEMM microkernel (see the contract in internal.h).
 *
 * 6x16 tile: 12 ymm accumulators (6 rows x 2 vectors of 8 columns), 2 ymm for the B row, 1 for the
 * broadcast A value = 15 of 16 registers. Per k step: 2 B loads, 6 broadcasts, 12 FMAs, which keeps
 * both FMA pipes busy with enough independent chains to hide the 4-cycle FMA latency.
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

MTZ_AVX2 void mtz_f32_gemm_6x16_avx2(size_t rows, size_t kc, const float *a, size_t lda,
                                     const float *b, const float *bias, float *c, size_t ldc,
                                     int load_c, mtz_activation act) {
    /* Rows past `rows` alias the last valid row (their results land in the driver's edge buffer). */
    const float *a0 = a;
    const float *a1 = a + (rows > 1 ? 1 : rows - 1) * lda;
    const float *a2 = a + (rows > 2 ? 2 : rows - 1) * lda;
    const float *a3 = a + (rows > 3 ? 3 : rows - 1) * lda;
    const float *a4 = a + (rows > 4 ? 4 : rows - 1) * lda;
    const float *a5 = a + (rows > 5 ? 5 : rows - 1) * lda;

    __m256 init0 = _mm256_setzero_ps(), init1 = _mm256_setzero_ps();
    if (bias) {
        init0 = _mm256_loadu_ps(bias);
        init1 = _mm256_loadu_ps(bias + 8);
    }
    __m256 c00 = init0, c01 = init1, c10 = init0, c11 = init1, c20 = init0, c21 = init1;
    __m256 c30 = init0, c31 = init1, c40 = init0, c41 = init1, c50 = init0, c51 = init1;
    if (load_c) {
        c00 = _mm256_add_ps(c00, _mm256_loadu_ps(c + 0 * ldc));
        c01 = _mm256_add_ps(c01, _mm256_loadu_ps(c + 0 * ldc + 8));
        c10 = _mm256_add_ps(c10, _mm256_loadu_ps(c + 1 * ldc));
        c11 = _mm256_add_ps(c11, _mm256_loadu_ps(c + 1 * ldc + 8));
        c20 = _mm256_add_ps(c20, _mm256_loadu_ps(c + 2 * ldc));
        c21 = _mm256_add_ps(c21, _mm256_loadu_ps(c + 2 * ldc + 8));
        c30 = _mm256_add_ps(c30, _mm256_loadu_ps(c + 3 * ldc));
        c31 = _mm256_add_ps(c31, _mm256_loadu_ps(c + 3 * ldc + 8));
        c40 = _mm256_add_ps(c40, _mm256_loadu_ps(c + 4 * ldc));
        c41 = _mm256_add_ps(c41, _mm256_loadu_ps(c + 4 * ldc + 8));
        c50 = _mm256_add_ps(c50, _mm256_loadu_ps(c + 5 * ldc));
        c51 = _mm256_add_ps(c51, _mm256_loadu_ps(c + 5 * ldc + 8));
    }

    for (size_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_loadu_ps(b);
        const __m256 b1 = _mm256_loadu_ps(b + 8);
        b += 16;
        __m256 av;
        av = _mm256_broadcast_ss(a0 + p);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a1 + p);
        c10 = _mm256_fmadd_ps(av, b0, c10);
        c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a2 + p);
        c20 = _mm256_fmadd_ps(av, b0, c20);
        c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a3 + p);
        c30 = _mm256_fmadd_ps(av, b0, c30);
        c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a4 + p);
        c40 = _mm256_fmadd_ps(av, b0, c40);
        c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a5 + p);
        c50 = _mm256_fmadd_ps(av, b0, c50);
        c51 = _mm256_fmadd_ps(av, b1, c51);
    }

    _mm256_storeu_ps(c + 0 * ldc, mtz_act_clamp_avx2(c00, act));
    _mm256_storeu_ps(c + 0 * ldc + 8, mtz_act_clamp_avx2(c01, act));
    _mm256_storeu_ps(c + 1 * ldc, mtz_act_clamp_avx2(c10, act));
    _mm256_storeu_ps(c + 1 * ldc + 8, mtz_act_clamp_avx2(c11, act));
    _mm256_storeu_ps(c + 2 * ldc, mtz_act_clamp_avx2(c20, act));
    _mm256_storeu_ps(c + 2 * ldc + 8, mtz_act_clamp_avx2(c21, act));
    _mm256_storeu_ps(c + 3 * ldc, mtz_act_clamp_avx2(c30, act));
    _mm256_storeu_ps(c + 3 * ldc + 8, mtz_act_clamp_avx2(c31, act));
    _mm256_storeu_ps(c + 4 * ldc, mtz_act_clamp_avx2(c40, act));
    _mm256_storeu_ps(c + 4 * ldc + 8, mtz_act_clamp_avx2(c41, act));
    _mm256_storeu_ps(c + 5 * ldc, mtz_act_clamp_avx2(c50, act));
    _mm256_storeu_ps(c + 5 * ldc + 8, mtz_act_clamp_avx2(c51, act));
    if (act == MTZ_ACT_SIGMOID || act == MTZ_ACT_TANH) mtz_act_rows_scalar(c, 6, 16, ldc, act);
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
