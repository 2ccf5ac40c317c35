/*
 * kernel_check.c — checks every NEON path of CMTZKernels against the scalar ISA on the same inputs.
 *
 * Built for aarch64 and run under qemu-aarch64 by scripts/check-arm64-kernels.sh (or natively on an
 * ARM64 machine). Each "case" runs one kernel call with MTZ_ISA_NEON and with MTZ_ISA_SCALAR on the
 * same seeded random data and passes when
 *  - the results agree within the tolerance stated next to the check (sums: 1e-4 + 1e-5*sqrt(K)*|ref|,
 *    the bound the Swift kernel tests use; Winograd: 1e-4 of the layer's largest output; pooling,
 *    add and activations: exact),
 *  - nothing outside the output view was written (gaps and a guard zone keep their initial values),
 *  - NaN placed in the input gaps never reaches an output (the kernels must not read the gaps),
 *  - where the API promises it, splitting the work (pixel, tile, row or column ranges) gives
 *    bit-identical results to one call, since the runtime splits work across threads that way.
 * Sums are also checked against the library's double-precision reference, so a bug in code shared
 * by both ISAs (the drivers) cannot hide behind an agreement of two wrong answers.
 *
 * The microkernel and the Winograd tile transforms are also called directly (their declarations are
 * in the library's internal.h), so a failure names the smallest piece that is wrong.
 *
 * Usage: kernel_check [--expect-dotprod=0|1] [--expect-fp16=0|1]
 * The options assert what the (emulated) CPU reports, so the script can prove that the cpu models it
 * runs really differ. Prints "N passed, N failed" last; exit status 1 on any failure.
 */
#include "internal.h"
#include "mtz_crc32.h"
#include "mtz_kernels.h"
#include "mtz_training_kernels.h"
#include "mtz_winograd.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

/* ---- results ---------------------------------------------------------------------------------- */

static unsigned passed, failed;
enum { MAX_PRINTED_FAILURES = 30 }; /* a broken kernel fails hundreds of cases; the first few suffice */

/* Counts one case; prints its label and the reason when it failed. */
static void record(int ok, const char *reason, const char *fmt, ...) {
    if (ok) {
        passed++;
        return;
    }
    if (failed++ < MAX_PRINTED_FAILURES) {
        va_list ap;
        va_start(ap, fmt);
        printf("FAIL ");
        vprintf(fmt, ap);
        printf(": %s\n", reason);
        va_end(ap);
    }
}

/* ---- memory and data -------------------------------------------------------------------------- */

/* One bump arena, reset per case: keeps the cases free of malloc/free bookkeeping. */
static float *arena;
static size_t arena_used, arena_cap;

static float *alloc_f(size_t n) {
    n = (n + 15) & ~(size_t)15; /* 64-byte steps keep every buffer 64-byte aligned, like the runtime's */
    if (arena_used + n > arena_cap) {
        fprintf(stderr, "kernel_check: arena too small (%zu floats)\n", arena_used + n);
        exit(2);
    }
    float *p = arena + arena_used;
    arena_used += n;
    return p;
}

static void arena_reset(void) { arena_used = 0; }

static unsigned long long rng_state;

/* splitmix64: tiny, seedable and good enough for test data. */
static unsigned long long rng_next(void) {
    unsigned long long z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float frand(void) { return (float)((double)(rng_next() >> 40) / (double)(1ull << 24) * 2.0 - 1.0); }

static size_t rand_below(size_t n) { return (size_t)(rng_next() % n); }

static float *random_f(size_t n) {
    float *p = alloc_f(n);
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

static float *copy_f(const float *src, size_t n) {
    float *p = alloc_f(n);
    memcpy(p, src, n * sizeof(float));
    return p;
}

/* A [rows][cols] view with row stride ld >= cols; the gaps hold `gap` (NaN for inputs, so a kernel
 * that reads them poisons its output). */
static float *random_view(size_t rows, size_t cols, size_t ld, float gap) {
    float *p = alloc_f(rows * ld);
    for (size_t i = 0; i < rows * ld; i++) p[i] = (i % ld) < cols ? frand() : gap;
    return p;
}

/* Floats after an output view that must stay untouched. */
enum { GUARD = 37 };

/* Initial contents of an output buffer: a [rows][cols] view with row stride ld plus GUARD floats,
 * all random (the view's values matter when accumulating; the rest must survive the call). */
static float *output_init(size_t rows, size_t ld) { return random_f(rows * ld + GUARD); }

/* ---- comparisons ------------------------------------------------------------------------------ */

static char why[256]; /* the reason of the last failed comparison */

/* 1 if |got - want| <= abs_tol + rel_tol * |want| on every element of the [rows][cols] views (row
 * strides ldg, ldw); NaN always fails. */
static int close_view(const float *got, size_t ldg, const float *want, size_t ldw, size_t rows, size_t cols,
                      double abs_tol, double rel_tol, const char *what) {
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            const double g = got[i * ldg + j], w = want[i * ldw + j];
            if (!(fabs(g - w) <= abs_tol + rel_tol * fabs(w))) {
                snprintf(why, sizeof why, "%s [%zu][%zu]: got %.9g, want %.9g (tol %.3g + %.3g*|want|)", what, i,
                         j, g, w, abs_tol, rel_tol);
                return 0;
            }
        }
    return 1;
}

/* The bound for sums of K products of [-1, 1) values, as in Tests/CMTZKernelsTests/GEMMTests.swift:
 * the reordering error of fp32 sums grows like sqrt(K); 1e-4 absolute covers results near zero. */
static int close_sum(const float *got, size_t ldg, const float *want, size_t ldw, size_t rows, size_t cols,
                     size_t k, const char *what) {
    return close_view(got, ldg, want, ldw, rows, cols, 1e-4, 1e-5 * sqrt(k > 0 ? (double)k : 1.0), what);
}

static int exact_view(const float *got, size_t ldg, const float *want, size_t ldw, size_t rows, size_t cols,
                      const char *what) {
    return close_view(got, ldg, want, ldw, rows, cols, 0.0, 0.0, what);
}

static int bitwise_equal(const float *a, const float *b, size_t n, const char *what) {
    if (memcmp(a, b, n * sizeof(float)) == 0) return 1;
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof(float)) != 0) {
            snprintf(why, sizeof why, "%s: element %zu differs (%.9g vs %.9g)", what, i, a[i], b[i]);
            break;
        }
    return 0;
}

/* 1 if every float of buf[0, total) outside the [rows][cols] view (row stride ld) still equals init. */
static int untouched_outside(const float *buf, const float *init, size_t total, size_t rows, size_t cols,
                             size_t ld, const char *what) {
    for (size_t i = 0; i < total; i++) {
        const int inside = i / ld < rows && i % ld < cols;
        if (!inside && memcmp(buf + i, init + i, sizeof(float)) != 0) {
            snprintf(why, sizeof why, "%s wrote outside its view at float %zu", what, i);
            return 0;
        }
    }
    return 1;
}

static float max_abs(const float *p, size_t rows, size_t cols, size_t ld) {
    float m = 0.0f;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) m = fabsf(p[i * ld + j]) > m ? fabsf(p[i * ld + j]) : m;
    return m;
}

static const char *act_name(mtz_activation act) {
    static const char *names[] = {"none", "relu", "relu6", "sigmoid", "tanh"};
    return names[act];
}

