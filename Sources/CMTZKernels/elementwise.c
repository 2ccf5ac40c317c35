/*
 * elementwise.c — add, activate, scale-shift, copy and softmax over [pixels][channels] views.
 *
 * Each operation has a scalar version (the oracle, used for every ISA without its own path) and
 * AVX2 / AVX-512 / NEON versions that vectorise across channels. Channel tails use masked loads and
 * stores (x86) or scalar code (NEON), so nothing outside the views is read or written.
 * ReLU and ReLU6 are applied in vector registers; sigmoid and tanh are applied afterwards with the
 * scalar oracle, row by row.
 */
#include "internal.h"

#include <string.h>

#if MTZ_HAVE_X86
#include <immintrin.h>
#endif
#if MTZ_HAVE_NEON
#include <arm_neon.h>
#endif

/* 1 if the activation is done in vector registers by the SIMD paths below. */
static inline int mtz_act_is_clamp(mtz_activation act) {
    return act == MTZ_ACT_NONE || act == MTZ_ACT_RELU || act == MTZ_ACT_RELU6;
}

/* ---------------------------------------------------------------------------------------------- */
/* Scalar                                                                                          */

static void mtz_f32_add_scalar(size_t pixels, size_t channels, const float *a, size_t as,
                               const float *b, size_t bs, float *out, size_t os, mtz_activation act) {
    for (size_t p = 0; p < pixels; p++) {
        const float *ra = a + p * as, *rb = b + p * bs;
        float *ro = out + p * os;
        for (size_t c = 0; c < channels; c++) ro[c] = mtz_act_scalar(ra[c] + rb[c], act);
    }
}

static void mtz_f32_activate_scalar(size_t pixels, size_t channels, const float *in, size_t is,
                                    float *out, size_t os, mtz_activation act) {
    for (size_t p = 0; p < pixels; p++) {
        const float *ri = in + p * is;
        float *ro = out + p * os;
        for (size_t c = 0; c < channels; c++) ro[c] = mtz_act_scalar(ri[c], act);
    }
}

