/*
 * gemm.c — packing, the blocked GEMM driver, the naive reference and microkernel dispatch.
 *
 * Packed B (see mtz_kernels.h): ceil(N/NR) panels, each = NR bias values then K rows of NR values,
 * so a microkernel streams one panel front to back with unit stride. A is read in place (row stride
 * lda): each microkernel broadcasts MR scalars per k step from MR row streams.
 *
 * Blocking (driver loops, outermost first):
 *   K blocks of at most KC   — one K block of a B panel (KC x NR floats) stays in L1 while every
 *                              MR-row tile of the current M block streams past it;
 *   M blocks of MC rows      — the MC x KC slab of A stays in L2 across all N panels (MC from the
 *                              L2 size, mtz_cache_size);
 *   N panels (NR columns)    — B panel block loaded into L1 once per M block;
 *   MR-row tiles             — the microkernel call.
 * KC depends only on K and the ISA (never on M or N), so every output element is reduced in the same
 * order however a caller splits M or N across threads. Partial tiles at the M/N edges go to the
 * ISA's edge kernel where it has one (AVX-512 and AVX2: only the tile's rows and vectors, with masked
 * loads and stores), else they are computed into an on-stack MR x NR buffer and only their valid
 * part is copied to C; either way nothing outside
 * C's described view is ever written. A single-row call (M == 1, fully connected layers) sends groups of
 * whole panels to a 1 x 64 row kernel where the ISA has one, instead of an MR-row kernel that would
 * compute the same row MR times.
 */
#include "internal.h"

#include <string.h>

/* One ISA's GEMM configuration. `kernel` is NULL when the ISA is not compiled in or not supported
 * by the running CPU; mtz_gemm() then falls back to the generic scalar kernel with the same tile. */
typedef struct mtz_gemm_config {
    size_t mr, nr;
    size_t kc; /* max K block */
    size_t mc; /* rows of A per M block (a multiple of mr) */
    mtz_gemm_ukernel kernel;
    mtz_gemm_row_ukernel row_kernel; /* optional, for m == 1: covers row_panels panels per call */
    size_t row_panels;
    mtz_gemm_edge_ukernel edge_kernel; /* optional: partial tiles in place */
} mtz_gemm_config;

/*
 * Blocking. KC is measured, not derived: on Zen 4 (32 KiB L1d, 1 MiB L2 per core) 384 keeps a B
 * panel block at 24 KiB (AVX2, NR = 16) or 48 KiB (AVX-512, NR = 32); KC = 192 (the largest whose
 * AVX-512 block fits L1 with room for the A rows) lost 5 % on deep-K layers (49x512x4608: 98 vs 104
 * GFLOP/s), 256..1024 were flat within ~3 %, and fewer K blocks mean fewer reloads of C. It must not
 * depend on M or N (the reduction order, hence the results, would change with the thread split).
 * MC follows the L2 cache: the MC x KC slab of A takes a quarter of it (168 rows on Zen 4, where 96
 * and 168 measured alike within 2 % on 512^3 and four conv-like shapes), at least 2 MR, at most 512.
 */
enum { MTZ_GEMM_KC = 384 };

static size_t mtz_gemm_mc(size_t mr) {
    size_t rows = mtz_cache_size(2) / 4 / (MTZ_GEMM_KC * sizeof(float));
    if (rows > 512) rows = 512;
    rows = rows / mr * mr;
    return rows < 2 * mr ? 2 * mr : rows;
}

static mtz_gemm_config mtz_gemm_config_make(size_t mr, size_t nr, mtz_gemm_ukernel kernel) {
    return (mtz_gemm_config){mr, nr, MTZ_GEMM_KC, mtz_gemm_mc(mr), kernel, NULL, 0, NULL};
}

#if MTZ_HAVE_X86 /* only the x86 ISAs have row kernels so far */
static mtz_gemm_config mtz_gemm_config_with_rows(mtz_gemm_config cfg, mtz_gemm_row_ukernel row_kernel,
                                                 size_t row_panels) {
    if (cfg.kernel) { /* only alongside a runnable tile kernel */
        cfg.row_kernel = row_kernel;
        cfg.row_panels = row_panels;
    }
    return cfg;
}
#endif