/* ---- ISA detection ---------------------------------------------------------------------------- */

static void check_isa(int expect_dotprod, int expect_fp16) {
    unsigned long hwcap = 0;
#if defined(__aarch64__) && defined(__linux__)
    hwcap = getauxval(AT_HWCAP);
#endif
    /* Bit numbers of the Linux arm64 ABI (asm/hwcap.h), spelled out so any libc works. */
    const int asimd = (hwcap >> 1) & 1, fp16 = (hwcap >> 10) & 1, dotprod = (hwcap >> 20) & 1, sve = (hwcap >> 22) & 1;
    printf("cpu features: asimd %d, asimdhp (fp16) %d, asimddp (dot product) %d, sve %d\n", asimd, fp16, dotprod,
           sve);
    printf("selected ISA: %s (MTZ_ISA=%s); NEON GEMM tile %zux%zu\n", mtz_isa_name(mtz_isa_selected()),
           getenv("MTZ_ISA") ? getenv("MTZ_ISA") : "unset", mtz_gemm_mr(MTZ_ISA_NEON), mtz_gemm_nr(MTZ_ISA_NEON));

    /* Without these the NEON cases below would silently run the scalar fallback kernels. */
    record(MTZ_HAVE_NEON, "built without __aarch64__", "isa: NEON compiled in");
    record(mtz_isa_supported(MTZ_ISA_NEON), "mtz_isa_supported(NEON) == 0", "isa: NEON detected");
    record(!mtz_isa_supported(MTZ_ISA_AVX2) && !mtz_isa_supported(MTZ_ISA_AVX512), "an x86 ISA is reported",
           "isa: no x86 ISA on ARM");
    const char *err = NULL;
    record(mtz_isa_resolve(NULL, &err) == MTZ_ISA_NEON && err == NULL, "best ISA is not NEON", "isa: resolve(unset)");
    record(mtz_isa_resolve("scalar", &err) == MTZ_ISA_SCALAR && err == NULL, "cap ignored", "isa: resolve(scalar)");
    record(mtz_isa_resolve("avx2", &err) == MTZ_ISA_NEON && err != NULL, "unsupported request not rejected",
           "isa: resolve(avx2)");
    mtz_isa capped;
    if (getenv("MTZ_ISA") == NULL)
        record(mtz_isa_selected() == MTZ_ISA_NEON, "mtz_isa_selected() is not NEON", "isa: selected");
    else if (mtz_isa_parse(getenv("MTZ_ISA"), &capped) && mtz_isa_supported(capped))
        record(mtz_isa_selected() == capped, "MTZ_ISA cap ignored", "isa: selected with MTZ_ISA");
    if (expect_dotprod >= 0)
        record(dotprod == expect_dotprod, "dot product feature differs from the cpu model's", "isa: dotprod %d",
               expect_dotprod);
    if (expect_fp16 >= 0)
        record(fp16 == expect_fp16, "fp16 feature differs from the cpu model's", "isa: fp16 %d", expect_fp16);

    /* The NEON FMA loop of the peak measurement (KernelBenchmark) runs and reports a rate. */
    record(mtz_measure_fma_peak_gflops(MTZ_ISA_NEON, 0.01) > 0.0, "returned 0", "isa: NEON FMA peak loop");

    /* The comparator itself must reject a wrong value, or every check below would pass vacuously. */
    const float want[2] = {1.0f, 2.0f}, off[2] = {1.0f, 2.001f};
    record(!close_sum(off, 2, want, 2, 1, 2, 100, "self-test"), "accepted a wrong value", "comparator rejects");
}

/* ---- GEMM ------------------------------------------------------------------------------------- */

#if MTZ_HAVE_NEON
/* The 8x8 microkernel against the generic scalar kernel with the same tile, on a strided C tile. */
static void check_microkernel(size_t rows, size_t kc, int load_c, int has_bias, mtz_activation act) {
    enum { MR = 8, NR = 8, LDC = NR + 3 };
    arena_reset();
    const size_t lda = kc + 2;
    const float *a = random_view(rows, kc, lda, NAN);
    const float *b = random_f(kc * NR + 1);
    const float *bias = has_bias ? random_f(NR) : NULL;
    const size_t total = MR * LDC + GUARD;
    const float *init = random_f(total);
    float *c_neon = copy_f(init, total), *c_ref = copy_f(init, total);
    mtz_f32_gemm_8x8_neon(rows, kc, a, lda, b, bias, c_neon, LDC, load_c, act);
    mtz_f32_gemm_generic_scalar(MR, NR, rows, kc, a, lda, b, bias, c_ref, LDC, load_c, act);
    /* Rows past `rows` repeat the last valid row: compared too, they are part of the contract. */
    const int ok = close_sum(c_neon, LDC, c_ref, LDC, MR, NR, kc, "tile") &&
                   untouched_outside(c_neon, init, total, MR, NR, LDC, "microkernel");
    record(ok, why, "ukernel 8x8 rows %zu kc %zu load_c %d bias %d %s", rows, kc, load_c, has_bias, act_name(act));
}
#endif

/* mtz_gemm on NEON vs scalar vs the double reference, with strided A and C; then the two thread
 * splits (rows, whole column panels) must reproduce the one-call result bit for bit. */
static void check_gemm(size_t m, size_t n, size_t k, int has_bias, int accumulate, mtz_activation act) {
    arena_reset();
    const size_t lda = k + (m % 3), ldc = n + (n % 4) + 1;
    const float *a = random_view(m, k, lda > 0 ? lda : 1, NAN);
    const float *w = random_f(n * k + 1);
    const float *bias = has_bias ? random_f(n) : NULL;
    const size_t total = m * ldc + GUARD;
    const float *init = output_init(m, ldc);

    float *pn = alloc_f(mtz_gemm_packed_size(MTZ_ISA_NEON, k, n));
    float *ps = alloc_f(mtz_gemm_packed_size(MTZ_ISA_SCALAR, k, n));
    mtz_gemm_pack(MTZ_ISA_NEON, k, n, w, k, bias, pn);
    mtz_gemm_pack(MTZ_ISA_SCALAR, k, n, w, k, bias, ps);

    float *c_neon = copy_f(init, total), *c_scalar = copy_f(init, total), *c_ref = copy_f(init, total);
    mtz_gemm(MTZ_ISA_NEON, m, n, k, a, lda, pn, c_neon, ldc, accumulate, act);
    mtz_gemm(MTZ_ISA_SCALAR, m, n, k, a, lda, ps, c_scalar, ldc, accumulate, act);
    mtz_gemm_reference(m, n, k, a, lda, w, k, bias, c_ref, ldc, accumulate, act);

    /* Row split at an odd row, column split at a whole panel (callers offset B by panels). */
    const size_t nr = mtz_gemm_nr(MTZ_ISA_NEON), panels = (n + nr - 1) / nr;
    const size_t m_cut = m / 2 | 1, p_cut = panels / 2;
    float *c_rows = copy_f(init, total), *c_cols = copy_f(init, total);
    mtz_gemm(MTZ_ISA_NEON, m_cut < m ? m_cut : m, n, k, a, lda, pn, c_rows, ldc, accumulate, act);
    if (m_cut < m)
        mtz_gemm(MTZ_ISA_NEON, m - m_cut, n, k, a + m_cut * lda, lda, pn, c_rows + m_cut * ldc, ldc, accumulate, act);
    if (p_cut > 0)
        mtz_gemm(MTZ_ISA_NEON, m, p_cut * nr, k, a, lda, pn, c_cols, ldc, accumulate, act);
    mtz_gemm(MTZ_ISA_NEON, m, n - p_cut * nr, k, a, lda, pn + p_cut * mtz_gemm_panel_stride(MTZ_ISA_NEON, k),
             c_cols + p_cut * nr, ldc, accumulate, act);

    const int ok = close_sum(c_neon, ldc, c_scalar, ldc, m, n, k, "neon vs scalar") &&
                   close_sum(c_neon, ldc, c_ref, ldc, m, n, k, "neon vs reference") &&
                   untouched_outside(c_neon, init, total, m, n, ldc, "mtz_gemm") &&
                   bitwise_equal(c_rows, c_neon, total, "row split") &&
                   bitwise_equal(c_cols, c_neon, total, "panel split");
    record(ok, why, "gemm m %zu n %zu k %zu bias %d acc %d %s", m, n, k, has_bias, accumulate, act_name(act));
}

