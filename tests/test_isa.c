/* The cap on the own fast kernels' ISA, LUTRA_MAX_CPU_ISA (kernels/cpu/isa.c): the level
 * they run is never above the CPU's or the cap; the cap's names, in any case; a value it
 * does not know leaves the context on the reference kernels, saying why. The level is
 * read once per process, so each cap below avx512 is tried in a child process of this
 * test (`test_isa --capped CAP`): there it names the capped level, holds oneDNN to the
 * cap (and refuses a lower cap once oneDNN has run), and every op family's fast kernels
 * still match the reference.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/lutra.h"
#include "kernels/cpu/cpu_kernels.h"
#include "tests/op_check.h"

extern char **environ;

static const char *const level_names[] = {"baseline", "avx2", "avx512"};

/* The level LUTRA_MAX_CPU_ISA should give in this process. */
static enum lt_cpu_level expected_level(void) {
    enum lt_cpu_level cap, cpu = lt_cpu_widest_level();
    if (lt_cpu_isa_cap(&cap, NULL) != LT_OK)
        return cpu;
    return cap < cpu ? cap : cpu;
}

static void level_within_cpu_and_cap(void **state) {
    (void)state;
    enum lt_cpu_level level = lt_cpu_level();
    assert_true(level <= lt_cpu_widest_level());
    assert_int_equal(level, expected_level());
    assert_string_equal(lt_cpu_isa(), level_names[level]);
    assert_int_equal(lt_cpu_level(), level); /* cached: the same on every call */
}

/* Sets LUTRA_MAX_CPU_ISA to value (NULL: unset) for the test; the saved value returns
 * with restore_cap. */
static char saved_cap[256];
static int had_cap;

static void set_cap(const char *value) {
    const char *old = getenv("LUTRA_MAX_CPU_ISA");
    had_cap = old != NULL;
    snprintf(saved_cap, sizeof saved_cap, "%s", old ? old : "");
    if (value)
        setenv("LUTRA_MAX_CPU_ISA", value, 1);
    else
        unsetenv("LUTRA_MAX_CPU_ISA");
}

static void restore_cap(void) {
    if (had_cap)
        setenv("LUTRA_MAX_CPU_ISA", saved_cap, 1);
    else
        unsetenv("LUTRA_MAX_CPU_ISA");
}

static void expect_cap(const char *value, enum lt_cpu_level want) {
    enum lt_cpu_level cap = LT_CPU_BASELINE;
    char msg[LT_KMSG_SIZE] = "";
    set_cap(value);
    enum lt_status st = lt_cpu_isa_cap(&cap, msg);
    restore_cap();
    if (st != LT_OK)
        fail_msg("LUTRA_MAX_CPU_ISA=%s: %s", value ? value : "(unset)", msg);
    assert_int_equal(cap, want);
    assert_string_equal(msg, "");
}

static void cap_names(void **state) {
    (void)state;
    expect_cap(NULL, LT_CPU_AVX512);
    expect_cap("", LT_CPU_AVX512);
    expect_cap("avx512", LT_CPU_AVX512);
    expect_cap("AVX512", LT_CPU_AVX512);
    expect_cap("avx2", LT_CPU_AVX2);
    expect_cap("Avx2", LT_CPU_AVX2);
    expect_cap("baseline", LT_CPU_BASELINE);
    expect_cap("BASELINE", LT_CPU_BASELINE);

    static const char *const bad[] = {"avx-2", "sse41", "avx512f", " avx2", "avx2 ", "none"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum lt_cpu_level cap = LT_CPU_BASELINE;
        char msg[LT_KMSG_SIZE] = "", want[LT_KMSG_SIZE];
        set_cap(bad[i]);
        enum lt_status st = lt_cpu_isa_cap(&cap, msg);
        restore_cap();
        assert_int_equal(st, LT_EINVAL);
        assert_int_equal(cap, LT_CPU_AVX512);
        snprintf(want, sizeof want, "LUTRA_MAX_CPU_ISA='%s' is not one of avx512, avx2, baseline",
                 bad[i]);
        assert_string_equal(msg, want);
    }
    /* a long value is cut short in the message, not overflowing it */
    char longer[600];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    char msg[LT_KMSG_SIZE] = "";
    enum lt_cpu_level cap;
    set_cap(longer);
    assert_int_equal(lt_cpu_isa_cap(&cap, msg), LT_EINVAL);
    restore_cap();
    assert_non_null(strstr(msg, "is not one of avx512, avx2, baseline"));
}

/* The fast backend refuses to start; a context runs the reference kernels instead and
 * its backend info (what `lutra --version` and the training log print) says why. */
