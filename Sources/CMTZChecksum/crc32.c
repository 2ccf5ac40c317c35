/*
 * crc32.c — CRC-32/IEEE: portable slicing-by-8, x86 carry-less multiplication folding, ARMv8 CRC32.
 *
 * Notation: the "raw" register is the CRC state without zlib's pre/post inversion; mtz_crc32()
 * inverts on entry and exit, every helper below works on raw values.
 */
#include "mtz_crc32.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define MTZ_CRC_X86 1
#include <immintrin.h>
#endif

#if defined(__aarch64__) && defined(__linux__)
#define MTZ_CRC_ARM 1
#include <arm_acle.h>
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif

/* The polynomial in reflected bit order (bit 31 - m holds the coefficient of x^m). */
#define MTZ_CRC_POLY_REFLECTED 0xEDB88320u

/* ---- Portable: slicing-by-8 ------------------------------------------------------------------- */

/* table[k][n]: contribution of byte value n followed by k zero bytes. Built once (pthread_once). */
static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int bit = 0; bit < 8; bit++) c = (c & 1) ? (MTZ_CRC_POLY_REFLECTED ^ (c >> 1)) : (c >> 1);
        table[0][n] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int n = 0; n < 256; n++) table[k][n] = (table[k - 1][n] >> 8) ^ table[0][table[k - 1][n] & 0xFF];
}

static uint32_t load_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t raw_portable(uint32_t c, const unsigned char *p, size_t n) {
    pthread_once(&table_once, build_table);
    for (; n >= 8; p += 8, n -= 8) {
        uint32_t lo = load_le32(p) ^ c, hi = load_le32(p + 4);
        c = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^ table[4][lo >> 24]
          ^ table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF] ^ table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
    }
    for (; n > 0; p++, n--) c = table[0][(c ^ *p) & 0xFF] ^ (c >> 8);
    return c;
}

uint32_t mtz_crc32_portable(uint32_t crc, const void *data, size_t count) {
    return ~raw_portable(~crc, data, count);
}

/* ---- x86: folding with PCLMULQDQ -------------------------------------------------------------- */
#if MTZ_CRC_X86
/*
 * A message M is a polynomial over GF(2); its CRC is M(x)·x^32 mod P. Folding replaces a 16-byte
 * block A that lies D bits before a later block B by A(x)·x^D mod P, added into B: the CRC stays the
 * same and the message gets shorter. With A's two 64-bit halves L (the higher powers, first in
 * memory) and H, A(x)·x^D = L(x)·x^(64+D) + H(x)·x^D, and x^k mod P is a 32-bit constant. In the
 * reflected order a carry-less product lands one bit lower than the block's own bit order, so the
 * constants are taken one power lower: x^(64+D-1) and x^(D-1). They are computed, not tabulated.
 */

/* x^k mod P, reflected into 64 bits: the coefficient of x^m at bit 63 - m. */
static uint64_t power_mod_p(unsigned k) {
    uint64_t r = 1; /* normal order: bit m holds x^m */
    for (unsigned i = 0; i < k; i++) {
        r <<= 1;
        if (r & (1ull << 32)) r ^= 0x104C11DB7ull;
    }
    uint64_t reflected = 0;
    for (int m = 0; m < 32; m++)
        if ((r >> m) & 1) reflected |= 1ull << (63 - m);
    return reflected;
}

static pthread_once_t constants_once = PTHREAD_ONCE_INIT;
static uint64_t fold512[2], fold128[2];

static void build_constants(void) {
    fold512[0] = power_mod_p(64 + 512 - 1); fold512[1] = power_mod_p(512 - 1);
    fold128[0] = power_mod_p(64 + 128 - 1); fold128[1] = power_mod_p(128 - 1);
}

__attribute__((target("pclmul,sse4.1")))
static inline __m128i fold(__m128i a, __m128i k, __m128i into) {
    return _mm_xor_si128(into, _mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00), _mm_clmulepi64_si128(a, k, 0x11)));
}

__attribute__((target("pclmul,sse4.1")))
static uint32_t raw_pclmul(uint32_t c, const unsigned char *p, size_t n) {
    if (n < 64) return raw_portable(c, p, n);
    pthread_once(&constants_once, build_constants);
    const __m128i k512 = _mm_set_epi64x((long long)fold512[1], (long long)fold512[0]);
    const __m128i k128 = _mm_set_epi64x((long long)fold128[1], (long long)fold128[0]);

    /* The start value enters as an XOR into the first four bytes; from then on the register is 0. */
    __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)c));
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    p += 64; n -= 64;
    /* Four independent chains hide the multiplier's latency. */
    for (; n >= 64; p += 64, n -= 64) {
        x0 = fold(x0, k512, _mm_loadu_si128((const __m128i *)p));
        x1 = fold(x1, k512, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = fold(x2, k512, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = fold(x3, k512, _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    /* Merge the chains, then take remaining whole blocks one at a time. */
    __m128i x = fold(fold(fold(x0, k128, x1), k128, x2), k128, x3);
    for (; n >= 16; p += 16, n -= 16) x = fold(x, k128, _mm_loadu_si128((const __m128i *)p));

    /* x has the CRC of everything folded so far (from a zero register); finish with the table. */
    unsigned char rest[16];
    _mm_storeu_si128((__m128i *)rest, x);
    return raw_portable(raw_portable(0, rest, 16), p, n);
}

static int have_pclmul(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}
#endif

/* ---- ARMv8: the CRC32 instructions compute exactly this CRC --------------------------------- */
#if MTZ_CRC_ARM
__attribute__((target("crc")))
static uint32_t raw_armv8(uint32_t c, const unsigned char *p, size_t n) {
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8); /* little-endian host: the bytes in stream order */
        c = __crc32d(c, v);
    }
    for (; n > 0; p++, n--) c = __crc32b(c, *p);
    return c;
}

static int have_armv8_crc(void) { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }
#endif

/* ---- Dispatch ------------------------------------------------------------------------------ */

typedef uint32_t (*raw_crc_fn)(uint32_t, const unsigned char *, size_t);

static raw_crc_fn chosen;
static const char *chosen_name;
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static void choose(void) {
    chosen = raw_portable;
    chosen_name = "portable";
#if MTZ_CRC_X86
    if (have_pclmul()) { chosen = raw_pclmul; chosen_name = "pclmul"; }
#endif
#if MTZ_CRC_ARM
    if (have_armv8_crc()) { chosen = raw_armv8; chosen_name = "armv8-crc"; }
#endif
}

uint32_t mtz_crc32(uint32_t crc, const void *data, size_t count) {
    pthread_once(&choose_once, choose);
    return ~chosen(~crc, data, count);
}

const char *mtz_crc32_implementation(void) {
    pthread_once(&choose_once, choose);
    return chosen_name;
}
