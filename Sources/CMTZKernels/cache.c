/*
 * cache.c — data cache sizes of the running CPU, read once from Linux sysfs
 * (/sys/devices/system/cpu/cpu0/cache/index<N>/{level,type,size}); blocking parameters that should
 * follow the caches (the Winograd tile block) are derived from them. Where sysfs is missing or
 * unreadable, the defaults are Zen 4's L1d/L2/L3: 32 KiB, 1 MiB, 32 MiB.
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

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

static void mtz_cache_init(void) {
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