static void bad_cap_falls_back_to_reference(void **state) {
    (void)state;
    struct lt_backend b;
    char msg[LT_KMSG_SIZE] = "";
    set_cap("avx-512");
    enum lt_status st = lt_cpu_backend_init(&b, msg);
    struct lt_ctx *ctx = NULL;
    enum lt_status ctx_st = lt_ctx_new(&ctx);
    restore_cap();
    assert_int_equal(st, LT_EINVAL);
    assert_string_equal(msg, "LUTRA_MAX_CPU_ISA='avx-512' is not one of avx512, avx2, baseline");
    assert_int_equal(ctx_st, LT_OK);
    assert_string_equal(lt_ctx_backend_info(ctx), "reference kernels (LUTRA_MAX_CPU_ISA='avx-512' "
                                                  "is not one of avx512, avx2, baseline)");
    lt_ctx_free(ctx);
}

/* ---- in a child process, under a cap ------------------------------------------------------ */

static const char *capped; /* the cap of a child process: "avx2" or "baseline" */

/* Checks a context's backend info: the own kernels at the capped level and, where
 * oneDNN is in and the CPU has what the cap names, oneDNN held to it. */
static void check_info(const char *info) {
    char want[64];
    snprintf(want, sizeof want, "own kernels (%s)", level_names[expected_level()]);
    if (strncmp(info, want, strlen(want)))
        fail_msg("backend info \"%s\" does not start with \"%s\"", info, want);
#ifdef LT_ONEDNN
    const char *dnnl = !strcmp(capped, "avx2")       ? "(avx2)"
                       : !strcmp(capped, "baseline") ? "(sse41)"
                                                     : NULL;
    if (dnnl && lt_cpu_widest_level() >= LT_CPU_AVX2) {
        size_t n = strlen(info), k = strlen(dnnl);
        if (!strstr(info, "oneDNN") || n < k || strcmp(info + n - k, dnnl))
            fail_msg("backend info \"%s\" does not end with oneDNN %s", info, dnnl);
    }
#endif
}

/* Every context of the process (oneDNN takes its cap once) runs at the capped level. */
static void capped_contexts(void **state) {
    (void)state;
    assert_string_equal(lt_cpu_isa(), level_names[expected_level()]);
    for (int i = 0; i < 2; i++) {
        struct lt_ctx *ctx = NULL;
        assert_int_equal(lt_ctx_new(&ctx), LT_OK);
        check_info(lt_ctx_backend_info(ctx));
        lt_ctx_free(ctx);
    }
}

/* oneDNN takes a cap only before it first runs: a lower one asked for later (here by
 * changing the variable in the process) fails to start the fast backend, and the context
 * says so, rather than running oneDNN above the cap. */
static void late_lower_cap_is_refused(void **state) {
    (void)state;
#ifdef LT_ONEDNN
    if (strcmp(capped, "avx2") || lt_cpu_widest_level() < LT_CPU_AVX2) {
        printf("skipped: only in the child capped at avx2, on a CPU with AVX2\n");
        skip();
    }
    struct lt_ctx *ctx = NULL;
    assert_int_equal(lt_ctx_new(&ctx), LT_OK); /* oneDNN has run at avx2 */
    lt_ctx_free(ctx);
    set_cap("baseline");
    assert_int_equal(lt_ctx_new(&ctx), LT_OK);
    restore_cap();
    const char *want = "reference kernels (LUTRA_MAX_CPU_ISA=baseline: oneDNN already runs avx2 "
                       "and cannot be capped now";
    if (strncmp(lt_ctx_backend_info(ctx), want, strlen(want)))
        fail_msg("backend info \"%s\", want \"%s ...\"", lt_ctx_backend_info(ctx), want);
    lt_ctx_free(ctx);
#else
    printf("skipped: built without oneDNN\n");
    skip();
#endif
}

struct family {
    const char *name;
    const struct op_case *cases;
    const int *count;
};

