/*
 * dwconv2d.c — depthwise convolution (groups == in_c == out_c, channel multiplier 1), NHWC.
 *
 * Packed weights: bias[C], then the taps [kernel_h][kernel_w][C], channel-contiguous, so one vector
 * load fetches the same tap of consecutive channels. Arithmetic per output element, on every path:
 * acc = bias, then one FMA per valid tap in (ky, kx) order, then + out (accumulate), then the
 * activation — so the grouping of pixels never changes results.
 *
 * Interior fast path: runs of four output pixels on one row whose windows lie fully inside the input
 * width go through a 4-pixel kernel (each weight vector loaded once for four pixels, four independent
 * FMA chains), vectorised across channels with a masked last block (AVX2 8 lanes, AVX-512 16).
 * Borders and leftovers: a single-pixel kernel (AVX2 4x8 / AVX-512 4x16 / NEON 4x4 channel blocks,
 * then single vectors and a masked or scalar tail). The window of every pixel is clipped once with
 * mtz_tap_range() into a rectangle of valid taps, so no tap loop carries a bounds check; padded taps
 * contribute zero and are never read. Scalar has only the single-pixel kernel (the oracle).
 */
#include "internal.h"

#include <string.h>

#if MTZ_HAVE_X86
#include <immintrin.h>
#endif
#if MTZ_HAVE_NEON
#include <arm_neon.h>
#endif

/* The clipped window of one output pixel. `in` and `w` point at the first valid tap; consecutive
 * valid taps are in_dx (in_dy) floats apart in the input and C (w_dy) floats apart in the weights. */
typedef struct mtz_dw_window {
    const float *in;
    size_t in_dx, in_dy;
    const float *w;
    size_t w_dy;
    size_t rows, cols;
} mtz_dw_window;

typedef void (*mtz_dw_pixel_fn)(size_t channels, const mtz_dw_window *win, const float *bias, float *out,
                                int accumulate, mtz_activation act);

/* Four interior output pixels of one row at once: pixel j's window is `win` shifted by j*in_px
 * input floats, its output is at out + j*out_px. Each weight vector is loaded once for the four
 * pixels. Per output element the arithmetic (bias, then taps in order, then + out) is identical to
 * the single-pixel kernel of the same ISA, so grouping never changes results. */
typedef void (*mtz_dw_pixel4_fn)(size_t channels, const mtz_dw_window *win, size_t in_px, const float *bias,
                                 float *out, size_t out_px, int accumulate, mtz_activation act);

static void mtz_f32_dwconv_scalar(size_t channels, const mtz_dw_window *win, const float *bias, float *out,
                                  int accumulate, mtz_activation act) {
    for (size_t c = 0; c < channels; c++) {
        float acc = bias[c];
        for (size_t ky = 0; ky < win->rows; ky++) {
            const float *irow = win->in + ky * win->in_dy + c;
            const float *wrow = win->w + ky * win->w_dy + c;
            for (size_t kx = 0; kx < win->cols; kx++) acc += irow[kx * win->in_dx] * wrow[kx * channels];
        }
        if (accumulate) acc += out[c];
        out[c] = mtz_act_scalar(acc, act);
    }
}

#if MTZ_HAVE_X86
#define MTZ_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define MTZ_TARGET_AVX512 __attribute__((target("avx512f")))

MTZ_TARGET_AVX2 static inline __m256 mtz_dw_clamp_avx2(__m256 v, mtz_activation act) {
    if (act == MTZ_ACT_RELU) return _mm256_max_ps(v, _mm256_setzero_ps());
    if (act == MTZ_ACT_RELU6) return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
    return v;
}

