/* The op descriptors: the op table (kernels/ops.def) joined with each op's shape
 * inference. Private to the core; the public face is lt_graph_op and lt_op_name.
 */
#ifndef LT_OPS_H
#define LT_OPS_H

#include <stddef.h>

#include "core/lutra.h"
#include "kernels/kernels.h"

/* Checks an op's inputs (count already checked, dtypes and shapes not) and fills the
 * outputs' dtype and shape (data stays NULL). On bad input writes a message naming the
 * op and the offending shapes into msg (LT_KMSG_SIZE bytes) and returns LT_EINVAL. */
typedef enum lt_status (*lt_infer_fn)(const void *attrs, int n_in, const struct lt_kview *in,
                                      struct lt_kview *out, char *msg);

struct lt_op_desc {
    const char *name;
    int min_in, max_in, n_out;
    size_t attrs_size;
    int has_backward;
    unsigned backward_reads; /* LT_IN(i) | LT_OUT(i) */
    enum lt_precision_class precision;
    lt_infer_fn infer;
    /* UPDATES_STATE ops (ops.def's state column): copies attrs into `again`, made for a
     * second run of the node that updates no state (a recomputation), and returns 1; 0
     * when a run of these attrs updates none anyway (nothing copied). NULL otherwise. */
    int (*freeze_state)(const void *attrs, void *again);
};

extern const struct lt_op_desc lt_op_descs[LT_OP_COUNT];

#define LT_OP(ID, name, min_in, max_in, n_out, attrs, has_bwd, reads, prec, state)             \
    enum lt_status lt_infer_##name(const void *attrs_, int n_in, const struct lt_kview *in,    \
                                   struct lt_kview *out, char *msg);
#include "kernels/ops.def"
#undef LT_OP

/* The freeze functions of the UPDATES_STATE ops. */
int lt_freeze_batch_norm2d(const void *attrs, void *again);

/* Shared by the infer functions. */

/* Writes "(8, 3, 28, 28)" into buf; returns buf. Cannot fail (truncates). */
const char *lt_shape_str(const struct lt_kview *v, char *buf, size_t size);

/* Formats into msg (LT_KMSG_SIZE bytes) and returns LT_EINVAL. */
enum lt_status lt_infer_fail(char *msg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Checks that in[i] has dtype `dt`; else fails naming the op and the input. */
enum lt_status lt_infer_want_dtype(const char *op, const struct lt_kview *in, int i,
                                   enum lt_dtype dt, char *msg);

/* Checks that in[i] is a floating dtype (f32, f16, bf16). */
enum lt_status lt_infer_want_float(const char *op, const struct lt_kview *in, int i, char *msg);

/* Checks that a and b have one dtype; else fails with "<op>: inputs must have one dtype,
 * got <a> and <b>". */
enum lt_status lt_infer_want_one_dtype(const char *op, const struct lt_kview *a,
                                       const struct lt_kview *b, char *msg);

/* Checks that every in[i] has in[0]'s dtype; else fails naming the first that does not
 * ("<op>: input 3 is f16 but input 1 is f32"). */
enum lt_status lt_infer_want_dtype_of_first(const char *op, int n_in, const struct lt_kview *in,
                                            char *msg);

/* Checks that b's shape equals a's or a suffix of it, the broadcast of the elementwise
 * binary ops and eq (b repeats over a's leading dims); else fails naming both shapes. */
enum lt_status lt_infer_want_suffix(const char *op, const struct lt_kview *a,
                                    const struct lt_kview *b, char *msg);

/* For the ops that map a float tensor to one of its dtype and shape: checks in[0] with
 * lt_infer_want_float and makes out[0] like it. */
enum lt_status lt_infer_float_like_input(const char *op, const struct lt_kview *in,
                                         struct lt_kview *out, char *msg);

/* out = a copy of v's dtype and shape, data NULL. */
void lt_view_like(struct lt_kview *out, const struct lt_kview *v);

/* Whether op's forward kernels leave output k unwritten when its view's data is NULL,
 * which the planner passes where nothing reads that output (struct lt_kargs): max
 * pooling's argmax codes, in a forward program. */
int lt_op_output_skippable(enum lt_op op, int k);

/* 1 for the floating dtypes (f32, f16, bf16), else 0. */
int lt_dtype_is_float(enum lt_dtype dt);

#endif
