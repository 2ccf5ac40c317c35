/*
 * pool.c — max / average pooling and global average pooling over NHWC views.
 *
 * Every output pixel is one window: for each vector of channels the first valid tap is loaded, every
 * further tap is folded in (max or add) while the value stays in a register, and the result is
 * stored once (divided by the tap count for averages). Keeping the running value in a register
 * matters: folding through a memory accumulator made each tap wait on the previous tap's store
 * (masked stores do not forward to loads on Zen 4), 4-5x slower on small layers. Taps are visited in
 * (ky, kx) order on every ISA, and the vector max keeps the scalar rule, so all ISAs give
 * bit-identical results. Padded positions are never read: the valid taps of a window are clipped
 * with mtz_tap_range().
 */
#include "internal.h"

#include <string.h>

#if MTZ_HAVE_X86
#include <immintrin.h>
#endif
#if MTZ_HAVE_NEON
#include <arm_neon.h>
#endif

/* The valid taps of one output pixel: tap (r, c) is at base + r * row_stride + c * col_stride. */
typedef struct mtz_pool_window {
    const float *base;
    size_t rows, cols, row_stride, col_stride;
} mtz_pool_window;

/* dst[0..n) = max over the taps, or their sum / divisor when is_avg (channels [0, n) of each tap). */
typedef void (*mtz_pool_window_fn)(const mtz_pool_window *w, size_t n, int is_avg, float divisor, float *dst);

static inline const float *mtz_tap(const mtz_pool_window *w, size_t r, size_t c) {
    return w->base + r * w->row_stride + c * w->col_stride;
}

/* Taps outer, channels inner, accumulating in dst: the inner loops vectorise with the baseline
 * instruction set (no masked stores here). */
static void mtz_pool_window_scalar(const mtz_pool_window *w, size_t n, int is_avg, float divisor, float *dst) {
    memcpy(dst, w->base, n * sizeof(float));
    for (size_t r = 0; r < w->rows; r++)
        for (size_t c = r == 0 ? 1 : 0; c < w->cols; c++) {
            const float *t = mtz_tap(w, r, c);
            if (is_avg)
                for (size_t ch = 0; ch < n; ch++) dst[ch] += t[ch];
            else
                for (size_t ch = 0; ch < n; ch++) dst[ch] = t[ch] > dst[ch] ? t[ch] : dst[ch];
        }
    if (is_avg)
        for (size_t ch = 0; ch < n; ch++) dst[ch] /= divisor;
}

/* Channels [from, n) with the scalar code: the tails of the vector versions. */
static void mtz_pool_window_tail(const mtz_pool_window *w, size_t from, size_t n, int is_avg, float divisor, float *dst) {
    if (from >= n) return;
    mtz_pool_window shifted = *w;
    shifted.base += from;
    mtz_pool_window_scalar(&shifted, n - from, is_avg, divisor, dst + from);
}

#if MTZ_HAVE_X86
/* The vector max of x86 returns its second operand when a lane is NaN; the running value is passed
 * second so that the scalar rule "take the tap only if tap > value" is reproduced exactly. */
__attribute__((target("avx2,fma")))
static void mtz_pool_window_avx2(const mtz_pool_window *w, size_t n, int is_avg, float divisor, float *dst) {
    size_t ch = 0;
    for (; ch + 8 <= n; ch += 8) {
        __m256 v = _mm256_loadu_ps(w->base + ch);
        for (size_t r = 0; r < w->rows; r++)
            for (size_t c = r == 0 ? 1 : 0; c < w->cols; c++) {
                const __m256 t = _mm256_loadu_ps(mtz_tap(w, r, c) + ch);
                v = is_avg ? _mm256_add_ps(v, t) : _mm256_max_ps(t, v);
            }
        _mm256_storeu_ps(dst + ch, is_avg ? _mm256_div_ps(v, _mm256_set1_ps(divisor)) : v);
    }
    /* The last channels the scalar way (AVX2's masked store is microcoded on AMD: slower). */
    mtz_pool_window_tail(w, ch, n, is_avg, divisor, dst);
}

