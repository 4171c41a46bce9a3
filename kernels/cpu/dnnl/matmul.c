/* STUB: oneDNN matmul kernels. */
#include "kernels/cpu/dnnl/dnnl_kernels.h"

void lt_dnnl_register_matmul(struct lt_backend *b) {
    (void)b;
}
