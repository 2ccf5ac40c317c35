/*
 * cache.c — data cache sizes of the running CPU, found once; blocking parameters that should follow
 * the caches (the Winograd tile block) are derived from them. On x86 from CPUID's deterministic cache
 * parameters (leaf 0x8000001D on AMD, leaf 4 on Intel: the same leaves Linux fills sysfs from),
 * elsewhere from Linux sysfs (/sys/devices/system/cpu/cpu0/cache/index<N>/{level,type,size}). Where
 * neither answers, the defaults are Zen 4's L1d/L2/L3: 32 KiB, 1 MiB, 32 MiB.
 *
 * Why not sysfs everywhere: its eleven small files cost ~0.15 ms of system calls in a VM, which was
 * a sixth of loading LeNet-5 (the first Winograd layer asks for the L2 size).
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if MTZ_HAVE_X86
#include <cpuid.h>
#endif

static size_t mtz_cache_bytes[4] = {0, 32u << 10, 1u << 20, 32u << 20};
static pthread_once_t mtz_cache_once = PTHREAD_ONCE_INIT;

/* Parses sysfs sizes such as "32K", "1024K", "32M"; 0 if malformed. */
static size_t mtz_parse_cache_size(const char *s) {
    size_t v = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) v = v * 10 + (size_t)(*s - '0');
    if (!digits) return 0;
    if (*s == 'K') v <<= 10;
    else if (*s == 'M') v <<= 20;
    else if (*s == 'G') v <<= 30;
    return v;
}

/* Reads one small sysfs text file into buf (NUL-terminated, newline removed); 0 on failure. */
static int mtz_read_line(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    const int ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    if (ok) buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

#if MTZ_HAVE_X86
/* Fills mtz_cache_bytes from the deterministic cache parameter leaf `leaf` (0x8000001D or 4);
 * 1 if it described an L2. Size = ways * partitions * line size * sets (all stored minus one). */
static int mtz_cache_from_cpuid(unsigned leaf) {
    int found_l2 = 0;
    for (unsigned sub = 0; sub < 16; sub++) {
        unsigned a, b, c, d;
        __cpuid_count(leaf, sub, a, b, c, d);
        const unsigned type = a & 0x1f, level = (a >> 5) & 0x7;
        if (type == 0) break;     /* no more caches */
        if (type == 2) continue;  /* instruction cache */
        const size_t bytes = (size_t)((b >> 22) + 1) * (((b >> 12) & 0x3ff) + 1) * ((b & 0xfff) + 1) * ((size_t)c + 1);
        if (level >= 1 && level <= 3 && bytes >= 4096) {
            mtz_cache_bytes[level] = bytes;
            found_l2 |= level == 2;
        }
    }
    return found_l2;
}

static int mtz_cache_init_cpuid(void) {
    unsigned max_leaf, b, c, d, a;
    __cpuid(0, max_leaf, b, c, d);
    const int amd = (b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163) || /* AuthenticAMD */
                    (b == 0x6f677948 && d == 0x6e65476e && c == 0x656e6975);   /* HygonGenuine */
    if (amd) {
        unsigned max_ext;
        __cpuid(0x80000000, max_ext, b, c, d);
        if (max_ext < 0x8000001d) return 0;
        __cpuid(0x80000001, a, b, c, d);
        if (!(c & (1u << 22))) return 0; /* TOPOEXT: leaf 0x8000001D is valid */
        return mtz_cache_from_cpuid(0x8000001d);
    }
    return max_leaf >= 4 && mtz_cache_from_cpuid(4);
}
#endif

static void mtz_cache_init(void) {
#if MTZ_HAVE_X86
    if (mtz_cache_init_cpuid()) return;
#endif
#if defined(__linux__)
    for (int i = 0; i < 8; i++) {
        char path[96], level[16], type[32], size[32];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!mtz_read_line(path, level, sizeof level)) break;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!mtz_read_line(path, type, sizeof type) || strcmp(type, "Instruction") == 0) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!mtz_read_line(path, size, sizeof size)) continue;
        const int l = level[0] - '0';
        const size_t bytes = mtz_parse_cache_size(size);
        if (l >= 1 && l <= 3 && level[1] == '\0' && bytes >= 4096) mtz_cache_bytes[l] = bytes;
    }
#endif
}

size_t mtz_cache_size(int level) {
    if (level < 1 || level > 3) return 0;
    pthread_once(&mtz_cache_once, mtz_cache_init);
    return mtz_cache_bytes[level];
}
