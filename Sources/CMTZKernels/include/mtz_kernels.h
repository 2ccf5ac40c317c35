/*
 * mtz_kernels.h — the C compute kernels of mtz.
 *
 * Conventions (all kernels):
 *  - fp32 only; activations are NHWC with batch 1, i.e. a row-major [pixels][channels] matrix whose
 *    rows may be strided ("pixel stride" >= channels) so a channel slice of a wider tensor can be read
 *    or written in place.
 *  - Every function takes the ISA explicitly, so tests can exercise every path in one process; the
 *    runtime passes mtz_isa_selected().
 *  - Kernels never allocate. Workspaces are sized by a *_workspace_size() function and given by the
 *    caller. Kernels never write outside the described output views.
 *  - Multi-threading is done by the caller, by splitting *output* ranges (pixels or column panels);
 *    the reduction order of every output element is independent of the split, so results do not depend
 *    on the thread count.
 */
#ifndef MTZ_KERNELS_H
#define MTZ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------- */
/* ISA selection                                                                                    */

/** Instruction-set families with their own microkernels. */
typedef enum mtz_isa {
    MTZ_ISA_SCALAR = 0,
    MTZ_ISA_AVX2 = 1,   /* x86-64 AVX2 + FMA3 */
    MTZ_ISA_AVX512 = 2, /* x86-64 AVX-512F */
    MTZ_ISA_NEON = 3,   /* aarch64 Advanced SIMD */
} mtz_isa;

/** Number of mtz_isa values. */
#define MTZ_ISA_COUNT 4

/** 1 if `isa` is compiled into this build and supported by the running CPU, else 0. */
int mtz_isa_supported(mtz_isa isa);

/** The best supported ISA, capped by the environment variable MTZ_ISA (scalar|avx2|avx512|neon);
 *  computed once per process. An unknown or unsupported MTZ_ISA value leaves the best ISA unchanged
 *  and is reported by mtz_isa_env_error(). */
mtz_isa mtz_isa_selected(void);

/** A static message if MTZ_ISA was set to something unknown or unsupported, else NULL. */
const char *mtz_isa_env_error(void);

/** Lower-case name: "scalar", "avx2", "avx512", "neon". */
const char *mtz_isa_name(mtz_isa isa);

/** Bytes of the level-`level` (1-3) data or unified cache of the running CPU (one core's share),
 *  found once: CPUID on x86, sysfs on other Linux systems; Zen 4's sizes (32 KiB, 1 MiB, 32 MiB)
 *  where unavailable; 0 for other levels. */
size_t mtz_cache_size(int level);

/* ---------------------------------------------------------------------------------------------- */
/* Activations fused into epilogues                                                                 */

typedef enum mtz_activation {
    MTZ_ACT_NONE = 0,
    MTZ_ACT_RELU = 1,
    MTZ_ACT_RELU6 = 2,
    MTZ_ACT_SIGMOID = 3,
    MTZ_ACT_TANH = 4,
} mtz_activation;

/* ---------------------------------------------------------------------------------------------- */
/* GEMM with packed B:  C[M x N] (+)= act(A[M x K] * B[K x N] + bias)                               */
/*
 * B is given to the packer as weights W in [N][K] row-major order (one row per output neuron, the
 * natural layout of FC weights [out][in] and of conv weights [Cout][KH][KW][Cin/groups]); the packer
 * writes ceil(N/NR) panels of NR columns, each panel = NR bias values followed by K rows of NR values
 * (columns past N are zero). A panel therefore holds nr*(k+1) floats.
 */

/** Microkernel tile rows (MR) for `isa`. */
size_t mtz_gemm_mr(mtz_isa isa);
/** Microkernel tile columns (NR) for `isa`: the packed panel width. */
size_t mtz_gemm_nr(mtz_isa isa);

/** Floats needed by mtz_gemm_pack() for a K x N problem. */
size_t mtz_gemm_packed_size(mtz_isa isa, size_t k, size_t n);

/** Floats between the starts of two consecutive packed panels: nr*(k+1). */
size_t mtz_gemm_panel_stride(mtz_isa isa, size_t k);

/**
 * Packs weights `w` ([N][K], row stride `ldw` >= k) and `bias` (N values, or NULL for zeros) into
 * `packed` (mtz_gemm_packed_size() floats, 64-byte alignment recommended).
 */
