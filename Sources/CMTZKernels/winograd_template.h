/*
 * winograd_template.h — the Winograd tile transforms of F(4x4, 3x3) and F(2x2, 5x5), written once
 * over a small vector vocabulary and instantiated per ISA by winograd_{scalar,avx2,avx512,neon}.c.
 * Not a header of its own: each includer defines, then includes this file once.
 *
 *   MTZ_WG_SUFFIX(name)   appends the ISA to a function name (e.g. name##_avx2)
 *   MTZ_WG_ATTR           the per-function target attribute (empty for scalar and NEON)
 *   MTZ_WG_TAIL(name)     names the function of a narrower ISA that handles the channels past the
 *                         last full vector (e.g. name##_scalar; undefined for scalar itself)
 *   vec_t, VL             vector type and lanes
 *   V_LOAD(p), V_STORE(p, x), V_SET1(s), V_ZERO(), V_ADD, V_SUB, V_MUL(a, b), V_FMA(a, b, c) = a*b+c,
 *   V_MAX, V_MIN
 *   optional masks: V_MASK_T, V_MASK(n) (the first n < VL lanes), V_LOAD_M(p, m) (zero elsewhere),
 *   V_STORE_M(p, x, m) — with them the last partial vector of channels is one masked chunk instead
 *   of the narrower ISA's functions (AVX-512: LeNet-5's 20 and 50 channels left 4 and 2 to scalar code)
 *
 * The transforms work on vectors of channels (NHWC keeps a pixel's channels contiguous), one 6x6
 * tile at a time, in the Lavin & Gray form with interpolation points 0, ±1, ±2 and infinity. Both
 * algorithms have 6x6 input tiles (m + r - 1 = 6) on the same points, so they share the input
 * transform and differ only in how many outputs the output transform makes:
 *
 *   input   V = Bᵀ d B   with Bᵀ = [4  0 -5  0 1 0;  0 -4 -4  1 1 0;  0  4 -4 -1 1 0;
 *                                   0 -2 -1  2 1 0;  0  2 -1 -2 1 0;  0  4  0 -5 0 1]
 *   output  Y = Aᵀ M A   with Aᵀ = [1 1  1 1  1 0;  0 1 -1 2 -2 0;  0 1 1 4 4 0;  0 1 -1 8 -8 1]
 *                        for F(4,3), and Aᵀ = [1 1 1 1 1 0;  0 1 -1 2 -2 1] for F(2,5)
 *
 * (the weight side, U = G g Gᵀ, is computed once at load time in winograd.c). Every output element
 * goes through the same operations in the same order whatever the ISA's vector width, except that
 * FMA contraction differs between ISAs: results agree across ISAs within the tolerance, not bitwise.
 */

/* One column (or row) of Bᵀ d: six inputs at stride `s` → six outputs at stride `s`. */
#define MTZ_WG_BT6(x0, x1, x2, x3, x4, x5, y0, y1, y2, y3, y4, y5)                                  \
    do {                                                                                              \
        const vec_t m4_ = V_SET1(-4.0f), m5_ = V_SET1(-5.0f), p4_ = V_SET1(4.0f), p2_ = V_SET1(2.0f); \
        const vec_t a_ = V_FMA(x2, m4_, x4);          /* x4 - 4 x2 */                               \
        const vec_t b_ = V_FMA(x1, m4_, x3);          /* x3 - 4 x1 */                               \
        const vec_t c_ = V_SUB(x4, x2);               /* x4 - x2   */                               \
        const vec_t e_ = V_MUL(V_SUB(x3, x1), p2_);   /* 2 (x3 - x1) */                             \
        y0 = V_FMA(x2, m5_, V_FMA(x0, p4_, x4));      /* 4 x0 - 5 x2 + x4 */                        \
        y1 = V_ADD(a_, b_);                                                                           \
        y2 = V_SUB(a_, b_);                                                                           \
        y3 = V_ADD(c_, e_);                                                                           \
        y4 = V_SUB(c_, e_);                                                                           \
        y5 = V_FMA(x3, m5_, V_FMA(x1, p4_, x5));      /* 4 x1 - 5 x3 + x5 */                        \
    } while (0)

