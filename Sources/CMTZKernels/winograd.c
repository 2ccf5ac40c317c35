/*
 * winograd.c — the Winograd F(4x4, 3x3) convolution driver (see mtz_winograd.h): eligibility,
 * the weight transform and packing, block sizing, and the per-block loop
 *   input transforms (per ISA) -> 36 packed GEMMs (mtz_gemm) -> output transforms (per ISA).
 */
#include "internal.h"
#include "mtz_winograd.h"

#include <string.h>

/* Workspace target per thread: half the L2 cache, so the block's V and M matrices stay in L2 next to
 * the GEMM's B panels (measured on Zen 4, 1 MiB L2: 224x224x64->64 ran ~25 % faster with 512 KiB
 * than with 1 MiB). The block size only groups tiles: results do not depend on it. */
static size_t mtz_wino_block_floats(void) { return mtz_cache_size(2) / 2 / sizeof(float); }
#define MTZ_WINO_MAX_BLOCK_TILES 128u
/* Floor on the block, in GEMM row tiles: B (the transformed weights of one position, in_c x out_c)
 * is streamed once per block, so the block must be tall enough to amortise it for wide layers. */
#define MTZ_WINO_MIN_ROW_TILES 4u

enum { MTZ_WINO_POSITIONS = 36 };

int mtz_winograd_eligible(const mtz_conv2d_params *p) {
    return mtz_conv2d_params_valid(p) && p->kernel_h == 3 && p->kernel_w == 3 && p->stride_h == 1 &&
           p->stride_w == 1 && p->dilation_h == 1 && p->dilation_w == 1 && p->groups == 1;
}

size_t mtz_winograd_tiles(const mtz_conv2d_params *p) {
    return ((p->out_h + 3) / 4) * ((p->out_w + 3) / 4);
}

static size_t mtz_wino_bias_floats(const mtz_conv2d_params *p) { return (p->out_c + 15) / 16 * 16; }

size_t mtz_winograd_packed_size(mtz_isa isa, const mtz_conv2d_params *p) {
    return mtz_wino_bias_floats(p) + MTZ_WINO_POSITIONS * mtz_gemm_packed_size(isa, p->in_c, p->out_c);
}

/* One column (or row) of G x for F(4,3)'s G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 * 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1] (points 0, ±1, ±2 and infinity), in double. */
static inline void mtz_wino_g(double a, double b, double c, double out[6]) {
    const double s = a + c, q = a / 24 + c / 6, r = b / 12;
    out[0] = a / 4;
    out[1] = -(s + b) / 6;
    out[2] = -(s - b) / 6;
    out[3] = q + r;
    out[4] = q - r;
    out[5] = c;
}

void mtz_winograd_pack(mtz_isa isa, const mtz_conv2d_params *p, const float *w, const float *bias,
                       float *packed) {
    const size_t k = p->in_c, n = p->out_c, nr = mtz_gemm_nr(isa);
    const size_t set = mtz_gemm_packed_size(isa, k, n), panel = nr * (k + 1);
    memset(packed, 0, mtz_winograd_packed_size(isa, p) * sizeof(float));
    for (size_t o = 0; o < n; o++) packed[o] = bias ? bias[o] : 0.0f;
    float *sets = packed + mtz_wino_bias_floats(p);
    /* Packed-B layout (mtz_kernels.h): panel o/nr = nr zero biases, then row c holds nr columns. */
    for (size_t o = 0; o < n; o++) {
        for (size_t c = 0; c < k; c++) {
            const float *g = w + o * 9 * k + c; /* tap (y, x) at g[(3y + x) * k] */
            double t[3][6], u[6];              /* t[x] = G g[., x]; row i of U = G t[.][i] */
            for (size_t x = 0; x < 3; x++) mtz_wino_g(g[x * k], g[(3 + x) * k], g[(6 + x) * k], t[x]);
            for (size_t i = 0; i < 6; i++) {
                mtz_wino_g(t[0][i], t[1][i], t[2][i], u);
                for (size_t j = 0; j < 6; j++) sets[(6 * i + j) * set + (o / nr) * panel + nr + c * nr + o % nr] = (float)u[j];
            }
        }
    }
}

size_t mtz_winograd_block_tiles(mtz_isa isa, const mtz_conv2d_params *p) {
    const size_t mr = mtz_gemm_mr(isa);
    size_t tiles = mtz_wino_block_floats() / (MTZ_WINO_POSITIONS * (p->in_c + p->out_c));
    if (tiles > MTZ_WINO_MAX_BLOCK_TILES) tiles = MTZ_WINO_MAX_BLOCK_TILES;
    if (tiles < MTZ_WINO_MIN_ROW_TILES * mr) tiles = MTZ_WINO_MIN_ROW_TILES * mr;
    const size_t all = mtz_winograd_tiles(p), all_rounded = (all + mr - 1) / mr * mr;
    if (tiles > all_rounded) tiles = all_rounded;
    return tiles / mr * mr;
}

