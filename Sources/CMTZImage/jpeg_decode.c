/*
 * jpeg_decode.c — JPEG from memory through the system libjpeg(-turbo).
 *
 * libjpeg's default error manager prints and calls exit(); ours records a status and message and
 * longjmps back to mtz_jpeg_decode_guarded(). Warnings are silent, except the ones that mean the
 * output would be wrong: "premature end of file" (libjpeg would fill the rest with grey) becomes
 * MTZ_IMAGE_ERROR_TRUNCATED, corrupt entropy-coded data becomes MTZ_IMAGE_ERROR_CORRUPT. All
 * state that changes after setjmp lives in an mtz_jpeg_session owned by the caller of the guarded
 * function.
 */
#include "mtz_image.h"

#include <limits.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

/** Progressive files with more scans than this are refused (guards against scan-flood files). */
#define MTZ_JPEG_MAX_SCANS 1000

/** Everything one decode call needs; owned by mtz_jpeg_decode's frame. */
typedef struct mtz_jpeg_session {
    struct jpeg_decompress_struct decoder;
    struct jpeg_error_mgr errors;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    mtz_image_status status;
    char *message;
    size_t message_capacity;
    uint8_t *pixels;
    uint32_t width;
    uint32_t height;
    uint32_t channels;
} mtz_jpeg_session;

/** The session that owns a libjpeg object (stored in its client_data). */
static mtz_jpeg_session *mtz_jpeg_session_of(j_common_ptr cinfo) {
    return (mtz_jpeg_session *)cinfo->client_data;
}

/** Records the first failure of a session and jumps back to the guarded function. */
static void mtz_jpeg_fail(mtz_jpeg_session *session, mtz_image_status status, const char *text) {
    if (session->status == MTZ_IMAGE_OK) {
        session->status = status;
        if (session->message != NULL && session->message_capacity > 0) {
            snprintf(session->message, session->message_capacity, "%s", text);
        }
    }
    longjmp(session->jump, 1);
}

/** Fails with libjpeg's text for its current message code. */
static void mtz_jpeg_fail_with_library_message(j_common_ptr cinfo, mtz_image_status status) {
    char text[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, text);
    mtz_jpeg_fail(mtz_jpeg_session_of(cinfo), status, text);
}

/** error_exit replacement: never returns, never prints. */
static void mtz_jpeg_on_error(j_common_ptr cinfo) {
    mtz_jpeg_fail_with_library_message(cinfo, MTZ_IMAGE_ERROR_CORRUPT);
}

/** emit_message replacement: silent; turns truncation and corrupt-data warnings into failures. */
static void mtz_jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return; /* trace messages */
    cinfo->err->num_warnings++;
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
        mtz_jpeg_fail_with_library_message(cinfo, MTZ_IMAGE_ERROR_TRUNCATED);
        break;
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
        mtz_jpeg_fail_with_library_message(cinfo, MTZ_IMAGE_ERROR_CORRUPT);
        break;
    default:
        break; /* benign, e.g. extraneous bytes before a marker */
    }
}

/** output_message replacement: libjpeg never prints. */
static void mtz_jpeg_on_output(j_common_ptr cinfo) {
    (void)cinfo;
}

/** Progress monitor: refuses files with an absurd number of progressive scans. */
static void mtz_jpeg_on_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr decoder = (j_decompress_ptr)cinfo;
    if (decoder->input_scan_number > MTZ_JPEG_MAX_SCANS) {
        mtz_jpeg_fail(mtz_jpeg_session_of(cinfo), MTZ_IMAGE_ERROR_CORRUPT,
                      "too many progressive scans");
    }
}

