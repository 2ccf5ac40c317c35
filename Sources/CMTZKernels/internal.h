/* internal.h — helpers shared by the kernel source files; not part of the public API. */
#ifndef MTZ_KERNELS_INTERNAL_H
#define MTZ_KERNELS_INTERNAL_H

#include "mtz_kernels.h"
#include <math.h>

/* Scalar activation, the oracle every vector epilogue must match. */
static inline float mtz_act_scalar(float x, mtz_activation act) {
    switch (act) {
    case MTZ_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case MTZ_ACT_RELU6: return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x);
    case MTZ_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case MTZ_ACT_TANH: return tanhf(x);
    case MTZ_ACT_NONE:
    default: return x;
    }
}

/* Applies an activation in place to a [rows][cols] view with row stride ld. */
static inline void mtz_act_rows_scalar(float *c, size_t rows, size_t cols, size_t ld, mtz_activation act) {
    if (act == MTZ_ACT_NONE) return;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) c[i * ld + j] = mtz_act_scalar(c[i * ld + j], act);
}

/* Valid taps of a window along one axis: output coordinate o reads input coordinates
 * o*stride - pad + t*dilation for taps t in [0, k); on return [*t0, *t1) are the taps that land
 * inside [0, in) (an empty range has *t0 == *t1). Valid taps are always contiguous. */
static inline void mtz_tap_range(size_t o, size_t stride, size_t pad, size_t dilation, size_t k, size_t in,
                                 size_t *t0, size_t *t1) {
    size_t origin = o * stride; /* input coordinate of tap 0, plus pad */
    size_t lo = 0, hi = k;
    if (dilation == 1) { /* the common case, without the divisions below */
        if (origin < pad) lo = pad - origin;
        if (origin >= pad + in) hi = 0;
        else if (pad + in - origin < k) hi = pad + in - origin;
        *t0 = lo < hi ? lo : hi;
        *t1 = hi;
        return;
    }
    if (origin < pad) lo = (pad - origin + dilation - 1) / dilation;
    if (origin >= pad + in) {
        hi = 0;
    } else {
        size_t room = pad + in - origin; /* taps t with t*dilation < room are inside */
        size_t h = (room + dilation - 1) / dilation;
        if (h < hi) hi = h;
    }
    if (lo > hi) lo = hi;
    *t0 = lo;
    *t1 = hi;
}

#if defined(__x86_64__) || defined(_M_X64)
#define MTZ_HAVE_X86 1
#else
#define MTZ_HAVE_X86 0
#endif

#if defined(__aarch64__)
#define MTZ_HAVE_NEON 1
#else
#define MTZ_HAVE_NEON 0
#endif

/* ---- GEMM microkernels (gemm*.c) ------------------------------------------------------------- */
/*
 * A microkernel computes one MR x NR tile of C over one K block of length kc:
 *   acc  = (load_c ? C tile : 0) + (bias ? bias[0..NR) : 0)
 *   acc += A[rows x kc] * B[kc x NR]        (B: kc rows of NR floats, contiguous, from a packed panel)
 *   C tile = act(acc)                        (the driver passes MTZ_ACT_NONE except on the last block)
 * A rows past `rows` (1 <= rows <= MR) are never read: the kernel reuses the last valid row, and the
 * driver sends such tiles (and tiles past N) to an on-stack buffer, so the kernel always reads and
 * writes a full MR x NR tile at `c` with row stride ldc. (An ISA with an edge kernel, below, gets
 * partial tiles there instead; its tile kernel hands rows < MR to it and writes only those rows.)
 */
typedef void (*mtz_gemm_ukernel)(size_t rows, size_t kc, const float *a, size_t lda, const float *b,
                                 const float *bias, float *c, size_t ldc, int load_c,
                                 mtz_activation act);
/*
 * A row kernel computes one row of C across several consecutive panels (64 columns here) for
 * single-row calls, where an MR-row kernel would repeat the same row MR times: a and c point at the
 * row, b at the K block in the first panel, bias at the first panel's bias (or NULL); the other panels
 * follow at panel_stride floats. Same per-element operation order as the MR-row kernels.
 */
