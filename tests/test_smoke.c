#include "tests/op_check.h"
static void smoke(void **state) { (void)state; assert_non_null(op_ref_backend()); }
int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(smoke)};
    return cmocka_run_group_tests_name("smoke", tests, NULL, NULL);
}
