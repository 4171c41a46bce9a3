/* PNG curves (core/plot.c): a chart is a valid PNG of the asked size, written atomically
 * (no temporary left behind, an existing file replaced whole), and what cannot be drawn
 * or written fails with a message naming the path. */
#include <math.h>
#include <string.h>

#include "tests/op_check.h"
#include "tests/tmpdir.h"
#include "tests/train_util.h"

SUITE_CONTEXT

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_writes_a_png(void **state) {
    (void)state;
    char dir[64], path[512];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "lutra-plot"), 0);
    snprintf(path, sizeof path, "%s/loss.png", dir);
    double x[50], y[50], vx[2] = {10, 40}, vy[2] = {1.5, NAN};
    for (int i = 0; i < 50; i++)
        x[i] = i, y[i] = 2.3 * exp(-i / 10.0);
    struct lt_plot_series s[2] = {{"train", x, y, 50, 0x1f77b4}, {"test", vx, vy, 2, 0xd62728}};
    for (int round = 0; round < 2; round++) /* the second replaces the first */
        CHECK(ctx, lt_plot_png(ctx, path, "loss", "iteration", 320, 200, 2, s));
    size_t n;
    unsigned char *png = tmpdir_read(path, &n);
    assert_non_null(png);
    assert_true(n > 33);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    assert_memory_equal(png + 12, "IHDR", 4);
    assert_int_equal(be32(png + 16), 320);
    assert_int_equal(be32(png + 20), 200);
    free(png);
    /* nothing but the chart in the folder: the temporary was renamed */
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)))
        files += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 1);
    tmpdir_remove(dir);
}

static void test_refuses_what_it_cannot_draw(void **state) {
    (void)state;
    double x[1] = {1}, y[1] = {NAN};
    struct lt_plot_series s = {NULL, x, y, 1, 0};
    assert_int_equal(lt_plot_png(ctx, "/tmp/never.png", NULL, NULL, 320, 200, 1, &s), LT_EINVAL);
    assert_string_equal(lt_ctx_error(ctx), "/tmp/never.png: no finite point to draw");
    y[0] = 1;
    assert_int_equal(lt_plot_png(ctx, "/tmp/never.png", NULL, NULL, 20, 200, 1, &s), LT_EINVAL);
    assert_int_equal(lt_plot_png(ctx, "/tmp/never.png", NULL, NULL, 320, 200, 0, &s), LT_EINVAL);
    assert_int_equal(lt_plot_png(ctx, "/nonexistent/c.png", NULL, NULL, 320, 200, 1, &s), LT_EIO);
    assert_non_null(strstr(lt_ctx_error(ctx), "/nonexistent/c.png: cannot create a file in /nonexistent"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_a_png),
        cmocka_unit_test(test_refuses_what_it_cannot_draw),
    };
    return cmocka_run_group_tests_name("plot", tests, setup, teardown);
}
