/*
 * mtz.h — the C API of the mtz multi-task inference runtime.
 *
 * Open a .mtz model once, create a session per thread for the tasks you need, run it on an image
 * (a PNG/JPEG file or 8-bit pixels) or on an already preprocessed float tensor, and read each
 * task's scores or top-k labels. The layers the requested tasks share are computed once per run.
 *
 *     mtz_model *model = NULL;
 *     mtz_session *session = NULL;
 *     if (mtz_model_open("model.mtz", &model) != MTZ_OK ||
 *         mtz_session_create(model, NULL, 0, 1, &session) != MTZ_OK ||
 *         mtz_session_run_file(session, "image.png") != MTZ_OK) {
 *         fprintf(stderr, "mtz: %s\n", mtz_last_error());
 *     }
 *     ... mtz_session_top_k(session, 0, 3, predictions, &count) ...
 *     mtz_session_free(session);
 *     mtz_model_free(model);
 *
 * ERRORS. Every function that can fail returns an mtz_status; MTZ_OK is 0. On failure the outputs
 * are left untouched (handles stay NULL if they were NULL) and mtz_last_error() returns a message
 * for the calling thread. Successful calls do not clear the message, so read it only after a
 * failure. No function aborts on a NULL or out-of-range argument: it returns
 * MTZ_ERROR_INVALID_ARGUMENT. (Pointers that are not NULL must be valid: they cannot be checked.)
 *
 * OWNERSHIP. The caller owns the handles it gets from *_open / *_create and releases them with
 * mtz_model_free() / mtz_session_free(); both accept NULL. A session keeps its model alive, so
 * the model may be freed before its sessions. Strings returned by the API (task names, labels) are
 * owned by the model and stay valid while the model or any of its sessions is alive. Scores
 * returned by mtz_session_scores() point into the session and stay valid until its next run call
 * or until it is freed. Input buffers are only read during the call; the API keeps no pointer to
 * them.
 *
 * THREADS. A model is immutable after mtz_model_open*(): any number of threads may query it and
 * create sessions from it at the same time. A session is not thread-safe: use one session per
 * thread (or at most one thread at a time). mtz_last_error() is per thread.
 *
 * INDICES. Model functions (mtz_model_*) number tasks in model order, 0 ..< task count. Session
 * functions (mtz_session_*) number the session's own tasks, 0 ..< mtz_session_task_count(), also
 * in model order; mtz_session_task_name() and mtz_model_task_index() translate.
 *
 * Building and linking: docs/C-API.md.
 */
#ifndef MTZ_H
#define MTZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version of this API; incremented when a function is added or changed. */
#define MTZ_API_VERSION 1

/** The result of a call. */
typedef enum mtz_status {
    MTZ_OK = 0,
    /** A NULL pointer where one is required, an index out of range, a thread count outside 1...256. */
    MTZ_ERROR_INVALID_ARGUMENT = 1,
    /** A file could not be opened or read. */
    MTZ_ERROR_IO = 2,
    /** Not a .mtz model, a corrupt or truncated one, a newer format version, or a model that fails
     *  validation. */
    MTZ_ERROR_INVALID_MODEL = 3,
    /** Not a PNG or JPEG, or a corrupt, truncated or too large one. */
    MTZ_ERROR_INVALID_IMAGE = 4,
    /** A task name the model (or the session) does not have. */
    MTZ_ERROR_UNKNOWN_TASK = 5,
    /** A buffer whose size does not match its dimensions or the model's input. */
    MTZ_ERROR_SIZE_MISMATCH = 6,
    /** Results were read from a session whose last run failed or that has not run yet. */
    MTZ_ERROR_NO_RESULTS = 7,
    /** Memory could not be allocated. */
    MTZ_ERROR_OUT_OF_MEMORY = 8,
    /** Anything else (a bug: please report it with the message). */
    MTZ_ERROR_INTERNAL = 9
} mtz_status;

/** A loaded model: validated, optimised, weights packed for this CPU. Opaque. */
typedef struct mtz_model mtz_model;

/** Runs a subset of a model's tasks, one input at a time, in a pre-planned arena. Opaque. */
typedef struct mtz_session mtz_session;

/** One class of a task's output. */
typedef struct mtz_prediction {
    /** Class index into the task's scores. */
    size_t index;
    /** The task's output value for this class (a probability for softmax heads). */
    float score;
    /** The class label ("class <index>" when the model has none); owned by the model. */
    const char *label;
} mtz_prediction;

/* ---- Errors ---------------------------------------------------------------------------------- */

/**
 * The message of the last failed call on this thread ("" if none failed yet). Never NULL. Valid
 * until the next failed call on this thread.
 */
const char *mtz_last_error(void);

/** A constant name for a status, e.g. "MTZ_ERROR_IO"; "unknown status" for other values. */
const char *mtz_status_name(mtz_status status);

/* ---- Models ---------------------------------------------------------------------------------- */

