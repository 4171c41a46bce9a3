/* cuDNN for the files that call it (conv.cu, and plugin.cu, which starts it): its header
 * is slow to compile, so the shared kernels header keeps the handle opaque. */
#ifndef LT_CUDA_DNN_CUH
#define LT_CUDA_DNN_CUH

#include <cudnn.h>

#include "kernels/cuda/cuda_kernels.cuh"

/* The plugin's cuDNN handle, on its stream. */
static inline cudnnHandle_t lt_dnn(const lt_kargs *a) {
    return (cudnnHandle_t)lt_cu(a)->dnn;
}

/* LT_OK, or LT_ECUDA with the call and cuDNN's message in a->msg. */
enum lt_status lt_cudnn_check(const lt_kargs *a, cudnnStatus_t st, const char *what);

#endif
