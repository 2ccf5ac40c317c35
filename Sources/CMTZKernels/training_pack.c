/*
 * training_pack.c — data movement for the training engine's GEMMs: packing a plain [K][N] matrix
 * into the GEMM panel layout (mtz_gemm_pack_kn) and cache-blocked transposition (mtz_transpose).
 *
 * mtz_gemm_pack_kn runs every training step (activations and gradients are packed afresh), so it is
 * a copy, not a transpose: panel rows are NR-wide segments of B's rows (details at the copy loop).
 *
 * mtz_transpose works on 32 x 32 blocks of 8 x 8 tiles, so both the rows read and the rows written
 * by a block stay in L1; with AVX2 selected, each full 8 x 8 tile is transposed in registers.
 * Transposition is exact, so both paths give identical results.
 */
#include "internal.h"
#include "mtz_training_kernels.h"

#include <string.h>

#if MTZ_HAVE_X86
#include <immintrin.h>
#endif

/*
 * The K rows of every panel, walking B row by row: row p of B is cut into NR-wide segments, segment
 * j going to row p of panel j (panels are `ps` floats apart). Reading B once, front to back, measured
 * 1.4-2x faster than filling one panel at a time when B is larger than L2 (K = 4096, N = 496: 27.8
 * vs 14.5 GB/s; K = 36864, N = 32: 60 vs 45 GB/s) and ~20 % slower only for L1/L2-resident B, where
 * the pack takes a few microseconds either way. The last panel's `tail` (< NR) columns are copied by
 * a short loop and its remaining columns zeroed. NR is a compile-time constant so each segment copy
 * becomes a few vector moves rather than a libc call.
 */
#define MTZ_DEFINE_PACK_KN_ROWS(NR)                                                                     \
    static void mtz_pack_kn_rows_##NR(size_t k, size_t full, size_t tail, const float *b, size_t ldb, \
                                      float *rows, size_t ps) {                                      \
        for (size_t p = 0; p < k; p++) {                                                             \
            const float *src = b + p * ldb;                                                          \
            float *dst = rows + p * (NR);                                                            \
            for (size_t jp = 0; jp < full; jp++, src += (NR), dst += ps)                             \
                memcpy(dst, src, (NR) * sizeof(float));                                              \
            if (tail) {                                                                              \
                for (size_t j = 0; j < tail; j++) dst[j] = src[j];                                   \
                for (size_t j = tail; j < (NR); j++) dst[j] = 0.0f;                                  \
            }                                                                                        \
        }                                                                                            \
    }
MTZ_DEFINE_PACK_KN_ROWS(4)
MTZ_DEFINE_PACK_KN_ROWS(8)
MTZ_DEFINE_PACK_KN_ROWS(16)
MTZ_DEFINE_PACK_KN_ROWS(32)
#undef MTZ_DEFINE_PACK_KN_ROWS

/* The same for a panel width without a specialised copy. */
static void mtz_pack_kn_rows_generic(size_t nr, size_t k, size_t full, size_t tail, const float *b,
                                     size_t ldb, float *rows, size_t ps) {
    for (size_t p = 0; p < k; p++) {
        const float *src = b + p * ldb;
        float *dst = rows + p * nr;
        for (size_t jp = 0; jp < full; jp++, src += nr, dst += ps) memcpy(dst, src, nr * sizeof(float));
        if (tail) {
            memcpy(dst, src, tail * sizeof(float));
            memset(dst + tail, 0, (nr - tail) * sizeof(float));
        }
    }
}

void mtz_gemm_pack_kn(mtz_isa isa, size_t k, size_t n, const float *b, size_t ldb, const float *bias,
                      float *packed) {
    const size_t nr = mtz_gemm_nr(isa);
    const size_t ps = nr * (k + 1); /* panel stride */
    const size_t full = n / nr, tail = n % nr;
    /* Bias rows: NR values at the start of each panel, zeros past N or without bias. */
    for (size_t j0 = 0; j0 < n; j0 += nr) {
        float *panel = packed + j0 / nr * ps;
        const size_t cols = n - j0 < nr ? n - j0 : nr;
        if (bias) {
            memcpy(panel, bias + j0, cols * sizeof(float));
            if (cols < nr) memset(panel + cols, 0, (nr - cols) * sizeof(float));
        } else {
            memset(panel, 0, nr * sizeof(float));
        }
    }
    float *rows = packed + nr;
    switch (nr) {
    case 4: mtz_pack_kn_rows_4(k, full, tail, b, ldb, rows, ps); break;
    case 8: mtz_pack_kn_rows_8(k, full, tail, b, ldb, rows, ps); break;
    case 16: mtz_pack_kn_rows_16(k, full, tail, b, ldb, rows, ps); break;
    case 32: mtz_pack_kn_rows_32(k, full, tail, b, ldb, rows, ps); break;
    default: mtz_pack_kn_rows_generic(nr, k, full, tail, b, ldb, rows, ps); break;
    }
}

/* ---- transpose ------------------------------------------------------------------------------ */

enum { MTZ_TRANSPOSE_TILE = 8, MTZ_TRANSPOSE_BLOCK = 32 };

