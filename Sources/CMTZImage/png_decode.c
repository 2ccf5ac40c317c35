/*
 * png_decode.c — PNG from memory through the system libpng.
 *
 * libpng reports errors by calling an error function that must not return; ours records a status
 * and message and longjmps back to mtz_png_decode_guarded(). All state that changes after setjmp
 * lives in an mtz_png_session owned by the caller of that function, so it is well defined after
 * the jump.
 */
#include "mtz_image.h"

#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/** Everything one decode call needs; owned by mtz_png_decode's frame. */
typedef struct mtz_png_session {
    const uint8_t *data;
    size_t size;
    size_t offset;
    mtz_image_status status;
    char *message;
    size_t message_capacity;
    uint8_t *pixels;
    png_bytep *rows;
    uint32_t width;
    uint32_t height;
    uint32_t channels;
} mtz_png_session;

/** Records the first failure of a session; later ones keep the first status and message. */
static void mtz_png_record(mtz_png_session *session, mtz_image_status status, const char *format, ...) {
    if (session->status != MTZ_IMAGE_OK) return;
    session->status = status;
    if (session->message != NULL && session->message_capacity > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(session->message, session->message_capacity, format, args);
        va_end(args);
    }
}

/** libpng error callback: record (as corrupt unless a status is already set) and jump back. */
static void mtz_png_on_error(png_structp png, png_const_charp text) {
    mtz_png_session *session = (mtz_png_session *)png_get_error_ptr(png);
    mtz_png_record(session, MTZ_IMAGE_ERROR_CORRUPT, "%s", text);
    png_longjmp(png, 1);
}

/** libpng warning callback: warnings (bad ancillary chunks, ...) are ignored silently. */
static void mtz_png_on_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

/** libpng read callback: copy from the memory buffer, or fail as truncated. */
static void mtz_png_read(png_structp png, png_bytep out, size_t length) {
    mtz_png_session *session = (mtz_png_session *)png_get_io_ptr(png);
    if (length > session->size - session->offset) {
        mtz_png_record(session, MTZ_IMAGE_ERROR_TRUNCATED,
                       "unexpected end of data (the file has only %zu bytes)", session->size);
        png_error(png, "unexpected end of data");
    }
    memcpy(out, session->data + session->offset, length);
    session->offset += length;
}

/** Sets up transforms, checks limits, allocates and reads. Returns the session status. */
static mtz_image_status mtz_png_decode_guarded(mtz_png_session *session, png_structp png, png_infop info) {
    if (setjmp(png_jmpbuf(png))) {
        return session->status;
    }
    png_set_read_fn(png, session, mtz_png_read);
    /* Our own limits below give a clear "too large" error; libpng's would read as corrupt. */
    png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    session->width = width;
    session->height = height;
    if (!mtz_image_dimensions_allowed(width, height, 1)) {
        mtz_png_record(session, MTZ_IMAGE_ERROR_TOO_LARGE, "%u x %u pixels is above the limit",
                       (unsigned)width, (unsigned)height);
        png_longjmp(png, 1);
    }

    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_scale_16(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);

    uint32_t channels = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (channels < 1 || channels > 4 || png_get_bit_depth(png, info) != 8 ||
        row_bytes != (size_t)width * channels) {
        mtz_png_record(session, MTZ_IMAGE_ERROR_UNSUPPORTED,
                       "unexpected layout after expansion (%u channels, %zu bytes per row)",
                       (unsigned)channels, row_bytes);
        png_longjmp(png, 1);
    }
    if (!mtz_image_dimensions_allowed(width, height, channels)) {
        mtz_png_record(session, MTZ_IMAGE_ERROR_TOO_LARGE,
                       "%u x %u x %u bytes is above the limit", (unsigned)width,
                       (unsigned)height, (unsigned)channels);
        png_longjmp(png, 1);
    }

    session->pixels = (uint8_t *)malloc((size_t)height * row_bytes);
    session->rows = (png_bytep *)malloc((size_t)height * sizeof(png_bytep));
    if (session->pixels == NULL || session->rows == NULL) {
        mtz_png_record(session, MTZ_IMAGE_ERROR_OUT_OF_MEMORY, "out of memory");
        png_longjmp(png, 1);
    }
    for (size_t y = 0; y < height; y++) session->rows[y] = session->pixels + y * row_bytes;
    png_read_image(png, session->rows);
    png_read_end(png, NULL);

    session->channels = channels;
    return MTZ_IMAGE_OK;
}

mtz_image_status mtz_png_decode(const uint8_t *data, size_t size, mtz_image *image,
                                char *message, size_t message_capacity) {
    if (message != NULL && message_capacity > 0) message[0] = '\0';
    if (image == NULL) return MTZ_IMAGE_ERROR_INVALID_ARGUMENT;
    memset(image, 0, sizeof *image);

    mtz_png_session session;
    memset(&session, 0, sizeof session);
    session.data = data;
    session.size = data == NULL ? 0 : size;
    session.message = message;
    session.message_capacity = message_capacity;

    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (session.size == 0) {
        mtz_png_record(&session, MTZ_IMAGE_ERROR_EMPTY, "no data");
        return session.status;
    }
    size_t compared = session.size < 8 ? session.size : 8;
    if (memcmp(data, signature, compared) != 0) {
        mtz_png_record(&session, MTZ_IMAGE_ERROR_WRONG_SIGNATURE, "wrong signature");
        return session.status;
    }
    if (session.size < 8) {
        mtz_png_record(&session, MTZ_IMAGE_ERROR_TRUNCATED, "file ends inside the signature");
        return session.status;
    }

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &session, mtz_png_on_error,
                                             mtz_png_on_warning);
    if (png == NULL) {
        mtz_png_record(&session, MTZ_IMAGE_ERROR_OUT_OF_MEMORY, "cannot create reader");
        return session.status;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        mtz_png_record(&session, MTZ_IMAGE_ERROR_OUT_OF_MEMORY, "cannot create reader");
        return session.status;
    }

    mtz_image_status status = mtz_png_decode_guarded(&session, png, info);
    png_destroy_read_struct(&png, &info, NULL);
    free(session.rows);
    if (status != MTZ_IMAGE_OK) {
        free(session.pixels);
        if (status == MTZ_IMAGE_ERROR_TOO_LARGE) {
            image->width = session.width;
            image->height = session.height;
        }
        return status;
    }
    image->pixels = session.pixels;
    image->width = session.width;
    image->height = session.height;
    image->channels = session.channels;
    return MTZ_IMAGE_OK;
}
