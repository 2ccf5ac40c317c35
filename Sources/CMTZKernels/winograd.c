/*
 * winograd.c — the Winograd F(4x4, 3x3) and F(2x2, 5x5) convolution driver (see mtz_winograd.h):
 * eligibility, the weight transform and packing, block sizing, and the per-block loop
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
    return mtz_conv2d_params_valid(p) && (p->kernel_h == 3 || p->kernel_h == 5) && p->kernel_w == p->kernel_h &&
           p->stride_h == 1 && p->stride_w == 1 && p->dilation_h == 1 && p->dilation_w == 1 && p->groups == 1;
}

/* Output tile side: 4 for F(4,3), 2 for F(2,5) (the input tile is 6 = m + r - 1 for both). */
size_t mtz_winograd_tile_size(const mtz_conv2d_params *p) { return 7 - p->kernel_h; }

size_t mtz_winograd_tiles(const mtz_conv2d_params *p) {
    const size_t m = mtz_winograd_tile_size(p);
    return ((p->out_h + m - 1) / m) * ((p->out_w + m - 1) / m);
}

static size_t mtz_wino_bias_floats(const mtz_conv2d_params *p) { return (p->out_c + 15) / 16 * 16; }

size_t mtz_winograd_packed_size(mtz_isa isa, const mtz_conv2d_params *p) {
    return mtz_wino_bias_floats(p) + MTZ_WINO_POSITIONS * mtz_gemm_packed_size(isa, p->in_c, p->out_c);
}

/* Output channels transformed together: one GEMM panel. The transform runs across output channels
 * so that its loops vectorise and each transformed position's NR results land next to each other in
 * the packed panel (one pair at a time, the transform was latency-bound and the scattered stores
 * missed the cache: 95 us for LeNet-5's 20 -> 50 conv2 on Zen 4, now 36 us). */
#define MTZ_WINO_PACK_LANES MTZ_GEMM_MAX_NR

/* out[i][l] = Σ_j G[i][j] x[j][l] for lanes l < lanes, for an r-tap kernel (r = 3 or 5), in double.
 * G's rows go with the points 0, 1, -1, 2, -2 and infinity, scaled to match Bᵀ and Aᵀ
 * (winograd_template.h):
 *   [g0/4;  -Σ g_j/6;  -Σ (-1)^j g_j/6;  Σ 2^j g_j/24;  Σ (-2)^j g_j/24;  g_{r-1}]
 * which for r = 3 is Lavin & Gray's G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6;
 * 1/24 -1/12 1/6; 0 0 1]. The sums are split into even and odd taps (Σ (-1)^j g_j = even - odd),
 * and reciprocals are multiplied, not divided. X(j) reads tap j of lane l. */
#define MTZ_WINO_G(r, lanes, X, out)                                                                  \
    do {                                                                                              \
        for (size_t l = 0; l < (lanes); l++) {                                                        \
            double even = X(0) + X(2), odd = X(1), even2 = X(0) + 4 * X(2), odd2 = 2 * X(1);          \
            if ((r) == 5) even += X(4), odd += X(3), even2 += 16 * X(4), odd2 += 8 * X(3);            \
            (out)[0][l] = 0.25 * X(0);                                                                \
            (out)[1][l] = -(1.0 / 6) * (even + odd);                                                  \
            (out)[2][l] = -(1.0 / 6) * (even - odd);                                                  \
            (out)[3][l] = (1.0 / 24) * (even2 + odd2);                                                \
            (out)[4][l] = (1.0 / 24) * (even2 - odd2);                                                \
            (out)[5][l] = X((r)-1);                                                                   \
        }                                                                                             \
    } while (0)

/* U = G w Gᵀ of input channel c for `lanes` consecutive output channels, whose r x r kernels start
 * at w (tap (y, x) at w[(r y + x) k], the next output channel kernel_floats later); r is a
 * compile-time constant at each call. t[x] = G w[., x], row i of U = G t[.][i]. */
static inline void mtz_wino_transform_lanes(size_t r, const float *w, size_t k, size_t kernel_floats,
                                            size_t lanes, double u[6][6][MTZ_WINO_PACK_LANES]) {
    double t[5][6][MTZ_WINO_PACK_LANES];
    for (size_t x = 0; x < r; x++) {
#define MTZ_WINO_TAP(y) ((double)w[l * kernel_floats + (r * (y) + x) * k])
        MTZ_WINO_G(r, lanes, MTZ_WINO_TAP, t[x]);
#undef MTZ_WINO_TAP
    }
    for (size_t i = 0; i < 6; i++) {
#define MTZ_WINO_ROW(x) (t[x][i][l])
        MTZ_WINO_G(r, lanes, MTZ_WINO_ROW, u[i]);
#undef MTZ_WINO_ROW
    }
}

