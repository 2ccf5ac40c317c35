/*
 * winograd_scalar.c — portable Winograd tile transforms (F(4x4, 3x3) and F(2x2, 5x5)) (see winograd_template.h): the
 * MTZ_ISA_SCALAR path, and the channel tail (past the last full vector) of every other ISA.
 */
#include "internal.h"

typedef float vec_t;
#define VL 1
#define V_LOAD(p) (*(p))
#define V_STORE(p, x) (*(p) = (x))
#define V_SET1(s) (s)
#define V_ZERO() 0.0f
#define V_ADD(a, b) ((a) + (b))
#define V_SUB(a, b) ((a) - (b))
#define V_MUL(a, b) ((a) * (b))
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_MAX(a, b) ((a) > (b) ? (a) : (b))
#define V_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MTZ_WG_SUFFIX(name) name##_scalar
#define MTZ_WG_ATTR

#include "winograd_template.h"
