/*
 * classify — runs every task of an mtz model on images and prints each task's top predictions.
 *
 *     classify MODEL IMAGE...
 *     classify Models/lenet5-mnist-fashion-zipped.mtz Samples/mnist/test-0000-7.png
 *
 * Output, per image: the path, then one line per task with its best labels and scores:
 *
 *     Samples/mnist/test-0000-7.png
 *       mnist: 7 1.0000, 9 0.0000, 2 0.0000
 *       fashion: T-shirt/top 0.9900, Sandal 0.0074, Trouser 0.0008
 *
 * Exit status: 0 on success, 1 if any image failed (the others still run), 2 on a usage error or
 * a model that cannot be opened. Build it with build.sh (README.md in this folder).
 */
#include <stdio.h>

#include "mtz.h"

/* How many predictions to print per task. */
#define TOP_K 3

/* Prints the message of a failed call (it names the file involved) and returns 1. */
static int report(mtz_status status) {
    fprintf(stderr, "classify: %s (%s)\n", mtz_last_error(), mtz_status_name(status));
    return 1;
}

/* Runs the session on one image and prints its predictions; returns 0 on success. */
static int classify(mtz_session *session, const char *path) {
    mtz_status status = mtz_session_run_file(session, path);
    if (status != MTZ_OK) return report(status);

    size_t task_count = 0;
    status = mtz_session_task_count(session, &task_count);
    if (status != MTZ_OK) return report(status);
    printf("%s\n", path);
    for (size_t task = 0; task < task_count; task++) {
        const char *name = NULL;
        mtz_prediction top[TOP_K];
        size_t count = 0;
        status = mtz_session_task_name(session, task, &name);
        if (status == MTZ_OK) status = mtz_session_top_k(session, task, TOP_K, top, &count);
        if (status != MTZ_OK) return report(status);

        printf("  %s:", name);
        for (size_t i = 0; i < count; i++) {
            printf("%s %s %.4f", i == 0 ? "" : ",", top[i].label, (double)top[i].score);
        }
        printf("\n");
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL IMAGE...\n", argv[0]);
        return 2;
    }

    mtz_model *model = NULL;
    mtz_status status = mtz_model_open(argv[1], &model);
    if (status != MTZ_OK) {
        report(status);
        return 2;
    }

    /* Every task (task_count 0), one thread. A session is used by one thread at a time; a
     * multi-threaded program creates one session per thread from the same model. */
    mtz_session *session = NULL;
    status = mtz_session_create(model, NULL, 0, 1, &session);
    if (status != MTZ_OK) {
        report(status);
        mtz_model_free(model);
        return 2;
    }

    int failed = 0;
    for (int i = 2; i < argc; i++) {
        failed |= classify(session, argv[i]);
    }

    mtz_session_free(session);
    mtz_model_free(model);
    return failed;
}
