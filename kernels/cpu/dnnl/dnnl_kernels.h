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

/* Starts the engine, held to LUTRA_MAX_CPU_ISA, and registers every oneDNN kernel over
 * the table's entries; appends oneDNN's version and ISA to b->info. Fails with
 * LT_EUNSUPPORTED, writing oneDNN's reason into msg, or with LT_EINVAL when oneDNN
 * already runs an ISA above the cap and can no longer take one. */
enum lt_status lt_dnnl_register(struct lt_backend *b, char *msg);

/* The op families' registration (kernels/cpu/dnnl/<family>.c). */
void lt_dnnl_register_matmul(struct lt_backend *b);
void lt_dnnl_register_conv(struct lt_backend *b);

/* Maps a dnnl status to LT_OK or a failure, writing "what: oneDNN status" into msg
 * (LT_KMSG_SIZE bytes, may be NULL). */
enum lt_status lt_dnnl_check(dnnl_status_t s, const char *what, char *msg);

/* The dnnl data type of a lutra dtype (f32, f16, bf16, s32, u8). */
dnnl_data_type_t lt_dnnl_dtype(enum lt_dtype dt);

/* ---- primitive sequences (kernels/cpu/dnnl/seq.c) ------------------------------------
 *
 * One kernel call is a short sequence of steps built by prepare: reorders of lutra's
 * plain buffers into the layouts and dtypes the computation chose, the computation,
 * reorders of its results back (adding, when the gradient accumulates). Every
 * argument's memory object is created without data (DNNL_MEMORY_NONE); at each call its
 * handle is pointed at a kernel argument or at a slice of the planned workspace, so a
 * call allocates nothing.
 *
 * Layout changes are oneDNN reorders within one dtype; dtype conversions (bf16 <-> f32)
 * are own loops over dense buffers: oneDNN 2.6 converts bf16 with its generic reorder
 * on CPUs without AVX-512, about 300x slower than a loop (340 ms for 3.2M elements).
 *
 * Workspace layout: the sequence's buffers from offset 0, each 64-byte aligned, then one
 * scratchpad shared by every primitive (they run one after another) as large as the
 * largest one's.
 */

/* Where an argument's data lives at run time. */
enum lt_dnnl_place {
    LT_DNNL_IN,   /* a->in[index] */
    LT_DNNL_OUT,  /* a->out[index] */
    LT_DNNL_GIN,  /* a->gin[index] */
    LT_DNNL_GOUT, /* a->gout[index] */
    LT_DNNL_WS    /* the workspace, at offset */
};

struct lt_dnnl_ref {
    enum lt_dnnl_place place;
    int index;
    size_t offset;
};

/* A convolution's backward in bf16 computed in f32 (no bf16 convolution on the CPU),
 * its tensors blocked in another block size than the primitive's, takes 13. */
#define LT_DNNL_MAX_STEPS 16
#define LT_DNNL_MAX_ARGS 5

struct lt_dnnl_step {
    dnnl_primitive_t prim; /* NULL: an own dtype conversion of n elements, ref 0 -> ref 1 */
    int64_t n;
    dnnl_data_type_t from_dt, to_dt;
    int adds; /* the own conversion adds into ref 1 (each sum in f32, rounded once) */
    int n_args;
    int arg[LT_DNNL_MAX_ARGS]; /* DNNL_ARG_* */
    dnnl_memory_t mem[LT_DNNL_MAX_ARGS];
    struct lt_dnnl_ref ref[LT_DNNL_MAX_ARGS];
    dnnl_memory_t scratch; /* NULL when the primitive needs no scratchpad */
    /* A reorder or conversion without accumulation remembers what it converts, so that
     * a second primitive wanting the same data in the same form reuses it. */
    int conversion;
    dnnl_memory_desc_t from_md, to_md;
};

struct lt_dnnl_seq {
    const struct lt_dnnl *d;
    int n_steps;
    struct lt_dnnl_step step[LT_DNNL_MAX_STEPS];
    size_t buffers;    /* workspace bytes of the buffers, a multiple of 64 */
    size_t scratchpad; /* bytes of the shared scratchpad */
};

/* An empty sequence on d's engine. Cannot fail. */
void lt_dnnl_seq_init(struct lt_dnnl_seq *s, const struct lt_dnnl *d);

/* Destroys every primitive and memory object; the sequence is empty again. s may hold
 * a partly built sequence. Cannot fail. */
void lt_dnnl_seq_release(struct lt_dnnl_seq *s);

/* Reserves a workspace buffer for data described by md. Cannot fail. */
struct lt_dnnl_ref lt_dnnl_seq_buffer(struct lt_dnnl_seq *s, const dnnl_memory_desc_t *md);

/* The data at `user` (described by user_md, dense) as a primitive wants it (want):
 * `user` itself when the two descriptions are equal, else a workspace buffer that steps
 * appended now fill at each call (a conversion, a reorder, or both), or one that earlier
 * steps already fill. Fails with LT_EUNSUPPORTED when oneDNN has no such reorder or the
 * dtypes are not f32 and bf16, or LT_ENOMEM. */
