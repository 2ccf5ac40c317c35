/*
 * peak.c — single-thread FMA peak: a register-resident loop of 12 independent FMA chains with the
 * widest vectors of each ISA (12 chains cover 2 pipes x 4-cycle latency with margin), timed with
 * CLOCK_MONOTONIC. acc = acc * m + d with m slightly below 1 keeps values bounded and normal.
 */
#include "internal.h"

#include <string.h>
#include <time.h>

#if MTZ_HAVE_X86
#include <immintrin.h>
#endif
#if MTZ_HAVE_NEON
#include <arm_neon.h>
#endif

enum { MTZ_PEAK_CHUNK = 1 << 18 }; /* loop iterations between clock reads */

static double mtz_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Each peak loop runs `iters` iterations of 12 FMAs and returns a sum that depends on all chains. */
typedef float (*mtz_peak_loop)(size_t iters);

static float mtz_peak_scalar(size_t iters) {
    volatile float seed = 0.999999f;
    const float m = seed, d = 1e-6f;
    float r[12];
    for (int j = 0; j < 12; j++) r[j] = (float)j;
    for (size_t i = 0; i < iters; i++)
        for (int j = 0; j < 12; j++) r[j] = r[j] * m + d;
    float s = 0.0f;
    for (int j = 0; j < 12; j++) s += r[j];
    return s;
}

#if MTZ_HAVE_X86
#define MTZ_PEAK_LOOP(NAME, TARGET, VEC, SET1, FMA, ADD, LANES)                                  \
    __attribute__((target(TARGET))) static float NAME(size_t iters) {                            \
        volatile float seed = 0.999999f;                                                          \
        const VEC m = SET1(seed), d = SET1(1e-6f);                                               \
        VEC r0 = SET1(0.f), r1 = SET1(1.f), r2 = SET1(2.f), r3 = SET1(3.f), r4 = SET1(4.f);      \
        VEC r5 = SET1(5.f), r6 = SET1(6.f), r7 = SET1(7.f), r8 = SET1(8.f), r9 = SET1(9.f);      \
        VEC r10 = SET1(10.f), r11 = SET1(11.f);                                                  \
        for (size_t i = 0; i < iters; i++) {                                                      \
            r0 = FMA(r0, m, d); r1 = FMA(r1, m, d); r2 = FMA(r2, m, d); r3 = FMA(r3, m, d);      \
            r4 = FMA(r4, m, d); r5 = FMA(r5, m, d); r6 = FMA(r6, m, d); r7 = FMA(r7, m, d);      \
            r8 = FMA(r8, m, d); r9 = FMA(r9, m, d); r10 = FMA(r10, m, d); r11 = FMA(r11, m, d);  \
        }                                                                                         \
        VEC s = ADD(ADD(ADD(r0, r1), ADD(r2, r3)), ADD(ADD(r4, r5), ADD(r6, r7)));               \
        s = ADD(s, ADD(ADD(r8, r9), ADD(r10, r11)));                                             \
        float out[LANES];                                                                         \
        memcpy(out, &s, sizeof out);                                                              \
        return out[0];                                                                            \
    }
MTZ_PEAK_LOOP(mtz_peak_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8)
MTZ_PEAK_LOOP(mtz_peak_avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16)
#endif

#if MTZ_HAVE_NEON
static float mtz_peak_neon(size_t iters) {
    volatile float seed = 0.999999f;
    const float32x4_t m = vdupq_n_f32(seed), d = vdupq_n_f32(1e-6f);
    float32x4_t r[12];
    for (int j = 0; j < 12; j++) r[j] = vdupq_n_f32((float)j);
    for (size_t i = 0; i < iters; i++)
        for (int j = 0; j < 12; j++) r[j] = vfmaq_f32(d, r[j], m);
    float32x4_t s = r[0];
    for (int j = 1; j < 12; j++) s = vaddq_f32(s, r[j]);
    return vgetq_lane_f32(s, 0);
}
#endif

double mtz_measure_fma_peak_gflops(mtz_isa isa, double seconds) {
    if (!mtz_isa_supported(isa)) return 0.0;
    mtz_peak_loop loop = mtz_peak_scalar;
    double lanes = 1.0;
    switch (isa) {
#if MTZ_HAVE_X86
    case MTZ_ISA_AVX2: loop = mtz_peak_avx2; lanes = 8.0; break;
    case MTZ_ISA_AVX512: loop = mtz_peak_avx512; lanes = 16.0; break;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON: loop = mtz_peak_neon; lanes = 4.0; break;
#endif
    default: break;
    }
    if (seconds <= 0.0) seconds = 0.01;

    volatile float sink = loop(MTZ_PEAK_CHUNK / 16); /* warm up (clock ramp, page in the code) */
    /* Report the best chunk rate: the machine may be shared, the best chunk is closest to peak. */
    double best = 0.0;
    const double start = mtz_now_seconds();
    double t0 = start;
    do {
        sink = loop(MTZ_PEAK_CHUNK);
        const double t1 = mtz_now_seconds();
        const double rate = (double)MTZ_PEAK_CHUNK * 12.0 * lanes * 2.0 / (t1 - t0) * 1e-9;
        if (t1 > t0 && rate > best) best = rate;
        t0 = t1;
    } while (t0 - start < seconds);
    (void)sink;
    return best;
}