MTZ_TARGET_AVX2 static void mtz_f32_dwconv_avx2(size_t channels, const mtz_dw_window *win, const float *bias,
                                                float *out, int accumulate, mtz_activation act) {
    static const int32_t mask_bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    size_t c = 0;
    /* 32 channels: four independent FMA chains. */
    for (; c + 32 <= channels; c += 32) {
        __m256 a0 = _mm256_loadu_ps(bias + c), a1 = _mm256_loadu_ps(bias + c + 8);
        __m256 a2 = _mm256_loadu_ps(bias + c + 16), a3 = _mm256_loadu_ps(bias + c + 24);
        for (size_t ky = 0; ky < win->rows; ky++) {
            const float *ip = win->in + ky * win->in_dy + c;
            const float *wp = win->w + ky * win->w_dy + c;
            for (size_t kx = 0; kx < win->cols; kx++, ip += win->in_dx, wp += channels) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(ip), _mm256_loadu_ps(wp), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(ip + 8), _mm256_loadu_ps(wp + 8), a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(ip + 16), _mm256_loadu_ps(wp + 16), a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(ip + 24), _mm256_loadu_ps(wp + 24), a3);
            }
        }
        if (accumulate) {
            a0 = _mm256_add_ps(a0, _mm256_loadu_ps(out + c));
            a1 = _mm256_add_ps(a1, _mm256_loadu_ps(out + c + 8));
            a2 = _mm256_add_ps(a2, _mm256_loadu_ps(out + c + 16));
            a3 = _mm256_add_ps(a3, _mm256_loadu_ps(out + c + 24));
        }
        _mm256_storeu_ps(out + c, mtz_dw_clamp_avx2(a0, act));
        _mm256_storeu_ps(out + c + 8, mtz_dw_clamp_avx2(a1, act));
        _mm256_storeu_ps(out + c + 16, mtz_dw_clamp_avx2(a2, act));
        _mm256_storeu_ps(out + c + 24, mtz_dw_clamp_avx2(a3, act));
    }
    /* Remaining channels 8 at a time, the last partial block masked (masked lanes are neither read
     * nor written; masked stores are slow on some cores, so only the tail uses them). */
    for (; c + 8 <= channels; c += 8) {
        __m256 a = _mm256_loadu_ps(bias + c);
        for (size_t ky = 0; ky < win->rows; ky++) {
            const float *ip = win->in + ky * win->in_dy + c;
            const float *wp = win->w + ky * win->w_dy + c;
            for (size_t kx = 0; kx < win->cols; kx++, ip += win->in_dx, wp += channels)
                a = _mm256_fmadd_ps(_mm256_loadu_ps(ip), _mm256_loadu_ps(wp), a);
        }
        if (accumulate) a = _mm256_add_ps(a, _mm256_loadu_ps(out + c));
        _mm256_storeu_ps(out + c, mtz_dw_clamp_avx2(a, act));
    }
    if (c < channels) {
        const __m256i m = _mm256_loadu_si256((const __m256i *)(mask_bits + 8 - (channels - c)));
        __m256 a = _mm256_maskload_ps(bias + c, m);
        for (size_t ky = 0; ky < win->rows; ky++) {
            const float *ip = win->in + ky * win->in_dy + c;
            const float *wp = win->w + ky * win->w_dy + c;
            for (size_t kx = 0; kx < win->cols; kx++, ip += win->in_dx, wp += channels)
                a = _mm256_fmadd_ps(_mm256_maskload_ps(ip, m), _mm256_maskload_ps(wp, m), a);
        }
        if (accumulate) a = _mm256_add_ps(a, _mm256_maskload_ps(out + c, m));
        _mm256_maskstore_ps(out + c, m, mtz_dw_clamp_avx2(a, act));
    }
}

/* Loads / stores 8 lanes, only the lanes of `m` when `masked` (AVX2 masked stores are slow on some
 * cores, so full blocks use plain ones; `masked` is a constant after inlining). */