typedef void (*mtz_gemm_row_ukernel)(size_t kc, const float *a, const float *b, const float *bias,
                                     size_t panel_stride, float *c, int load_c, mtz_activation act);
/* An edge kernel computes a tile cut by the M or N edge in place: like a tile kernel, but it reads
 * and writes only rows [0, rows) and columns [0, cols) of C (1 <= rows <= MR, 1 <= cols <= NR). */
typedef void (*mtz_gemm_edge_ukernel)(size_t rows, size_t cols, size_t kc, const float *a, size_t lda,
                                      const float *b, const float *bias, float *c, size_t ldc, int load_c,
                                      mtz_activation act);

void mtz_f32_gemm_4x4_scalar(size_t rows, size_t kc, const float *a, size_t lda, const float *b,
                             const float *bias, float *c, size_t ldc, int load_c, mtz_activation act);
/* Portable fallback for any tile (mr, nr <= MTZ_GEMM_MAX_MR/NR): used when an ISA's packing layout
 * is requested but its kernel is not compiled in or not supported by the CPU. */
void mtz_f32_gemm_generic_scalar(size_t mr, size_t nr, size_t rows, size_t kc, const float *a,
                                 size_t lda, const float *b, const float *bias, float *c, size_t ldc,
                                 int load_c, mtz_activation act);
#if MTZ_HAVE_X86
void mtz_f32_gemm_6x16_avx2(size_t rows, size_t kc, const float *a, size_t lda, const float *b,
                            const float *bias, float *c, size_t ldc, int load_c, mtz_activation act);
void mtz_f32_gemm_6x16_edge_avx2(size_t rows, size_t cols, size_t kc, const float *a, size_t lda,
                                 const float *b, const float *bias, float *c, size_t ldc, int load_c,
                                 mtz_activation act);
void mtz_f32_gemm_7x32_avx512(size_t rows, size_t kc, const float *a, size_t lda, const float *b,
                              const float *bias, float *c, size_t ldc, int load_c, mtz_activation act);
void mtz_f32_gemm_7x32_edge_avx512(size_t rows, size_t cols, size_t kc, const float *a, size_t lda,
                                   const float *b, const float *bias, float *c, size_t ldc, int load_c,
                                   mtz_activation act);
void mtz_f32_gemm_1x64_avx2(size_t kc, const float *a, const float *b, const float *bias,
                            size_t panel_stride, float *c, int load_c, mtz_activation act);
void mtz_f32_gemm_1x64_avx512(size_t kc, const float *a, const float *b, const float *bias,
                              size_t panel_stride, float *c, int load_c, mtz_activation act);
#endif
#if MTZ_HAVE_NEON
void mtz_f32_gemm_8x8_neon(size_t rows, size_t kc, const float *a, size_t lda, const float *b,
                           const float *bias, float *c, size_t ldc, int load_c, mtz_activation act);
#endif

/* ---- Winograd tile transforms (winograd_*.c, see winograd_template.h) -------------------------- */
#define MTZ_WINO_DECLARE(isa)                                                                         \
    void mtz_f32_wino6_input_##isa(const float *const rows[6], long col0, size_t in_w,                 \
                                    size_t pixel_stride, size_t channels, float *v, size_t v_stride);   \
    void mtz_f32_wino43_output_##isa(const float *m, size_t m_stride, const float *bias,                \
                                     float *const out_rows[4], size_t cols, size_t pixel_stride,        \
                                     size_t channels, int accumulate, mtz_activation act);              \
    void mtz_f32_wino25_output_##isa(const float *m, size_t m_stride, const float *bias,                \
                                     float *const out_rows[2], size_t cols, size_t pixel_stride,        \
                                     size_t channels, int accumulate, mtz_activation act);
MTZ_WINO_DECLARE(scalar)
#if MTZ_HAVE_X86
MTZ_WINO_DECLARE(avx2)
MTZ_WINO_DECLARE(avx512)
#endif
#if MTZ_HAVE_NEON
MTZ_WINO_DECLARE(neon)
#endif

/* Largest tile of any microkernel: the driver's on-stack edge buffer is MAX_MR x MAX_NR floats. */
#define MTZ_GEMM_MAX_MR 16
#define MTZ_GEMM_MAX_NR 32

#endif
