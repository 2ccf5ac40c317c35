/*
 * gemm_neon.c — aarch64 Advanced SIMD GEMM microkernel (see the contract in internal.h).
 *
 * 8x8 tile: 16 q-register accumulators (8 rows x 2 vectors of 4 columns), 2 for the B row, and the
 * 8 A values of a k step loaded as scalars and used through vfmaq_n_f32 (FMLA by element), i.e. 18
 * of 32 registers. A is not packed, so the 8 A rows are 8 independent streams.
 */
#if defined(__aarch64__)
#include "internal.h"

#include <arm_neon.h>

/* relu / relu6 on one vector; sigmoid / tanh are applied after the store (scalar). */
static inline float32x4_t mtz_act_clamp_neon(float32x4_t x, mtz_activation act) {
    if (act == MTZ_ACT_RELU) return vmaxq_f32(x, vdupq_n_f32(0.0f));
    if (act == MTZ_ACT_RELU6) return vminq_f32(vmaxq_f32(x, vdupq_n_f32(0.0f)), vdupq_n_f32(6.0f));
    return x;
}

void mtz_f32_gemm_8x8_neon(size_t rows, size_t kc, const float *a, size_t lda, const float *b,
                           const float *bias, float *c, size_t ldc, int load_c, mtz_activation act) {
    enum { MR = 8, NV = 2 /* vectors of 4 per row */ };
    /* Rows past `rows` alias the last valid row (their results land in the driver's edge buffer). */
    const float *ar[MR];
    for (size_t i = 0; i < MR; i++) ar[i] = a + (i < rows ? i : rows - 1) * lda;

    float32x4_t init[NV], acc[MR][NV];
    for (size_t v = 0; v < NV; v++) init[v] = bias ? vld1q_f32(bias + 4 * v) : vdupq_n_f32(0.0f);
    for (size_t i = 0; i < MR; i++)
        for (size_t v = 0; v < NV; v++)
            acc[i][v] = load_c ? vaddq_f32(init[v], vld1q_f32(c + i * ldc + 4 * v)) : init[v];

    for (size_t p = 0; p < kc; p++) {
        const float32x4_t b0 = vld1q_f32(b);
        const float32x4_t b1 = vld1q_f32(b + 4);
        b += 8;
        for (size_t i = 0; i < MR; i++) {
            const float av = ar[i][p];
            acc[i][0] = vfmaq_n_f32(acc[i][0], b0, av);
            acc[i][1] = vfmaq_n_f32(acc[i][1], b1, av);
        }
    }

    for (size_t i = 0; i < MR; i++)
        for (size_t v = 0; v < NV; v++) vst1q_f32(c + i * ldc + 4 * v, mtz_act_clamp_neon(acc[i][v], act));
    if (act == MTZ_ACT_SIGMOID || act == MTZ_ACT_TANH) mtz_act_rows_scalar(c, MR, 4 * NV, ldc, act);
}

#else
/* Keeps the translation unit non-empty on other architectures (ISO C). */
typedef int mtz_gemm_neon_unavailable;
#endif /* __aarch64__ */