static mtz_gemm_config mtz_gemm_config_for(mtz_isa isa) {
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2: {
        mtz_gemm_config cfg = mtz_gemm_config_with_rows(
            mtz_gemm_config_make(6, 16, mtz_isa_supported(isa) ? mtz_f32_gemm_6x16_avx2 : NULL),
            mtz_f32_gemm_1x64_avx2, 4);
        if (cfg.kernel) cfg.edge_kernel = mtz_f32_gemm_6x16_edge_avx2;
        return cfg;
    }
    case MTZ_ISA_AVX512: {
        mtz_gemm_config cfg = mtz_gemm_config_with_rows(
            mtz_gemm_config_make(7, 32, mtz_isa_supported(isa) ? mtz_f32_gemm_7x32_avx512 : NULL),
            mtz_f32_gemm_1x64_avx512, 2);
        if (cfg.kernel) cfg.edge_kernel = mtz_f32_gemm_7x32_edge_avx512;
        return cfg;
    }
#else
    case MTZ_ISA_AVX2: return mtz_gemm_config_make(6, 16, NULL);
    case MTZ_ISA_AVX512: return mtz_gemm_config_make(7, 32, NULL);
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON:
        return mtz_gemm_config_make(8, 8, mtz_isa_supported(isa) ? mtz_f32_gemm_8x8_neon : NULL);
#else
    case MTZ_ISA_NEON: return mtz_gemm_config_make(8, 8, NULL);
#endif
    case MTZ_ISA_SCALAR:
    default: return mtz_gemm_config_make(4, 4, mtz_f32_gemm_4x4_scalar);
    }
}

size_t mtz_gemm_mr(mtz_isa isa) { return mtz_gemm_config_for(isa).mr; }

size_t mtz_gemm_nr(mtz_isa isa) { return mtz_gemm_config_for(isa).nr; }

size_t mtz_gemm_panel_stride(mtz_isa isa, size_t k) { return mtz_gemm_nr(isa) * (k + 1); }

size_t mtz_gemm_packed_size(mtz_isa isa, size_t k, size_t n) {
    const size_t nr = mtz_gemm_nr(isa);
    return (n + nr - 1) / nr * nr * (k + 1);
}

void mtz_gemm_pack(mtz_isa isa, size_t k, size_t n, const float *w, size_t ldw, const float *bias,
                   float *packed) {
    const size_t nr = mtz_gemm_nr(isa);
    for (size_t j0 = 0; j0 < n; j0 += nr, packed += nr * (k + 1)) {
        const size_t cols = n - j0 < nr ? n - j0 : nr;
        for (size_t j = 0; j < nr; j++) packed[j] = (j < cols && bias) ? bias[j0 + j] : 0.0f;
        /* Transpose the [cols][k] block of W into k rows of nr; columns past N are zero. */
        float *rows = packed + nr;
        for (size_t j = 0; j < nr; j++) {
            if (j < cols) {
                const float *wj = w + (j0 + j) * ldw;
                for (size_t p = 0; p < k; p++) rows[p * nr + j] = wj[p];
            } else {
                for (size_t p = 0; p < k; p++) rows[p * nr + j] = 0.0f;
            }
        }
    }
}

/* Runs the configured kernel, or the generic scalar one with the same tile when it is missing. */
static inline void mtz_gemm_tile(const mtz_gemm_config *cfg, size_t rows, size_t kc, const float *a,
                                 size_t lda, const float *b, const float *bias, float *c, size_t ldc,
                                 int load_c, mtz_activation act) {
    if (cfg->kernel)
        cfg->kernel(rows, kc, a, lda, b, bias, c, ldc, load_c, act);
    else
        mtz_f32_gemm_generic_scalar(cfg->mr, cfg->nr, rows, kc, a, lda, b, bias, c, ldc, load_c, act);
}

/* A tile cut by the M or N edge: the ISA's edge kernel, or the tile kernel on a full on-stack tile
 * and a copy of the valid part. */
