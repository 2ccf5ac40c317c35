/*
 * winograd_avx512.c — AVX-512F Winograd tile transforms (F(4x4, 3x3) and F(2x2, 5x5)) (see winograd_template.h):
 * 16 channels per vector; the channels past the last multiple of 16 go to the AVX2 transforms
 * (AVX-512F implies AVX2 and FMA on every CPU that has it), and from those to the scalar ones.
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
#define MTZ_WG_SUFFIX(name) name##_avx512
#define MTZ_WG_ATTR __attribute__((target("avx512f")))
#define MTZ_WG_TAIL(name) name##_avx2

#include "winograd_template.h"

#endif /* MTZ_HAVE_X86 */
