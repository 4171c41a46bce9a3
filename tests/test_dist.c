/* Data-parallel ranks as one process sees them (the jobs of several ranks run under
 * mpirun in tests/cli/dist_*.sh): a process no launcher started joins a world of one in
 * which sums and broadcasts change nothing, the settings' bounds, and how a plan's
 * gradient is cut into all-reduce buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/lutra.h"
#include "tests/train_util.h"

static struct lt_ctx *ctx;

static int setup(void **state) {
    (void)state;
    /* this suite is the process no launcher started, whatever started the test runner */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
                                       "PMI_SIZE", "PMI_RANK", "PMIX_SIZE", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    return lt_ctx_new(&ctx) == LT_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lt_ctx_free(ctx);
    return 0;
}

static void a_lone_process_is_a_world_of_one(void **state) {
    (void)state;
    assert_int_equal(lt_dist_launched(NULL, NULL), 0);
    CHECK(ctx, lt_dist_join(ctx));
    assert_int_equal(lt_dist_rank(ctx), 0);
    assert_int_equal(lt_dist_size(ctx), 1);
    assert_int_equal(lt_dist_local_rank(ctx), 0);
    assert_int_equal(lt_dist_local_size(ctx), 1);
    double v[2] = {1.5, -2};
    CHECK(ctx, lt_dist_sum(ctx, v, 2, "a test's sum"));
    assert_true(v[0] == 1.5 && v[1] == -2);
    char bytes[4] = "abc";
    CHECK(ctx, lt_dist_broadcast(ctx, bytes, sizeof bytes, 0, "a test's broadcast"));
    assert_string_equal(bytes, "abc");
    lt_dist_finalize(); /* nothing to end: no MPI was started */
    lt_dist_abort(1);   /* outside a launched job: nothing, and it returns */
}

static void a_launcher_is_read_from_the_environment(void **state) {
    (void)state;
    setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
    setenv("OMPI_COMM_WORLD_RANK", "3", 1);
    int rank = -5, size = -5;
    assert_int_equal(lt_dist_launched(&rank, &size), 1);
    assert_int_equal(rank, 3);
    assert_int_equal(size, 4);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("OMPI_COMM_WORLD_RANK");
    setenv("PMI_RANK", "1", 1); /* another launcher's variable, the size unsaid */
    assert_int_equal(lt_dist_launched(&rank, &size), 1);
    assert_int_equal(rank, 1);
    assert_int_equal(size, -1);
    unsetenv("PMI_RANK");
}

static void settings_are_checked(void **state) {
    (void)state;
    assert_true(lt_dist_timeout(ctx) == 600.0);
    assert_int_equal(lt_dist_set_timeout(ctx, 0), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "timeout must be a number of seconds > 0"));
    CHECK(ctx, lt_dist_set_timeout(ctx, 2.5));
    assert_true(lt_dist_timeout(ctx) == 2.5);
    assert_int_equal(lt_dist_bucket_bytes(ctx), 1u << 20);
    assert_int_equal(lt_dist_set_bucket_bytes(ctx, 100), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "at least 4096 bytes"));
}

/* An MLP 20 -> 300 -> 200 -> 10: parameters w1 (6000 floats), b1, w2 (60000), b2, w3
 * (2000), b3 in the flat buffer in that order. Buckets fill from the end: a bucket closes
 * once it holds the cap, at a parameter's start. */
static void buckets_are_cut_at_parameters_from_the_end(void **state) {
    (void)state;
    struct mlp m;
    mlp_build(ctx, &m, 8, (const int[]){20, 300, 200, 10}, 3, 0);
    struct lt_optim_group groups[2] = {{1, 1}, {1, 0}}; /* weights, biases */
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    opt.n_groups = 2;
    opt.groups = groups;
    struct lt_plan *p;
    CHECK(ctx, lt_plan_new(ctx, m.g, m.loss, &opt, &p));
    struct lt_mem_report r;
    lt_plan_report(p, &r);
    size_t largest = 0;
    /* a cap larger than the gradient: one bucket, the whole buffer */
    assert_int_equal(lt_plan_grad_buckets(p, 1u << 30, &largest), 1);
    assert_int_equal(largest, r.bytes[LT_MEM_GRADS]);
    /* 16 KiB: b3, w3 and b2 (8.8 KB) are short of it, w2 (240 KB) closes the first
     * bucket; b1 and w1 (25.2 KB) the second */
    int n = lt_plan_grad_buckets(p, 16384, &largest);
    assert_int_equal(n, 2);
    assert_true(largest >= 60000 * sizeof(float));
    /* the smallest cap (1024 floats): each layer's bias rides with its weight, the
     * bucket closing at the weight: {w3, b3}, {w2, b2}, {w1, b1} */
    assert_int_equal(lt_plan_grad_buckets(p, 4096, &largest), 3);
    /* w2 and b2, with the padding that aligns each parameter in the buffer */
    assert_true(largest >= (60000 + 200) * sizeof(float) &&
                largest < (60000 + 200) * sizeof(float) + 256);
    lt_plan_free(p);
    mlp_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_lone_process_is_a_world_of_one),
        cmocka_unit_test(a_launcher_is_read_from_the_environment),
        cmocka_unit_test(settings_are_checked),
        cmocka_unit_test(buckets_are_cut_at_parameters_from_the_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