/* One column (or row) of Aᵀ m for an M-output tile (M = 4 for F(4,3), 2 for F(2,5)): row k of Aᵀ
 * holds the k-th powers of the finite points 0, 1, -1, 2, -2, plus 1 for infinity in the last row.
 * `x` holds six vectors, `y` receives M. M is a compile-time constant at every use, so the loop
 * unrolls; F(4,3)'s operations are the same, in the same order, as its hand-written form. */
#define MTZ_WG_AT(M, x, y)                                                                            \
    do {                                                                                              \
        const vec_t s12_ = V_ADD((x)[1], (x)[2]), d12_ = V_SUB((x)[1], (x)[2]);                       \
        const vec_t s34_ = V_ADD((x)[3], (x)[4]), d34_ = V_SUB((x)[3], (x)[4]);                       \
        (y)[0] = V_ADD(V_ADD((x)[0], s12_), s34_);                                                    \
        for (size_t k_ = 1; k_ < (M); k_++)                                                           \
            (y)[k_] = k_ % 2 ? V_FMA(d34_, V_SET1((float)(1u << k_)), d12_)                            \
                             : V_FMA(s34_, V_SET1((float)(1u << k_)), s12_);                           \
        (y)[(M)-1] = V_ADD((y)[(M)-1], (x)[5]);                                                       \
    } while (0)

/*
 * Input transform of one 6x6 tile for channels [0, channels): rows[i] points at input row i of the
 * tile (NULL when that row lies in the padding), column j reads pixel col0 + j when it lies in
 * [0, in_w) (else zero), pixels `pixel_stride` floats apart. Writes V[ξ][c] at v + ξ*v_stride + c,
 * ξ = 6*row + column.
 */
MTZ_WG_ATTR void MTZ_WG_SUFFIX(mtz_f32_wino6_input)(const float *const rows[6], long col0, size_t in_w,
                                                     size_t pixel_stride, size_t channels, float *v,
                                                     size_t v_stride) {
/* One vector of channels at c: d[i][j] = LOAD(i, j), t = Bᵀ d (by columns), V = t B (by rows). */
#define MTZ_WG_INPUT_CHUNK(LOAD, STORE)                                                                \
    do {                                                                                              \
        vec_t t[6][6];                                                                                \
        for (size_t j = 0; j < 6; j++) {                                                              \
            vec_t d[6];                                                                               \
            for (size_t i = 0; i < 6; i++) d[i] = LOAD(i, j);                                         \
            MTZ_WG_BT6(d[0], d[1], d[2], d[3], d[4], d[5], t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], \
                       t[5][j]);                                                                      \
        }                                                                                             \
        for (size_t i = 0; i < 6; i++) {                                                              \
            vec_t r[6];                                                                               \
            MTZ_WG_BT6(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5], r[0], r[1], r[2], r[3],   \
                       r[4], r[5]);                                                                   \
            for (size_t j = 0; j < 6; j++) STORE(v + (6 * i + j) * v_stride + c, r[j]);               \
        }                                                                                             \
    } while (0)
    size_t c = 0;
    int interior = col0 >= 0 && col0 + 6 <= (long)in_w;
    for (size_t i = 0; i < 6; i++) interior = interior && rows[i] != NULL;
    if (interior) { /* the whole patch is inside the input: plain row + column offsets */
        const float *r[6];
        for (size_t i = 0; i < 6; i++) r[i] = rows[i] + (size_t)col0 * pixel_stride;
#define MTZ_WG_LOAD_INTERIOR(i, j) V_LOAD(r[i] + (j) * pixel_stride + c)
        for (; c + VL <= channels; c += VL) MTZ_WG_INPUT_CHUNK(MTZ_WG_LOAD_INTERIOR, V_STORE);
#undef MTZ_WG_LOAD_INTERIOR
#ifdef V_MASK_T
        if (c < channels) {
            const V_MASK_T mask = V_MASK(channels - c);
#define MTZ_WG_LOAD_INTERIOR_M(i, j) V_LOAD_M(r[i] + (j) * pixel_stride + c, mask)
#define MTZ_WG_STORE_M(p, x) V_STORE_M(p, x, mask)
            MTZ_WG_INPUT_CHUNK(MTZ_WG_LOAD_INTERIOR_M, MTZ_WG_STORE_M);
#undef MTZ_WG_LOAD_INTERIOR_M
            c = channels;
        }
#endif
    } else { /* at an edge: padding taps read as zero */
        const float *cols[6][6]; /* pixel pointers; NULL where the tap is padding */
        for (size_t i = 0; i < 6; i++)
            for (size_t j = 0; j < 6; j++) {
                const long x = col0 + (long)j;
                cols[i][j] = rows[i] && x >= 0 && x < (long)in_w ? rows[i] + (size_t)x * pixel_stride : NULL;
            }
#define MTZ_WG_LOAD_EDGE(i, j) (cols[i][j] ? V_LOAD(cols[i][j] + c) : V_ZERO())
        for (; c + VL <= channels; c += VL) MTZ_WG_INPUT_CHUNK(MTZ_WG_LOAD_EDGE, V_STORE);
#undef MTZ_WG_LOAD_EDGE
#ifdef V_MASK_T
        if (c < channels) {
            const V_MASK_T mask = V_MASK(channels - c);
#define MTZ_WG_LOAD_EDGE_M(i, j) (cols[i][j] ? V_LOAD_M(cols[i][j] + c, mask) : V_ZERO())
            MTZ_WG_INPUT_CHUNK(MTZ_WG_LOAD_EDGE_M, MTZ_WG_STORE_M);
#undef MTZ_WG_LOAD_EDGE_M
#undef MTZ_WG_STORE_M
            c = channels;
        }
#endif
    }
