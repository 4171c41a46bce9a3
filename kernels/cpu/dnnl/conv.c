/* STUB: oneDNN conv kernels. */
#include "kernels/cpu/dnnl/dnnl_kernels.h"

void lt_dnnl_register_conv(struct lt_backend *b) {
    (void)b;
}
