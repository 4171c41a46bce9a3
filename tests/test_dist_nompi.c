/* core/dist.c built without MPI (make MPI=0), linked in place of the library's: a process
 * no launcher started is a world of one as with MPI, and one a launcher started is told
 * that this lutra cannot take part, instead of training an unconnected copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/lutra.h"
#include "tests/train_util.h"

static void a_launched_process_is_refused(void **state) {
    (void)state;
    struct lt_ctx *ctx;
    assert_int_equal(lt_ctx_new(&ctx), LT_OK);
    assert_int_equal(lt_dist_built(), 0);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("OMPI_COMM_WORLD_RANK");
    unsetenv("PMI_SIZE");
    unsetenv("PMI_RANK");
    unsetenv("PMIX_SIZE");
    unsetenv("PMIX_RANK");
    CHECK(ctx, lt_dist_join(ctx)); /* no launcher: a world of one */
    assert_int_equal(lt_dist_size(ctx), 1);
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    setenv("OMPI_COMM_WORLD_RANK", "1", 1);
    assert_int_equal(lt_dist_join(ctx), LT_EUNSUPPORTED);
    const char *msg = lt_ctx_error(ctx);
    if (!strstr(msg, "rank 1 of 2") || !strstr(msg, "built without MPI") ||
        !strstr(msg, "make MPI=1"))
        fail_msg("unexpected message: %s", msg);
    lt_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_launched_process_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