#undef MTZ_WG_INPUT_CHUNK
#ifdef MTZ_WG_TAIL
    if (c < channels) {
        const float *tail_rows[6];
        for (size_t i = 0; i < 6; i++) tail_rows[i] = rows[i] ? rows[i] + c : NULL;
        MTZ_WG_TAIL(mtz_f32_wino6_input)(tail_rows, col0, in_w, pixel_stride, channels - c, v + c, v_stride);
    }
#endif
}

/*
 * Output transform of one tile of M x M outputs for channels [0, channels): reads M[ξ][c] at
 * m + ξ*m_stride + c, computes Y = Aᵀ M A + bias[c] (+ the existing output when accumulate), applies
 * `act` and writes output row i (0..M-1) at out_rows[i] (NULL: past the bottom edge, not written),
 * columns [0, cols) at pixel stride `pixel_stride`. Instantiated for F(4,3) (M = 4) and F(2,5) (M = 2).
 */
/* One vector of channels at c: LD(p) loads, ST(p, x) stores, N channels valid (for sigmoid/tanh). */
#define MTZ_WG_OUTPUT_CHUNK(M, LD, ST, N)                                                             \
    do {                                                                                              \
        vec_t t[M][6];                                                                                \
        for (size_t j = 0; j < 6; j++) { /* columns: t = Aᵀ M */                                      \
            vec_t x[6], y[M];                                                                         \
            for (size_t i = 0; i < 6; i++) x[i] = LD(m + (6 * i + j) * m_stride + c);                 \
            MTZ_WG_AT(M, x, y);                                                                       \
            for (size_t i = 0; i < (M); i++) t[i][j] = y[i];                                          \
        }                                                                                             \
        const vec_t b = bias ? LD(bias + c) : V_ZERO();                                               \
        for (size_t i = 0; i < (M); i++) { /* rows: Y = t A */                                        \
            if (!out_rows[i]) break;                                                                  \
            vec_t y[M];                                                                               \
            MTZ_WG_AT(M, t[i], y);                                                                    \
            for (size_t j = 0; j < cols; j++) {                                                       \
                float *o = out_rows[i] + j * pixel_stride + c;                                        \
                vec_t r = V_ADD(y[j], b);                                                             \
                if (accumulate) r = V_ADD(r, LD(o));                                                  \
                if (act == MTZ_ACT_RELU) r = V_MAX(r, V_ZERO());                                      \
                else if (act == MTZ_ACT_RELU6) r = V_MIN(V_MAX(r, V_ZERO()), V_SET1(6.0f));           \
                ST(o, r);                                                                             \
                if (act == MTZ_ACT_SIGMOID || act == MTZ_ACT_TANH) mtz_act_rows_scalar(o, 1, (N), 0, act); \
            }                                                                                         \
        }                                                                                             \
    } while (0)

