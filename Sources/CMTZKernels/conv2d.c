/*
 * conv2d.c — NHWC convolution on top of the packed GEMM: geometry validation, weight packing,
 * the im2col / direct drivers and the naive reference.
 *
 * Drivers (chosen by geometry, the same for every ISA):
 *  - direct: 1x1 kernel, stride 1, no padding, out_w == in_w (any groups): A is the input itself,
 *    lda = in_pixel_stride, one GEMM per group over the whole pixel range, no workspace.
 *  - im2col: everything else, including strided 1x1 convolutions (gathering their pixels into a
 *    dense block measured 2x faster than per-output-row GEMM calls with lda = stride * pixel stride,
 *    whose short M re-streams all of B for every row). Output pixels are processed in blocks of
 *    `rows` (a multiple of MR, sized so one block of patches is about 256 KiB and stays in L2; the
 *    VGG-like 3x3x64 layer ran within a few percent for 24..252 rows). Each block's patches are written to the
 *    per-thread workspace as rows of K_g = kernel_h*kernel_w*in_c/groups floats in (ky, kx, c)
 *    order — the order of OHWI weights — with zeros for padded taps; then one GEMM per group
 *    writes the group's out_c/groups columns at column offset g*out_c/groups.
 * Every output element is reduced by one GEMM row over the same K, so the result does not depend on
 * how the pixel range is split.
 */
#include "internal.h"
#include "mtz_training_kernels.h"

#include <string.h>

/* Target size of one im2col block, in floats (256 KiB). */
#define MTZ_IM2COL_BLOCK_FLOATS (64u * 1024u)
#define MTZ_IM2COL_MAX_ROWS 256u

static size_t mtz_conv_group_k(const mtz_conv2d_params *p) {
    return p->kernel_h * p->kernel_w * (p->in_c / p->groups);
}

/* 1 when A can be read straight from the input: a 1x1, stride-1, unpadded window whose output rows
 * are as wide as the input rows, so output pixel i is input pixel i. */
static int mtz_conv_is_direct(const mtz_conv2d_params *p) {
    return p->kernel_h == 1 && p->kernel_w == 1 && p->pad_top == 0 && p->pad_left == 0 && p->stride_h == 1 &&
           p->stride_w == 1 && p->out_w == p->in_w;
}

/* Output pixels per im2col block: ~MTZ_IM2COL_BLOCK_FLOATS of patches, a multiple of MR, at most
 * MTZ_IM2COL_MAX_ROWS, and no more than the (MR-rounded) number of output pixels. */
static size_t mtz_conv_block_rows(mtz_isa isa, const mtz_conv2d_params *p) {
    const size_t mr = mtz_gemm_mr(isa);
    const size_t k = mtz_conv_group_k(p);
    size_t rows = MTZ_IM2COL_BLOCK_FLOATS / k;
    if (rows > MTZ_IM2COL_MAX_ROWS) rows = MTZ_IM2COL_MAX_ROWS;
    const size_t pixels = p->out_h * p->out_w;
    const size_t pixels_rounded = (pixels + mr - 1) / mr * mr;
    if (rows > pixels_rounded) rows = pixels_rounded;
    rows = rows / mr * mr;
    return rows < mr ? mr : rows;
}

int mtz_conv2d_params_valid(const mtz_conv2d_params *p) {
    if (p == NULL) return 0;
    if (p->in_h == 0 || p->in_w == 0 || p->in_c == 0 || p->out_h == 0 || p->out_w == 0 || p->out_c == 0)
        return 0;
    if (p->kernel_h == 0 || p->kernel_w == 0 || p->stride_h == 0 || p->stride_w == 0) return 0;
    if (p->dilation_h == 0 || p->dilation_w == 0 || p->groups == 0) return 0;
    if (p->in_pixel_stride < p->in_c || p->out_pixel_stride < p->out_c) return 0;
    if (p->in_c % p->groups != 0 || p->out_c % p->groups != 0) return 0;
    /* Reachability, per axis: the top/left padding is smaller than the dilated window (the first
     * window touches the input span) and the last window starts inside the input or the top/left
     * padding (the implied bottom/right padding is smaller than the window too). */
    const size_t eff_h = (p->kernel_h - 1) * p->dilation_h + 1;
    const size_t eff_w = (p->kernel_w - 1) * p->dilation_w + 1;
    if (p->pad_top >= eff_h || p->pad_left >= eff_w) return 0;
    if ((p->out_h - 1) * p->stride_h >= p->in_h + p->pad_top) return 0;
    if ((p->out_w - 1) * p->stride_w >= p->in_w + p->pad_left) return 0;
    return 1;
}

size_t mtz_conv2d_packed_size(mtz_isa isa, const mtz_conv2d_params *p) {
    return p->groups * mtz_gemm_packed_size(isa, mtz_conv_group_k(p), p->out_c / p->groups);
}

