/* Failures: the message kept on the context, and the always-on assertion
 * (core/fail.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/ctx.h"
#include "core/fail.h"

enum lt_status lt_fail(struct lt_ctx *ctx, enum lt_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
    return st;
}

_Noreturn void lt_assert_fail(const char *what, const char *file, int line) {
    fprintf(stderr, "lutra: internal error: %s (%s:%d)\n", what, file, line);
    abort();
}
