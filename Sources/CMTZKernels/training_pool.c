/*
 * training_pool.c — max / average pooling backward, the adjoints of mtz_maxpool2d / mtz_avgpool2d
 * (pool.c), accumulating into dx.
 *
 * Same window rules as the forward kernels: dilation 1, valid taps clipped with mtz_tap_range()
 * (padded positions are never read or written), taps in (ky, kx) order.
 *  - max: the forward folds taps with "take src only if src > acc", so its result is the *first*
 *    maximum in tap order (a NaN first tap stays, a later NaN never wins). The backward replays that
 *    scan per channel chunk — a branch-free select of value and tap offset that the compiler
 *    vectorises — and then adds dy at the winning tap.
 *  - avg: dy / divisor (the forward's divisor: window area with count_include_pad, else the number of
 *    valid taps) is added to every valid tap, one contiguous channel run per tap.
 * Distinct output pixels can share input pixels (overlapping windows), so callers must not split one
 * call's output range across threads writing the same dx.
 */
#include "internal.h"
#include "mtz_training_kernels.h"

#include <string.h>

#define MTZ_POOL_BACKWARD_CHUNK 256

/* Valid taps of output pixel `pix`, and the input pixel index of its first valid tap. Returns 0 when
 * the window has no valid tap (unreachable for valid pooling geometry). */
static int mtz_pool_window(const mtz_conv2d_params *p, size_t pix, size_t *ky_n, size_t *kx_n,
                           size_t *first_pixel) {
    const size_t oy = pix / p->out_w, ox = pix % p->out_w;
    size_t ky0, ky1, kx0, kx1;
    mtz_tap_range(oy, p->stride_h, p->pad_top, 1, p->kernel_h, p->in_h, &ky0, &ky1);
    mtz_tap_range(ox, p->stride_w, p->pad_left, 1, p->kernel_w, p->in_w, &kx0, &kx1);
    *ky_n = ky1 - ky0;
    *kx_n = kx1 - kx0;
    if (*ky_n == 0 || *kx_n == 0) return 0;
    const size_t iy0 = oy * p->stride_h + ky0 - p->pad_top;
    const size_t ix0 = ox * p->stride_w + kx0 - p->pad_left;
    *first_pixel = iy0 * p->in_w + ix0;
    return 1;
}

void mtz_maxpool2d_backward(const mtz_conv2d_params *p, const float *in, const float *dy, float *dx) {
    const size_t channels = p->out_c, ips = p->in_pixel_stride;
    const size_t pixels = p->out_h * p->out_w;
    float best[MTZ_POOL_BACKWARD_CHUNK];
    /* Winning tap per channel, as ky * kx_n + kx (32-bit, so the select vectorises as wide as the
     * float compare; window areas are far below 2^32). */
    uint32_t where[MTZ_POOL_BACKWARD_CHUNK];
    for (size_t pix = 0; pix < pixels; pix++) {
        size_t ky_n, kx_n, first;
        if (!mtz_pool_window(p, pix, &ky_n, &kx_n, &first)) continue;
        const float *base = in + first * ips;
        float *dx_base = dx + first * ips;
        const float *g = dy + pix * p->out_pixel_stride;
        for (size_t c0 = 0; c0 < channels; c0 += MTZ_POOL_BACKWARD_CHUNK) {
            const size_t n = channels - c0 < MTZ_POOL_BACKWARD_CHUNK ? channels - c0 : MTZ_POOL_BACKWARD_CHUNK;
            memcpy(best, base + c0, n * sizeof(float));
            memset(where, 0, n * sizeof(uint32_t));
            for (size_t ky = 0; ky < ky_n; ky++) {
                for (size_t kx = (ky == 0 ? 1 : 0); kx < kx_n; kx++) {
                    const uint32_t tap = (uint32_t)(ky * kx_n + kx);
                    const float *row = base + (ky * p->in_w + kx) * ips + c0;
                    for (size_t i = 0; i < n; i++) {
                        const int take = row[i] > best[i];
                        best[i] = take ? row[i] : best[i];
                        where[i] = take ? tap : where[i];
                    }
                }
            }
            for (size_t i = 0; i < n; i++) {
                const size_t ky = where[i] / kx_n, kx = where[i] % kx_n;
                dx_base[(ky * p->in_w + kx) * ips + c0 + i] += g[c0 + i];
            }
        }
    }
}

void mtz_avgpool2d_backward(const mtz_conv2d_params *p, const float *dy, float *dx,
                            int count_include_pad) {
    const size_t channels = p->out_c, ips = p->in_pixel_stride;
    const size_t pixels = p->out_h * p->out_w;
    float share[MTZ_POOL_BACKWARD_CHUNK];
    for (size_t pix = 0; pix < pixels; pix++) {
        size_t ky_n, kx_n, first;
        if (!mtz_pool_window(p, pix, &ky_n, &kx_n, &first)) continue;
        const float divisor = (float)(count_include_pad ? p->kernel_h * p->kernel_w : ky_n * kx_n);
        float *dx_base = dx + first * ips;
        const float *g = dy + pix * p->out_pixel_stride;
        for (size_t c0 = 0; c0 < channels; c0 += MTZ_POOL_BACKWARD_CHUNK) {
            const size_t n = channels - c0 < MTZ_POOL_BACKWARD_CHUNK ? channels - c0 : MTZ_POOL_BACKWARD_CHUNK;
            for (size_t i = 0; i < n; i++) share[i] = g[c0 + i] / divisor;
            for (size_t ky = 0; ky < ky_n; ky++) {
                for (size_t kx = 0; kx < kx_n; kx++) {
                    float *restrict d = dx_base + (ky * p->in_w + kx) * ips + c0;
                    for (size_t i = 0; i < n; i++) d[i] += share[i];
                }
            }
        }
    }
}