void mtz_winograd_pack(mtz_isa isa, const mtz_conv2d_params *p, const float *w, const float *bias,
                       float *packed) {
    const size_t k = p->in_c, n = p->out_c, nr = mtz_gemm_nr(isa), r = p->kernel_h;
    const size_t set = mtz_gemm_packed_size(isa, k, n), panel = nr * (k + 1), kernel_floats = r * r * k;
    memset(packed, 0, mtz_winograd_packed_size(isa, p) * sizeof(float));
    for (size_t o = 0; o < n; o++) packed[o] = bias ? bias[o] : 0.0f;
    float *sets = packed + mtz_wino_bias_floats(p);
    double u[6][6][MTZ_WINO_PACK_LANES];
    /* Packed-B layout (mtz_kernels.h): panel o/nr = nr zero biases, then row c holds nr columns. The
     * lanes are the output channels of one panel. */
    for (size_t o0 = 0; o0 < n; o0 += nr) {
        const size_t lanes = n - o0 < nr ? n - o0 : nr;
        for (size_t c = 0; c < k; c++) {
            const float *wc = w + o0 * kernel_floats + c;
            if (r == 3) mtz_wino_transform_lanes(3, wc, k, kernel_floats, lanes, u);
            else mtz_wino_transform_lanes(5, wc, k, kernel_floats, lanes, u);
            float *dst = sets + (o0 / nr) * panel + nr + c * nr;
            for (size_t xi = 0; xi < 36; xi++)
                for (size_t l = 0; l < lanes; l++) dst[xi * set + l] = (float)u[xi / 6][xi % 6][l];
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
/* out_rows has the tile's m rows (4 or 2). */
typedef void (*mtz_wino_output_fn)(const float *m, size_t m_stride, const float *bias, float *const *out_rows,
                                   size_t cols, size_t pixel_stride, size_t channels, int accumulate,
                                   mtz_activation act);

/* The ISA's transforms for output tiles of side m; the scalar ones when the ISA is not compiled in or
 * not supported. */
static void mtz_wino_transforms(mtz_isa isa, size_t m, mtz_wino_input_fn *in, mtz_wino_output_fn *out) {
#define MTZ_WINO_PICK(suffix)                                                                          \
    do {                                                                                              \
        *in = mtz_f32_wino6_input_##suffix;                                                           \
        *out = m == 4 ? mtz_f32_wino43_output_##suffix : mtz_f32_wino25_output_##suffix;              \
    } while (0)
    MTZ_WINO_PICK(scalar);
    if (!mtz_isa_supported(isa)) return;
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2: MTZ_WINO_PICK(avx2); break;
    case MTZ_ISA_AVX512: MTZ_WINO_PICK(avx512); break;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON: MTZ_WINO_PICK(neon); break;
#endif
    default: break;
    }
#undef MTZ_WINO_PICK
}

void mtz_conv2d_winograd(mtz_isa isa, const mtz_conv2d_params *p, const float *in, const float *packed,
                         float *out, float *workspace, size_t tile_begin, size_t tile_end, size_t oc_begin,
                         size_t oc_end, int accumulate, mtz_activation act) {
    if (oc_end > p->out_c) oc_end = p->out_c;
    if (tile_begin >= tile_end || oc_begin >= oc_end) return;
    mtz_wino_input_fn input_tf;
    mtz_wino_output_fn output_tf;
    const size_t ts = mtz_winograd_tile_size(p);
    mtz_wino_transforms(isa, ts, &input_tf, &output_tf);
    const size_t cin = p->in_c, cout = oc_end - oc_begin;
    const size_t tiles_w = (p->out_w + ts - 1) / ts;
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
                const long y = (long)(ts * ty + i) - (long)p->pad_top;
                rows[i] = y >= 0 && y < (long)p->in_h ? in + (size_t)y * in_row : NULL;
            }
            input_tf(rows, (long)(ts * tx) - (long)p->pad_left, p->in_w, p->in_pixel_stride, cin, v + t * cin,
                     nt * cin);
        }
        for (size_t xi = 0; xi < MTZ_WINO_POSITIONS; xi++)
            mtz_gemm(isa, nt, cout, cin, v + xi * nt * cin, cin, sets + xi * set, m + xi * nt * cout, cout, 0,
                     MTZ_ACT_NONE);
        for (size_t t = 0; t < nt; t++) {
            const size_t ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
            float *rows[4];
            for (size_t i = 0; i < ts; i++)
                rows[i] = ts * ty + i < p->out_h ? out_c0 + (ts * ty + i) * out_row + ts * tx * p->out_pixel_stride : NULL;
            const size_t cols = p->out_w - ts * tx < ts ? p->out_w - ts * tx : ts;
            output_tf(m + t * cout, nt * cout, bias, rows, cols, p->out_pixel_stride, cout, accumulate, act);
        }
    }
}