void mtz_gemm_pack(mtz_isa isa, size_t k, size_t n, const float *w, size_t ldw, const float *bias,
                   float *packed);

/**
 * C = act(A*B + bias)           when accumulate == 0
 * C = act(C + A*B + bias)       when accumulate != 0
 * A: M x K, row stride lda >= k. C: M x N, row stride ldc >= n. `packed_b` points at the panel that
 * holds column 0 of this call (callers splitting N offset it by whole panels and offset C by the same
 * number of columns). Any M, N, K >= 1 are allowed; K may be 0 (then C = act(bias [+ C])).
 */
void mtz_gemm(mtz_isa isa, size_t m, size_t n, size_t k, const float *a, size_t lda,
              const float *packed_b, float *c, size_t ldc, int accumulate, mtz_activation act);

/**
 * Fully connected layer on one input vector, reading the weights in place (no packing):
 *   y[j] = act(x . w[j][0..k) + bias[j])            when accumulate == 0
 *   y[j] = act(y[j] + x . w[j][0..k) + bias[j])     when accumulate != 0
 * for j in [0, n). `w` is [N][K] with row stride ldw >= k and needs only float alignment; no load goes
 * past w[n-1][k-1] or x[k-1]. bias may be NULL. Callers splitting N offset w, bias and y by rows.
 */
void mtz_gemv(mtz_isa isa, size_t n, size_t k, const float *x, const float *w, size_t ldw,
              const float *bias, float *y, int accumulate, mtz_activation act);

/** Naive reference for tests: same contract as mtz_gemm but takes unpacked W [N][K] and bias. */
void mtz_gemm_reference(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *w,
                        size_t ldw, const float *bias, float *c, size_t ldc, int accumulate,
                        mtz_activation act);

/**
 * Runs a register-resident FMA loop with the widest vectors of `isa` for about `seconds` and returns
 * the achieved single-thread GFLOP/s (2 flops per lane per FMA). Returns 0 if `isa` is unsupported.
 */
double mtz_measure_fma_peak_gflops(mtz_isa isa, double seconds);

/* -- For tests: the MTZ_ISA parsing behind mtz_isa_selected(), without the process-wide once. -- */

/** Parses an exact lower-case ISA name ("scalar", "avx2", "avx512", "neon"); returns 1 and sets
 *  *out (if non-NULL) on success, 0 for NULL or unknown names. */
int mtz_isa_parse(const char *name, mtz_isa *out);

/** The selection rule of mtz_isa_selected() applied to `env_value` (the MTZ_ISA value, NULL if
 *  unset): the requested ISA if known and supported, else the best ISA with a static message in
 *  *error (NULL when there is nothing to report). */
mtz_isa mtz_isa_resolve(const char *env_value, const char **error);

/* ---------------------------------------------------------------------------------------------- */
/* 2-D convolution (NHWC), via packed GEMM                                                          */

/** Geometry of one NHWC convolution or pooling window operation. */
typedef struct mtz_conv2d_params {
    size_t in_h, in_w, in_c;       /* input view: in_c channels starting at the input pointer */
    size_t in_pixel_stride;        /* floats between consecutive input pixels (>= in_c)        */
    size_t out_h, out_w, out_c;    /* output view                                               */
    size_t out_pixel_stride;       /* floats between consecutive output pixels (>= out_c)       */
    size_t kernel_h, kernel_w;
    size_t stride_h, stride_w;
    size_t dilation_h, dilation_w; /* >= 1 */
    size_t pad_top, pad_left;      /* bottom/right padding is implied by out_h/out_w            */
    size_t groups;                 /* in_c and out_c are multiples of groups                    */
} mtz_conv2d_params;

/** 1 if the geometry is self-consistent (sizes >= 1, divisibility, out_h/out_w reachable). */
int mtz_conv2d_params_valid(const mtz_conv2d_params *p);

/**
 * Floats of packed weights for a (grouped) convolution: groups * mtz_gemm_packed_size(isa,
 * kernel_h*kernel_w*in_c/groups, out_c/groups).
 */
size_t mtz_conv2d_packed_size(mtz_isa isa, const mtz_conv2d_params *p);

/**
 * Packs conv weights [out_c][kernel_h][kernel_w][in_c/groups] (OHWI) and bias (out_c or NULL) into
 * `packed`: group g's GEMM panels start at g * mtz_gemm_packed_size(isa, K_g, out_c/groups).
 */