#define MTZ_DW_LOAD8(ptr) (masked ? _mm256_maskload_ps((ptr), m) : _mm256_loadu_ps(ptr))
#define MTZ_DW_STORE8(ptr, v)                                                                         \
    do {                                                                                              \
        if (masked) _mm256_maskstore_ps((ptr), m, (v));                                              \
        else _mm256_storeu_ps((ptr), (v));                                                           \
    } while (0)

/* One 8-channel block of four pixels. */
MTZ_TARGET_AVX2 static inline __attribute__((always_inline)) void
mtz_dw4_block_avx2(size_t channels, size_t c, const mtz_dw_window *win, size_t in_px, const float *bias,
                   float *out, size_t out_px, int accumulate, mtz_activation act, int masked, __m256i m) {
    __m256 a0 = MTZ_DW_LOAD8(bias + c), a1 = a0, a2 = a0, a3 = a0;
    for (size_t ky = 0; ky < win->rows; ky++) {
        const float *ip = win->in + ky * win->in_dy + c;
        const float *wp = win->w + ky * win->w_dy + c;
        for (size_t kx = 0; kx < win->cols; kx++, ip += win->in_dx, wp += channels) {
            const __m256 w = MTZ_DW_LOAD8(wp);
            a0 = _mm256_fmadd_ps(MTZ_DW_LOAD8(ip), w, a0);
            a1 = _mm256_fmadd_ps(MTZ_DW_LOAD8(ip + in_px), w, a1);
            a2 = _mm256_fmadd_ps(MTZ_DW_LOAD8(ip + 2 * in_px), w, a2);
            a3 = _mm256_fmadd_ps(MTZ_DW_LOAD8(ip + 3 * in_px), w, a3);
        }
    }
    float *o = out + c;
    if (accumulate) {
        a0 = _mm256_add_ps(a0, MTZ_DW_LOAD8(o));
        a1 = _mm256_add_ps(a1, MTZ_DW_LOAD8(o + out_px));
        a2 = _mm256_add_ps(a2, MTZ_DW_LOAD8(o + 2 * out_px));
        a3 = _mm256_add_ps(a3, MTZ_DW_LOAD8(o + 3 * out_px));
    }
    MTZ_DW_STORE8(o, mtz_dw_clamp_avx2(a0, act));
    MTZ_DW_STORE8(o + out_px, mtz_dw_clamp_avx2(a1, act));
    MTZ_DW_STORE8(o + 2 * out_px, mtz_dw_clamp_avx2(a2, act));
    MTZ_DW_STORE8(o + 3 * out_px, mtz_dw_clamp_avx2(a3, act));
}
#undef MTZ_DW_LOAD8
#undef MTZ_DW_STORE8

MTZ_TARGET_AVX2 static void mtz_f32_dwconv4_avx2(size_t channels, const mtz_dw_window *win, size_t in_px,
                                                 const float *bias, float *out, size_t out_px, int accumulate,
                                                 mtz_activation act) {
    static const int32_t mask_bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    const __m256i all = _mm256_set1_epi32(-1);
    size_t c = 0;
    for (; c + 8 <= channels; c += 8)
        mtz_dw4_block_avx2(channels, c, win, in_px, bias, out, out_px, accumulate, act, 0, all);
    if (c < channels) {
        const __m256i m = _mm256_loadu_si256((const __m256i *)(mask_bits + 8 - (channels - c)));
        mtz_dw4_block_avx2(channels, c, win, in_px, bias, out, out_px, accumulate, act, 1, m);
    }
}

MTZ_TARGET_AVX512 static inline __m512 mtz_dw_clamp_avx512(__m512 v, mtz_activation act) {
    if (act == MTZ_ACT_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());
    if (act == MTZ_ACT_RELU6) return _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
    return v;
}