static void mtz_f32_scale_shift_scalar(size_t pixels, size_t channels, const float *in, size_t is,
                                       const float *scale, const float *shift, float *out, size_t os) {
    for (size_t p = 0; p < pixels; p++) {
        const float *ri = in + p * is;
        float *ro = out + p * os;
        for (size_t c = 0; c < channels; c++) ro[c] = ri[c] * scale[c] + shift[c];
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* AVX2                                                                                            */

#if MTZ_HAVE_X86
#define MTZ_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define MTZ_TARGET_AVX512 __attribute__((target("avx512f")))

/* Lane mask with the first n (0..8) lanes set. */
MTZ_TARGET_AVX2 static inline __m256i mtz_avx2_mask(size_t n) {
    static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(bits + 8 - n));
}

MTZ_TARGET_AVX2 static inline __m256 mtz_avx2_clamp(__m256 v, mtz_activation act) {
    if (act == MTZ_ACT_RELU) return _mm256_max_ps(v, _mm256_setzero_ps());
    if (act == MTZ_ACT_RELU6)
        return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
    return v;
}

MTZ_TARGET_AVX2 static void mtz_f32_add_avx2(size_t pixels, size_t channels, const float *a, size_t as,
                                             const float *b, size_t bs, float *out, size_t os,
                                             mtz_activation act) {
    mtz_activation vact = mtz_act_is_clamp(act) ? act : MTZ_ACT_NONE;
    for (size_t p = 0; p < pixels; p++) {
        const float *ra = a + p * as, *rb = b + p * bs;
        float *ro = out + p * os;
        size_t c = 0;
        for (; c + 8 <= channels; c += 8) {
            __m256 v = _mm256_add_ps(_mm256_loadu_ps(ra + c), _mm256_loadu_ps(rb + c));
            _mm256_storeu_ps(ro + c, mtz_avx2_clamp(v, vact));
        }
        if (c < channels) {
            __m256i m = mtz_avx2_mask(channels - c);
            __m256 v = _mm256_add_ps(_mm256_maskload_ps(ra + c, m), _mm256_maskload_ps(rb + c, m));
            _mm256_maskstore_ps(ro + c, m, mtz_avx2_clamp(v, vact));
        }
        if (vact != act) mtz_act_rows_scalar(ro, 1, channels, os, act);
    }
}

MTZ_TARGET_AVX2 static void mtz_f32_activate_avx2(size_t pixels, size_t channels, const float *in,
                                                  size_t is, float *out, size_t os, mtz_activation act) {
    for (size_t p = 0; p < pixels; p++) {
        const float *ri = in + p * is;
        float *ro = out + p * os;
        size_t c = 0;
        for (; c + 8 <= channels; c += 8) _mm256_storeu_ps(ro + c, mtz_avx2_clamp(_mm256_loadu_ps(ri + c), act));
        if (c < channels) {
            __m256i m = mtz_avx2_mask(channels - c);
            _mm256_maskstore_ps(ro + c, m, mtz_avx2_clamp(_mm256_maskload_ps(ri + c, m), act));
        }
    }
}

MTZ_TARGET_AVX2 static void mtz_f32_scale_shift_avx2(size_t pixels, size_t channels, const float *in,
                                                     size_t is, const float *scale, const float *shift,
                                                     float *out, size_t os) {
    for (size_t p = 0; p < pixels; p++) {
        const float *ri = in + p * is;
        float *ro = out + p * os;
        size_t c = 0;
        for (; c + 8 <= channels; c += 8) {
            __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(ri + c), _mm256_loadu_ps(scale + c),
                                       _mm256_loadu_ps(shift + c));
            _mm256_storeu_ps(ro + c, v);
        }
        if (c < channels) {
            __m256i m = mtz_avx2_mask(channels - c);
            __m256 v = _mm256_fmadd_ps(_mm256_maskload_ps(ri + c, m), _mm256_maskload_ps(scale + c, m),
                                       _mm256_maskload_ps(shift + c, m));
            _mm256_maskstore_ps(ro + c, m, v);
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* AVX-512                                                                                         */

MTZ_TARGET_AVX512 static inline __m512 mtz_avx512_clamp(__m512 v, mtz_activation act) {
    if (act == MTZ_ACT_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());
    if (act == MTZ_ACT_RELU6)
        return _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
    return v;
}

MTZ_TARGET_AVX512 static void mtz_f32_add_avx512(size_t pixels, size_t channels, const float *a,
                                                 size_t as, const float *b, size_t bs, float *out,
                                                 size_t os, mtz_activation act) {
    mtz_activation vact = mtz_act_is_clamp(act) ? act : MTZ_ACT_NONE;
    for (size_t p = 0; p < pixels; p++) {
        const float *ra = a + p * as, *rb = b + p * bs;
        float *ro = out + p * os;
        for (size_t c = 0; c < channels; c += 16) {
            size_t n = channels - c < 16 ? channels - c : 16;
            __mmask16 m = (__mmask16)((1u << n) - 1u);
            __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, ra + c), _mm512_maskz_loadu_ps(m, rb + c));
            _mm512_mask_storeu_ps(ro + c, m, mtz_avx512_clamp(v, vact));
        }
        if (vact != act) mtz_act_rows_scalar(ro, 1, channels, os, act);
    }
}

MTZ_TARGET_AVX512 static void mtz_f32_activate_avx512(size_t pixels, size_t channels, const float *in,
                                                      size_t is, float *out, size_t os,
                                                      mtz_activation act) {
    for (size_t p = 0; p < pixels; p++) {
        const float *ri = in + p * is;
        float *ro = out + p * os;
        for (size_t c = 0; c < channels; c += 16) {
            size_t n = channels - c < 16 ? channels - c : 16;
            __mmask16 m = (__mmask16)((1u << n) - 1u);
            _mm512_mask_storeu_ps(ro + c, m, mtz_avx512_clamp(_mm512_maskz_loadu_ps(m, ri + c), act));
        }
    }
}

MTZ_TARGET_AVX512 static void mtz_f32_scale_shift_avx512(size_t pixels, size_t channels,
                                                         const float *in, size_t is,
                                                         const float *scale, const float *shift,
                                                         float *out, size_t os) {
    for (size_t p = 0; p < pixels; p++) {
        const float *ri = in + p * is;
        float *ro = out + p * os;
        for (size_t c = 0; c < channels; c += 16) {
            size_t n = channels - c < 16 ? channels - c : 16;
            __mmask16 m = (__mmask16)((1u << n) - 1u);
            __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ri + c), _mm512_maskz_loadu_ps(m, scale + c),
                                       _mm512_maskz_loadu_ps(m, shift + c));
            _mm512_mask_storeu_ps(ro + c, m, v);
        }
    }
}
#endif /* MTZ_HAVE_X86 */

/* ---------------------------------------------------------------------------------------------- */
/* NEON                                                                                            */

#if MTZ_HAVE_NEON
static inline float32x4_t mtz_neon_clamp(float32x4_t v, mtz_activation act) {
    if (act == MTZ_ACT_RELU) return vmaxq_f32(v, vdupq_n_f32(0.0f));
    if (act == MTZ_ACT_RELU6) return vminq_f32(vmaxq_f32(v, vdupq_n_f32(0.0f)), vdupq_n_f32(6.0f));
    return v;
}

static void mtz_f32_add_neon(size_t pixels, size_t channels, const float *a, size_t as, const float *b,
                             size_t bs, float *out, size_t os, mtz_activation act) {
    mtz_activation vact = mtz_act_is_clamp(act) ? act : MTZ_ACT_NONE;
    for (size_t p = 0; p < pixels; p++) {
        const float *ra = a + p * as, *rb = b + p * bs;
        float *ro = out + p * os;
        size_t c = 0;
        for (; c + 4 <= channels; c += 4)
            vst1q_f32(ro + c, mtz_neon_clamp(vaddq_f32(vld1q_f32(ra + c), vld1q_f32(rb + c)), vact));
        for (; c < channels; c++) ro[c] = mtz_act_scalar(ra[c] + rb[c], vact);
        if (vact != act) mtz_act_rows_scalar(ro, 1, channels, os, act);
    }
}

