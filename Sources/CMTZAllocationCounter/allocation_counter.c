/* Test-only allocation counter; see the header. */
#include "mtz_allocation_counter.h"

#include <stddef.h>
#include <errno.h>

/* Under AddressSanitizer or ThreadSanitizer the sanitizer runtime owns malloc and free; a second
 * interposer would hand its pointers to glibc (and glibc's to the sanitizer), so in sanitized
 * builds the counter reports itself unsupported and the allocation tests skip themselves. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MTZ_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MTZ_SANITIZED 1
#endif

#if defined(__GLIBC__) && defined(__linux__) && !defined(MTZ_SANITIZED)

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *ptr);

static _Thread_local int counting;
static _Thread_local long count;

static inline void note(void) {
    if (counting) count++;
}

void *malloc(size_t size) {
    note();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    note();
    return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size) {
    note();
    return __libc_realloc(ptr, size);
}

void free(void *ptr) { __libc_free(ptr); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    note();
    void *p = __libc_memalign(alignment, size);
    if (!p && size) return ENOMEM;
    *out = p;
    return 0;
}

int mtz_allocation_counting_supported(void) { return 1; }
void mtz_allocation_counting_begin(void) { count = 0; counting = 1; }
long mtz_allocation_counting_end(void) { counting = 0; return count; }

#else

int mtz_allocation_counting_supported(void) { return 0; }
void mtz_allocation_counting_begin(void) {}
long mtz_allocation_counting_end(void) { return 0; }

#endif