MTZ_TARGET_AVX512 static void mtz_f32_dwconv_avx512(size_t channels, const mtz_dw_window *win,
                                                    const float *bias, float *out, int accumulate,
                                                    mtz_activation act) {
    size_t c = 0;
    for (; c + 64 <= channels; c += 64) {
        __m512 a0 = _mm512_loadu_ps(bias + c), a1 = _mm512_loadu_ps(bias + c + 16);
        __m512 a2 = _mm512_loadu_ps(bias + c + 32), a3 = _mm512_loadu_ps(bias + c + 48);
        for (size_t ky = 0; ky < win->rows; ky++) {
            const float *ip = win->in + ky * win->in_dy + c;
            const float *wp = win->w + ky * win->w_dy + c;
            for (size_t kx = 0; kx < win->cols; kx++, ip += win->in_dx, wp += channels) {
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(ip), _mm512_loadu_ps(wp), a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(ip + 16), _mm512_loadu_ps(wp + 16), a1);
                a2 = _mm512_fmadd_ps(_mm512_loadu_ps(ip + 32), _mm512_loadu_ps(wp + 32), a2);
                a3 = _mm512_fmadd_ps(_mm512_loadu_ps(ip + 48), _mm512_loadu_ps(wp + 48), a3);
            }
        }
        if (accumulate) {
            a0 = _mm512_add_ps(a0, _mm512_loadu_ps(out + c));
            a1 = _mm512_add_ps(a1, _mm512_loadu_ps(out + c + 16));
            a2 = _mm512_add_ps(a2, _mm512_loadu_ps(out + c + 32));
            a3 = _mm512_add_ps(a3, _mm512_loadu_ps(out + c + 48));
        }
        _mm512_storeu_ps(out + c, mtz_dw_clamp_avx512(a0, act));
        _mm512_storeu_ps(out + c + 16, mtz_dw_clamp_avx512(a1, act));
        _mm512_storeu_ps(out + c + 32, mtz_dw_clamp_avx512(a2, act));
        _mm512_storeu_ps(out + c + 48, mtz_dw_clamp_avx512(a3, act));
    }
    for (; c < channels; c += 16) {
        const size_t n = channels - c < 16 ? channels - c : 16;
        const __mmask16 m = (__mmask16)(n == 16 ? 0xFFFFu : (1u << n) - 1u);
        __m512 a = _mm512_maskz_loadu_ps(m, bias + c);
        for (size_t ky = 0; ky < win->rows; ky++) {
            const float *ip = win->in + ky * win->in_dy + c;
            const float *wp = win->w + ky * win->w_dy + c;
            for (size_t kx = 0; kx < win->cols; kx++, ip += win->in_dx, wp += channels)
                a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ip), _mm512_maskz_loadu_ps(m, wp), a);
        }
        if (accumulate) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, out + c));
        _mm512_mask_storeu_ps(out + c, m, mtz_dw_clamp_avx512(a, act));
    }
}
MTZ_TARGET_AVX512 static void mtz_f32_dwconv4_avx512(size_t channels, const mtz_dw_window *win, size_t in_px,
                                                     const float *bias, float *out, size_t out_px,
                                                     int accumulate, mtz_activation act) {
    for (size_t c = 0; c < channels; c += 16) {
        const size_t n = channels - c < 16 ? channels - c : 16;
        const __mmask16 m = (__mmask16)(n == 16 ? 0xFFFFu : (1u << n) - 1u);
        __m512 a0 = _mm512_maskz_loadu_ps(m, bias + c), a1 = a0, a2 = a0, a3 = a0;
        for (size_t ky = 0; ky < win->rows; ky++) {
            const float *ip = win->in + ky * win->in_dy + c;
            const float *wp = win->w + ky * win->w_dy + c;
            for (size_t kx = 0; kx < win->cols; kx++, ip += win->in_dx, wp += channels) {
                const __m512 w = _mm512_maskz_loadu_ps(m, wp);
                a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ip), w, a0);
                a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ip + in_px), w, a1);
                a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ip + 2 * in_px), w, a2);
                a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ip + 3 * in_px), w, a3);
            }
        }
        float *o = out + c;
        if (accumulate) {
            a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(m, o));
            a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(m, o + out_px));
            a2 = _mm512_add_ps(a2, _mm512_maskz_loadu_ps(m, o + 2 * out_px));
            a3 = _mm512_add_ps(a3, _mm512_maskz_loadu_ps(m, o + 3 * out_px));
        }
        _mm512_mask_storeu_ps(o, m, mtz_dw_clamp_avx512(a0, act));
        _mm512_mask_storeu_ps(o + out_px, m, mtz_dw_clamp_avx512(a1, act));
        _mm512_mask_storeu_ps(o + 2 * out_px, m, mtz_dw_clamp_avx512(a2, act));
        _mm512_mask_storeu_ps(o + 3 * out_px, m, mtz_dw_clamp_avx512(a3, act));
    }
}
#endif /* MTZ_HAVE_X86 */