#define FAMILY(f)                                                                                  \
    { #f, f##_cases, &f##_case_count }
static const struct family families[] = {
    FAMILY(linear),  FAMILY(conv),  FAMILY(pool),      FAMILY(activation),
    FAMILY(arith),   FAMILY(shape), FAMILY(softmax),   FAMILY(loss),
    FAMILY(dropout), FAMILY(norm),  FAMILY(embedding), FAMILY(reduce),
    FAMILY(attention),
};
#undef FAMILY

/* test_ops' comparison of every family's fast kernels with the reference, here at the
 * capped level, f32 and (where the fast paths convert) the half types. */
static void capped_fast_matches_reference(void **state) {
    (void)state;
    struct lt_backend fast;
    char msg[LT_KMSG_SIZE] = "";
    if (lt_cpu_backend_init(&fast, msg) != LT_OK)
        fail_msg("the fast CPU backend did not start: %s", msg);
    check_info(fast.info);
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (int i = 0; i < *families[f].count; i++)
            op_compare_case(&families[f].cases[i], &fast, 1e-5);
    for (int i = 0; i < pool_case_count; i++)
        op_compare_case_as(&pool_cases[i], &fast, LT_DTYPE_F16, 2e-3);
    for (int i = 0; i < linear_case_count; i++)
        op_compare_case_as(&linear_cases[i], &fast, LT_DTYPE_F16, 2e-3);
    lt_backend_release(&fast);
}

/* The f16 array conversions (F16C only from avx2 up) give the scalar conversions' bits
 * at the capped level too: every f16 pattern, and the f32 values of them and their
 * neighbours. */
static void capped_f16_conversions_match_scalar(void **state) {
    (void)state;
    enum { N = 65536 };
    static uint16_t h[N];
    static float f[N], g[3 * N];
    for (uint32_t i = 0; i < N; i++)
        h[i] = (uint16_t)i;
    lt_f16_to_f32_n(h, f, N);
    for (uint32_t i = 0; i < N; i++) {
        float w = lt_f16_to_f32((uint16_t)i);
        if (memcmp(&f[i], &w, sizeof w))
            fail_msg("f16 %#06x: not the scalar conversion's bits", i);
        uint32_t b;
        memcpy(&b, &w, 4);
        uint32_t near[3] = {b, b + 1, b - 1};
        memcpy(&g[3 * i], near, sizeof near);
    }
    static uint16_t hg[3 * N];
    lt_f32_to_f16_n(g, hg, 3 * N);
    for (uint32_t i = 0; i < 3 * N; i++)
        if (hg[i] != lt_f32_to_f16(g[i]))
            fail_msg("f32 element %u: not the scalar conversion's bits", i);
}

/* ---- the parent's side --------------------------------------------------------------------- */

/* Runs this test binary as `--capped cap` with LUTRA_MAX_CPU_ISA=cap and oneDNN's own
 * cap variables removed; fails, showing the child's output, unless it passes. */
static void run_capped_child(const char *cap) {
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(len > 0);
    exe[len] = '\0';

    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **env = calloc(n_env + 2, sizeof *env);
    assert_non_null(env);
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(environ[i], "LUTRA_MAX_CPU_ISA=", 18) &&
            strncmp(environ[i], "ONEDNN_MAX_CPU_ISA=", 19) &&
            strncmp(environ[i], "DNNL_MAX_CPU_ISA=", 17))
            env[k++] = environ[i];
    char var[64];
    snprintf(var, sizeof var, "LUTRA_MAX_CPU_ISA=%s", cap);
    env[k++] = var;
    env[k] = NULL;

    int fd[2];
    assert_int_equal(pipe(fd), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    char *argv[] = {exe, "--capped", (char *)cap, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, exe, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(fd[1]);
    if (err) {
        close(fd[0]);
        fail_msg("cannot run %s: %s", exe, strerror(err));
    }
    /* all of the child's output, to show when it fails */
    size_t size = 0, cap_bytes = 1 << 16;
    char *out = malloc(cap_bytes);
    assert_non_null(out);
    ssize_t r;
    while ((r = read(fd[0], out + size, cap_bytes - size - 1)) > 0) {
        size += (size_t)r;
        if (size + 1 == cap_bytes) {
            char *more = realloc(out, cap_bytes *= 2);
            assert_non_null(more);
            out = more;
        }
    }
    out[size] = '\0';
    close(fd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        /* indented, so that its cmocka summary is not taken for this one's */
        print_message("LUTRA_MAX_CPU_ISA=%s %s --capped %s:\n", cap, exe, cap);
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
            print_message("  | %s\n", line);
        free(out);
        fail_msg("the run capped at %s failed (status %#x)", cap, status);
    }
    free(out);
}

static void avx2_cap_in_a_child(void **state) {
    (void)state;
    run_capped_child("avx2");
}

static void baseline_cap_in_a_child(void **state) {
    (void)state;
    run_capped_child("baseline");
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--capped")) {
        capped = argv[2];
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(level_within_cpu_and_cap),
            cmocka_unit_test(capped_contexts),
            cmocka_unit_test(capped_fast_matches_reference),
            cmocka_unit_test(capped_f16_conversions_match_scalar),
            cmocka_unit_test(late_lower_cap_is_refused),
        };
        return cmocka_run_group_tests_name("isa (capped)", tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(level_within_cpu_and_cap),        cmocka_unit_test(cap_names),
        cmocka_unit_test(bad_cap_falls_back_to_reference), cmocka_unit_test(avx2_cap_in_a_child),
        cmocka_unit_test(baseline_cap_in_a_child),
    };
    return cmocka_run_group_tests_name("isa", tests, NULL, NULL);
}
