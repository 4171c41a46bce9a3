/* Test support for the suites that read and write files: the suite's context and its
 * private temporary folder, made before each test and removed after it (cmocka's setup and
 * teardown), and expect_error. A suite defines SUITE_TAG (the folder's prefix, "lt-png")
 * and includes this after cmocka.h. */
#ifndef LT_FILE_SUITE_H
#define LT_FILE_SUITE_H

#include <string.h>

#include "core/lutra.h"
#include "tests/tmpdir.h"

static struct lt_ctx *ctx;
static char dir[64];

static int setup(void **state) {
    (void)state;
    if (tmpdir_make(dir, sizeof dir, SUITE_TAG) != 0)
        return -1;
    return lt_ctx_new(&ctx) == LT_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lt_ctx_free(ctx);
    tmpdir_remove(dir);
    return 0;
}

/* Fails the test unless the context's last message contains msg. */
static inline void expect_error(const char *msg) {
    if (!strstr(lt_ctx_error(ctx), msg))
        fail_msg("message '%s' lacks '%s'", lt_ctx_error(ctx), msg);
}

#endif
