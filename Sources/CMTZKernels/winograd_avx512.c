/*
 * winograd_avx512.c — AVX-512F Winograd tile transforms (F(4x4, 3x3) and F(2x2, 5x5)) (see winograd_template.h):
 * 16 channels per vector; the channels past the last multiple of 16 are one masked vector.
 */
#include "internal.h"

#if MTZ_HAVE_X86
#include <immintrin.h>

typedef __m512 vec_t;
#define VL 16
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, x) _mm512_storeu_ps((p), (x))
#define V_SET1(s) _mm512_set1_ps(s)
#define V_ZERO() _mm512_setzero_ps()
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_MAX(a, b) _mm512_max_ps((a), (b))
#define V_MIN(a, b) _mm512_min_ps((a), (b))
#define V_MASK_T __mmask16
#define V_MASK(n) ((__mmask16)((1u << (n)) - 1))
#define V_LOAD_M(p, m) _mm512_maskz_loadu_ps((m), (p))
#define V_STORE_M(p, x, m) _mm512_mask_storeu_ps((p), (m), (x))
#define MTZ_WG_SUFFIX(name) name##_avx512
#define MTZ_WG_ATTR __attribute__((target("avx512f")))

#include "winograd_template.h"

#endif /* MTZ_HAVE_X86 */