void mtz_conv2d_pack(mtz_isa isa, const mtz_conv2d_params *p, const float *w, const float *bias,
                     float *packed) {
    const size_t k = mtz_conv_group_k(p), ocg = p->out_c / p->groups;
    const size_t group_size = mtz_gemm_packed_size(isa, k, ocg);
    for (size_t g = 0; g < p->groups; g++)
        mtz_gemm_pack(isa, k, ocg, w + g * ocg * k, k, bias ? bias + g * ocg : NULL, packed + g * group_size);
}

size_t mtz_conv2d_workspace_size(mtz_isa isa, const mtz_conv2d_params *p) {
    if (mtz_conv_is_direct(p)) return 0;
    return mtz_conv_block_rows(isa, p) * mtz_conv_group_k(p);
}

/* Direct path: output pixel i reads input pixel i, so A is the input itself (lda = pixel stride). */
static void mtz_conv2d_direct(mtz_isa isa, const mtz_conv2d_params *p, const float *in, const float *packed,
                              float *out, size_t begin, size_t end, int accumulate, mtz_activation act) {
    const size_t icg = p->in_c / p->groups, ocg = p->out_c / p->groups;
    const size_t group_size = mtz_gemm_packed_size(isa, icg, ocg);
    for (size_t g = 0; g < p->groups; g++)
        mtz_gemm(isa, end - begin, ocg, icg, in + begin * p->in_pixel_stride + g * icg, p->in_pixel_stride,
                 packed + g * group_size, out + begin * p->out_pixel_stride + g * ocg, p->out_pixel_stride,
                 accumulate, act);
}

/* Copies n floats. Patch rows are short (a 5-wide kernel row of a 1-channel input is 5 floats, a
 * 7x3 one 21), so they are copied with fixed-size moves that the compiler turns into single vector
 * loads and stores: two overlapping moves cover any length between one move's size and twice it,
 * and nothing outside [0, n) is read or written. A loop or a libc call costs several times more. */
static inline __attribute__((always_inline)) void mtz_copy_run(float *dst, const float *src, size_t n) {
    if (n >= 8) {
        if (n > 32) {
            memcpy(dst, src, n * sizeof(float));
            return;
        }
        size_t i = 0;
        for (; i + 8 < n; i += 8) memcpy(dst + i, src + i, 8 * sizeof(float));
        memcpy(dst + n - 8, src + n - 8, 8 * sizeof(float));
    } else if (n >= 4) {
        memcpy(dst, src, 4 * sizeof(float));
        memcpy(dst + n - 4, src + n - 4, 4 * sizeof(float));
    } else {
        for (size_t i = 0; i < n; i++) dst[i] = src[i];
    }
}

/* Writes the patches of output pixels [pixel_begin, pixel_end) for group g into col (row stride
 * ld_col). Forced inline so mtz_conv2d compiles exactly as when this was its private helper; the
 * training engine reaches the same code through the public mtz_im2col. */
static inline __attribute__((always_inline)) void mtz_im2col_block(const mtz_conv2d_params *p, size_t g, const float *in, size_t pixel_begin,
                             size_t pixel_end, float *col, size_t ld_col) {
    /* Every field the loop needs is read into a local first: the copies below are byte stores that
     * may alias *p, so the compiler would otherwise reload each field after every copy. */
    const size_t icg = p->in_c / p->groups;
    const size_t k = mtz_conv_group_k(p);
    const size_t ips = p->in_pixel_stride, in_h = p->in_h, in_w = p->in_w, out_w = p->out_w;
    const size_t kernel_h = p->kernel_h, kernel_w = p->kernel_w, stride_h = p->stride_h, stride_w = p->stride_w;
    const size_t dilation_h = p->dilation_h, dilation_w = p->dilation_w, pad_top = p->pad_top, pad_left = p->pad_left;
    const size_t row_floats = kernel_w * icg; /* one kernel row of a patch */
    /* With dilation_w 1 and pixels packed back to back, a kernel row's valid taps are one run. */
    const int contiguous = dilation_w == 1 && ips == icg;
    const float *in_g = in + g * icg;
    size_t oy = pixel_begin / out_w, ox = pixel_begin % out_w;
    /* Windows that never leave the input (no padding reached, as in LeNet's valid convolutions): each
     * patch is kernel_h runs of row_floats, with no tap ranges, branches or zero fills per pixel. */
    const size_t eff_h = (kernel_h - 1) * dilation_h + 1, eff_w = (kernel_w - 1) * dilation_w + 1;
    if (contiguous && pad_top == 0 && pad_left == 0 && (p->out_h - 1) * stride_h + eff_h <= in_h &&
        (out_w - 1) * stride_w + eff_w <= in_w) {
        const size_t row_step = dilation_h * in_w * ips;
        for (size_t pix = pixel_begin; pix < pixel_end; pix++) {
            const float *src = in_g + (oy * stride_h * in_w + ox * stride_w) * ips;
            float *dst = col + (pix - pixel_begin) * ld_col;
            for (size_t ky = 0; ky < kernel_h; ky++) mtz_copy_run(dst + ky * row_floats, src + ky * row_step, row_floats);
            if (++ox == out_w) ox = 0, oy++;
        }
        return;
    }
    size_t ky0, ky1;
    mtz_tap_range(oy, stride_h, pad_top, dilation_h, kernel_h, in_h, &ky0, &ky1);
    for (size_t pix = pixel_begin; pix < pixel_end; pix++) {
        float *dst = col + (pix - pixel_begin) * ld_col;
        size_t kx0, kx1;
        mtz_tap_range(ox, stride_w, pad_left, dilation_w, kernel_w, in_w, &kx0, &kx1);
        if (ky0 == ky1 || kx0 == kx1) {
            memset(dst, 0, k * sizeof(float));
        } else {
            const size_t ix0 = ox * stride_w + kx0 * dilation_w - pad_left;
            if (ky0 > 0) memset(dst, 0, ky0 * row_floats * sizeof(float));
            for (size_t ky = ky0; ky < ky1; ky++) {
                const size_t iy = oy * stride_h + ky * dilation_h - pad_top;
                const float *src = in_g + (iy * in_w + ix0) * ips;
                float *d = dst + ky * row_floats;
                if (kx0 > 0) memset(d, 0, kx0 * icg * sizeof(float));
                if (contiguous) {
                    mtz_copy_run(d + kx0 * icg, src, (kx1 - kx0) * icg);
                } else {
                    for (size_t kx = kx0; kx < kx1; kx++)
                        mtz_copy_run(d + kx * icg, src + (kx - kx0) * dilation_w * ips, icg);
                }
                if (kx1 < kernel_w) memset(d + kx1 * icg, 0, (kernel_w - kx1) * icg * sizeof(float));
            }
            if (ky1 < kernel_h) memset(dst + ky1 * row_floats, 0, (kernel_h - ky1) * row_floats * sizeof(float));
        }
        if (++ox == out_w) { /* next output row: its kernel rows' valid range */
            ox = 0;
            oy++;
            mtz_tap_range(oy, stride_h, pad_top, dilation_h, kernel_h, in_h, &ky0, &ky1);
        }
    }
}

