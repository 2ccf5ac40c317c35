/*
 * mtz_crc32.h — CRC-32/IEEE (the zlib, PNG and gzip CRC: reflected polynomial 0xEDB88320) at memory
 * speed, for checking every section of a .mtz file on load.
 *
 * The .mtz reader checks the CRC of every byte it maps, weights included, so the CRC's speed is a
 * large part of the time to load a model. The fastest path the CPU has is taken at run time:
 * carry-less multiplication folding (x86 PCLMULQDQ), the ARMv8 CRC32 instructions, or a portable
 * slicing-by-8 table loop. All give identical results.
 */
#ifndef MTZ_CRC32_H
#define MTZ_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Continues the CRC-32 `crc` of earlier bytes over `count` more bytes, zlib style: pass 0 to start,
 * and the result is the finished CRC of everything so far (crc32("123456789") = 0xCBF43926).
 * `data` may be NULL only when `count` is 0.
 */
uint32_t mtz_crc32(uint32_t crc, const void *data, size_t count);

/* The same with the portable table loop only (for tests and for comparing speeds). */
uint32_t mtz_crc32_portable(uint32_t crc, const void *data, size_t count);

/* Name of the path mtz_crc32 takes on this CPU: "pclmul", "armv8-crc" or "portable". */
const char *mtz_crc32_implementation(void);

#ifdef __cplusplus
}
#endif

#endif