enum lt_status lt_dnnl_seq_input(struct lt_dnnl_seq *s, const dnnl_memory_desc_t *user_md,
                                 struct lt_dnnl_ref user, const dnnl_memory_desc_t *want,
                                 struct lt_dnnl_ref *got, char *msg);

/* Where a primitive should write a result that belongs at `user` (user_md): `user`
 * itself when the descriptions are equal and nothing accumulates (returns 1), else a
 * new workspace buffer (returns 0) that lt_dnnl_seq_output_done moves to `user` after
 * the primitive. Cannot fail. */
int lt_dnnl_seq_output(struct lt_dnnl_seq *s, const dnnl_memory_desc_t *have,
                       const dnnl_memory_desc_t *user_md, struct lt_dnnl_ref user, int accumulate,
                       struct lt_dnnl_ref *write_to);

/* Appends the steps that move `from` (from_md) to `to` (to_md, dense): a reorder, with
 * `accumulate` adding into what `to` holds (a sum post-op), and where the dtypes differ
 * an own conversion after it (which then does the adding). Fails like
 * lt_dnnl_seq_input. */
enum lt_status lt_dnnl_seq_reorder(struct lt_dnnl_seq *s, const dnnl_memory_desc_t *from_md,
                                   struct lt_dnnl_ref from, const dnnl_memory_desc_t *to_md,
                                   struct lt_dnnl_ref to, int accumulate, char *msg);

/* Appends the primitive of pd (which the sequence does not take over), its arguments
 * args[i] bound to refs[i]; their memory descriptions are the ones pd reports. Fails
 * with LT_ENOMEM or LT_EUNSUPPORTED. */
enum lt_status lt_dnnl_seq_primitive(struct lt_dnnl_seq *s, const_dnnl_primitive_desc_t pd,
                                     int n_args, const int *args, const struct lt_dnnl_ref *refs,
                                     char *msg);

/* Workspace bytes a call needs: the buffers, then the shared scratchpad. Cannot fail. */
size_t lt_dnnl_seq_workspace(const struct lt_dnnl_seq *s);

/* Runs every step on a's tensors and workspace. Fails with LT_EINVAL (a workspace
 * smaller than planned, a missing tensor) or with oneDNN's failure, message in a->msg. */
enum lt_status lt_dnnl_seq_run(const struct lt_dnnl_seq *s, const struct lt_kargs *a);

/* Checks that a backward call asks for the gradients, and the accumulate bits, that its
 * primitives were prepared for (`grads`: bit i for input i); fails with LT_EINVAL naming
 * `op` otherwise, or when nothing was prepared (`prepared` false). */
enum lt_status lt_dnnl_check_grads(const struct lt_kargs *a, int prepared, unsigned grads,
                                   unsigned accumulate, const char *op);

/* ---- helpers for building sequences ------------------------------------------------- */

/* A primitive attribute with the user scratchpad mode and, with `sum`, a sum post-op
 * (dst = dst + result). The caller destroys it. */
enum lt_status lt_dnnl_attr(dnnl_primitive_attr_t *attr, int sum, char *msg);

/* Creates the primitive descriptor of op_desc: the first implementation oneDNN offers
 * that is not its reference one ("ref:") and, when pad_arg names an argument
 * (DNNL_ARG_SRC ...), does not pad that argument's channels to more than twice their
 * count; failing that, the first one offered. Fails with LT_EUNSUPPORTED when oneDNN
 * has none, or only a reference one and `no_ref` asks for better; LT_ENOMEM. */
enum lt_status lt_dnnl_pd(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t op_desc,
                          const_dnnl_primitive_attr_t attr, const struct lt_dnnl *d,
                          const_dnnl_primitive_desc_t hint, int no_ref, int pad_arg,
                          const char *what, char *msg);

/* A dense row-major description of dims[0 .. ndim-1], or one with the given strides
 * (in elements). */
void lt_dnnl_md_plain(dnnl_memory_desc_t *md, int ndim, const int64_t *dims, dnnl_data_type_t dt);
/* The description of a 4-d tensor as the planner laid it out: plain, or nChw16c where
 * a->blocked names its slot (LT_IN(i) / LT_OUT(k), struct lt_kargs). */
void lt_dnnl_md_laid(dnnl_memory_desc_t *md, const struct lt_kargs *a, unsigned slot,
                     const int64_t *dims, dnnl_data_type_t dt);
void lt_dnnl_md_strided(dnnl_memory_desc_t *md, int ndim, const int64_t *dims,
                        const int64_t *strides, dnnl_data_type_t dt);

/* The same description with another data type. */
dnnl_memory_desc_t lt_dnnl_md_retype(const dnnl_memory_desc_t *md, dnnl_data_type_t dt);

#endif
