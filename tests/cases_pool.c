/* STUB */
#include "tests/op_check.h"

const struct op_case pool_cases[] = {{0}};
const int pool_case_count = 0;