void mtz_im2col(const mtz_conv2d_params *p, size_t group, const float *in, size_t pixel_begin,
                size_t pixel_end, float *col, size_t ld_col) {
    mtz_im2col_block(p, group, in, pixel_begin, pixel_end, col, ld_col);
}

void mtz_conv2d(mtz_isa isa, const mtz_conv2d_params *p, const float *in, const float *packed,
                float *out, float *workspace, size_t pixel_begin, size_t pixel_end, int accumulate,
                mtz_activation act) {
    if (pixel_begin >= pixel_end) return;
    if (mtz_conv_is_direct(p)) {
        mtz_conv2d_direct(isa, p, in, packed, out, pixel_begin, pixel_end, accumulate, act);
        return;
    }
    const size_t k = mtz_conv_group_k(p), ocg = p->out_c / p->groups;
    const size_t group_size = mtz_gemm_packed_size(isa, k, ocg);
    const size_t rows = mtz_conv_block_rows(isa, p);
    for (size_t pix = pixel_begin; pix < pixel_end; pix += rows) {
        const size_t m = pixel_end - pix < rows ? pixel_end - pix : rows;
        for (size_t g = 0; g < p->groups; g++) {
            mtz_im2col_block(p, g, in, pix, pix + m, workspace, k);
            mtz_gemm(isa, m, ocg, k, workspace, k, packed + g * group_size,
                     out + pix * p->out_pixel_stride + g * ocg, p->out_pixel_stride, accumulate, act);
        }
    }
}

void mtz_conv2d_reference(const mtz_conv2d_params *p, const float *in, const float *w,
                          const float *bias, float *out, int accumulate, mtz_activation act) {
    const size_t icg = p->in_c / p->groups, ocg = p->out_c / p->groups;
    const size_t k = mtz_conv_group_k(p);
    for (size_t oy = 0; oy < p->out_h; oy++) {
        for (size_t ox = 0; ox < p->out_w; ox++) {
            float *o = out + (oy * p->out_w + ox) * p->out_pixel_stride;
            for (size_t oc = 0; oc < p->out_c; oc++) {
                const size_t g = oc / ocg;
                const float *wo = w + oc * k;
                double sum = bias ? bias[oc] : 0.0;
                for (size_t ky = 0; ky < p->kernel_h; ky++) {
                    const long iy = (long)(oy * p->stride_h + ky * p->dilation_h) - (long)p->pad_top;
                    if (iy < 0 || iy >= (long)p->in_h) continue;
                    for (size_t kx = 0; kx < p->kernel_w; kx++) {
                        const long ix = (long)(ox * p->stride_w + kx * p->dilation_w) - (long)p->pad_left;
                        if (ix < 0 || ix >= (long)p->in_w) continue;
                        const float *x = in + ((size_t)iy * p->in_w + (size_t)ix) * p->in_pixel_stride + g * icg;
                        const float *wt = wo + (ky * p->kernel_w + kx) * icg;
                        for (size_t c = 0; c < icg; c++) sum += (double)x[c] * (double)wt[c];
                    }
                }
                if (accumulate) sum += o[oc];
                o[oc] = mtz_act_scalar((float)sum, act);
            }
        }
    }
}
