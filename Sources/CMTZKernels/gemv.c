/*
 * gemv.c — fully connected layers on one input vector, straight from [N][K] weights.
 *
 * Inference runs one image at a time, so a fully connected layer is a matrix-vector product whose
 * cost is reading the weights once. Rows of the stored [out][in] weights are already contiguous,
 * which is all a dot-product kernel needs: no packed copy, so the weights can be used in place from
 * the memory-mapped model file (nothing to repack at load, no second copy in memory).
 *
 * Each kernel takes four rows at a time (the input vector is loaded once for four rows) with two
 * accumulators per row (eight independent FMA chains hide the FMA latency). Loads never go past a
 * row's last float: mapped weights may end at the end of the file.
 */
#include "internal.h"

/* Adds bias and the old output, applies the activation: the same epilogue for every ISA. */
static inline void mtz_gemv_store(float *y, size_t j, float dot, const float *bias, int accumulate,
                                  mtz_activation act) {
    float v = dot + (bias ? bias[j] : 0.0f);
    if (accumulate) v += y[j];
    y[j] = mtz_act_scalar(v, act);
}

static void mtz_gemv_scalar(size_t n, size_t k, const float *x, const float *w, size_t ldw,
                            const float *bias, float *y, int accumulate, mtz_activation act) {
    for (size_t j = 0; j < n; j++) {
        const float *row = w + j * ldw;
        float s0 = 0.0f, s1 = 0.0f;
        size_t i = 0;
        for (; i + 2 <= k; i += 2) {
            s0 += row[i] * x[i];
            s1 += row[i + 1] * x[i + 1];
        }
        if (i < k) s0 += row[i] * x[i];
        mtz_gemv_store(y, j, s0 + s1, bias, accumulate, act);
    }
}

#if MTZ_HAVE_X86
#include <immintrin.h>

/* Rows [j, j + R) with R in {1, 4}; the compiler unrolls the constant-bound loops. */
#define MTZ_GEMV_AVX512_ROWS(R)                                                                       \
    __attribute__((target("avx512f"))) static void mtz_gemv_rows##R##_avx512(                         \
        size_t j, size_t k, const float *x, const float *w, size_t ldw, float *dots) {                \
        __m512 acc[R][2];                                                                             \
        for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();                      \
        size_t i = 0;                                                                                 \
        for (; i + 32 <= k; i += 32) {                                                                \
            __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);                     \
            for (int r = 0; r < R; r++) {                                                             \
                const float *row = w + (j + r) * ldw + i;                                             \
                acc[r][0] = _mm512_fmadd_ps(_mm512_loadu_ps(row), x0, acc[r][0]);                     \
                acc[r][1] = _mm512_fmadd_ps(_mm512_loadu_ps(row + 16), x1, acc[r][1]);                \
            }                                                                                         \
        }                                                                                             \
        for (; i < k; i += 16) {                                                                      \
            __mmask16 m = k - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - i)) - 1);          \
            __m512 xv = _mm512_maskz_loadu_ps(m, x + i);                                              \
            for (int r = 0; r < R; r++)                                                               \
                acc[r][0] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + (j + r) * ldw + i), xv, acc[r][0]); \
        }                                                                                             \
        for (int r = 0; r < R; r++) dots[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1])); \
    }
MTZ_GEMV_AVX512_ROWS(1)
MTZ_GEMV_AVX512_ROWS(4)