static void mtz_f32_activate_neon(size_t pixels, size_t channels, const float *in, size_t is, float *out,
                                  size_t os, mtz_activation act) {
    for (size_t p = 0; p < pixels; p++) {
        const float *ri = in + p * is;
        float *ro = out + p * os;
        size_t c = 0;
        for (; c + 4 <= channels; c += 4) vst1q_f32(ro + c, mtz_neon_clamp(vld1q_f32(ri + c), act));
        for (; c < channels; c++) ro[c] = mtz_act_scalar(ri[c], act);
    }
}

static void mtz_f32_scale_shift_neon(size_t pixels, size_t channels, const float *in, size_t is,
                                     const float *scale, const float *shift, float *out, size_t os) {
    for (size_t p = 0; p < pixels; p++) {
        const float *ri = in + p * is;
        float *ro = out + p * os;
        size_t c = 0;
        for (; c + 4 <= channels; c += 4)
            vst1q_f32(ro + c, vfmaq_f32(vld1q_f32(shift + c), vld1q_f32(ri + c), vld1q_f32(scale + c)));
        for (; c < channels; c++) ro[c] = ri[c] * scale[c] + shift[c];
    }
}
#endif /* MTZ_HAVE_NEON */

/* ---------------------------------------------------------------------------------------------- */
/* Public entry points                                                                             */

void mtz_add(mtz_isa isa, size_t pixels, size_t channels, const float *a, size_t a_stride,
             const float *b, size_t b_stride, float *out, size_t out_stride, mtz_activation act) {
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2: mtz_f32_add_avx2(pixels, channels, a, a_stride, b, b_stride, out, out_stride, act); return;
    case MTZ_ISA_AVX512: mtz_f32_add_avx512(pixels, channels, a, a_stride, b, b_stride, out, out_stride, act); return;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON: mtz_f32_add_neon(pixels, channels, a, a_stride, b, b_stride, out, out_stride, act); return;
#endif
    default: mtz_f32_add_scalar(pixels, channels, a, a_stride, b, b_stride, out, out_stride, act); return;
    }
}

void mtz_activate(mtz_isa isa, size_t pixels, size_t channels, const float *in, size_t in_stride,
                  float *out, size_t out_stride, mtz_activation act) {
    if (!mtz_act_is_clamp(act)) isa = MTZ_ISA_SCALAR; /* sigmoid/tanh: the scalar oracle */
    if (act == MTZ_ACT_NONE) {
        mtz_copy(pixels, channels, in, in_stride, out, out_stride);
        return;
    }
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2: mtz_f32_activate_avx2(pixels, channels, in, in_stride, out, out_stride, act); return;
    case MTZ_ISA_AVX512: mtz_f32_activate_avx512(pixels, channels, in, in_stride, out, out_stride, act); return;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON: mtz_f32_activate_neon(pixels, channels, in, in_stride, out, out_stride, act); return;
#endif
    default: mtz_f32_activate_scalar(pixels, channels, in, in_stride, out, out_stride, act); return;
    }
}

void mtz_scale_shift(mtz_isa isa, size_t pixels, size_t channels, const float *in, size_t in_stride,
                     const float *scale, const float *shift, float *out, size_t out_stride) {
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2:
        mtz_f32_scale_shift_avx2(pixels, channels, in, in_stride, scale, shift, out, out_stride);
        return;
    case MTZ_ISA_AVX512:
        mtz_f32_scale_shift_avx512(pixels, channels, in, in_stride, scale, shift, out, out_stride);
        return;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON:
        mtz_f32_scale_shift_neon(pixels, channels, in, in_stride, scale, shift, out, out_stride);
        return;
#endif
    default: mtz_f32_scale_shift_scalar(pixels, channels, in, in_stride, scale, shift, out, out_stride); return;
    }
}

void mtz_copy(size_t pixels, size_t channels, const float *in, size_t in_stride, float *out,
              size_t out_stride) {
    if (in == out && in_stride == out_stride) return;
    if (in_stride == channels && out_stride == channels) {
        memmove(out, in, pixels * channels * sizeof(float));
        return;
    }
    for (size_t p = 0; p < pixels; p++) memmove(out + p * out_stride, in + p * in_stride, channels * sizeof(float));
}

/* Softmax is scalar for every ISA: it runs once per classification head on at most a few thousand
 * values, and expf() is the accuracy reference. The sum is accumulated in double. */
void mtz_softmax(mtz_isa isa, size_t n, const float *in, float *out) {
    (void)isa;
    if (n == 0) return;
    float max = in[0];
    for (size_t i = 1; i < n; i++) max = in[i] > max ? in[i] : max;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float e = expf(in[i] - max);
        out[i] = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++) out[i] *= inv;
}
