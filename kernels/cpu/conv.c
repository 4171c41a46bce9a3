/* STUB */
#include "kernels/cpu/cpu_kernels.h"

void lt_cpu_register_conv(struct lt_backend *b) { (void)b; }