#ifdef V_MASK_T
/* The last partial vector of channels as one masked chunk. */
#define MTZ_WG_OUTPUT_MASKED(M)                                                                       \
    if (c < channels) {                                                                               \
        const V_MASK_T mask = V_MASK(channels - c);                                                   \
        MTZ_WG_OUTPUT_CHUNK(M, MTZ_WG_LOAD_M, MTZ_WG_STORE_M, channels - c);                          \
        c = channels;                                                                                 \
    }
#define MTZ_WG_LOAD_M(p) V_LOAD_M(p, mask)
#define MTZ_WG_STORE_M(p, x) V_STORE_M(p, x, mask)
#else
#define MTZ_WG_OUTPUT_MASKED(M)
#endif

/*
 * Output transform of one tile of M x M outputs for channels [0, channels): reads M[ξ][c] at
 * m + ξ*m_stride + c, computes Y = Aᵀ M A + bias[c] (+ the existing output when accumulate), applies
 * `act` and writes output row i (0..M-1) at out_rows[i] (NULL: past the bottom edge, not written),
 * columns [0, cols) at pixel stride `pixel_stride`. Instantiated for F(4,3) (M = 4) and F(2,5) (M = 2).
 */
#define MTZ_WG_DEFINE_OUTPUT(NAME, M, TAIL)                                                           \
    MTZ_WG_ATTR void MTZ_WG_SUFFIX(NAME)(const float *m, size_t m_stride, const float *bias,          \
                                         float *const out_rows[M], size_t cols, size_t pixel_stride,  \
                                         size_t channels, int accumulate, mtz_activation act) {       \
        size_t c = 0;                                                                                 \
        for (; c + VL <= channels; c += VL) MTZ_WG_OUTPUT_CHUNK(M, V_LOAD, V_STORE, VL);              \
        MTZ_WG_OUTPUT_MASKED(M)                                                                       \
        MTZ_WG_OUTPUT_TAIL(TAIL, M)                                                                   \
    }

#ifdef MTZ_WG_TAIL
#define MTZ_WG_OUTPUT_TAIL(TAIL, M)                                                                   \
    if (c < channels) {                                                                               \
        float *tail_rows[M];                                                                          \
        for (size_t i = 0; i < (M); i++) tail_rows[i] = out_rows[i] ? out_rows[i] + c : NULL;         \
        TAIL(m + c, m_stride, bias ? bias + c : NULL, tail_rows, cols, pixel_stride, channels - c, accumulate, act); \
    }
#else
#define MTZ_WG_OUTPUT_TAIL(TAIL, M)
#endif

MTZ_WG_DEFINE_OUTPUT(mtz_f32_wino43_output, 4, MTZ_WG_TAIL(mtz_f32_wino43_output))
MTZ_WG_DEFINE_OUTPUT(mtz_f32_wino25_output, 2, MTZ_WG_TAIL(mtz_f32_wino25_output))

#undef MTZ_WG_OUTPUT_TAIL
#undef MTZ_WG_OUTPUT_MASKED
#undef MTZ_WG_OUTPUT_CHUNK
#undef MTZ_WG_DEFINE_OUTPUT
#undef MTZ_WG_AT
