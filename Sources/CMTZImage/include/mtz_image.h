/*
 * mtz_image.h — PNG and JPEG decoding from memory into 8-bit interleaved pixels.
 *
 * A thin shim over the system libpng and libjpeg(-turbo). Every library error is caught inside C
 * (setjmp/longjmp never crosses into the caller), turned into an mtz_image_status and a readable
 * message written into a caller-provided buffer. Nothing is printed; nothing calls exit().
 *
 * Output: rows top to bottom, no padding, `channels` bytes per pixel:
 *   1 = gray, 2 = gray + alpha, 3 = RGB, 4 = RGBA.
 * 16-bit samples are scaled to 8 bits (round(v * 255 / 65535)); palettes and low bit depths are
 * expanded; tRNS transparency becomes an alpha channel. No gamma or colour-profile conversion.
 *
 * Memory: on MTZ_IMAGE_OK the decoder has malloc'ed `image->pixels`; release it with
 * mtz_image_free(). On any other status `image->pixels` is NULL and nothing needs freeing; on
 * MTZ_IMAGE_ERROR_TOO_LARGE `image->width` and `image->height` hold the refused dimensions.
 */
#ifndef MTZ_IMAGE_H
#define MTZ_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Result of a decode call. */
typedef enum mtz_image_status {
    MTZ_IMAGE_OK = 0,
    /** A NULL `image` pointer. */
    MTZ_IMAGE_ERROR_INVALID_ARGUMENT = 1,
    /** Zero input bytes. */
    MTZ_IMAGE_ERROR_EMPTY = 2,
    /** The bytes do not start with this decoder's signature. */
    MTZ_IMAGE_ERROR_WRONG_SIGNATURE = 3,
    /** A valid file of a kind this shim does not decode (e.g. CMYK JPEG). */
    MTZ_IMAGE_ERROR_UNSUPPORTED = 4,
    /** The data ends before the image is complete. */
    MTZ_IMAGE_ERROR_TRUNCATED = 5,
    /** The data is malformed (bad CRC, bad compressed stream, bad header, ...). */
    MTZ_IMAGE_ERROR_CORRUPT = 6,
    /** Width or height above MTZ_IMAGE_MAX_SIDE, or more than MTZ_IMAGE_MAX_BYTES of pixels. */
    MTZ_IMAGE_ERROR_TOO_LARGE = 7,
    /** malloc failed. */
    MTZ_IMAGE_ERROR_OUT_OF_MEMORY = 8,
} mtz_image_status;

/** Largest accepted width or height, in pixels. */
#define MTZ_IMAGE_MAX_SIDE 32768u
/** Largest accepted decoded size, width * height * channels, in bytes (256 MiB). */
#define MTZ_IMAGE_MAX_BYTES ((uint64_t)1 << 28)
/** A message buffer of this many bytes holds every message the decoders write. */
#define MTZ_IMAGE_MESSAGE_CAPACITY 256

/** A decoded image: `width * height * channels` bytes at `pixels`, owned by the caller. */
typedef struct mtz_image {
    uint8_t *pixels;
    uint32_t width;
    uint32_t height;
    uint32_t channels;
} mtz_image;

/**
 * Decodes a PNG held in memory.
 *
 * Accepts every PNG colour type and bit depth, interlaced or not. Output channels: 1 (gray),
 * 2 (gray + alpha, or gray with tRNS), 3 (RGB, palette) or 4 (RGBA, palette or RGB with tRNS).
 * `message` (may be NULL) receives a NUL-terminated description on failure, cut to
 * `message_capacity` bytes; it is set to "" on success.
 */
mtz_image_status mtz_png_decode(const uint8_t *data, size_t size, mtz_image *image,
                                char *message, size_t message_capacity);

/**
 * Decodes a JPEG (baseline or progressive) held in memory.
 *
 * Grayscale files give 1 channel; YCbCr and RGB files give 3 channels (RGB). CMYK/YCCK files are
 * refused with MTZ_IMAGE_ERROR_UNSUPPORTED. A truncated file is an error (libjpeg would pad it with
 * grey), and so is corrupt entropy-coded data. Arguments as for mtz_png_decode.
 */
mtz_image_status mtz_jpeg_decode(const uint8_t *data, size_t size, mtz_image *image,
                                 char *message, size_t message_capacity);

/** Releases the pixels of an image returned by a decoder and resets it; NULL-safe. */
static inline void mtz_image_free(mtz_image *image) {
    if (image != NULL) {
        free(image->pixels);
        image->pixels = NULL;
        image->width = 0;
        image->height = 0;
        image->channels = 0;
    }
}

/** 1 if an image of these dimensions is within the decoders' limits, else 0. */
static inline int mtz_image_dimensions_allowed(uint64_t width, uint64_t height, uint64_t channels) {
    if (width == 0 || height == 0 || channels == 0) return 0;
    if (width > MTZ_IMAGE_MAX_SIDE || height > MTZ_IMAGE_MAX_SIDE) return 0;
    return width * height * channels <= MTZ_IMAGE_MAX_BYTES;
}

#ifdef __cplusplus
}
#endif

#endif /* MTZ_IMAGE_H */
