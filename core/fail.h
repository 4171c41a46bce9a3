/* The core's failure helpers: a status with its message kept on the context, and the
 * always-on assertion for internal invariants. Private to the core. */
#ifndef LT_FAIL_H
#define LT_FAIL_H

#include "core/lutra.h"

/* Formats the context's message and returns `st`: `return lt_fail(ctx, LT_EINVAL, ...)`. */
enum lt_status lt_fail(struct lt_ctx *ctx, enum lt_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Internal invariants (never user input): always on, report and trap. */
#define LT_ASSERT(cond) ((cond) ? (void)0 : lt_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void lt_assert_fail(const char *what, const char *file, int line);

#endif
