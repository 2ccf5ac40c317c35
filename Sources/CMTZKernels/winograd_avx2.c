/*
 * winograd_avx2.c — AVX2 + FMA3 Winograd tile transforms (F(4x4, 3x3) and F(2x2, 5x5)) (see winograd_template.h):
 * 8 channels per vector; the channels past the last multiple of 8 are one masked vector.
 */
#include "internal.h"

#if MTZ_HAVE_X86
#include <immintrin.h>

typedef __m256 vec_t;
#define VL 8
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, x) _mm256_storeu_ps((p), (x))
#define V_SET1(s) _mm256_set1_ps(s)
#define V_ZERO() _mm256_setzero_ps()
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_SUB(a, b) _mm256_sub_ps((a), (b))
#define V_MUL(a, b) _mm256_mul_ps((a), (b))
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_MAX(a, b) _mm256_max_ps((a), (b))
#define V_MIN(a, b) _mm256_min_ps((a), (b))
#define V_MASK_T __m256i
#define V_MASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define V_LOAD_M(p, m) _mm256_maskload_ps((p), (m))
#define V_STORE_M(p, x, m) _mm256_maskstore_ps((p), (m), (x))
#define MTZ_WG_SUFFIX(name) name##_avx2
#define MTZ_WG_ATTR __attribute__((target("avx2,fma")))

#include "winograd_template.h"

#endif /* MTZ_HAVE_X86 */