#if MTZ_HAVE_NEON
static inline float32x4_t mtz_dw_clamp_neon(float32x4_t v, mtz_activation act) {
    if (act == MTZ_ACT_RELU) return vmaxq_f32(v, vdupq_n_f32(0.0f));
    if (act == MTZ_ACT_RELU6) return vminq_f32(vmaxq_f32(v, vdupq_n_f32(0.0f)), vdupq_n_f32(6.0f));
    return v;
}

static void mtz_f32_dwconv_neon(size_t channels, const mtz_dw_window *win, const float *bias, float *out,
                                int accumulate, mtz_activation act) {
    size_t c = 0;
    for (; c + 16 <= channels; c += 16) {
        float32x4_t a0 = vld1q_f32(bias + c), a1 = vld1q_f32(bias + c + 4);
        float32x4_t a2 = vld1q_f32(bias + c + 8), a3 = vld1q_f32(bias + c + 12);
        for (size_t ky = 0; ky < win->rows; ky++) {
            const float *ip = win->in + ky * win->in_dy + c;
            const float *wp = win->w + ky * win->w_dy + c;
            for (size_t kx = 0; kx < win->cols; kx++, ip += win->in_dx, wp += channels) {
                a0 = vfmaq_f32(a0, vld1q_f32(ip), vld1q_f32(wp));
                a1 = vfmaq_f32(a1, vld1q_f32(ip + 4), vld1q_f32(wp + 4));
                a2 = vfmaq_f32(a2, vld1q_f32(ip + 8), vld1q_f32(wp + 8));
                a3 = vfmaq_f32(a3, vld1q_f32(ip + 12), vld1q_f32(wp + 12));
            }
        }
        if (accumulate) {
            a0 = vaddq_f32(a0, vld1q_f32(out + c));
            a1 = vaddq_f32(a1, vld1q_f32(out + c + 4));
            a2 = vaddq_f32(a2, vld1q_f32(out + c + 8));
            a3 = vaddq_f32(a3, vld1q_f32(out + c + 12));
        }
        vst1q_f32(out + c, mtz_dw_clamp_neon(a0, act));
        vst1q_f32(out + c + 4, mtz_dw_clamp_neon(a1, act));
        vst1q_f32(out + c + 8, mtz_dw_clamp_neon(a2, act));
        vst1q_f32(out + c + 12, mtz_dw_clamp_neon(a3, act));
    }
    for (; c + 4 <= channels; c += 4) {
        float32x4_t a = vld1q_f32(bias + c);
        for (size_t ky = 0; ky < win->rows; ky++) {
            const float *ip = win->in + ky * win->in_dy + c;
            const float *wp = win->w + ky * win->w_dy + c;
            for (size_t kx = 0; kx < win->cols; kx++, ip += win->in_dx, wp += channels)
                a = vfmaq_f32(a, vld1q_f32(ip), vld1q_f32(wp));
        }
        if (accumulate) a = vaddq_f32(a, vld1q_f32(out + c));
        vst1q_f32(out + c, mtz_dw_clamp_neon(a, act));
    }
    /* Scalar tail (at most 3 channels). */
    for (; c < channels; c++) {
        float acc = bias[c];
        for (size_t ky = 0; ky < win->rows; ky++) {
            const float *ip = win->in + ky * win->in_dy + c;
            const float *wp = win->w + ky * win->w_dy + c;
            for (size_t kx = 0; kx < win->cols; kx++) acc += ip[kx * win->in_dx] * wp[kx * channels];
        }
        if (accumulate) acc += out[c];
        out[c] = mtz_act_scalar(acc, act);
    }
}
/* Channels in blocks of 4, the last 0..3 channels per pixel in scalar code. */
static void mtz_f32_dwconv4_neon(size_t channels, const mtz_dw_window *win, size_t in_px, const float *bias,
                                 float *out, size_t out_px, int accumulate, mtz_activation act) {
    size_t c = 0;
    for (; c + 4 <= channels; c += 4) {
        float32x4_t a0 = vld1q_f32(bias + c), a1 = a0, a2 = a0, a3 = a0;
        for (size_t ky = 0; ky < win->rows; ky++) {
            const float *ip = win->in + ky * win->in_dy + c;
            const float *wp = win->w + ky * win->w_dy + c;
            for (size_t kx = 0; kx < win->cols; kx++, ip += win->in_dx, wp += channels) {
                const float32x4_t w = vld1q_f32(wp);
                a0 = vfmaq_f32(a0, vld1q_f32(ip), w);
                a1 = vfmaq_f32(a1, vld1q_f32(ip + in_px), w);
                a2 = vfmaq_f32(a2, vld1q_f32(ip + 2 * in_px), w);
                a3 = vfmaq_f32(a3, vld1q_f32(ip + 3 * in_px), w);
            }
        }
        float *o = out + c;
        if (accumulate) {
            a0 = vaddq_f32(a0, vld1q_f32(o));
            a1 = vaddq_f32(a1, vld1q_f32(o + out_px));
            a2 = vaddq_f32(a2, vld1q_f32(o + 2 * out_px));
            a3 = vaddq_f32(a3, vld1q_f32(o + 3 * out_px));
        }
        vst1q_f32(o, mtz_dw_clamp_neon(a0, act));
        vst1q_f32(o + out_px, mtz_dw_clamp_neon(a1, act));
        vst1q_f32(o + 2 * out_px, mtz_dw_clamp_neon(a2, act));
        vst1q_f32(o + 3 * out_px, mtz_dw_clamp_neon(a3, act));
    }
    for (; c < channels; c++) {
        for (size_t j = 0; j < 4; j++) {
            float acc = bias[c];
            for (size_t ky = 0; ky < win->rows; ky++) {
                const float *ip = win->in + j * in_px + ky * win->in_dy + c;
                const float *wp = win->w + ky * win->w_dy + c;
                for (size_t kx = 0; kx < win->cols; kx++) acc += ip[kx * win->in_dx] * wp[kx * channels];
            }
            if (accumulate) acc += out[j * out_px + c];
            out[j * out_px + c] = mtz_act_scalar(acc, act);
        }
    }
}
#endif /* MTZ_HAVE_NEON */