/** Reads the header, checks colour space and limits, allocates and decodes. */
static mtz_image_status mtz_jpeg_decode_guarded(mtz_jpeg_session *session, const uint8_t *data,
                                                size_t size) {
    j_decompress_ptr decoder = &session->decoder;
    if (setjmp(session->jump)) {
        return session->status;
    }
    jpeg_create_decompress(decoder);
    decoder->client_data = session;
    decoder->progress = &session->progress;
    jpeg_mem_src(decoder, data, (unsigned long)size);
    (void)jpeg_read_header(decoder, TRUE);

    switch (decoder->jpeg_color_space) {
    case JCS_GRAYSCALE:
        decoder->out_color_space = JCS_GRAYSCALE;
        session->channels = 1;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        decoder->out_color_space = JCS_RGB;
        session->channels = 3;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        mtz_jpeg_fail(session, MTZ_IMAGE_ERROR_UNSUPPORTED, "CMYK/YCCK images are not supported");
        break;
    default:
        mtz_jpeg_fail(session, MTZ_IMAGE_ERROR_UNSUPPORTED, "unknown colour space");
        break;
    }
    session->width = decoder->image_width;
    session->height = decoder->image_height;
    if (!mtz_image_dimensions_allowed(decoder->image_width, decoder->image_height, session->channels)) {
        char text[96];
        snprintf(text, sizeof text, "%u x %u pixels is above the limit",
                 (unsigned)decoder->image_width, (unsigned)decoder->image_height);
        mtz_jpeg_fail(session, MTZ_IMAGE_ERROR_TOO_LARGE, text);
    }

    (void)jpeg_start_decompress(decoder);
    if ((uint32_t)decoder->output_components != session->channels ||
        decoder->output_width != decoder->image_width ||
        decoder->output_height != decoder->image_height) {
        mtz_jpeg_fail(session, MTZ_IMAGE_ERROR_UNSUPPORTED, "unexpected output layout");
    }
    size_t row_bytes = (size_t)decoder->output_width * session->channels;
    session->pixels = (uint8_t *)malloc(row_bytes * decoder->output_height);
    if (session->pixels == NULL) {
        mtz_jpeg_fail(session, MTZ_IMAGE_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    while (decoder->output_scanline < decoder->output_height) {
        JSAMPROW row = session->pixels + (size_t)decoder->output_scanline * row_bytes;
        if (jpeg_read_scanlines(decoder, &row, 1) != 1) {
            mtz_jpeg_fail(session, MTZ_IMAGE_ERROR_TRUNCATED, "decoder stopped early");
        }
    }
    (void)jpeg_finish_decompress(decoder);
    return MTZ_IMAGE_OK;
}

mtz_image_status mtz_jpeg_decode(const uint8_t *data, size_t size, mtz_image *image,
                                 char *message, size_t message_capacity) {
    if (message != NULL && message_capacity > 0) message[0] = '\0';
    if (image == NULL) return MTZ_IMAGE_ERROR_INVALID_ARGUMENT;
    memset(image, 0, sizeof *image);
    if (data == NULL || size == 0) {
        if (message != NULL && message_capacity > 0) snprintf(message, message_capacity, "no data");
        return MTZ_IMAGE_ERROR_EMPTY;
    }
    static const uint8_t signature[3] = {0xFF, 0xD8, 0xFF};
    size_t compared = size < 3 ? size : 3;
    if (memcmp(data, signature, compared) != 0 || size < 3) {
        int truncated = memcmp(data, signature, compared) == 0;
        if (message != NULL && message_capacity > 0) {
            snprintf(message, message_capacity, "%s",
                     truncated ? "file ends inside the signature" : "wrong signature");
        }
        return truncated ? MTZ_IMAGE_ERROR_TRUNCATED : MTZ_IMAGE_ERROR_WRONG_SIGNATURE;
    }
#if SIZE_MAX > ULONG_MAX
    if (size > ULONG_MAX) { /* jpeg_mem_src takes an unsigned long */
        if (message != NULL && message_capacity > 0) snprintf(message, message_capacity, "input too large");
        return MTZ_IMAGE_ERROR_TOO_LARGE;
    }
#endif

    mtz_jpeg_session *session = (mtz_jpeg_session *)calloc(1, sizeof *session);
    if (session == NULL) {
        if (message != NULL && message_capacity > 0) snprintf(message, message_capacity, "out of memory");
        return MTZ_IMAGE_ERROR_OUT_OF_MEMORY;
    }
    session->message = message;
    session->message_capacity = message_capacity;
    session->decoder.err = jpeg_std_error(&session->errors);
    session->errors.error_exit = mtz_jpeg_on_error;
    session->errors.emit_message = mtz_jpeg_on_message;
    session->errors.output_message = mtz_jpeg_on_output;
    session->decoder.client_data = session;
    session->progress.progress_monitor = mtz_jpeg_on_progress;

    mtz_image_status status = mtz_jpeg_decode_guarded(session, data, size);
    jpeg_destroy_decompress(&session->decoder);
    if (status == MTZ_IMAGE_OK) {
        image->pixels = session->pixels;
        image->width = session->width;
        image->height = session->height;
        image->channels = session->channels;
    } else {
        free(session->pixels);
        if (status == MTZ_IMAGE_ERROR_TOO_LARGE) {
            image->width = session->width;
            image->height = session->height;
        }
    }
    free(session);
    return status;
}
