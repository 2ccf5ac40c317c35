/*
 * mtz_training_kernels.h — the extra kernels the training engine needs: GEMM with B given as a
 * plain [K][N] matrix (for weight and input gradients), im2col / col2im for convolution backward,
 * pooling backward, transposition. Same conventions as mtz_kernels.h (fp32, NHWC, batch 1 per call,
 * explicit ISA, caller-provided memory, no allocation).
 */
#ifndef MTZ_TRAINING_KERNELS_H
#define MTZ_TRAINING_KERNELS_H

#include "mtz_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Packs B given as a row-major [K][N] matrix (row stride ldb >= n) into the same panel layout as
 * mtz_gemm_pack (NR bias values — zeros when bias is NULL — then K rows of NR values per panel), so
 * that mtz_gemm computes C (+)= A·B. `packed` holds mtz_gemm_packed_size(isa, k, n) floats.
 */
void mtz_gemm_pack_kn(mtz_isa isa, size_t k, size_t n, const float *b, size_t ldb, const float *bias,
                      float *packed);

/** out[j][i] = in[i][j] for a rows x cols matrix (strides ld_in >= cols, ld_out >= rows). */
void mtz_transpose(size_t rows, size_t cols, const float *in, size_t ld_in, float *out, size_t ld_out);

/**
 * im2col for output pixels [pixel_begin, pixel_end) of group `group`: writes one row of
 * K = kernel_h*kernel_w*(in_c/groups) values per output pixel, in (kh, kw, c) order, zeros for
 * padded taps, row stride ld_col >= K.
 */
void mtz_im2col(const mtz_conv2d_params *p, size_t group, const float *in, size_t pixel_begin,
                size_t pixel_end, float *col, size_t ld_col);

/**
 * The adjoint of mtz_im2col: adds each row of `col` (output pixels [pixel_begin, pixel_end), group
 * `group`, row stride ld_col) into the input-gradient view `dx` (layout of the conv input: in_h x
 * in_w pixels, in_pixel_stride floats apart). Padded taps are dropped.
 */
void mtz_col2im_add(const mtz_conv2d_params *p, size_t group, const float *col, size_t ld_col,
                    size_t pixel_begin, size_t pixel_end, float *dx);

/**
 * Max-pooling backward: for every output pixel and channel, adds dy to dx at the position of the
 * window maximum of `in` (the first maximum in tap order, as mtz_maxpool2d chooses; padded taps
 * are ignored). dy/dx use the output/input views of `p`. dx is accumulated into, not cleared.
 */
void mtz_maxpool2d_backward(const mtz_conv2d_params *p, const float *in, const float *dy, float *dx);

/** Average-pooling backward (same divisor rule as mtz_avgpool2d); dx is accumulated into. */
void mtz_avgpool2d_backward(const mtz_conv2d_params *p, const float *dy, float *dx,
                            int count_include_pad);

/**
 * dy[i] *= act'(x) for n values, computed from the activation's *output* y[i] (relu: y > 0;
 * relu6: 0 < y < 6; sigmoid: y(1 − y); tanh: 1 − y²). In place; a no-op for MTZ_ACT_NONE.
 */
void mtz_activation_backward(mtz_isa isa, size_t n, const float *y, float *dy, mtz_activation act);

#ifdef __cplusplus
}
#endif

#endif /* MTZ_TRAINING_KERNELS_H */