static void check_gemm_all(void) {
#if MTZ_HAVE_NEON
    static const size_t kcs[] = {0, 1, 2, 7, 33};
    for (size_t rows = 1; rows <= 8; rows++)
        for (size_t i = 0; i < sizeof kcs / sizeof kcs[0]; i++)
            for (int v = 0; v < 4; v++)
                check_microkernel(rows, kcs[i], v & 1, v >> 1, (mtz_activation)((rows + i + (size_t)v) % 5));
#endif
    /* Edge tiles around NEON's 8x8 (and scalar's 4x4): below, at and above the tile sizes. */
    static const size_t ms[] = {1, 2, 7, 8, 9, 17, 40};
    static const size_t ns[] = {1, 5, 8, 9, 16, 23};
    static const size_t ks[] = {0, 1, 3, 8, 13, 96};
    unsigned variant = 0;
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
            for (size_t l = 0; l < sizeof ks / sizeof ks[0]; l++, variant++)
                check_gemm(ms[i], ns[j], ks[l], (variant / 5) % 2, (variant / 2) % 2, (mtz_activation)(variant % 5));
    /* Large K crosses the driver's K block (384): the later blocks reload C in the microkernel.
     * M = 200 crosses the M block (96 rows); N = 70 leaves a 6-column edge panel. */
    check_gemm(9, 17, 384, 1, 0, MTZ_ACT_NONE);
    check_gemm(9, 17, 385, 1, 1, MTZ_ACT_RELU);
    check_gemm(16, 8, 769, 0, 0, MTZ_ACT_RELU6);
    check_gemm(3, 24, 1500, 1, 1, MTZ_ACT_SIGMOID);
    check_gemm(200, 70, 64, 1, 0, MTZ_ACT_TANH);
    check_gemm(1, 300, 200, 1, 0, MTZ_ACT_RELU); /* a fully connected layer: single row */
    /* Seeded random shapes, for the sizes the lists above do not name; one in ten has two K blocks. */
    for (int i = 0; i < 300; i++) {
        const size_t m = 1 + rand_below(70), n = 1 + rand_below(70);
        const size_t k = rand_below(10) == 0 ? 385 + rand_below(400) : rand_below(100);
        check_gemm(m, n, k, (int)rand_below(2), (int)rand_below(2), (mtz_activation)rand_below(5));
    }
}

/* ---- convolution ------------------------------------------------------------------------------ */

typedef struct conv_case {
    size_t h, w, ic, oc, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups;
} conv_case;

/* Fills p from c, with gaps after the input and output pixels (strided views); 0 if invalid. */
static int conv_params(const conv_case *c, mtz_conv2d_params *p) {
    memset(p, 0, sizeof *p);
    const size_t eh = (c->kh - 1) * c->dh + 1, ew = (c->kw - 1) * c->dw + 1;
    if (c->h + c->pt + c->pb < eh || c->w + c->pl + c->pr < ew) return 0;
    p->in_h = c->h, p->in_w = c->w, p->in_c = c->ic, p->in_pixel_stride = c->ic + 3;
    p->out_h = (c->h + c->pt + c->pb - eh) / c->sh + 1, p->out_w = (c->w + c->pl + c->pr - ew) / c->sw + 1;
    p->out_c = c->oc, p->out_pixel_stride = c->oc + 2;
    p->kernel_h = c->kh, p->kernel_w = c->kw, p->stride_h = c->sh, p->stride_w = c->sw;
    p->dilation_h = c->dh, p->dilation_w = c->dw, p->pad_top = c->pt, p->pad_left = c->pl;
    p->groups = c->groups;
    return mtz_conv2d_params_valid(p);
}

#define CONV_FMT "%zux%zux%zu->%zu k%zux%zu s%zu,%zu d%zu,%zu pad %zu,%zu,%zu,%zu g%zu"
#define CONV_ARGS(c) \
    (c)->h, (c)->w, (c)->ic, (c)->oc, (c)->kh, (c)->kw, (c)->sh, (c)->sw, (c)->dh, (c)->dw, (c)->pt, (c)->pl, (c)->pb, (c)->pr, (c)->groups

/* Starts a case on geometry c: resets the arena and fills p; a geometry the library rejects is a
 * bug in this file, counted as a failure of the case named `what`. */
static int start_case(const conv_case *c, const char *what, mtz_conv2d_params *p) {
    arena_reset();
    if (conv_params(c, p)) return 1;
    record(0, "invalid geometry (bad test case)", "%s " CONV_FMT, what, CONV_ARGS(c));
    return 0;
}

/* Runs mtz_conv2d for `isa` over pixels [begin, end) with freshly packed weights. */
static void run_conv(mtz_isa isa, const mtz_conv2d_params *p, const float *in, const float *w, const float *bias,
                     float *out, size_t begin, size_t end, int accumulate, mtz_activation act) {
    float *packed = alloc_f(mtz_conv2d_packed_size(isa, p));
    mtz_conv2d_pack(isa, p, w, bias, packed);
    float *ws = alloc_f(mtz_conv2d_workspace_size(isa, p) + 1);
    mtz_conv2d(isa, p, in, packed, out, ws, begin, end, accumulate, act);
}