/* out[j][i] = in[i][j] for a rows x cols piece (any size; used for tiles and edges). */
static void mtz_transpose_piece_scalar(size_t rows, size_t cols, const float *in, size_t ld_in, float *out,
                                       size_t ld_out) {
    for (size_t j = 0; j < cols; j++)
        for (size_t i = 0; i < rows; i++) out[j * ld_out + i] = in[i * ld_in + j];
}

/* One block (rows, cols <= MTZ_TRANSPOSE_BLOCK) walked in 8 x 8 tiles. */
static void mtz_transpose_block_scalar(size_t rows, size_t cols, const float *in, size_t ld_in, float *out,
                                       size_t ld_out) {
    for (size_t i = 0; i < rows; i += MTZ_TRANSPOSE_TILE) {
        const size_t r = rows - i < MTZ_TRANSPOSE_TILE ? rows - i : MTZ_TRANSPOSE_TILE;
        for (size_t j = 0; j < cols; j += MTZ_TRANSPOSE_TILE) {
            const size_t c = cols - j < MTZ_TRANSPOSE_TILE ? cols - j : MTZ_TRANSPOSE_TILE;
            mtz_transpose_piece_scalar(r, c, in + i * ld_in + j, ld_in, out + j * ld_out + i, ld_out);
        }
    }
}

#if MTZ_HAVE_X86
/* A full 8 x 8 tile in registers: unpack pairs, then 64-bit shuffles, then swap 128-bit halves. */
__attribute__((target("avx2"))) static void mtz_transpose_8x8_avx2(const float *in, size_t ld_in, float *out,
                                                                   size_t ld_out) {
    __m256 r0 = _mm256_loadu_ps(in + 0 * ld_in), r1 = _mm256_loadu_ps(in + 1 * ld_in);
    __m256 r2 = _mm256_loadu_ps(in + 2 * ld_in), r3 = _mm256_loadu_ps(in + 3 * ld_in);
    __m256 r4 = _mm256_loadu_ps(in + 4 * ld_in), r5 = _mm256_loadu_ps(in + 5 * ld_in);
    __m256 r6 = _mm256_loadu_ps(in + 6 * ld_in), r7 = _mm256_loadu_ps(in + 7 * ld_in);
    /* t0 = a0 b0 a1 b1 | a4 b4 a5 b5, t1 = a2 b2 a3 b3 | a6 b6 a7 b7, ... */
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    /* s0 = a0 b0 c0 d0 | a4 b4 c4 d4, s1 = a1 b1 c1 d1 | a5 ..., ... */
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(out + 0 * ld_out, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(out + 1 * ld_out, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(out + 2 * ld_out, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(out + 3 * ld_out, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(out + 4 * ld_out, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(out + 5 * ld_out, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(out + 6 * ld_out, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(out + 7 * ld_out, _mm256_permute2f128_ps(s3, s7, 0x31));
}

__attribute__((target("avx2"))) static void mtz_transpose_block_avx2(size_t rows, size_t cols, const float *in,
                                                                     size_t ld_in, float *out, size_t ld_out) {
    for (size_t i = 0; i < rows; i += MTZ_TRANSPOSE_TILE) {
        const size_t r = rows - i < MTZ_TRANSPOSE_TILE ? rows - i : MTZ_TRANSPOSE_TILE;
        for (size_t j = 0; j < cols; j += MTZ_TRANSPOSE_TILE) {
            const size_t c = cols - j < MTZ_TRANSPOSE_TILE ? cols - j : MTZ_TRANSPOSE_TILE;
            const float *src = in + i * ld_in + j;
            float *dst = out + j * ld_out + i;
            if (r == MTZ_TRANSPOSE_TILE && c == MTZ_TRANSPOSE_TILE)
                mtz_transpose_8x8_avx2(src, ld_in, dst, ld_out);
            else
                mtz_transpose_piece_scalar(r, c, src, ld_in, dst, ld_out);
        }
    }
}
#endif

void mtz_transpose(size_t rows, size_t cols, const float *in, size_t ld_in, float *out, size_t ld_out) {
    void (*block)(size_t, size_t, const float *, size_t, float *, size_t) = mtz_transpose_block_scalar;
#if MTZ_HAVE_X86
    const mtz_isa isa = mtz_isa_selected();
    if (isa == MTZ_ISA_AVX2 || isa == MTZ_ISA_AVX512) block = mtz_transpose_block_avx2;
#endif
    for (size_t i = 0; i < rows; i += MTZ_TRANSPOSE_BLOCK) {
        const size_t r = rows - i < MTZ_TRANSPOSE_BLOCK ? rows - i : MTZ_TRANSPOSE_BLOCK;
        for (size_t j = 0; j < cols; j += MTZ_TRANSPOSE_BLOCK) {
            const size_t c = cols - j < MTZ_TRANSPOSE_BLOCK ? cols - j : MTZ_TRANSPOSE_BLOCK;
            block(r, c, in + i * ld_in + j, ld_in, out + j * ld_out + i, ld_out);
        }
    }
}
