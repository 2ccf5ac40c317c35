/*
 * winograd_neon.c — aarch64 Advanced SIMD Winograd tile transforms (F(4x4, 3x3) and F(2x2, 5x5)) (see
 * winograd_template.h): 4 channels per vector; the remaining channels go to the scalar transforms.
 */
#if defined(__aarch64__)
#include "internal.h"

#include <arm_neon.h>

typedef float32x4_t vec_t;
#define VL 4
#define V_LOAD(p) vld1q_f32(p)
#define V_STORE(p, x) vst1q_f32((p), (x))
#define V_SET1(s) vdupq_n_f32(s)
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_ADD(a, b) vaddq_f32((a), (b))
#define V_SUB(a, b) vsubq_f32((a), (b))
#define V_MUL(a, b) vmulq_f32((a), (b))
#define V_FMA(a, b, c) vfmaq_f32((c), (a), (b))
#define V_MAX(a, b) vmaxq_f32((a), (b))
#define V_MIN(a, b) vminq_f32((a), (b))
#define MTZ_WG_SUFFIX(name) name##_neon
#define MTZ_WG_ATTR
#define MTZ_WG_TAIL(name) name##_scalar

#include "winograd_template.h"

#else
/* Keeps the translation unit non-empty on other architectures (ISO C). */
typedef int mtz_winograd_neon_unavailable;
#endif /* __aarch64__ */
