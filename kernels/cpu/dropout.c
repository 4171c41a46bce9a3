/* STUB */
#include "kernels/cpu/cpu_kernels.h"

void lt_cpu_register_dropout(struct lt_backend *b) { (void)b; }