static mtz_dw_pixel_fn mtz_dw_pixel_for(mtz_isa isa) {
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2: return mtz_f32_dwconv_avx2;
    case MTZ_ISA_AVX512: return mtz_f32_dwconv_avx512;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON: return mtz_f32_dwconv_neon;
#endif
    default: return mtz_f32_dwconv_scalar;
    }
}

static mtz_dw_pixel4_fn mtz_dw_pixel4_for(mtz_isa isa) {
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2: return mtz_f32_dwconv4_avx2;
    case MTZ_ISA_AVX512: return mtz_f32_dwconv4_avx512;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON: return mtz_f32_dwconv4_neon;
#endif
    default: return NULL; /* scalar: one pixel at a time */
    }
}

size_t mtz_dwconv2d_packed_size(const mtz_conv2d_params *p) {
    return (1 + p->kernel_h * p->kernel_w) * p->out_c;
}

void mtz_dwconv2d_pack(const mtz_conv2d_params *p, const float *w, const float *bias, float *packed) {
    const size_t C = p->out_c, taps = p->kernel_h * p->kernel_w;
    for (size_t c = 0; c < C; c++) packed[c] = bias ? bias[c] : 0.0f;
    for (size_t t = 0; t < taps; t++)
        for (size_t c = 0; c < C; c++) packed[C + t * C + c] = w[c * taps + t];
}