static void mtz_gemm_edge_tile(const mtz_gemm_config *cfg, size_t rows, size_t cols, size_t kc,
                               const float *a, size_t lda, const float *b, const float *bias, float *c,
                               size_t ldc, int load_c, mtz_activation act) {
    if (cfg->edge_kernel) {
        cfg->edge_kernel(rows, cols, kc, a, lda, b, bias, c, ldc, load_c, act);
        return;
    }
    _Alignas(64) float buf[MTZ_GEMM_MAX_MR * MTZ_GEMM_MAX_NR];
    const size_t nr = cfg->nr;
    if (load_c) {
        memset(buf, 0, sizeof(float) * cfg->mr * nr);
        for (size_t i = 0; i < rows; i++) memcpy(buf + i * nr, c + i * ldc, sizeof(float) * cols);
    }
    mtz_gemm_tile(cfg, rows, kc, a, lda, b, bias, buf, nr, load_c, act);
    for (size_t i = 0; i < rows; i++) memcpy(c + i * ldc, buf + i * nr, sizeof(float) * cols);
}

void mtz_gemm(mtz_isa isa, size_t m, size_t n, size_t k, const float *a, size_t lda,
              const float *packed_b, float *c, size_t ldc, int accumulate, mtz_activation act) {
    if (m == 0 || n == 0) return;
    const mtz_gemm_config cfg = mtz_gemm_config_for(isa);
    const size_t mr = cfg.mr, nr = cfg.nr;
    const size_t panel_stride = nr * (k + 1);
    const size_t panels = (n + nr - 1) / nr;

    /* Split K into equal blocks of at most KC (K == 0 still runs one block for bias/accumulate). */
    const size_t kblocks = k == 0 ? 1 : (k + cfg.kc - 1) / cfg.kc;
    const size_t kc_base = k / kblocks, kc_extra = k % kblocks;

    size_t k0 = 0;
    for (size_t kb = 0; kb < kblocks; kb++) {
        const size_t kc = kc_base + (kb < kc_extra ? 1 : 0);
        const int first = kb == 0;
        const int load_c = accumulate || !first;
        const mtz_activation block_act = kb + 1 == kblocks ? act : MTZ_ACT_NONE;

        /* A single row: whole groups of row_panels panels go to the row kernel (an MR-row kernel
         * would compute the same row MR times); the remaining panels take the general path. */
        size_t jp_begin = 0;
        if (m == 1 && cfg.row_kernel) {
            for (; (jp_begin + cfg.row_panels) * nr <= n; jp_begin += cfg.row_panels) {
                const float *panel = packed_b + jp_begin * panel_stride;
                cfg.row_kernel(kc, a + k0, panel + nr + k0 * nr, first ? panel : NULL, panel_stride,
                               c + jp_begin * nr, load_c, block_act);
            }
        }

        for (size_t i0 = 0; i0 < m; i0 += cfg.mc) {
            const size_t i_end = m - i0 < cfg.mc ? m : i0 + cfg.mc;
            for (size_t jp = jp_begin; jp < panels; jp++) {
                const float *panel = packed_b + jp * panel_stride;
                const float *bias = first ? panel : NULL;
                const float *bk = panel + nr + k0 * nr;
                const size_t j0 = jp * nr;
                const size_t cols = n - j0 < nr ? n - j0 : nr;
                for (size_t i = i0; i < i_end; i += mr) {
                    const size_t rows = i_end - i < mr ? i_end - i : mr;
                    const float *ai = a + i * lda + k0;
                    float *ci = c + i * ldc + j0;
                    if (rows == mr && cols == nr)
                        mtz_gemm_tile(&cfg, rows, kc, ai, lda, bk, bias, ci, ldc, load_c, block_act);
                    else
                        mtz_gemm_edge_tile(&cfg, rows, cols, kc, ai, lda, bk, bias, ci, ldc, load_c,
                                           block_act);
                }
            }
        }
        k0 += kc;
    }
}

void mtz_gemm_reference(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *w,
                        size_t ldw, const float *bias, float *c, size_t ldc, int accumulate,
                        mtz_activation act) {
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            double sum = 0.0; /* double accumulation: the oracle should be the more accurate side */
            for (size_t p = 0; p < k; p++) sum += (double)a[i * lda + p] * (double)w[j * ldw + p];
            if (bias) sum += bias[j];
            if (accumulate) sum += c[i * ldc + j];
            c[i * ldc + j] = mtz_act_scalar((float)sum, act);
        }
    }
}