/* Grouped convolution, im2col or 1x1 direct path (chosen by the library from the geometry). */
static void check_conv(const conv_case *c, int accumulate, mtz_activation act) {
    mtz_conv2d_params p;
    if (!start_case(c, "conv", &p)) return;
    const size_t pixels = p.out_h * p.out_w, k = c->kh * c->kw * c->ic / c->groups;
    const float *in = random_view(c->h * c->w, c->ic, p.in_pixel_stride, NAN);
    const float *w = random_f(c->oc * k), *bias = random_f(c->oc);
    const size_t total = pixels * p.out_pixel_stride + GUARD;
    const float *init = output_init(pixels, p.out_pixel_stride);
    float *o_neon = copy_f(init, total), *o_scalar = copy_f(init, total), *o_ref = copy_f(init, total);
    float *o_split = copy_f(init, total);
    run_conv(MTZ_ISA_NEON, &p, in, w, bias, o_neon, 0, pixels, accumulate, act);
    run_conv(MTZ_ISA_SCALAR, &p, in, w, bias, o_scalar, 0, pixels, accumulate, act);
    mtz_conv2d_reference(&p, in, w, bias, o_ref, accumulate, act);
    /* Three pixel ranges, cut mid-row, as threads would. */
    const size_t cut1 = pixels / 3, cut2 = 2 * pixels / 3 + 1 < pixels ? 2 * pixels / 3 + 1 : pixels;
    run_conv(MTZ_ISA_NEON, &p, in, w, bias, o_split, 0, cut1, accumulate, act);
    run_conv(MTZ_ISA_NEON, &p, in, w, bias, o_split, cut1, cut2, accumulate, act);
    run_conv(MTZ_ISA_NEON, &p, in, w, bias, o_split, cut2, pixels, accumulate, act);
    const size_t ops = p.out_pixel_stride;
    const int ok = close_sum(o_neon, ops, o_scalar, ops, pixels, c->oc, k, "neon vs scalar") &&
                   close_sum(o_neon, ops, o_ref, ops, pixels, c->oc, k, "neon vs reference") &&
                   untouched_outside(o_neon, init, total, pixels, c->oc, ops, "mtz_conv2d") &&
                   bitwise_equal(o_split, o_neon, total, "pixel split");
    record(ok, why, "conv " CONV_FMT " acc %d %s", CONV_ARGS(c), accumulate, act_name(act));
}