/**
 * Opens the .mtz file at `path`: memory-maps it, checks every checksum, offset and size, validates
 * the network and packs the weights for this CPU. On success `*model` receives a new handle.
 */
mtz_status mtz_model_open(const char *path, mtz_model **model);

/**
 * Opens a .mtz model held in memory (`size` bytes at `data`). The bytes are copied: the buffer may
 * be released as soon as the call returns.
 */
mtz_status mtz_model_open_memory(const void *data, size_t size, mtz_model **model);

/** Releases a model handle (NULL is ignored). Sessions created from it stay usable. */
void mtz_model_free(mtz_model *model);

/** Number of tasks of the model. */
mtz_status mtz_model_task_count(const mtz_model *model, size_t *count);

/** Name of model task `task`. */
mtz_status mtz_model_task_name(const mtz_model *model, size_t task, const char **name);

/** Model index of the task called `name`; MTZ_ERROR_UNKNOWN_TASK if there is none. */
mtz_status mtz_model_task_index(const mtz_model *model, const char *name, size_t *task);

/** Number of classes (output values) of model task `task`. */
mtz_status mtz_model_class_count(const mtz_model *model, size_t task, size_t *count);

/** Label of class `index` of model task `task` ("class <index>" when the model has none). */
mtz_status mtz_model_label(const mtz_model *model, size_t task, size_t index, const char **label);

/**
 * The network input: `width * height * channels` floats, NHWC (channels interleaved), which is
 * what mtz_session_run_tensor() takes. Images of any size are resized to it by the run calls.
 */
mtz_status mtz_model_input_shape(const mtz_model *model, size_t *width, size_t *height, size_t *channels);

/* ---- Sessions -------------------------------------------------------------------------------- */

/**
 * Creates a session that runs the tasks named in `tasks[0 ..< task_count]` (duplicates are
 * ignored), or every task of the model when `task_count` is 0 (`tasks` may then be NULL), using
 * `threads` intra-op threads (1...256; results do not depend on it).
 */
mtz_status mtz_session_create(const mtz_model *model, const char *const *tasks, size_t task_count,
                              size_t threads, mtz_session **session);

/** Releases a session handle (NULL is ignored). */
void mtz_session_free(mtz_session *session);

/** Number of tasks the session runs. */
mtz_status mtz_session_task_count(const mtz_session *session, size_t *count);

/** Name of session task `task`. */
mtz_status mtz_session_task_name(const mtz_session *session, size_t task, const char **name);

/** Session index of the task called `name`; MTZ_ERROR_UNKNOWN_TASK if the session does not run it. */
mtz_status mtz_session_task_index(const mtz_session *session, const char *name, size_t *task);

/**
 * Decodes the PNG or JPEG file at `path` (format from its signature, not its name), preprocesses
 * it as `mtz run` does (channel conversion, resize to the model input, normalisation from the
 * model's input spec) and runs the session's tasks.
 */
mtz_status mtz_session_run_file(mtz_session *session, const char *path);

/**
 * Runs on 8-bit pixels: `height` rows of `width` pixels, top to bottom, no row padding, `channels`
 * interleaved samples per pixel (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA; alpha is ignored).
 * `size` is the buffer's length in bytes and must equal `width * height * channels`.
 * Preprocessing is the same as mtz_session_run_file()'s.
 */
mtz_status mtz_session_run_pixels(mtz_session *session, const uint8_t *pixels, size_t size,
                                  size_t width, size_t height, size_t channels);

/**
 * Like mtz_session_run_pixels(), for rows that are `row_stride` bytes apart (camera and display
 * buffers pad their rows): row y starts at pixels + y * row_stride. `row_stride` must be at least
 * `width * channels`; `size` must reach the end of the last row, (height - 1) * row_stride +
 * width * channels bytes, or more.
 */
mtz_status mtz_session_run_pixels_strided(mtz_session *session, const uint8_t *pixels, size_t size,
                                          size_t width, size_t height, size_t channels, size_t row_stride);

/**
 * Runs on an input that is already preprocessed: `count` floats, NHWC, `count` equal to the
 * product of mtz_model_input_shape()'s three values.
 */
mtz_status mtz_session_run_tensor(mtz_session *session, const float *input, size_t count);

/**
 * The output of session task `task` from the last successful run: `*count` floats at `*scores`,
 * one per class. The pointer is valid until the session's next run call or until it is freed.
 */
mtz_status mtz_session_scores(const mtz_session *session, size_t task, const float **scores, size_t *count);

/**
 * The `k` classes of session task `task` with the highest scores in the last successful run, best
 * first (ties: lower index first), written to `predictions[0 ..< *count]` where
 * `*count = min(k, class count)`. `predictions` must hold `k` entries; it may be NULL if `k` is 0.
 */
mtz_status mtz_session_top_k(const mtz_session *session, size_t task, size_t k,
                             mtz_prediction *predictions, size_t *count);

#ifdef __cplusplus
}
#endif

#endif /* MTZ_H */
