/* activation_backward.c — derivative of the fused activations, from their outputs (training). */
#include "mtz_training_kernels.h"
#include "internal.h"

#if MTZ_HAVE_X86
#include <immintrin.h>

/* ReLU / ReLU6 masks, 8 lanes at a time. */
__attribute__((target("avx2,fma")))
static size_t mtz_f32_relu_backward_avx2(size_t n, const float *y, float *dy, int six) {
    const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(6.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(y + i);
        __m256 keep = _mm256_cmp_ps(v, zero, _CMP_GT_OQ);
        if (six) keep = _mm256_and_ps(keep, _mm256_cmp_ps(v, top, _CMP_LT_OQ));
        _mm256_storeu_ps(dy + i, _mm256_and_ps(_mm256_loadu_ps(dy + i), keep));
    }
    return i;
}
#endif

void mtz_activation_backward(mtz_isa isa, size_t n, const float *y, float *dy, mtz_activation act) {
    size_t i = 0;
    switch (act) {
    case MTZ_ACT_RELU:
    case MTZ_ACT_RELU6: {
        const int six = act == MTZ_ACT_RELU6;
#if MTZ_HAVE_X86
        if (isa == MTZ_ISA_AVX2 || isa == MTZ_ISA_AVX512) i = mtz_f32_relu_backward_avx2(n, y, dy, six);
#else
        (void)isa;
#endif
        for (; i < n; i++) {
            const int keep = y[i] > 0.0f && (!six || y[i] < 6.0f);
            dy[i] = keep ? dy[i] : 0.0f;
        }
        break;
    }
    case MTZ_ACT_SIGMOID:
        for (; i < n; i++) dy[i] *= y[i] * (1.0f - y[i]);
        break;
    case MTZ_ACT_TANH:
        for (; i < n; i++) dy[i] *= 1.0f - y[i] * y[i];
        break;
    case MTZ_ACT_NONE:
    default:
        break;
    }
}