void mtz_conv2d_pack(mtz_isa isa, const mtz_conv2d_params *p, const float *w, const float *bias,
                     float *packed);

/** Floats of per-thread workspace mtz_conv2d() needs (0 for 1x1/stride-1/no-pad convolutions). */
size_t mtz_conv2d_workspace_size(mtz_isa isa, const mtz_conv2d_params *p);

/**
 * Computes output pixels [pixel_begin, pixel_end) (pixel index = y*out_w + x) of
 *   out = act(conv(in, W) + bias [+ out if accumulate]).
 * `workspace` holds mtz_conv2d_workspace_size() floats (may be NULL when that is 0).
 */
void mtz_conv2d(mtz_isa isa, const mtz_conv2d_params *p, const float *in, const float *packed,
                float *out, float *workspace, size_t pixel_begin, size_t pixel_end, int accumulate,
                mtz_activation act);

/* Depthwise convolution: groups == in_c == out_c. Weights packed as [kernel_h][kernel_w][C] after a
 * leading bias[C] block, i.e. (1 + kh*kw) * C floats, channel-contiguous. */

/** Floats of packed depthwise weights: (1 + kernel_h*kernel_w) * out_c. */
size_t mtz_dwconv2d_packed_size(const mtz_conv2d_params *p);

/** Packs depthwise weights given as [C][kernel_h][kernel_w] (OHWI with I = 1) and bias (or NULL). */
void mtz_dwconv2d_pack(const mtz_conv2d_params *p, const float *w, const float *bias, float *packed);

/** Depthwise convolution over output pixels [pixel_begin, pixel_end); same contract as mtz_conv2d. */
void mtz_dwconv2d(mtz_isa isa, const mtz_conv2d_params *p, const float *in, const float *packed,
                  float *out, size_t pixel_begin, size_t pixel_end, int accumulate,
                  mtz_activation act);

/** Naive reference convolution for tests (any groups), unpacked OHWI weights. All output pixels. */
void mtz_conv2d_reference(const mtz_conv2d_params *p, const float *in, const float *w,
                          const float *bias, float *out, int accumulate, mtz_activation act);

/* ---------------------------------------------------------------------------------------------- */
/* Pooling (NHWC). Uses mtz_conv2d_params with in_c == out_c, groups == in_c, dilation 1.         */

/** Max pooling over output pixels [pixel_begin, pixel_end); padded positions are ignored. */
void mtz_maxpool2d(mtz_isa isa, const mtz_conv2d_params *p, const float *in, float *out,
                   size_t pixel_begin, size_t pixel_end);

/** Average pooling; count_include_pad selects the divisor (window area vs. valid positions). */
void mtz_avgpool2d(mtz_isa isa, const mtz_conv2d_params *p, const float *in, float *out,
                   size_t pixel_begin, size_t pixel_end, int count_include_pad);

/** out[c] = mean over `pixels` rows of in[pixel*in_stride + c], for c in [0, channels). */
void mtz_global_avgpool(mtz_isa isa, size_t pixels, size_t channels, const float *in,
                        size_t in_stride, float *out);

/* ---------------------------------------------------------------------------------------------- */
/* Element-wise over [pixels][channels] views                                                       */

/** out = act(a + b). Views may alias exactly (out == a or out == b with the same stride). */
void mtz_add(mtz_isa isa, size_t pixels, size_t channels, const float *a, size_t a_stride,
             const float *b, size_t b_stride, float *out, size_t out_stride, mtz_activation act);

/** out = act(in). In place allowed (out == in, same stride). */
void mtz_activate(mtz_isa isa, size_t pixels, size_t channels, const float *in, size_t in_stride,
                  float *out, size_t out_stride, mtz_activation act);

/** out[p][c] = in[p][c] * scale[c] + shift[c] (an unfolded batch norm). In place allowed. */
void mtz_scale_shift(mtz_isa isa, size_t pixels, size_t channels, const float *in, size_t in_stride,
                     const float *scale, const float *shift, float *out, size_t out_stride);

/** Copies a [pixels][channels] view (concat, slicing, flatten of strided views). */
void mtz_copy(size_t pixels, size_t channels, const float *in, size_t in_stride, float *out,
              size_t out_stride);

/** Numerically stable softmax of n contiguous values (max subtracted). In place allowed. */
void mtz_softmax(mtz_isa isa, size_t n, const float *in, float *out);

#ifdef __cplusplus
}
#endif

#endif /* MTZ_KERNELS_H */
