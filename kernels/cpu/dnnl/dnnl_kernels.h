/* oneDNN (v2.6 C API) fast paths of the CPU backend. Private to kernels/cpu.
 *
 * One engine and one stream per backend, kept in lt_backend.impl. Primitives are
 * created by a kernel's prepare at plan time, never inside a step; their scratchpads
 * are in user mode and planned as workspace.
 */
#ifndef LT_DNNL_KERNELS_H
#define LT_DNNL_KERNELS_H

#include <dnnl.h>

#include "kernels/kernels.h"

struct lt_dnnl {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
};

/* Starts the engine and registers every oneDNN kernel over the table's entries.
 * Fails with LT_EUNSUPPORTED, writing oneDNN's reason into msg. */
enum lt_status lt_dnnl_register(struct lt_backend *b, char *msg);

/* The op families' registration (kernels/cpu/dnnl/<family>.c). */
void lt_dnnl_register_matmul(struct lt_backend *b);
void lt_dnnl_register_conv(struct lt_backend *b);

/* Maps a dnnl status to LT_OK or a failure, writing "what: oneDNN status" into msg
 * (LT_KMSG_SIZE bytes, may be NULL). */
enum lt_status lt_dnnl_check(dnnl_status_t s, const char *what, char *msg);

/* The dnnl data type of a lutra dtype (f32, f16, bf16, s32, u8). */
dnnl_data_type_t lt_dnnl_dtype(enum lt_dtype dt);

#endif
