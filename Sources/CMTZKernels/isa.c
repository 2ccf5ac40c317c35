/*
 * isa.c — CPU feature detection and the once-computed ISA selection.
 *
 * mtz_isa_supported() asks the CPU directly (cheap, no caching needed). mtz_isa_selected() picks the
 * best supported ISA, then lets the MTZ_ISA environment variable cap it; the result is computed once
 * per process with pthread_once so every kernel call sees the same choice.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#endif

int mtz_isa_supported(mtz_isa isa) {
    switch (isa) {
    case MTZ_ISA_SCALAR: return 1;
#if MTZ_HAVE_X86 && (defined(__clang__) || defined(__GNUC__))
    case MTZ_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case MTZ_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") != 0;
#endif
#if MTZ_HAVE_NEON
    case MTZ_ISA_NEON:
#if defined(__linux__)
        return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
#else
        return 1; /* Advanced SIMD is mandatory on aarch64 (e.g. Apple platforms). */
#endif
#endif
    default: return 0;
    }
}

const char *mtz_isa_name(mtz_isa isa) {
    switch (isa) {
    case MTZ_ISA_SCALAR: return "scalar";
    case MTZ_ISA_AVX2: return "avx2";
    case MTZ_ISA_AVX512: return "avx512";
    case MTZ_ISA_NEON: return "neon";
    default: return "unknown";
    }
}

int mtz_isa_parse(const char *name, mtz_isa *out) {
    if (name == NULL) return 0;
    for (int i = 0; i < MTZ_ISA_COUNT; i++) {
        if (strcmp(name, mtz_isa_name((mtz_isa)i)) == 0) {
            if (out) *out = (mtz_isa)i;
            return 1;
        }
    }
    return 0;
}

/* Best supported ISA, in order of preference. */
static mtz_isa mtz_isa_best(void) {
    if (mtz_isa_supported(MTZ_ISA_AVX512)) return MTZ_ISA_AVX512;
    if (mtz_isa_supported(MTZ_ISA_AVX2)) return MTZ_ISA_AVX2;
    if (mtz_isa_supported(MTZ_ISA_NEON)) return MTZ_ISA_NEON;
    return MTZ_ISA_SCALAR;
}

mtz_isa mtz_isa_resolve(const char *env_value, const char **error) {
    mtz_isa best = mtz_isa_best();
    if (error) *error = NULL;
    if (env_value == NULL || env_value[0] == '\0') return best;
    mtz_isa wanted;
    if (!mtz_isa_parse(env_value, &wanted)) {
        if (error) *error = "MTZ_ISA: unknown value (expected scalar, avx2, avx512 or neon); ignored";
        return best;
    }
    if (!mtz_isa_supported(wanted)) {
        if (error) *error = "MTZ_ISA: ISA not supported by this CPU or build; ignored";
        return best;
    }
    /* A supported request is never above the best ISA of its family, so it acts as a cap. */
    return wanted;
}

static pthread_once_t mtz_isa_once = PTHREAD_ONCE_INIT;
static mtz_isa mtz_isa_chosen = MTZ_ISA_SCALAR;
static const char *mtz_isa_error = NULL;

static void mtz_isa_init(void) {
    mtz_isa_chosen = mtz_isa_resolve(getenv("MTZ_ISA"), &mtz_isa_error);
}

mtz_isa mtz_isa_selected(void) {
    pthread_once(&mtz_isa_once, mtz_isa_init);
    return mtz_isa_chosen;
}

const char *mtz_isa_env_error(void) {
    pthread_once(&mtz_isa_once, mtz_isa_init);
    return mtz_isa_error;
}