void mtz_dwconv2d(mtz_isa isa, const mtz_conv2d_params *p, const float *in, const float *packed,
                  float *out, size_t pixel_begin, size_t pixel_end, int accumulate, mtz_activation act) {
    const mtz_dw_pixel_fn pixel = mtz_dw_pixel_for(isa);
    const mtz_dw_pixel4_fn pixel4 = mtz_dw_pixel4_for(isa);
    /* Vector paths clamp ReLU/ReLU6 in registers; other activations run afterwards, per pixel, with
     * the scalar oracle. */
    const int late_act = act == MTZ_ACT_SIGMOID || act == MTZ_ACT_TANH;
    const mtz_activation kernel_act = late_act ? MTZ_ACT_NONE : act;
    const size_t C = p->out_c;
    const float *bias = packed, *taps = packed + C;
    const size_t ips = p->in_pixel_stride, ops = p->out_pixel_stride;
    size_t pix = pixel_begin;
    while (pix < pixel_end) {
        const size_t oy = pix / p->out_w, ox = pix % p->out_w;
        size_t ky0, ky1, kx0, kx1;
        mtz_tap_range(oy, p->stride_h, p->pad_top, p->dilation_h, p->kernel_h, p->in_h, &ky0, &ky1);
        mtz_tap_range(ox, p->stride_w, p->pad_left, p->dilation_w, p->kernel_w, p->in_w, &kx0, &kx1);
        mtz_dw_window win;
        win.rows = ky1 - ky0;
        win.cols = kx1 - kx0;
        win.in_dx = p->dilation_w * ips;
        win.in_dy = p->dilation_h * p->in_w * ips;
        win.w_dy = p->kernel_w * C;
        win.w = taps + (ky0 * p->kernel_w + kx0) * C;
        win.in = in;
        if (win.rows != 0 && win.cols != 0) {
            const size_t iy = oy * p->stride_h + ky0 * p->dilation_h - p->pad_top;
            const size_t ix = ox * p->stride_w + kx0 * p->dilation_w - p->pad_left;
            win.in = in + (iy * p->in_w + ix) * ips;
        } else {
            win.rows = win.cols = 0; /* the window lies entirely in the padding: bias only */
        }
        float *dst = out + pix * ops;
        /* Interior fast path: this pixel and the next three on the same row see the full kernel
         * width (the windows move monotonically, so checking the fourth suffices). */
        size_t count = 1;
        if (pixel4 != NULL && win.rows != 0 && kx0 == 0 && kx1 == p->kernel_w && ox + 4 <= p->out_w &&
            pix + 4 <= pixel_end) {
            size_t kx0_last, kx1_last;
            mtz_tap_range(ox + 3, p->stride_w, p->pad_left, p->dilation_w, p->kernel_w, p->in_w, &kx0_last,
                          &kx1_last);
            if (kx0_last == 0 && kx1_last == p->kernel_w) count = 4;
        }
        if (count == 4)
            pixel4(C, &win, p->stride_w * ips, bias, dst, ops, accumulate, kernel_act);
        else
            pixel(C, &win, bias, dst, accumulate, kernel_act);
        if (late_act) mtz_act_rows_scalar(dst, count, C, ops, act);
        pix += count;
    }
}