size_t mtz_winograd_workspace_size(mtz_isa isa, const mtz_conv2d_params *p) {
    return mtz_winograd_block_tiles(isa, p) * MTZ_WINO_POSITIONS * (p->in_c + p->out_c);
}

typedef void (*mtz_wino_input_fn)(const float *const rows[6], long col0, size_t in_w, size_t pixel_stride,
                                  size_t channels, float *v, size_t v_stride);
typedef void (*mtz_wino_output_fn)(const float *m, size_t m_stride, const float *bias, float *const out_rows[4],
                                   size_t cols, size_t pixel_stride, size_t channels, int accumulate,
                                   mtz_activation act);

/* The ISA's transforms; the scalar ones when the ISA is not compiled in or not supported. */
static void mtz_wino_transforms(mtz_isa isa, mtz_wino_input_fn *in, mtz_wino_output_fn *out) {
    *in = mtz_f32_wino43_input_scalar;
    *out = mtz_f32_wino43_output_scalar;
    if (!mtz_isa_supported(isa)) return;
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2:
        *in = mtz_f32_wino43_input_avx2;
        *out = mtz_f32_wino43_output_avx2;
        break;
    case MTZ_ISA_AVX512:
        *in = mtz_f32_wino43_input_avx512;
        *out = mtz_f32_wino43_output_avx512;
        break;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON:
        *in = mtz_f32_wino43_input_neon;
        *out = mtz_f32_wino43_output_neon;
        break;
#endif
    default: break;
    }
}

void mtz_conv2d_winograd(mtz_isa isa, const mtz_conv2d_params *p, const float *in, const float *packed,
                         float *out, float *workspace, size_t tile_begin, size_t tile_end, size_t oc_begin,
                         size_t oc_end, int accumulate, mtz_activation act) {
    if (oc_end > p->out_c) oc_end = p->out_c;
    if (tile_begin >= tile_end || oc_begin >= oc_end) return;
    mtz_wino_input_fn input_tf;
    mtz_wino_output_fn output_tf;
    mtz_wino_transforms(isa, &input_tf, &output_tf);
    const size_t cin = p->in_c, cout = oc_end - oc_begin;
    const size_t tiles_w = (p->out_w + 3) / 4;
    const size_t block = mtz_winograd_block_tiles(isa, p);
    const size_t set = mtz_gemm_packed_size(isa, cin, p->out_c);
    /* Column range: whole panels from oc_begin (a multiple of NR), the bias from oc_begin. */
    const float *bias = packed + oc_begin;
    const float *sets = packed + mtz_wino_bias_floats(p) + oc_begin / mtz_gemm_nr(isa) * mtz_gemm_panel_stride(isa, cin);
    const size_t in_row = p->in_w * p->in_pixel_stride, out_row = p->out_w * p->out_pixel_stride;
    float *out_c0 = out + oc_begin;

    for (size_t t0 = tile_begin; t0 < tile_end; t0 += block) {
        const size_t nt = tile_end - t0 < block ? tile_end - t0 : block;
        float *v = workspace;                                 /* [36][nt][cin]  */
        float *m = workspace + MTZ_WINO_POSITIONS * nt * cin; /* [36][nt][cout] */
        for (size_t t = 0; t < nt; t++) {
            const size_t ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
            const float *rows[6];
            for (size_t i = 0; i < 6; i++) {
                const long y = (long)(4 * ty + i) - (long)p->pad_top;
                rows[i] = y >= 0 && y < (long)p->in_h ? in + (size_t)y * in_row : NULL;
            }
            input_tf(rows, (long)(4 * tx) - (long)p->pad_left, p->in_w, p->in_pixel_stride, cin, v + t * cin,
                     nt * cin);
        }
        for (size_t xi = 0; xi < MTZ_WINO_POSITIONS; xi++)
            mtz_gemm(isa, nt, cout, cin, v + xi * nt * cin, cin, sets + xi * set, m + xi * nt * cout, cout, 0,
                     MTZ_ACT_NONE);
        for (size_t t = 0; t < nt; t++) {
            const size_t ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
            float *rows[4];
            for (size_t i = 0; i < 4; i++)
                rows[i] = 4 * ty + i < p->out_h ? out_c0 + (4 * ty + i) * out_row + 4 * tx * p->out_pixel_stride : NULL;
            const size_t cols = p->out_w - 4 * tx < 4 ? p->out_w - 4 * tx : 4;
            output_tf(m + t * cout, nt * cout, bias, rows, cols, p->out_pixel_stride, cout, accumulate, act);
        }
    }
}