static inline float mtz_hsum256(__m256 v) __attribute__((target("avx2,fma")));
static inline float mtz_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define MTZ_GEMV_AVX2_ROWS(R)                                                                         \
    __attribute__((target("avx2,fma"))) static void mtz_gemv_rows##R##_avx2(                          \
        size_t j, size_t k, const float *x, const float *w, size_t ldw, float *dots) {                \
        __m256 acc[R][2];                                                                             \
        for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();                      \
        size_t i = 0;                                                                                 \
        for (; i + 16 <= k; i += 16) {                                                                \
            __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);                      \
            for (int r = 0; r < R; r++) {                                                             \
                const float *row = w + (j + r) * ldw + i;                                             \
                acc[r][0] = _mm256_fmadd_ps(_mm256_loadu_ps(row), x0, acc[r][0]);                     \
                acc[r][1] = _mm256_fmadd_ps(_mm256_loadu_ps(row + 8), x1, acc[r][1]);                 \
            }                                                                                         \
        }                                                                                             \
        for (; i < k; i += 8) {                                                                       \
            /* maskload reads only the lanes that are set, so it never touches memory past k. */      \
            __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(k - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); \
            __m256 xv = _mm256_maskload_ps(x + i, m);                                                 \
            for (int r = 0; r < R; r++)                                                               \
                acc[r][0] = _mm256_fmadd_ps(_mm256_maskload_ps(w + (j + r) * ldw + i, m), xv, acc[r][0]); \
        }                                                                                             \
        for (int r = 0; r < R; r++) dots[r] = mtz_hsum256(_mm256_add_ps(acc[r][0], acc[r][1]));      \
    }
MTZ_GEMV_AVX2_ROWS(1)
MTZ_GEMV_AVX2_ROWS(4)
#endif

#if MTZ_HAVE_NEON
#include <arm_neon.h>

#define MTZ_GEMV_NEON_ROWS(R)                                                                         \
    static void mtz_gemv_rows##R##_neon(size_t j, size_t k, const float *x, const float *w, size_t ldw, \
                                        float *dots) {                                               \
        float32x4_t acc[R][2];                                                                        \
        for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);                        \
        size_t i = 0;                                                                                 \
        for (; i + 8 <= k; i += 8) {                                                                  \
            float32x4_t x0 = vld1q_f32(x + i), x1 = vld1q_f32(x + i + 4);                             \
            for (int r = 0; r < R; r++) {                                                             \
                const float *row = w + (j + r) * ldw + i;                                             \
                acc[r][0] = vfmaq_f32(acc[r][0], vld1q_f32(row), x0);                                 \
                acc[r][1] = vfmaq_f32(acc[r][1], vld1q_f32(row + 4), x1);                             \
            }                                                                                         \
        }                                                                                             \
        for (int r = 0; r < R; r++) {                                                                 \
            float s = vaddvq_f32(vaddq_f32(acc[r][0], acc[r][1]));                                    \
            for (size_t t = i; t < k; t++) s += w[(j + r) * ldw + t] * x[t];                          \
            dots[r] = s;                                                                              \
        }                                                                                             \
    }
MTZ_GEMV_NEON_ROWS(1)
MTZ_GEMV_NEON_ROWS(4)
#endif

typedef void (*mtz_gemv_rows_fn)(size_t j, size_t k, const float *x, const float *w, size_t ldw, float *dots);

void mtz_gemv(mtz_isa isa, size_t n, size_t k, const float *x, const float *w, size_t ldw,
              const float *bias, float *y, int accumulate, mtz_activation act) {
    mtz_gemv_rows_fn rows1 = NULL, rows4 = NULL;
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX512: rows1 = mtz_gemv_rows1_avx512; rows4 = mtz_gemv_rows4_avx512; break;
    case MTZ_ISA_AVX2: rows1 = mtz_gemv_rows1_avx2; rows4 = mtz_gemv_rows4_avx2; break;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON: rows1 = mtz_gemv_rows1_neon; rows4 = mtz_gemv_rows4_neon; break;
#endif
    default: break;
    }
    if (!rows1 || k == 0) {
        mtz_gemv_scalar(n, k, x, w, ldw, bias, y, accumulate, act);
        return;
    }
    float dots[4];
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        rows4(j, k, x, w, ldw, dots);
        for (int r = 0; r < 4; r++) mtz_gemv_store(y, j + r, dots[r], bias, accumulate, act);
    }
    for (; j < n; j++) {
        rows1(j, k, x, w, ldw, dots);
        mtz_gemv_store(y, j, dots[0], bias, accumulate, act);
    }
}