static const conv_case conv_cases[] = {
    /*  h   w  ic  oc kh kw sh sw dh dw pt pl pb pr groups */
    {6, 7, 5, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},     /* 1x1 direct: A is the strided input */
    {5, 5, 6, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 3},     /* 1x1 direct, grouped */
    {9, 8, 16, 24, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},   /* 1x1 direct, full NEON tiles */
    {7, 7, 4, 8, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1},     /* strided 1x1: im2col */
    {9, 11, 3, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* 3x3 same, K = 27 */
    {10, 10, 8, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},  /* stride 2 */
    {6, 9, 16, 8, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},    /* valid */
    {8, 7, 4, 12, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},    /* 5x5 */
    {15, 15, 3, 10, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1},  /* 7x7/2 stem */
    {9, 9, 5, 7, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1},     /* dilation 2 */
    {7, 6, 4, 5, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1},     /* 3x1 */
    {5, 8, 4, 6, 1, 3, 1, 2, 1, 1, 0, 1, 0, 0, 1},     /* 1x3, stride (1, 2), asymmetric padding */
    {8, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},     /* grouped */
    {9, 9, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 4},     /* grouped, strided */
    {6, 6, 64, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* K = 576: two K blocks */
    {40, 40, 3, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* 1600 pixels: several im2col blocks */
    {1, 1, 5, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},     /* one pixel, all taps but one padded */
    {4, 5, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 12},  /* depthwise geometry on the GEMM path */
};

/* A random window geometry (channels and groups left at 0 for the caller): kernels up to 5x5,
 * strides up to 3, dilation 1 or 2, each padding smaller than the dilated window, inputs up to
 * 12x12 but never smaller than the window minus the padding. */
static conv_case random_geometry(void) {
    conv_case c;
    memset(&c, 0, sizeof c);
    c.kh = 1 + rand_below(5), c.kw = 1 + rand_below(5);
    c.sh = 1 + rand_below(3), c.sw = 1 + rand_below(3);
    c.dh = 1 + (rand_below(4) == 0), c.dw = 1 + (rand_below(4) == 0);
    const size_t eh = (c.kh - 1) * c.dh + 1, ew = (c.kw - 1) * c.dw + 1;
    c.pt = rand_below(eh), c.pb = rand_below(eh), c.pl = rand_below(ew), c.pr = rand_below(ew);
    const size_t min_h = eh > c.pt + c.pb ? eh - c.pt - c.pb : 1, min_w = ew > c.pl + c.pr ? ew - c.pl - c.pr : 1;
    c.h = min_h + rand_below(12), c.w = min_w + rand_below(12);
    return c;
}

/* ---- depthwise convolution -------------------------------------------------------------------- */

/* Depthwise: 4-pixel interior kernel, single-pixel border kernel, channel blocks 16/4/tail. */
static void check_dwconv(const conv_case *c, int accumulate, mtz_activation act) {
    mtz_conv2d_params p;
    if (!start_case(c, "dwconv", &p)) return;
    const size_t pixels = p.out_h * p.out_w, C = c->ic, taps = c->kh * c->kw;
    const float *in = random_view(c->h * c->w, C, p.in_pixel_stride, NAN);
    const float *w = random_f(C * taps), *bias = random_f(C);
    float *packed = alloc_f(mtz_dwconv2d_packed_size(&p));
    mtz_dwconv2d_pack(&p, w, bias, packed);
    const size_t total = pixels * p.out_pixel_stride + GUARD;
    const float *init = output_init(pixels, p.out_pixel_stride);
    float *o_neon = copy_f(init, total), *o_scalar = copy_f(init, total), *o_ref = copy_f(init, total);
    float *o_split = copy_f(init, total);
    mtz_dwconv2d(MTZ_ISA_NEON, &p, in, packed, o_neon, 0, pixels, accumulate, act);
    mtz_dwconv2d(MTZ_ISA_SCALAR, &p, in, packed, o_scalar, 0, pixels, accumulate, act);
    mtz_conv2d_reference(&p, in, w, bias, o_ref, accumulate, act);
    /* Odd cut points break runs of four pixels differently from the one-call run. */
    const size_t cut1 = pixels / 3 | 1, cut2 = pixels - pixels / 4;
    mtz_dwconv2d(MTZ_ISA_NEON, &p, in, packed, o_split, 0, cut1 < pixels ? cut1 : pixels, accumulate, act);
    if (cut1 < cut2) mtz_dwconv2d(MTZ_ISA_NEON, &p, in, packed, o_split, cut1, cut2, accumulate, act);
    mtz_dwconv2d(MTZ_ISA_NEON, &p, in, packed, o_split, cut2 > cut1 ? cut2 : cut1, pixels, accumulate, act);
    const size_t ops = p.out_pixel_stride;
    const int ok = close_sum(o_neon, ops, o_scalar, ops, pixels, C, taps, "neon vs scalar") &&
                   close_sum(o_neon, ops, o_ref, ops, pixels, C, taps, "neon vs reference") &&
                   untouched_outside(o_neon, init, total, pixels, C, ops, "mtz_dwconv2d") &&
                   bitwise_equal(o_split, o_neon, total, "pixel split");
    record(ok, why, "dwconv " CONV_FMT " acc %d %s", CONV_ARGS(c), accumulate, act_name(act));
}

static void check_conv_all(void) {
    unsigned variant = 0;
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        for (int acc = 0; acc < 2; acc++, variant++)
            check_conv(&conv_cases[i], acc, (mtz_activation)(variant % 5));

    /* Seeded random geometries: any kernel size, stride, dilation, padding and grouping. */
    for (int i = 0; i < 80; i++) {
        conv_case c = random_geometry();
        static const size_t groups[] = {1, 1, 1, 2, 3};
        c.groups = groups[rand_below(5)];
        c.ic = c.groups * (1 + rand_below(8));
        c.oc = c.groups * (1 + rand_below(10));
        check_conv(&c, (int)rand_below(2), (mtz_activation)rand_below(5));
        c.ic = c.oc = c.groups = 1 + rand_below(40);
        check_dwconv(&c, (int)rand_below(2), (mtz_activation)rand_below(5));
    }

    /* Channel counts around NEON's blocks of 16 and 4; widths with and without 4-pixel runs. */
    static const size_t channels[] = {1, 3, 4, 5, 16, 17, 20, 35};
    static const conv_case geoms[] = {
        /* h  w  C  C kh kw sh sw dh dw pt pl pb pr  (groups = C, set below) */
        {7, 9, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
        {8, 13, 0, 0, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 0},
        {9, 10, 0, 0, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0},
        {9, 11, 0, 0, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 0},
        {3, 2, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0}, /* narrower than a run of four */
        {6, 12, 0, 0, 3, 3, 1, 2, 1, 1, 0, 1, 0, 1, 0},
    };
    variant = 0;
    for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++)
        for (size_t g = 0; g < sizeof geoms / sizeof geoms[0]; g++, variant++) {
            conv_case c = geoms[g];
            c.ic = c.oc = c.groups = channels[i];
            check_dwconv(&c, (variant / 5) % 2, (mtz_activation)(variant % 5));
        }
}

/* ---- Winograd F(4,3) and F(2,5) -------------------------------------------------------------------------- */

#if MTZ_HAVE_NEON
/* The NEON tile transforms against the scalar instantiation of the same template. Transformed
 * values are sums of up to 36 terms with coefficients up to 25 (input) or 64 (output) that cancel,
 * so the bound is relative to the largest value of the tile: 1e-5 * max|want| (fp32 rounding of
 * such sums is ~1e-6 of it; a wrong coefficient or lane is >= 1e-2 of it). */
static void check_wino_input(size_t channels, long col0, unsigned null_rows) {
    arena_reset();
    const size_t in_w = 7, ps = channels + 2, v_stride = channels + 1;
    const float *img = random_view(6 * in_w, channels, ps, NAN);
    const float *rows[6];
    for (size_t i = 0; i < 6; i++) rows[i] = (null_rows >> i) & 1 ? NULL : img + i * in_w * ps;
    const size_t total = 36 * v_stride + GUARD;
    const float *init = random_f(total);
    float *v_neon = copy_f(init, total), *v_scalar = copy_f(init, total);
    mtz_f32_wino6_input_neon(rows, col0, in_w, ps, channels, v_neon, v_stride);
    mtz_f32_wino6_input_scalar(rows, col0, in_w, ps, channels, v_scalar, v_stride);
    const double tol = 1e-5 * max_abs(v_scalar, 36, channels, v_stride);
    const int ok = close_view(v_neon, v_stride, v_scalar, v_stride, 36, channels, tol, 0.0, "V") &&
                   untouched_outside(v_neon, init, total, 36, channels, v_stride, "input transform");
    record(ok, why, "winograd input transform c %zu col0 %ld padded rows 0x%02x", channels, col0, null_rows);
}

/* tile: 4 for F(4,3)'s output transform, 2 for F(2,5)'s; out_rows and cols at most `tile`. */
static void check_wino_output(size_t tile, size_t channels, size_t cols, size_t out_rows, int has_bias,
                              int accumulate, mtz_activation act) {
    arena_reset();
    const size_t m_stride = channels + 3, ps = channels + 2, row_floats = 4 * ps;
    const float *m = random_view(36, channels, m_stride, NAN);
    const float *bias = has_bias ? random_f(channels) : NULL;
    const size_t total = 4 * row_floats + GUARD;
    const float *init = random_f(total);
    float *o_neon = copy_f(init, total), *o_scalar = copy_f(init, total);
    float *rn[4], *rs[4];
    for (size_t i = 0; i < 4; i++) {
        rn[i] = i < out_rows ? o_neon + i * row_floats : NULL;
        rs[i] = i < out_rows ? o_scalar + i * row_floats : NULL;
    }
    if (tile == 4) {
        mtz_f32_wino43_output_neon(m, m_stride, bias, rn, cols, ps, channels, accumulate, act);
        mtz_f32_wino43_output_scalar(m, m_stride, bias, rs, cols, ps, channels, accumulate, act);
    } else {
        mtz_f32_wino25_output_neon(m, m_stride, bias, rn, cols, ps, channels, accumulate, act);
        mtz_f32_wino25_output_scalar(m, m_stride, bias, rs, cols, ps, channels, accumulate, act);
    }
    /* Written: out_rows rows of `cols` pixels of `channels` floats, i.e. a view with row stride ps. */
    const double tol = 1e-5 * max_abs(o_scalar, out_rows * 4, channels, ps);
    int ok = 1;
    for (size_t i = 0; i < out_rows && ok; i++)
        ok = close_view(o_neon + i * row_floats, ps, o_scalar + i * row_floats, ps, cols, channels, tol, 0.0, "Y");
    for (size_t i = 0; i < total && ok; i++) {
        const size_t r = i / row_floats, px = i % row_floats / ps, ch = i % ps;
        if (!(r < out_rows && px < cols && ch < channels) && memcmp(o_neon + i, init + i, sizeof(float)) != 0) {
            snprintf(why, sizeof why, "output transform wrote outside its tile at float %zu", i);
            ok = 0;
        }
    }
    record(ok, why, "winograd F(%zu,%d) output transform c %zu cols %zu rows %zu bias %d acc %d %s", tile,
           tile == 4 ? 3 : 5, channels, cols, out_rows, has_bias, accumulate, act_name(act));
}
#endif

/* A whole Winograd layer on NEON against the double reference, the NEON GEMM convolution and the
 * scalar Winograd, with the tolerance of Tests/CMTZKernelsTests/WinogradTests.swift: 1e-4 of the
 * layer's largest output (Winograd's rounding error scales with the layer's magnitude, not with each
 * element), 2e-4 between two fp32 results; then the tile split and the output-channel split (whole
 * NR panels) must be bit-identical to one call. */
static void check_winograd(const conv_case *c, int accumulate, mtz_activation act) {
    mtz_conv2d_params p;
    if (!start_case(c, "winograd", &p)) return;
    if (!mtz_winograd_eligible(&p)) {
        record(0, "not a Winograd geometry (bad test case)", "winograd " CONV_FMT, CONV_ARGS(c));
        return;
    }
    const size_t pixels = p.out_h * p.out_w, ops = p.out_pixel_stride;
    const float *in = random_view(c->h * c->w, c->ic, p.in_pixel_stride, NAN);
    const float *w = random_f(c->oc * c->kh * c->kw * c->ic), *bias = random_f(c->oc);
    const size_t total = pixels * ops + GUARD;
    const float *init = output_init(pixels, ops);
    float *o_neon = copy_f(init, total), *o_scalar = copy_f(init, total), *o_gemm = copy_f(init, total);
    float *o_tiles = copy_f(init, total), *o_cols = copy_f(init, total);

    const mtz_isa isas[2] = {MTZ_ISA_NEON, MTZ_ISA_SCALAR};
    float *outs[2] = {o_neon, o_scalar};
    float *packed_neon = NULL, *ws_neon = NULL;
    for (int i = 0; i < 2; i++) {
        float *packed = alloc_f(mtz_winograd_packed_size(isas[i], &p));
        mtz_winograd_pack(isas[i], &p, w, bias, packed);
        float *ws = alloc_f(mtz_winograd_workspace_size(isas[i], &p));
        mtz_conv2d_winograd(isas[i], &p, in, packed, outs[i], ws, 0, mtz_winograd_tiles(&p), 0, c->oc, accumulate,
                            act);
        if (i == 0) packed_neon = packed, ws_neon = ws;
    }
    run_conv(MTZ_ISA_NEON, &p, in, w, bias, o_gemm, 0, pixels, accumulate, act);

    const size_t tiles = mtz_winograd_tiles(&p), cut = tiles / 3 + (tiles > 1);
    mtz_conv2d_winograd(MTZ_ISA_NEON, &p, in, packed_neon, o_tiles, ws_neon, 0, cut, 0, c->oc, accumulate, act);
    mtz_conv2d_winograd(MTZ_ISA_NEON, &p, in, packed_neon, o_tiles, ws_neon, cut, tiles, 0, c->oc, accumulate, act);
    const size_t nr = mtz_gemm_nr(MTZ_ISA_NEON);
    for (size_t oc = 0; oc < c->oc; oc += nr)
        mtz_conv2d_winograd(MTZ_ISA_NEON, &p, in, packed_neon, o_cols, ws_neon, 0, tiles, oc, oc + nr, accumulate,
                            act);

    /* The magnitude is taken before the activation (the error arises in the sums; every activation
     * is 1-Lipschitz, so it cannot grow the error, but sigmoid/tanh shrink the outputs). */
    float *linear = copy_f(init, total), *o_ref = copy_f(init, total);
    mtz_conv2d_reference(&p, in, w, bias, linear, accumulate, MTZ_ACT_NONE);
    mtz_conv2d_reference(&p, in, w, bias, o_ref, accumulate, act);
    const float mag = max_abs(linear, pixels, c->oc, ops);
    const double tol = 1e-4 * (mag > 1e-3f ? mag : 1e-3f);
    /* Two fp32 results, each within tol of the exact one, are within 2 tol of each other. */
    const int ok = close_view(o_neon, ops, o_ref, ops, pixels, c->oc, tol, 0.0, "winograd vs reference") &&
                   close_view(o_neon, ops, o_gemm, ops, pixels, c->oc, 2 * tol, 0.0, "winograd vs gemm conv") &&
                   close_view(o_neon, ops, o_scalar, ops, pixels, c->oc, 2 * tol, 0.0, "neon vs scalar winograd") &&
                   untouched_outside(o_neon, init, total, pixels, c->oc, ops, "mtz_conv2d_winograd") &&
                   bitwise_equal(o_tiles, o_neon, total, "tile split") &&
                   bitwise_equal(o_cols, o_neon, total, "output-channel split");
    record(ok, why, "winograd " CONV_FMT " acc %d %s", CONV_ARGS(c), accumulate, act_name(act));
}

static void check_winograd_all(void) {
    unsigned variant = 0;
#if MTZ_HAVE_NEON
    static const size_t channels[] = {1, 3, 4, 5, 8, 13};
    static const long col0s[] = {-2, 0, 1, 3}; /* left padding, interior, interior, right edge (in_w 7) */
    static const unsigned null_rows[] = {0x00, 0x01, 0x30, 0x3F};
    for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++)
        for (size_t j = 0; j < sizeof col0s / sizeof col0s[0]; j++)
            for (size_t r = 0; r < sizeof null_rows / sizeof null_rows[0]; r++)
                check_wino_input(channels[i], col0s[j], null_rows[r]);
    for (size_t tile = 2; tile <= 4; tile += 2)
        for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++)
            for (size_t cols = 1; cols <= tile; cols++, variant++)
                check_wino_output(tile, channels[i], cols, tile - variant % tile, variant % 3 != 0, (variant / 2) % 2,
                                  (mtz_activation)(variant % 5));
#endif
    static const conv_case cases[] = {
        /* h   w  ic  oc kh kw sh sw dh dw pt pl pb pr g */
        {4, 4, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {5, 7, 3, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    /* partial tiles, channel tails */
        {6, 9, 4, 8, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},    /* valid padding */
        {3, 3, 2, 3, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},    /* a 1x1 output */
        {7, 6, 5, 20, 3, 3, 1, 1, 1, 1, 1, 0, 0, 1, 1},   /* asymmetric padding */
        {13, 11, 17, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {8, 8, 64, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* in_c 64: longer GEMM sums */
        {9, 10, 130, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {48, 48, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* 144 tiles: more than one tile block */
        /* F(2,5) */
        {28, 28, 1, 20, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1}, /* LeNet-5 conv1 */
        {12, 12, 20, 50, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1}, /* LeNet-5 conv2 */
        {7, 9, 3, 5, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},    /* odd sizes: partial 2x2 tiles */
        {5, 5, 2, 3, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1},    /* a 1x1 output */
        {6, 8, 17, 9, 5, 5, 1, 1, 1, 1, 4, 0, 0, 3, 1},   /* one-sided padding */
        {9, 10, 130, 16, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},
    };
    variant = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int acc = 0; acc < 2; acc++, variant++) check_winograd(&cases[i], acc, (mtz_activation)(variant % 5));
    /* Seeded random layers, 3x3 and 5x5: sizes that are not multiples of the tile, any padding up to
     * kernel - 1. */
    for (int i = 0; i < 40; i++) {
        const size_t k = i % 2 ? 5 : 3;
        conv_case c = {0, 0, 1 + rand_below(40), 1 + rand_below(40), k, k, 1, 1, 1, 1, rand_below(k), rand_below(k),
                       rand_below(k), rand_below(k), 1};
        c.h = 1 + rand_below(14) + (c.pt + c.pb < k - 1 ? k - 1 - c.pt - c.pb : 0);
        c.w = 1 + rand_below(14) + (c.pl + c.pr < k - 1 ? k - 1 - c.pl - c.pr : 0);
        check_winograd(&c, (int)rand_below(2), (mtz_activation)rand_below(5));
    }
}

/* ---- pooling ---------------------------------------------------------------------------------- */

/* Pooling visits taps in the same order on every ISA with IEEE max/add, so the results must be
 * identical (random inputs have no NaN or signed zeros, where NEON's vmaxq differs from the scalar
 * "take src if src > acc": see the comment in pool.c). */
static void check_pool(const conv_case *c, int kind /* 0 max, 1 avg, 2 avg incl. pad */) {
    mtz_conv2d_params p;
    if (!start_case(c, "pool", &p)) return;
    const size_t pixels = p.out_h * p.out_w, ops = p.out_pixel_stride, C = c->ic;
    const float *in = random_view(c->h * c->w, C, p.in_pixel_stride, NAN);
    const size_t total = pixels * ops + GUARD;
    const float *init = random_f(total);
    float *o_neon = copy_f(init, total), *o_scalar = copy_f(init, total);
    if (kind == 0) {
        mtz_maxpool2d(MTZ_ISA_NEON, &p, in, o_neon, 0, pixels);
        mtz_maxpool2d(MTZ_ISA_SCALAR, &p, in, o_scalar, 0, pixels);
    } else {
        mtz_avgpool2d(MTZ_ISA_NEON, &p, in, o_neon, 0, pixels, kind == 2);
        mtz_avgpool2d(MTZ_ISA_SCALAR, &p, in, o_scalar, 0, pixels, kind == 2);
    }
    const int ok = exact_view(o_neon, ops, o_scalar, ops, pixels, C, "neon vs scalar") &&
                   untouched_outside(o_neon, init, total, pixels, C, ops, "pooling");
    record(ok, why, "%s " CONV_FMT, kind == 0 ? "maxpool" : kind == 1 ? "avgpool" : "avgpool(incl. pad)",
           CONV_ARGS(c));
}

static void check_global_pool(size_t pixels, size_t channels) {
    arena_reset();
    const size_t stride = channels + 3;
    const float *in = random_view(pixels, channels, stride, NAN);
    const float *init = random_f(channels + GUARD);
    float *o_neon = copy_f(init, channels + GUARD), *o_scalar = copy_f(init, channels + GUARD);
    mtz_global_avgpool(MTZ_ISA_NEON, pixels, channels, in, stride, o_neon);
    mtz_global_avgpool(MTZ_ISA_SCALAR, pixels, channels, in, stride, o_scalar);
    const int ok = exact_view(o_neon, channels, o_scalar, channels, 1, channels, "neon vs scalar") &&
                   untouched_outside(o_neon, init, channels + GUARD, 1, channels, channels, "global pooling");
    record(ok, why, "global avgpool %zu pixels x %zu channels", pixels, channels);
}

static void check_pool_all(void) {
    static const size_t channels[] = {1, 3, 4, 7, 16, 300 /* > the 256-float chunk */};
    static const conv_case geoms[] = {
        /* h  w  C  C kh kw sh sw dh dw pt pl pb pr */
        {8, 8, 0, 0, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0},
        {7, 9, 0, 0, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0},
        {5, 6, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
        {9, 7, 0, 0, 3, 2, 3, 2, 1, 1, 0, 1, 2, 0, 0},
    };
    for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++)
        for (size_t g = 0; g < sizeof geoms / sizeof geoms[0]; g++) {
            conv_case c = geoms[g];
            c.ic = c.oc = c.groups = channels[i];
            for (int kind = 0; kind < 3; kind++) check_pool(&c, kind);
        }
    static const size_t gp[] = {1, 5, 49};
    for (size_t i = 0; i < sizeof gp / sizeof gp[0]; i++)
        for (size_t j = 0; j < sizeof channels / sizeof channels[0]; j++) check_global_pool(gp[i], channels[j]);
}

/* ---- element-wise ----------------------------------------------------------------------------- */

/* add / activate: one IEEE operation then the same clamp or the scalar sigmoid/tanh: exact.
 * scale_shift: NEON fuses x*s + t into one FMA, scalar code may round twice: 1e-6 * (1 + |ref|). */
static void check_elementwise(size_t pixels, size_t channels, mtz_activation act) {
    arena_reset();
    const size_t as = channels + 1, bs = channels + 2, os = channels + 3, total = pixels * os + GUARD;
    /* Scaled to [-8, 8) so ReLU6 clips on both sides. */
    float *a = random_view(pixels, channels, as, NAN), *b = random_view(pixels, channels, bs, NAN);
    for (size_t i = 0; i < pixels * as; i++) a[i] *= 8.0f;
    const float *scale = random_f(channels), *shift = random_f(channels);
    const float *init = random_f(total);
    float *add_n = copy_f(init, total), *add_s = copy_f(init, total);
    float *act_n = copy_f(init, total), *act_s = copy_f(init, total);
    float *ss_n = copy_f(init, total), *ss_s = copy_f(init, total);
    mtz_add(MTZ_ISA_NEON, pixels, channels, a, as, b, bs, add_n, os, act);
    mtz_add(MTZ_ISA_SCALAR, pixels, channels, a, as, b, bs, add_s, os, act);
    mtz_activate(MTZ_ISA_NEON, pixels, channels, a, as, act_n, os, act);
    mtz_activate(MTZ_ISA_SCALAR, pixels, channels, a, as, act_s, os, act);
    mtz_scale_shift(MTZ_ISA_NEON, pixels, channels, a, as, scale, shift, ss_n, os);
    mtz_scale_shift(MTZ_ISA_SCALAR, pixels, channels, a, as, scale, shift, ss_s, os);
    /* In place: out aliases a exactly (the runtime's residual add). */
    float *inplace = copy_f(a, pixels * as);
    mtz_add(MTZ_ISA_NEON, pixels, channels, inplace, as, b, bs, inplace, as, act);
    const int ok = exact_view(add_n, os, add_s, os, pixels, channels, "add") &&
                   untouched_outside(add_n, init, total, pixels, channels, os, "mtz_add") &&
                   exact_view(act_n, os, act_s, os, pixels, channels, "activate") &&
                   untouched_outside(act_n, init, total, pixels, channels, os, "mtz_activate") &&
                   close_view(ss_n, os, ss_s, os, pixels, channels, 1e-6, 1e-6, "scale_shift") &&
                   untouched_outside(ss_n, init, total, pixels, channels, os, "mtz_scale_shift") &&
                   exact_view(inplace, as, add_s, os, pixels, channels, "in-place add");
    record(ok, why, "elementwise %zu x %zu %s", pixels, channels, act_name(act));
}

/* Softmax has no NEON code (scalar for every ISA): the same bits are expected. */
static void check_softmax(size_t n) {
    arena_reset();
    float *x = random_f(n);
    for (size_t i = 0; i < n; i++) x[i] *= 20.0f;
    float *yn = alloc_f(n), *ys = alloc_f(n);
    mtz_softmax(MTZ_ISA_NEON, n, x, yn);
    mtz_softmax(MTZ_ISA_SCALAR, n, x, ys);
    record(bitwise_equal(yn, ys, n, "softmax"), why, "softmax n %zu", n);
}

static void check_elementwise_all(void) {
    static const size_t channels[] = {1, 3, 4, 5, 8, 13, 33};
    for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++)
        for (int act = 0; act < 5; act++) check_elementwise(3, channels[i], (mtz_activation)act);
    check_softmax(1);
    check_softmax(7);
    check_softmax(1000);
}

/* ---- training kernels ------------------------------------------------------------------------- */

/* The training kernels have no NEON code; what they share with NEON is the GEMM panel layout
 * (mtz_gemm_pack_kn with NR = 8 feeds the NEON microkernel) and the ISA argument of
 * mtz_activation_backward, which must fall back to the scalar rule exactly. */
static void check_pack_kn(size_t k, size_t n, int has_bias) {
    arena_reset();
    const size_t ldb = n + 2;
    const float *b = random_view(k, n, ldb, 1234.5f), *bias = has_bias ? random_f(n) : NULL;
    float *w = alloc_f(n * k + 1); /* B transposed: the [N][K] layout mtz_gemm_pack takes */
    for (size_t p = 0; p < k; p++)
        for (size_t j = 0; j < n; j++) w[j * k + p] = b[p * ldb + j];
    const size_t size = mtz_gemm_packed_size(MTZ_ISA_NEON, k, n);
    float *kn = alloc_f(size), *nk = alloc_f(size);
    mtz_gemm_pack_kn(MTZ_ISA_NEON, k, n, b, ldb, bias, kn);
    mtz_gemm_pack(MTZ_ISA_NEON, k, n, w, k, bias, nk);
    record(bitwise_equal(kn, nk, size, "pack_kn vs pack"), why, "gemm_pack_kn (NEON layout) k %zu n %zu bias %d", k,
           n, has_bias);
}

static void check_activation_backward(size_t n, mtz_activation act) {
    arena_reset();
    float *y = random_f(n);
    for (size_t i = 0; i < n; i++) y[i] = act == MTZ_ACT_SIGMOID ? 0.5f + 0.5f * y[i] : 4.0f * y[i] + 3.0f;
    const float *dy = random_f(n);
    float *dn = copy_f(dy, n), *ds = copy_f(dy, n);
    mtz_activation_backward(MTZ_ISA_NEON, n, y, dn, act);
    mtz_activation_backward(MTZ_ISA_SCALAR, n, y, ds, act);
    record(bitwise_equal(dn, ds, n, "dy"), why, "activation_backward n %zu %s", n, act_name(act));
}

static void check_training_all(void) {
    static const size_t ns[] = {1, 7, 8, 9, 17, 33};
    static const size_t ks[] = {0, 1, 5};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) check_pack_kn(ks[j], ns[i], (int)((i + j) % 2));
    for (int act = 0; act < 5; act++) {
        check_activation_backward(5, (mtz_activation)act);
        check_activation_backward(67, (mtz_activation)act);
    }
}

/* ---- fully connected layers (mtz_gemv) -------------------------------------------------------- */

/* The NEON dot-product rows (4 rows x 8 floats per step, scalar tail past the last 8) against the
 * scalar ISA and the double reference, with the GEMM bound (K-term sums); a split of the outputs
 * (callers offset w, bias and y by rows) must be bit-identical to one call. */
static void check_gemv(size_t n, size_t k, int has_bias, int accumulate, mtz_activation act) {
    arena_reset();
    const size_t ldw = k + (n % 3);
    const float *x = random_f(k), *w = random_view(n, k, ldw > 0 ? ldw : 1, NAN);
    const float *bias = has_bias ? random_f(n) : NULL;
    const float *init = output_init(1, n);
    const size_t total = n + GUARD, cut = n / 2 | 1;
    float *yn = copy_f(init, total), *ys = copy_f(init, total), *yr = copy_f(init, total);
    float *split = copy_f(init, total);
    mtz_gemv(MTZ_ISA_NEON, n, k, x, w, ldw, bias, yn, accumulate, act);
    mtz_gemv(MTZ_ISA_SCALAR, n, k, x, w, ldw, bias, ys, accumulate, act);
    mtz_gemm_reference(1, n, k, x, k, w, ldw, bias, yr, n, accumulate, act);
    const size_t first = cut < n ? cut : n;
    mtz_gemv(MTZ_ISA_NEON, first, k, x, w, ldw, bias, split, accumulate, act);
    mtz_gemv(MTZ_ISA_NEON, n - first, k, x, w + first * ldw, ldw, bias ? bias + first : NULL, split + first,
             accumulate, act);
    const int ok = close_sum(yn, n, ys, n, 1, n, k, "neon vs scalar") &&
                   close_sum(yn, n, yr, n, 1, n, k, "neon vs reference") &&
                   untouched_outside(yn, init, total, 1, n, n, "mtz_gemv") &&
                   bitwise_equal(split, yn, total, "output split");
    record(ok, why, "gemv n %zu k %zu bias %d acc %d %s", n, k, has_bias, accumulate, act_name(act));
}

static void check_gemv_all(void) {
    static const size_t ns[] = {1, 3, 4, 5, 8, 9, 17};
    static const size_t ks[] = {0, 1, 7, 8, 9, 16, 17, 100, 1000};
    unsigned variant = 0;
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++, variant++)
            check_gemv(ns[i], ks[j], (variant / 5) % 2, (variant / 2) % 2, (mtz_activation)(variant % 5));
}

/* ---- CRC-32 (Sources/CMTZChecksum) ------------------------------------------------------------ */

/* Not a NEON kernel, but the other ARM-only code: the ARMv8 CRC32 instructions, taken when the CPU
 * reports HWCAP_CRC32 (every qemu model does; the portable path is checked through
 * mtz_crc32_portable). Results must be identical for any length, alignment and chunking. */
static void check_crc32_all(void) {
    unsigned long hwcap = 0;
#if defined(__aarch64__) && defined(__linux__)
    hwcap = getauxval(AT_HWCAP);
#endif
    arena_reset();
    const char *want_impl = (hwcap >> 7) & 1 ? "armv8-crc" : "portable";
    record(strcmp(mtz_crc32_implementation(), want_impl) == 0, mtz_crc32_implementation(),
           "crc32: implementation is %s", want_impl);
    record(mtz_crc32(0, "123456789", 9) == 0xCBF43926u, "wrong check value", "crc32: check value 0xCBF43926");

    enum { MAX_LEN = 4096 + 13 };
    unsigned char *bytes = (unsigned char *)alloc_f(MAX_LEN / 4 + 4);
    for (size_t i = 0; i < MAX_LEN + 8; i++) bytes[i] = (unsigned char)(rng_next() >> 56);
    static const size_t lens[] = {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 4096, MAX_LEN};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
        for (size_t off = 0; off < 8; off += 3) { /* misaligned starts */
            const unsigned char *d = bytes + off;
            const size_t n = lens[l], cut = n / 3;
            const uint32_t want = mtz_crc32_portable(0, d, n);
            const uint32_t whole = mtz_crc32(0, d, n);
            const uint32_t chunked = mtz_crc32(mtz_crc32(0, d, cut), d + cut, n - cut);
            char msg[96];
            snprintf(msg, sizeof msg, "got %08x (chunked %08x), portable %08x", (unsigned)whole, (unsigned)chunked,
                     (unsigned)want);
            record(whole == want && chunked == want, msg, "crc32: %zu bytes at offset %zu", n, off);
        }
}

/* ---- main ------------------------------------------------------------------------------------- */

static int flag_value(const char *arg, const char *name) {
    const size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0 || (arg[len] != '0' && arg[len] != '1') || arg[len + 1] != '\0') return -1;
    return arg[len] - '0';
}

int main(int argc, char **argv) {
    int expect_dotprod = -1, expect_fp16 = -1;
    for (int i = 1; i < argc; i++) {
        int v;
        if ((v = flag_value(argv[i], "--expect-dotprod=")) >= 0) expect_dotprod = v;
        else if ((v = flag_value(argv[i], "--expect-fp16=")) >= 0) expect_fp16 = v;
        else {
            fprintf(stderr, "usage: %s [--expect-dotprod=0|1] [--expect-fp16=0|1]\n", argv[0]);
            return 2;
        }
    }
    arena_cap = (size_t)16 << 20; /* 64 MiB: the largest case (Winograd, in_c 130) needs a few MiB */
    arena = malloc(arena_cap * sizeof(float));
    if (!arena) return 2;
    rng_state = 20261127; /* fixed seed: a failure reproduces exactly */

    struct {
        const char *name;
        void (*run)(void);
    } groups[] = {
        {"gemm", check_gemm_all},
        {"conv2d / dwconv2d", check_conv_all},
        {"winograd", check_winograd_all},
        {"pooling", check_pool_all},
        {"elementwise", check_elementwise_all},
        {"training", check_training_all},
        {"gemv", check_gemv_all},
        {"crc32", check_crc32_all},
    };
    check_isa(expect_dotprod, expect_fp16);
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        const unsigned before = passed + failed, failed_before = failed;
        groups[g].run();
        printf("%-18s %4u cases, %u failed\n", groups[g].name, passed + failed - before, failed - failed_before);
    }
    free(arena);
    if (failed > MAX_PRINTED_FAILURES) printf("(%u more failures not shown)\n", failed - MAX_PRINTED_FAILURES);
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
