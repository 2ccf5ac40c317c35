/*
 * pool.c — max / average pooling and global average pooling over NHWC views.
 *
 * Every output pixel is computed in channel chunks of MTZ_POOL_CHUNK floats held in a stack
 * accumulator: the first valid window tap is copied in, every further tap is folded in with a
 * per-ISA row operation (max or add, vectorised across channels). Taps are visited in (ky, kx)
 * order on every ISA, so all ISAs give bit-identical results. Padded positions are never read:
 * the valid taps of a window are clipped with mtz_tap_range().
 */
#include "internal.h"

#include <string.h>

#if MTZ_HAVE_X86
#include <immintrin.h>
#endif
#if MTZ_HAVE_NEON
#include <arm_neon.h>
#endif

#define MTZ_POOL_CHUNK 256

/* acc[i] = op(acc[i], src[i]) for i in [0, n). */
typedef void (*mtz_pool_row_fn)(float *acc, const float *src, size_t n);

static void mtz_f32_max_row_scalar(float *acc, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) acc[i] = src[i] > acc[i] ? src[i] : acc[i];
}

static void mtz_f32_add_row_scalar(float *acc, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) acc[i] += src[i];
}

#if MTZ_HAVE_X86
#define MTZ_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define MTZ_TARGET_AVX512 __attribute__((target("avx512f")))

/* The vector max of x86 returns its second operand when a lane is NaN; the accumulator is passed
 * second so that the scalar rule "take src only if src > acc" is reproduced exactly. */
MTZ_TARGET_AVX2 static void mtz_f32_max_row_avx2(float *acc, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(acc + i, _mm256_max_ps(_mm256_loadu_ps(src + i), _mm256_loadu_ps(acc + i)));
    mtz_f32_max_row_scalar(acc + i, src + i, n - i);
}

MTZ_TARGET_AVX2 static void mtz_f32_add_row_avx2(float *acc, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(acc + i, _mm256_add_ps(_mm256_loadu_ps(acc + i), _mm256_loadu_ps(src + i)));
    mtz_f32_add_row_scalar(acc + i, src + i, n - i);
}

MTZ_TARGET_AVX512 static void mtz_f32_max_row_avx512(float *acc, const float *src, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFFu : (1u << (n - i)) - 1u);
        __m512 v = _mm512_max_ps(_mm512_maskz_loadu_ps(m, src + i), _mm512_maskz_loadu_ps(m, acc + i));
        _mm512_mask_storeu_ps(acc + i, m, v);
    }
}

MTZ_TARGET_AVX512 static void mtz_f32_add_row_avx512(float *acc, const float *src, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFFu : (1u << (n - i)) - 1u);
        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, acc + i), _mm512_maskz_loadu_ps(m, src + i));
        _mm512_mask_storeu_ps(acc + i, m, v);
    }
}
#endif

#if MTZ_HAVE_NEON
/* vmaxq_f32 propagates NaN, unlike the scalar rule; pooling inputs are finite in practice and the
 * NEON path keeps the simple instruction. */
static void mtz_f32_max_row_neon(float *acc, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(acc + i, vmaxq_f32(vld1q_f32(acc + i), vld1q_f32(src + i)));
    mtz_f32_max_row_scalar(acc + i, src + i, n - i);
}

static void mtz_f32_add_row_neon(float *acc, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(acc + i, vaddq_f32(vld1q_f32(acc + i), vld1q_f32(src + i)));
    mtz_f32_add_row_scalar(acc + i, src + i, n - i);
}
#endif

static mtz_pool_row_fn mtz_pool_max_fn(mtz_isa isa) {
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2: return mtz_f32_max_row_avx2;
    case MTZ_ISA_AVX512: return mtz_f32_max_row_avx512;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON: return mtz_f32_max_row_neon;
#endif
    default: return mtz_f32_max_row_scalar;
    }
}

static mtz_pool_row_fn mtz_pool_add_fn(mtz_isa isa) {
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2: return mtz_f32_add_row_avx2;
    case MTZ_ISA_AVX512: return mtz_f32_add_row_avx512;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON: return mtz_f32_add_row_neon;
#endif
    default: return mtz_f32_add_row_scalar;
    }
}

/* Shared driver: is_avg selects add + divide instead of max. */
static void mtz_pool2d(mtz_isa isa, const mtz_conv2d_params *p, const float *in, float *out,
                       size_t pixel_begin, size_t pixel_end, int is_avg, int count_include_pad) {
    mtz_pool_row_fn fold = is_avg ? mtz_pool_add_fn(isa) : mtz_pool_max_fn(isa);
    const size_t channels = p->out_c;
    float acc[MTZ_POOL_CHUNK];
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
        const float *base = in + (iy0 * p->in_w + ix0) * p->in_pixel_stride;
        for (size_t c0 = 0; c0 < channels; c0 += MTZ_POOL_CHUNK) {
            const size_t n = channels - c0 < MTZ_POOL_CHUNK ? channels - c0 : MTZ_POOL_CHUNK;
            memcpy(acc, base + c0, n * sizeof(float));
            for (size_t ky = 0; ky < ky1 - ky0; ky++) {
                const float *row = base + ky * p->in_w * p->in_pixel_stride + c0;
                for (size_t kx = (ky == 0 ? 1 : 0); kx < kx1 - kx0; kx++)
                    fold(acc, row + kx * p->in_pixel_stride, n);
            }
            if (is_avg)
                for (size_t i = 0; i < n; i++) dst[c0 + i] = acc[i] / divisor;
            else
                memcpy(dst + c0, acc, n * sizeof(float));
        }
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
    mtz_pool_row_fn add = mtz_pool_add_fn(isa);
    float acc[MTZ_POOL_CHUNK];
    const float divisor = (float)pixels;
    for (size_t c0 = 0; c0 < channels; c0 += MTZ_POOL_CHUNK) {
        const size_t n = channels - c0 < MTZ_POOL_CHUNK ? channels - c0 : MTZ_POOL_CHUNK;
        memcpy(acc, in + c0, n * sizeof(float));
        for (size_t pix = 1; pix < pixels; pix++) add(acc, in + pix * in_stride + c0, n);
        for (size_t i = 0; i < n; i++) out[c0 + i] = acc[i] / divisor;
    }
}
