/*
 * mtz_winograd.h — Winograd convolution for stride-1, undilated, ungrouped convolutions with 3x3
 * kernels (F(4x4, 3x3)) or 5x5 kernels (F(2x2, 5x5)) (NHWC, the conventions of mtz_kernels.h).
 *
 * The output is cut into m x m tiles, m = 4 for 3x3 and 2 for 5x5 (tile index = ty*ceil(out_w/m) +
 * tx). Each tile reads a 6x6 input patch, which is transformed (V = Bᵀ d B) into 36 vectors of in_c
 * values; then 36 independent GEMMs (one per transformed position ξ: [tiles][in_c] x [in_c][out_c],
 * on the packed-B GEMM microkernels) and the output transform (Y = Aᵀ M A, plus bias, accumulate and
 * activation) give the tile. F(4,3): 36 multiplies per 16 outputs instead of 144, 4x fewer, with 4x
 * larger packed weights. F(2,5): 36 per 4 outputs instead of 100, 2.8x fewer, with 1.44x larger
 * weights (LeNet-5's 5x5 layers; both use the same points, hence the same input transform).
 *
 * Why F(4,3) and not F(6,3): F(6,3) saves 5.06x of the multiplies instead of 4x, but it needs
 * more interpolation points (±1/2 besides 0, ±1, ±2), whose larger transform coefficients make its
 * fp32 error several times larger (Lavin & Gray 2016; Barabasz et al. 2020; not measured here), its
 * 8x8 tiles waste 15-65 % of the work on the 56/28/14-pixel maps of 224-input networks (6 does not
 * divide them; 4 does), and its weights are 7.1x the direct ones instead of 4x. Net of the tile
 * waste, F(6,3) would save ~4.4x on VGG-16 instead of 4x: not worth the accuracy and memory.
 *
 * Threads split tile ranges or output-channel panels; each output element's reduction order does
 * not depend on the split (nor on the block size), so results do not depend on the thread count. Results differ from the
 * direct convolution by rounding only: tests allow 1e-4 of the output's magnitude (measured
 * ~1e-6..1e-5 on uniform [-1, 1) data with in_c up to 512).
 */
#ifndef MTZ_WINOGRAD_H
#define MTZ_WINOGRAD_H

#include "mtz_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/** 1 if mtz_conv2d_winograd() can run `p`: valid geometry, 3x3 or 5x5 kernel, stride 1,
 *  dilation 1, groups 1 (any padding the geometry allows). */
int mtz_winograd_eligible(const mtz_conv2d_params *p);

/** Side m of the output tiles of an eligible `p`: 4 (3x3 kernels) or 2 (5x5). */
size_t mtz_winograd_tile_size(const mtz_conv2d_params *p);

/** Number of m x m output tiles: ceil(out_h/m) * ceil(out_w/m). */
size_t mtz_winograd_tiles(const mtz_conv2d_params *p);

/** Floats of transformed, packed weights: out_c rounded up to 16 (the bias) plus 36 GEMM panel sets
 *  of mtz_gemm_packed_size(isa, in_c, out_c). */
size_t mtz_winograd_packed_size(mtz_isa isa, const mtz_conv2d_params *p);

/** Transforms OHWI weights (U = G g Gᵀ per output/input channel pair, 6x6 from 3x3 or 5x5, in double) and packs them with
 *  `bias` (out_c values or NULL) into `packed` (mtz_winograd_packed_size() floats). */
void mtz_winograd_pack(mtz_isa isa, const mtz_conv2d_params *p, const float *w, const float *bias,
                       float *packed);

/** Tiles transformed per block (a multiple of the GEMM's MR; the GEMMs' M). */
size_t mtz_winograd_block_tiles(mtz_isa isa, const mtz_conv2d_params *p);

/** Floats of per-thread workspace: block_tiles * 36 * (in_c + out_c). */
size_t mtz_winograd_workspace_size(mtz_isa isa, const mtz_conv2d_params *p);

/**
 * Computes output channels [oc_begin, oc_end) of the output tiles [tile_begin, tile_end) of
 * out = act(conv(in, W) + bias [+ out]), for an eligible `p` and weights packed by
 * mtz_winograd_pack() for the same ISA. oc_begin must be a multiple of mtz_gemm_nr(isa); oc_end is
 * clamped to out_c. Only the output pixels and channels inside the view and ranges are written.
 * `workspace` holds mtz_winograd_workspace_size() floats.
 *
 * Threads split tiles when there are many (each thread then streams all transformed weights once
 * per tile block) and output channels when there are few (each streams only its columns; the input
 * transforms are repeated per thread). Either way every element is computed identically.
 */
void mtz_conv2d_winograd(mtz_isa isa, const mtz_conv2d_params *p, const float *in, const float *packed,
                         float *out, float *workspace, size_t tile_begin, size_t tile_end, size_t oc_begin,
                         size_t oc_end, int accumulate, mtz_activation act);

#ifdef __cplusplus
}
#endif

#endif /* MTZ_WINOGRAD_H */
