/*
 * gemm_scalar.c — portable GEMM microkernels (see the contract in internal.h).
 *
 * mtz_f32_gemm_4x4_scalar is the MTZ_ISA_SCALAR kernel: 16 accumulators that a compiler keeps in
 * registers (or vectorises). mtz_f32_gemm_generic_scalar takes the tile size at run time and lets
 * mtz_gemm() honour any ISA's packing layout on a CPU or build that lacks that ISA's kernel.
 */
#include "internal.h"

/* Epilogue shared by the scalar kernels: activation on a full tile held in acc[], then store. */
static void mtz_gemm_store_scalar(const float *acc, size_t mr, size_t nr, float *c, size_t ldc,
                                  mtz_activation act) {
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++) c[i * ldc + j] = mtz_act_scalar(acc[i * nr + j], act);
}

void mtz_f32_gemm_4x4_scalar(size_t rows, size_t kc, const float *a, size_t lda, const float *b,
                             const float *bias, float *c, size_t ldc, int load_c, mtz_activation act) {
    enum { MR = 4, NR = 4 };
    const float *ar[MR];
    for (size_t i = 0; i < MR; i++) ar[i] = a + (i < rows ? i : rows - 1) * lda;

    float acc[MR * NR];
    for (size_t i = 0; i < MR; i++)
        for (size_t j = 0; j < NR; j++)
            acc[i * NR + j] = (load_c ? c[i * ldc + j] : 0.0f) + (bias ? bias[j] : 0.0f);

    for (size_t p = 0; p < kc; p++, b += NR) {
        for (size_t i = 0; i < MR; i++) {
            const float ai = ar[i][p];
            for (size_t j = 0; j < NR; j++) acc[i * NR + j] += ai * b[j];
        }
    }
    mtz_gemm_store_scalar(acc, MR, NR, c, ldc, act);
}

void mtz_f32_gemm_generic_scalar(size_t mr, size_t nr, size_t rows, size_t kc, const float *a,
                                 size_t lda, const float *b, const float *bias, float *c, size_t ldc,
                                 int load_c, mtz_activation act) {
    float acc[MTZ_GEMM_MAX_MR * MTZ_GEMM_MAX_NR];
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++)
            acc[i * nr + j] = (load_c ? c[i * ldc + j] : 0.0f) + (bias ? bias[j] : 0.0f);

    for (size_t i = 0; i < mr; i++) {
        const float *ai = a + (i < rows ? i : rows - 1) * lda;
        float *acc_i = acc + i * nr;
        for (size_t p = 0; p < kc; p++) {
            const float av = ai[p];
            const float *bp = b + p * nr;
            for (size_t j = 0; j < nr; j++) acc_i[j] += av * bp[j];
        }
    }
    mtz_gemm_store_scalar(acc, mr, nr, c, ldc, act);
}
