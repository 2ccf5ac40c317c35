/*
 * Test-only: counts heap allocations made by the calling thread, by interposing malloc, calloc,
 * realloc and posix_memalign in the process that links this target (glibc only: the real
 * allocator is reached through glibc's __libc_* entry points). Never link it into a product.
 * In builds with AddressSanitizer or ThreadSanitizer nothing is interposed (the sanitizer owns
 * the allocator) and mtz_allocation_counting_supported() returns 0.
 */
#ifndef MTZ_ALLOCATION_COUNTER_H
#define MTZ_ALLOCATION_COUNTER_H

#ifdef __cplusplus
extern "C" {
#endif

/** 1 if allocations can be counted on this platform, else 0. */
int mtz_allocation_counting_supported(void);

/** Starts counting the calling thread's allocations from zero. */
void mtz_allocation_counting_begin(void);

/** Stops counting and returns the number of allocations the calling thread made since begin. */
long mtz_allocation_counting_end(void);

#ifdef __cplusplus
}
#endif

#endif