__attribute__((target("avx512f")))
static void mtz_pool_window_avx512(const mtz_pool_window *w, size_t n, int is_avg, float divisor, float *dst) {
    for (size_t ch = 0; ch < n; ch += 16) {
        const __mmask16 m = (__mmask16)(n - ch >= 16 ? 0xFFFFu : (1u << (n - ch)) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(m, w->base + ch);
        for (size_t r = 0; r < w->rows; r++)
            for (size_t c = r == 0 ? 1 : 0; c < w->cols; c++) {
                const __m512 t = _mm512_maskz_loadu_ps(m, mtz_tap(w, r, c) + ch);
                v = is_avg ? _mm512_add_ps(v, t) : _mm512_max_ps(t, v);
            }
        _mm512_mask_storeu_ps(dst + ch, m, is_avg ? _mm512_div_ps(v, _mm512_set1_ps(divisor)) : v);
    }
}
#endif

#if MTZ_HAVE_NEON
/* vmaxq_f32 propagates NaN, unlike the scalar rule; pooling inputs are finite in practice and the
 * NEON path keeps the simple instruction. */
static void mtz_pool_window_neon(const mtz_pool_window *w, size_t n, int is_avg, float divisor, float *dst) {
    size_t ch = 0;
    for (; ch + 4 <= n; ch += 4) {
        float32x4_t v = vld1q_f32(w->base + ch);
        for (size_t r = 0; r < w->rows; r++)
            for (size_t c = r == 0 ? 1 : 0; c < w->cols; c++) {
                const float32x4_t t = vld1q_f32(mtz_tap(w, r, c) + ch);
                v = is_avg ? vaddq_f32(v, t) : vmaxq_f32(v, t);
            }
        vst1q_f32(dst + ch, is_avg ? vdivq_f32(v, vdupq_n_f32(divisor)) : v);
    }
    mtz_pool_window_tail(w, ch, n, is_avg, divisor, dst);
}
#endif

static mtz_pool_window_fn mtz_pool_window_for(mtz_isa isa) {
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2: return mtz_pool_window_avx2;
    case MTZ_ISA_AVX512: return mtz_pool_window_avx512;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON: return mtz_pool_window_neon;
#endif
    default: return mtz_pool_window_scalar;
    }
}

/* Shared driver: is_avg selects add + divide instead of max. */
static void mtz_pool2d(mtz_isa isa, const mtz_conv2d_params *p, const float *in, float *out,
                       size_t pixel_begin, size_t pixel_end, int is_avg, int count_include_pad) {
    const mtz_pool_window_fn pool = mtz_pool_window_for(isa);
    const size_t channels = p->out_c;
    for (size_t pix = pixel_begin; pix < pixel_end; pix++) {
        const size_t oy = pix / p->out_w, ox = pix % p->out_w;
        size_t ky0, ky1, kx0, kx1;
        mtz_tap_range(oy, p->stride_h, p->pad_top, 1, p->kernel_h, p->in_h, &ky0, &ky1);
        mtz_tap_range(ox, p->stride_w, p->pad_left, 1, p->kernel_w, p->in_w, &kx0, &kx1);
        float *dst = out + pix * p->out_pixel_stride;
        const size_t valid = (ky1 - ky0) * (kx1 - kx0);
        if (valid == 0) { /* unreachable for valid pooling geometry; defined as zeros */
            memset(dst, 0, channels * sizeof(float));
            continue;
        }
        const float divisor = (float)(count_include_pad ? p->kernel_h * p->kernel_w : valid);
        /* Input pixel of tap (ky0, kx0); taps are exactly one pixel apart (dilation 1). */
        const size_t iy0 = oy * p->stride_h + ky0 - p->pad_top;
        const size_t ix0 = ox * p->stride_w + kx0 - p->pad_left;
        const mtz_pool_window w = {
            .base = in + (iy0 * p->in_w + ix0) * p->in_pixel_stride,
            .rows = ky1 - ky0, .cols = kx1 - kx0,
            .row_stride = p->in_w * p->in_pixel_stride, .col_stride = p->in_pixel_stride,
        };
        pool(&w, channels, is_avg, divisor, dst);
    }
}

void mtz_maxpool2d(mtz_isa isa, const mtz_conv2d_params *p, const float *in, float *out,
                   size_t pixel_begin, size_t pixel_end) {
    mtz_pool2d(isa, p, in, out, pixel_begin, pixel_end, 0, 0);
}

void mtz_avgpool2d(mtz_isa isa, const mtz_conv2d_params *p, const float *in, float *out,
                   size_t pixel_begin, size_t pixel_end, int count_include_pad) {
    mtz_pool2d(isa, p, in, out, pixel_begin, pixel_end, 1, count_include_pad);
}

void mtz_global_avgpool(mtz_isa isa, size_t pixels, size_t channels, const float *in,
                        size_t in_stride, float *out) {
    if (pixels == 0) {
        memset(out, 0, channels * sizeof(float));
        return;
    }
    /* One window of every pixel, one tap per row. */
    const mtz_pool_window w = {.base = in, .rows = pixels, .cols = 1, .row_stride = in_stride, .col_stride = 0};
    mtz_pool_window_for(isa)(&w, channels, 1, (float)pixels, out);
}
