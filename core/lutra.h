/* lutra: the public C API of the training engine.
 *
 * The spine (DESIGN.md): build a graph from symbolic tensors (trace once), compile it
 * into a plan whose byte counts are exact per memory category (plan exactly), and run
 * training steps entirely in C. Eager tensors use the same kernels.
 *
 * Conventions that hold for every function here:
 * - Anything that can fail returns enum lt_status (LT_OK == 0, failures negative) and
 *   leaves a message on its context, read with lt_ctx_error(). Nothing a caller passes
 *   aborts or exits the process.
 * - Objects come in _new/_free pairs; _free(NULL) is a no-op. Out-parameters are
 *   written only on success.
 * - Dims are 0-based and layouts are PyTorch's: images (N, C, H, W), linear weights
 *   (out, in), conv weights (O, C/groups, KH, KW).
 * - There are no globals: two contexts, or two trainers on one context, are independent.
 * - What this header declares (with the host API, core/lutra_host.h) is the whole API.
 *   The library is compiled with hidden visibility and these headers alone mark their
 *   functions default, between LT_API_BEGIN and LT_API_END, so liblutra.so exports these
 *   and nothing else: the core's internal functions share the lt_ prefix but stay
 *   inside, as Lua's LUAI_FUNC do.
 */
#ifndef LUTRA_H
#define LUTRA_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h" /* enum lt_status, enum lt_dtype, enum lt_op, op attributes */

#define LT_VERSION "0.1.0"

/* The export mark: the functions declared between these two are the library's exports. */
#if defined(__GNUC__)
#define LT_API_BEGIN _Pragma("GCC visibility push(default)")
#define LT_API_END _Pragma("GCC visibility pop")
#else
#define LT_API_BEGIN
#define LT_API_END
#endif

LT_API_BEGIN

/* ---- context ------------------------------------------------------------------------ */

struct lt_ctx;

/* Creates a context with the CPU backend and seed 0. Fails only with LT_ENOMEM (and
 * then *out is untouched: there is no context to carry a message). */
enum lt_status lt_ctx_new(struct lt_ctx **out);
void lt_ctx_free(struct lt_ctx *ctx);

/* Makes every plan built from now on use the reference kernels (the spec: plain loops,
 * single-threaded): for debugging and bitwise comparisons. Call it before building any
 * plan on this context. Cannot fail. */
void lt_ctx_use_reference(struct lt_ctx *ctx);

/* What the CPU backend runs on: "own kernels (avx512), oneDNN 2.6.3", or "reference
 * kernels". Cannot fail. */
const char *lt_ctx_backend_info(const struct lt_ctx *ctx);

/* Where training plans run. "cpu" (the default) always works. "cuda" or "cuda:N" loads
 * the CUDA plugin (lutra_cuda.so: $LUTRA_CUDA_PLUGIN, else beside the program or module
 * that holds the core, else the install's lib/lutra) and starts device N (0 for
 * "cuda"); without a usable GPU it fails with LT_EUNSUPPORTED saying why (plugin not
 * built, no driver, no such device); the driver (libcuda.so.1) is looked for before
 * the plugin is loaded, so that a machine without one does not load CUDA's libraries for
 * nothing. "auto" takes cuda:0 when that works, else the CPU:
 * it never fails for want of a GPU, and lt_ctx_device_notice() then says why.
 * Call it before building plans; plans built before keep their device. Forward programs
 * (evaluation) run there too, reading a GPU trainer's device copy of the parameters;
 * eager ops (lt_tensor_op) run on the CPU. A GPU trainer keeps the parameters' host
 * copies current whenever they are read. Fails with LT_EINVAL for an unknown name. */
enum lt_status lt_ctx_set_device(struct lt_ctx *ctx, const char *device);
/* Where the CUDA plugin that lt_ctx_set_device would load is (written into buf), or NULL
 * when this build or install has none. Starts nothing. Cannot fail. */
const char *lt_cuda_plugin_path(char *buf, size_t size);
/* The training device: "cpu" or "cuda:N". Cannot fail. */
const char *lt_ctx_device(const struct lt_ctx *ctx);
/* Why "auto" fell back to the CPU ("" when it did not). Cannot fail. */
const char *lt_ctx_device_notice(const struct lt_ctx *ctx);
/* What the training device is: the GPU's name, driver and library versions, or the
 * CPU backend's info. Cannot fail. */
const char *lt_ctx_device_info(const struct lt_ctx *ctx);
/* The training device's memory: free and total bytes now, and what its runtime took
 * (CUDA context, library handles; 0 on the CPU). On the CPU, free and total are the
 * machine's RAM. Cannot fail. */
void lt_ctx_device_memory(const struct lt_ctx *ctx, size_t *free_bytes, size_t *total_bytes,
                          size_t *runtime_bytes);
/* Lets f32 matrix products and convolutions on the GPU use TF32 (faster, about 1e-3
 * relative); off by default, so f32 stays f32. For plans built afterwards; no effect on
 * the CPU. Cannot fail. */
void lt_ctx_set_tf32(struct lt_ctx *ctx, int on);
/* Whether GPU library algorithms must give the same bits on every run (on by default:
 * the same seed gives the same run, as on the CPU). Off lets cuDNN pick its faster
 * non-deterministic convolution algorithms. For plans built afterwards; the CPU is always
 * deterministic. Cannot fail. */
void lt_ctx_set_deterministic(struct lt_ctx *ctx, int on);

/* Makes executors built from now on time every node of every run (on a GPU waiting for
 * each node's kernels: slower steps, exact attribution), read with lt_trainer_profile.
 * Cannot fail. */
void lt_ctx_set_profile(struct lt_ctx *ctx, int on);

/* Makes GPU trainers built from now on capture their step as CUDA graphs and replay them:
 * the plan is static, so a step becomes a few launches instead of one per kernel. Off by
 * default; ignored on the CPU and while profiling. Cannot fail. */
void lt_ctx_set_graphs(struct lt_ctx *ctx, int on);

/* The message of the last failure on this context ("" if none). Valid until the next
 * call that fails. Cannot fail. */
const char *lt_ctx_error(const struct lt_ctx *ctx);

/* The seed every random stream is keyed from (initialisation, dropout). Cannot fail. */
void lt_ctx_set_seed(struct lt_ctx *ctx, uint64_t seed);
uint64_t lt_ctx_seed(const struct lt_ctx *ctx);

/* Threads the CPU kernels use (one OpenMP pool, shared with oneDNN); 0 means the
 * OpenMP default (OMP_NUM_THREADS, else every core). The same seed and thread count
 * give the same run, bit for bit. Cannot fail. */
void lt_ctx_set_threads(struct lt_ctx *ctx, int threads);
int lt_ctx_threads(const struct lt_ctx *ctx);

/* The memory the training device may use, in bytes; 0 means the machine's RAM (on a
 * GPU: its free memory when the plan is built). A plan
 * that needs more fails to compile with LT_ENOMEM and says by how much. Cannot fail. */
void lt_ctx_set_memory_limit(struct lt_ctx *ctx, size_t bytes);
size_t lt_ctx_memory_limit(const struct lt_ctx *ctx);

/* ---- dtypes and ops ------------------------------------------------------------------ */

/* "f32", "f16", "bf16", "i32", "u8". Cannot fail ("?" if invalid). A dtype's size in
 * bytes is lt_dtype_bytes (kernels/ops.h). */
const char *lt_dtype_name(enum lt_dtype dt);
/* Parses a dtype name; fails with LT_EINVAL naming the choices. */
enum lt_status lt_dtype_parse(struct lt_ctx *ctx, const char *name, enum lt_dtype *out);

/* The op's name ("conv2d"), input count range, output count, size of its attribute
 * struct, and whether autodiff can differentiate it. Cannot fail for a valid op. */
const char *lt_op_name(enum lt_op op);
int lt_op_inputs_min(enum lt_op op);
int lt_op_inputs_max(enum lt_op op);
int lt_op_outputs(enum lt_op op);
size_t lt_op_attrs_size(enum lt_op op);
int lt_op_has_backward(enum lt_op op);
/* Looks an op up by name; fails with LT_EINVAL when there is none. */
enum lt_status lt_op_parse(struct lt_ctx *ctx, const char *name, enum lt_op *out);

/* ---- tensors ------------------------------------------------------------------------- */

/* A tensor is a contiguous view (offset, dtype, shape) of a refcounted storage. Views
 * made by reshape and slice share their storage; the storage lives while any view does.
 * Tensors themselves are refcounted: lt_tensor_retain adds a reference, lt_tensor_free
 * drops one. */
struct lt_tensor;

/* A new zero-filled tensor. Fails with LT_EINVAL (ndim outside [0, LT_MAX_DIMS], a
 * negative dim, an invalid dtype) or LT_ENOMEM. */
enum lt_status lt_tensor_new(struct lt_ctx *ctx, enum lt_dtype dt, int ndim,
                             const int64_t *shape, struct lt_tensor **out);
struct lt_tensor *lt_tensor_retain(struct lt_tensor *t);
void lt_tensor_free(struct lt_tensor *t);

/* Accessors. These cannot fail. The data pointer is valid while the tensor lives; it
 * changes when a trainer adopts the tensor as a parameter (see lt_trainer_new). */
enum lt_dtype lt_tensor_dtype(const struct lt_tensor *t);
int lt_tensor_ndim(const struct lt_tensor *t);
const int64_t *lt_tensor_shape(const struct lt_tensor *t);
int64_t lt_tensor_numel(const struct lt_tensor *t);
void *lt_tensor_data(const struct lt_tensor *t);
size_t lt_tensor_bytes(const struct lt_tensor *t);

/* A view with another shape and the same elements (one dim may be -1). Fails with
 * LT_EINVAL when the counts differ. */
enum lt_status lt_tensor_reshape(struct lt_ctx *ctx, struct lt_tensor *t, int ndim,
                                 const int64_t *shape, struct lt_tensor **out);
/* A view of rows [start, start + len) along dim 0. Fails with LT_EINVAL when out of
 * range or when t has no dims. */
enum lt_status lt_tensor_slice(struct lt_ctx *ctx, struct lt_tensor *t, int64_t start,
                               int64_t len, struct lt_tensor **out);
/* A new tensor with t's values converted to dt (round to nearest even when narrowing
 * floats; float to integer truncates toward zero). Fails with LT_ENOMEM. */
enum lt_status lt_tensor_to(struct lt_ctx *ctx, const struct lt_tensor *t, enum lt_dtype dt,
                            struct lt_tensor **out);
/* Copies src's elements into dst, converting dtype. Fails with LT_EINVAL when the
 * element counts differ. */
enum lt_status lt_tensor_copy(struct lt_ctx *ctx, struct lt_tensor *dst,
                              const struct lt_tensor *src);

/* Fills t from the context's seed and a caller-chosen stream number, so that the values
 * depend on (seed, stream, element) only: uniform in [lo, hi), or normal(mean, std).
 * Fails with LT_EINVAL for a non-float tensor. */
enum lt_status lt_tensor_uniform(struct lt_ctx *ctx, struct lt_tensor *t, uint64_t stream,
                                 double lo, double hi);
enum lt_status lt_tensor_normal(struct lt_ctx *ctx, struct lt_tensor *t, uint64_t stream,
                                double mean, double std);
/* Sets every element to v (converted to t's dtype). Cannot fail. */
void lt_tensor_fill(struct lt_tensor *t, double v);

/* Element i (flat index, 0-based) as a double, and its assignment. No bounds check
 * beyond an assert on internal misuse: callers check i < numel. */
double lt_tensor_get(const struct lt_tensor *t, int64_t i);
void lt_tensor_set(struct lt_tensor *t, int64_t i, double v);

/* Runs one op eagerly: plans a one-node graph on the inputs' shapes and writes new
 * tensors to out[0 .. lt_op_outputs(op) - 1]. Fails like lt_graph_op (shape errors)
 * and like the kernel (an index out of range). */
enum lt_status lt_tensor_op(struct lt_ctx *ctx, enum lt_op op, int n_in,
                            struct lt_tensor *const *in, const void *attrs,
                            struct lt_tensor **out);

/* ---- graphs --------------------------------------------------------------------------- */

/* A static graph over symbolic values (dtype and shape, no data). Values are numbered
 * from 0 in creation order. Building a node checks shapes at once. */
struct lt_graph;

enum lt_status lt_graph_new(struct lt_ctx *ctx, struct lt_graph **out);
void lt_graph_free(struct lt_graph *g);

/* A data input (a batch tensor fed at every step), in the order inputs are declared.
 * Fails with LT_EINVAL for a bad shape or dtype. */
enum lt_status lt_graph_input(struct lt_graph *g, enum lt_dtype dt, int ndim,
                              const int64_t *shape, const char *name, int *value);

/* A trainable parameter backed by tensor t (f32), in optimizer group `group` (>= 0).
 * The graph keeps a reference to t. Fails with LT_EINVAL for a non-f32 tensor or a
 * tensor that is already a value of this graph. */
enum lt_status lt_graph_param(struct lt_graph *g, struct lt_tensor *t, const char *name,
                              int group, int *value);

/* A non-trainable tensor the graph reads and may update in place (batch-norm running
 * statistics): the `state` memory category. The graph keeps a reference to t. */
enum lt_status lt_graph_state(struct lt_graph *g, struct lt_tensor *t, const char *name,
                              int *value);

/* Appends a node: `op` applied to values in[0 .. n_in-1] with its attribute struct
 * (NULL for ops without attributes); writes the ids of its lt_op_outputs(op) outputs to
 * out. Fails with LT_EINVAL and a message naming the op and the shapes when the inputs
 * do not fit. */
enum lt_status lt_graph_op(struct lt_graph *g, enum lt_op op, int n_in, const int *in,
                           const void *attrs, int *out);

/* A value's dtype and shape (shape needs LT_MAX_DIMS entries); returns ndim, or -1 for
 * an unknown value. */
int lt_graph_value_shape(const struct lt_graph *g, int value, enum lt_dtype *dt,
                         int64_t *shape);
int lt_graph_value_count(const struct lt_graph *g);
int lt_graph_node_count(const struct lt_graph *g);
int lt_graph_input_count(const struct lt_graph *g);
int lt_graph_param_count(const struct lt_graph *g);
/* Number of trainable scalars. Cannot fail. */
int64_t lt_graph_param_numel(const struct lt_graph *g);

/* Mixed precision: a new graph computing what g computes, with matmul and conv in
 * `half` (f16 or bf16) accumulating in f32, softmax, losses, norm statistics and
 * reductions in f32, other ops in the dtype their inputs arrive in (so activations are
 * stored in half), parameters f32 master weights cast once per step (param_copies), and
 * ops the backend has no half kernel for run in f32 between casts. Inputs, parameters
 * and state keep their order. map (lt_graph_value_count(g) entries) receives each value
 * of g's id in the new graph. Fails with LT_EINVAL for another dtype, LT_ENOMEM. */
enum lt_status lt_graph_mixed(struct lt_ctx *ctx, const struct lt_graph *g, enum lt_dtype half,
                              struct lt_graph **out, int *map);

/* ---- memory categories ------------------------------------------------------------------ */

enum lt_mem_category {
    LT_MEM_PARAMS,       /* fp32 master weights */
    LT_MEM_PARAM_COPIES, /* half copies of weights (mixed precision) */
    LT_MEM_GRADS,        /* fp32 gradients */
    LT_MEM_OPTIMIZER,    /* moments */
    LT_MEM_ACTIVATIONS,  /* forward tensors kept for backward */
    LT_MEM_TEMPORARIES,  /* freed within the step */
    LT_MEM_WORKSPACE,    /* library or kernel scratch within one call */
    LT_MEM_DATA,         /* input batch buffers: two micro-batches (the Lua runner adds
                          * its loader's, on the CPU) */
    LT_MEM_STATE,        /* running statistics, loss scale */
    LT_MEM_RUNTIME,      /* measured, not planned */
    LT_MEM_COUNT
};

/* "params", "param_copies", ... Cannot fail. */
const char *lt_mem_category_name(enum lt_mem_category c);

struct lt_mem_report {
    size_t bytes[LT_MEM_COUNT]; /* per category */
    size_t total;               /* sum of the categories */
    /* Within the packed arenas: the most bytes live at one moment, per category. The
     * arena is at least this large; the difference is what packing could not reuse. */
    size_t live_peak[LT_MEM_COUNT];
};

/* ---- optimizers ------------------------------------------------------------------------- */

enum lt_optim_kind { LT_OPTIM_SGD, LT_OPTIM_ADAMW };

/* Per parameter group multipliers (mmengine's paramwise words): a group's lr is
 * lr * lr_mult and its weight decay weight_decay * decay_mult. */
struct lt_optim_group {
    float lr_mult, decay_mult;
};

struct lt_optim_config {
    enum lt_optim_kind kind;
    float lr, weight_decay;
    float momentum, dampening; /* SGD */
    int nesterov;              /* SGD; needs momentum > 0 and dampening == 0 */
    float beta1, beta2, eps;   /* AdamW */
    float max_grad_norm;       /* global-norm clipping; 0 turns it off */
    int n_groups;              /* groups[0 .. n_groups-1]; 0: every group has mult 1 */
    const struct lt_optim_group *groups;
};

/* PyTorch's defaults for the kind (SGD: momentum 0; AdamW: betas 0.9/0.999, eps 1e-8,
 * weight decay 1e-2), lr as given. Cannot fail. */
struct lt_optim_config lt_optim_defaults(enum lt_optim_kind kind, float lr);

/* ---- plans -------------------------------------------------------------------------- */

/* A compiled training step for one graph and shape: the forward nodes, the backward
 * nodes autodiff appended, every buffer's category and offset. Planning touches no data
 * and allocates nothing of the plan's size. */
struct lt_plan;

/* Differentiates `loss` (the output of cross_entropy or mse, an f32 (2) value holding
 * {sum, count}) with respect to every parameter and plans the step. Fails with
 * LT_EINVAL for a bad loss value or optimizer config, LT_EUNSUPPORTED when an op has no
 * kernel for its dtype or a gradient must pass an op without backward, LT_ENOMEM when
 * the plan exceeds the memory limit (lt_plan_new_with's option, else the context's; the
 * message gives the bytes by category). */
enum lt_status lt_plan_new(struct lt_ctx *ctx, struct lt_graph *g, int loss,
                           const struct lt_optim_config *opt, struct lt_plan **out);
void lt_plan_free(struct lt_plan *p);

/* How a plan trades compute for memory, and the memory it may take. Zeroed: the plain
 * plan under the context's memory limit. */
struct lt_plan_options {
    /* Activation checkpointing (training plans): the forward is cut into segments where
     * the tensors crossing a cut are small, and every segment but the last recomputes its
     * activations just before its backward instead of keeping them (about one more
     * forward pass; gradients and batch norm's running statistics are the same bits as
     * without). The plan keeps it only when the step's bytes fall: a model with nothing
     * worth recomputing gets the plain plan (lt_plan_checkpointing says 1 segment). */
    int checkpoint;
    /* The bytes this plan may need, instead of the context's limit
     * (lt_ctx_set_memory_limit) for this one call: 0 takes the context's; SIZE_MAX
     * refuses nothing (a memory policy measuring plans that do not fit). The context is
     * left as it is. */
    size_t memory_limit;
};

/* lt_plan_new with options (NULL: none). */
enum lt_status lt_plan_new_with(struct lt_ctx *ctx, struct lt_graph *g, int loss,
                                const struct lt_optim_config *opt,
                                const struct lt_plan_options *o, struct lt_plan **out);

/* The bytes the step will allocate, by category. Cannot fail. */
void lt_plan_report(const struct lt_plan *p, struct lt_mem_report *r);
/* Nodes in the planned step (forward plus backward, recomputations included). Cannot
 * fail. */
int lt_plan_node_count(const struct lt_plan *p);
/* Activation checkpointing's segments (1: none, or the forward did not split) and the
 * forward nodes it runs again. Cannot fail. */
void lt_plan_checkpointing(const struct lt_plan *p, int *segments, int *recomputed);
/* What the planner laid out (docs/architecture.md, steps 7 and 8): the tensors it keeps
 * channel-blocked between kernels that take that layout, gradients included, and the
 * reshapes (forward and backward) that run nothing because their output is their
 * input's storage. Cannot fail. */
void lt_plan_layout(const struct lt_plan *p, int *blocked, int *aliased);

/* ---- trainers ------------------------------------------------------------------------- */

/* A trainer owns a plan's memory and runs its steps. */
struct lt_trainer;

/* Allocates every arena the plan names (exactly its bytes), moves the parameters into
 * one flat fp32 buffer and the state tensors into one state buffer; the graph's param
 * and state tensors become views of those, keeping their values. The trainer keeps a
 * reference to the plan. Fails with LT_ENOMEM. */
enum lt_status lt_trainer_new(struct lt_ctx *ctx, struct lt_plan *p, struct lt_trainer **out);
void lt_trainer_free(struct lt_trainer *t);

/* One step's input: n_micro micro-batches, each giving one tensor per graph input in
 * declaration order (inputs[k * n_inputs + i]), shaped as declared. */
struct lt_step_input {
    int n_micro;
    struct lt_tensor *const *inputs;
    uint32_t epoch;      /* keys dropout (with the sample index) */
    int64_t sample_base; /* index in the epoch's sample stream of micro-batch 0's row 0 */
    /* NULL: micro-batch k starts where k - 1 ended; else n_micro indices, each
     * micro-batch's own (a data-parallel rank's slices of the epoch are not contiguous) */
    const int64_t *sample_bases;
};

struct lt_step_result {
    double loss;      /* the step's loss sum / its count of targets */
    double count;     /* targets counted (ignore_index excluded) */
    double grad_norm; /* global norm of the gradient, before clipping */
    int skipped;      /* 1: a gradient was not finite; nothing was updated */
    int64_t step;     /* optimizer steps applied so far */
    float loss_scale; /* the scale this step ran with */
    /* In a data-parallel job (lt_dist_join): the gradient's all-reduces this step (its
     * buckets; 0 otherwise), how many of them started while the backward still ran
     * (overlapped with it), and the seconds the step then waited for the ranks. */
    int comm_buckets, comm_early;
    double comm_wait_seconds;
};

/* Runs one optimizer step: forward and backward of each micro-batch accumulating into
 * the gradient buffer, then the update (norm and finite check in one pass; clip and
 * optimizer in a second). Allocates nothing. A step whose gradient is not finite is
 * skipped: parameters, moments and the step count stay as they were. Fails with
 * LT_EINVAL when an input does not match the graph (shape, dtype, count) or a kernel
 * rejects the data (a label out of range); then the parameters are unchanged. */
enum lt_status lt_trainer_step(struct lt_trainer *t, const struct lt_step_input *in,
                               struct lt_step_result *res);

/* Loss scaling (for fp16): the loss's gradient is multiplied by `scale` before backward
 * and every gradient divided by it again in the update's first pass, so small gradients
 * survive half precision. Dynamic scaling halves (backoff_factor) the scale after a step
 * whose gradient overflowed (that step is skipped) and doubles it (growth_factor) after
 * growth_interval clean steps in a row, as PyTorch's GradScaler. A trainer starts with a
 * static scale of 1. */
struct lt_loss_scale {
    float scale;
    int dynamic;
    float growth_factor, backoff_factor;
    int growth_interval;
};

/* Fails with LT_EINVAL when scale is not a finite number > 0, or, when dynamic,
 * growth_factor <= 1, backoff_factor outside (0, 1) or growth_interval < 1. */
enum lt_status lt_trainer_set_loss_scale(struct lt_trainer *t, const struct lt_loss_scale *s);
/* The scale the next step will use. Cannot fail. */
float lt_trainer_loss_scale(const struct lt_trainer *t);
/* The dynamic scaler's count of clean steps in a row since it last grew or backed off:
 * what a checkpoint keeps so that a resumed run grows the scale when the unbroken one
 * would. lt_trainer_set_loss_scale resets it to 0; set it after. Fails with LT_EINVAL
 * for a negative count. */
int lt_trainer_clean_steps(const struct lt_trainer *t);
enum lt_status lt_trainer_set_clean_steps(struct lt_trainer *t, int clean_steps);

/* Sets the base learning rate (schedules call this between steps); group g uses
 * lr * groups[g].lr_mult. Cannot fail. */
void lt_trainer_set_lr(struct lt_trainer *t, float lr);
float lt_trainer_lr(const struct lt_trainer *t);

/* The bytes the trainer allocated, by category (equal to lt_plan_report of its plan).
 * Cannot fail. */
void lt_trainer_memory(const struct lt_trainer *t, struct lt_mem_report *r);

/* Adds another plan of the same parameters to the trainer: the same model traced for
 * another input shape (a short last micro-batch). From then on each micro-batch of a step
 * runs through the plan whose inputs it matches, accumulating into the one gradient
 * buffer, so one step may mix shapes. The plan's parameters must be the trainer's (the
 * same tensors, in the same order) and its optimizer of the same kind (the first plan's
 * optimizer settings are used). The plan gets its own arenas, counted in
 * lt_trainer_memory; the data slots grow to the largest plan's. The trainer keeps a
 * reference to the plan. Fails with LT_EINVAL for another parameter set or optimizer
 * kind, or past 16 plans; LT_ENOMEM. */
enum lt_status lt_trainer_add_plan(struct lt_trainer *t, struct lt_plan *p);
/* Plans the trainer holds (1 + those added). Cannot fail. */
int lt_trainer_plan_count(const struct lt_trainer *t);

/* Makes dst continue where src stands, when a run changes trainers (another precision:
 * an fp16 graph gives way to its fp32 original): dst takes src's parameter values, state
 * tensors, optimizer moments, step count, lr and loss scaler, matched by parameter
 * order; the graph's parameter and state tensors become views of dst's buffers. The two
 * graphs must have the same parameters (count and element counts, in order) and the
 * optimizers the same moments. src is unchanged and may be freed after. Fails with
 * LT_EINVAL when the trainers differ. */
enum lt_status lt_trainer_copy_state(struct lt_trainer *dst, const struct lt_trainer *src);

/* Optimizer state, for checkpoints. Moment buffers per parameter: 1 for SGD with
 * momentum (the momentum buffer), 2 for AdamW (exp_avg, exp_avg_sq), else 0. Cannot
 * fail. */
int lt_trainer_moment_count(const struct lt_trainer *t);
/* Copies moment k of parameter i (graph order, 0-based) into dst, or from src into the
 * trainer; the tensor must be f32 with the parameter's element count. Fails with
 * LT_EINVAL for k or i out of range, a parameter the plan does not train, or a tensor
 * that does not fit. */
enum lt_status lt_trainer_get_moment(struct lt_trainer *t, int k, int i, struct lt_tensor *dst);
enum lt_status lt_trainer_set_moment(struct lt_trainer *t, int k, int i,
                                     const struct lt_tensor *src);
/* Optimizer steps applied so far (AdamW's bias correction and SGD's first momentum step
 * read it); set when resuming. lt_trainer_set_steps fails with LT_EINVAL for steps < 0. */
int64_t lt_trainer_steps(const struct lt_trainer *t);

/* One node of a profiled step (lt_ctx_set_profile): its op, direction and the seconds it
 * took, summed over every step run so far. */
struct lt_node_time {
    const char *op;
    int backward; /* a backward node, or a cast of a half gradient around one */
    double seconds;
};
/* The first plan's nodes in step order, at most max of them; returns how many there are
 * (0 when the trainer's executor was not built profiling). Cannot fail. */
int lt_trainer_profile(const struct lt_trainer *t, struct lt_node_time *out, int max);
/* Starts the profile's sums again from zero (after warm-up steps). Cannot fail. */
void lt_trainer_profile_reset(struct lt_trainer *t);
enum lt_status lt_trainer_set_steps(struct lt_trainer *t, int64_t steps);

/* ---- forward-only programs -------------------------------------------------------------- */

/* A compiled forward pass (evaluation, inference, eager ops): reads parameters and state
 * from their tensors at each run, so it sees a trainer's latest weights. */
struct lt_forward;

/* Plans the graph's forward up to outputs[0 .. n_out-1]. Fails like lt_plan_new. */
enum lt_status lt_forward_new(struct lt_ctx *ctx, struct lt_graph *g, int n_out,
                              const int *outputs, struct lt_forward **out);
/* The same for a program run between trainer t's steps (its evaluation): the program
 * borrows t's activation, temporary and workspace memory where that is large enough,
 * since the two never run at the same time, and allocates only what is larger. Freeing
 * t first is allowed: the memory the program borrowed lives on until the program is
 * freed. */
enum lt_status lt_forward_new_for(struct lt_ctx *ctx, struct lt_graph *g, int n_out,
                                  const int *outputs, struct lt_trainer *t,
                                  struct lt_forward **out);
/* What lt_forward_new would plan, by category, without allocating it (on a GPU, `data` is
 * the device slot of its inputs). Fails like lt_forward_new (a memory limit included). */
enum lt_status lt_forward_plan(struct lt_ctx *ctx, struct lt_graph *g, int n_out,
                               const int *outputs, struct lt_mem_report *r);
/* lt_forward_plan with options (NULL: none); only o->memory_limit applies to a forward
 * program. */
enum lt_status lt_forward_plan_with(struct lt_ctx *ctx, struct lt_graph *g, int n_out,
                                    const int *outputs, const struct lt_plan_options *o,
                                    struct lt_mem_report *r);
void lt_forward_free(struct lt_forward *f);

/* Runs it on one tensor per graph input, writing each requested output into out[i]
 * (which must have the output's dtype and shape). `epoch` and `sample_base` key dropout
 * when the graph has any. Fails with LT_EINVAL on a mismatched tensor or bad data. */
enum lt_status lt_forward_run(struct lt_forward *f, struct lt_tensor *const *inputs,
                              struct lt_tensor *const *out, uint32_t epoch,
                              int64_t sample_base);
void lt_forward_memory(const struct lt_forward *f, struct lt_mem_report *r);
/* The bytes a program planned as `need` allocates beyond what it borrows from a trainer
 * planned as `have` (lt_forward_new_for): the evaluation's cost next to its step. */
size_t lt_mem_extra(const struct lt_mem_report *have, const struct lt_mem_report *need);

/* ---- IDX files (MNIST's format) ------------------------------------------------------- */

/* Reads an IDX file, plain or gzip-compressed (told apart by its content, not its
 * name), into a new u8 tensor shaped as its header says: MNIST's images are (N, 28, 28),
 * its labels (N). Every byte count is checked against the file before it is trusted.
 * Fails with LT_EIO when the file cannot be opened or read or its gzip stream is
 * corrupt; LT_EINVAL when it is not an IDX file, has 0 or more than LT_MAX_DIMS dims, or
 * holds fewer or more data bytes than its header says ("x.gz: header says 60000 × 28 ×
 * 28 bytes but the file has 1234"); LT_EUNSUPPORTED for element types other than u8
 * (type code 0x08); LT_ENOMEM. Messages start with the path. */
enum lt_status lt_idx_read(struct lt_ctx *ctx, const char *path, struct lt_tensor **out);

/* ---- data sets -------------------------------------------------------------------------- */

/* A data set: N samples, each an input x of one shape and dtype, and a target y — a class
 * index in [0, classes), or, for a regression set (classes 0), a float tensor of one shape.
 * Read-only once made, and cheap to share: a range or a split of a data set is a view of
 * it, and a loader holds what it reads, so any of them may be freed in any order.
 *
 * Kinds: held in memory (lt_dataset_new, lt_dataset_open_fmnist, lt_dataset_open_tensors),
 * PNG files decoded when a batch needs them (lt_dataset_open_images), windows of a token
 * stream (lt_dataset_open_tokens), and batches a host fills (lt_dataset_from_source).
 *
 * An "image" data set is one whose x is u8 (C, H, W) (or (H, W), one channel): a loader
 * scales its pixels to [0, 1], normalises them per channel and may augment them. */
struct lt_dataset;

/* The shape and dtype of one sample's x or y (the batch's shape without its first dim). */
struct lt_sample_shape {
    enum lt_dtype dtype;
    int ndim; /* 0 for a scalar (a class index) */
    int64_t shape[LT_MAX_DIMS];
};

/* Where Debian's dataset-fashion-mnist package puts the four .gz files. */
#define LT_FMNIST_DIR "/usr/share/datasets/fashion-mnist"
/* Fashion-MNIST's training-set pixel mean and standard deviation (of pixel / 255), the
 * usual Normalize((0.2860,), (0.3530,)). */
#define LT_FMNIST_MEAN 0.2860f
#define LT_FMNIST_STD 0.3530f

/* Opens Fashion-MNIST's "train" (60000 images) or "test" (10000) split from `dir` (NULL
 * or "" for LT_FMNIST_DIR): <dir>/train-images-idx3-ubyte.gz and
 * train-labels-idx1-ubyte.gz, or t10k-*; each may also be there uncompressed, without
 * .gz. Images are u8 (N, 28, 28), 10 classes. Fails with LT_EINVAL for another split
 * name, LT_EIO when a file is missing or unreadable (the message names the package
 * to install), and like lt_idx_read and lt_dataset_new (images not (N, 28, 28), counts
 * that differ, a label outside 0..9 — naming the file). */
enum lt_status lt_dataset_open_fmnist(struct lt_ctx *ctx, const char *dir, const char *split,
                                      struct lt_dataset **out);

/* The most classes a data set may have (each gets a name). */
#define LT_MAX_CLASSES 1000000

/* A data set over caller-made tensors x (N, ...) and y. x may be u8 (an image set when
 * (N, H, W) or (N, C, H, W), C from 1 to LT_MAX_CHANNELS), f32, f16, bf16 or i32. With
 * classes >= 1, y is u8 or i32 (N) and every value in [0, classes); with classes 0, y is
 * a float target (N, ...) of the same dtype family as the model's output (f32, f16 or
 * bf16). Keeps a reference to a u8 or i32 x, which must then not be written while a
 * loader reads it; f16, bf16 and f32 x are copied as f32, y is copied. Fails with
 * LT_EINVAL naming the bad dtype, shape, count, label (its index and value) or classes
 * above LT_MAX_CLASSES, or LT_ENOMEM. */
enum lt_status lt_dataset_new(struct lt_ctx *ctx, struct lt_tensor *x, struct lt_tensor *y,
                              int classes, struct lt_dataset **out);

/* The samples [begin, begin + count) of ds, as a data set (a view: ds may be freed).
 * Fails with LT_EINVAL for a range outside [0, size], LT_ENOMEM. */
enum lt_status lt_dataset_range(struct lt_ctx *ctx, const struct lt_dataset *ds, int64_t begin,
                                int64_t count, struct lt_dataset **out);

/* Splits ds in two at random: a permutation of its samples drawn from `seed` (the loader's
 * Fisher–Yates shuffle, on stream "split"), whose first `first` samples form *a and the
 * rest *b, each kept in ds's order. So a seed always makes the same split. Fails with
 * LT_EINVAL when first is outside [0, size], LT_ENOMEM. */
enum lt_status lt_dataset_split(struct lt_ctx *ctx, const struct lt_dataset *ds, int64_t first,
                                uint64_t seed, struct lt_dataset **a, struct lt_dataset **b);
void lt_dataset_free(struct lt_dataset *ds);

/* Samples; classes (0: regression); what one sample's x and y are; whether it is an image
 * set (x u8 (C, H, W) or (H, W)). The class name is Fashion-MNIST's ("T-shirt/top"), an
 * image folder's, or the number as text; NULL for i outside [0, classes). A human name
 * of where the data came from ("fashion_mnist train", a path). None of these can fail. */
int64_t lt_dataset_size(const struct lt_dataset *ds);
int lt_dataset_classes(const struct lt_dataset *ds);
void lt_dataset_sample_shape(const struct lt_dataset *ds, struct lt_sample_shape *x,
                             struct lt_sample_shape *y);
int lt_dataset_is_image(const struct lt_dataset *ds);
const char *lt_dataset_class_name(const struct lt_dataset *ds, int i);
const char *lt_dataset_origin(const struct lt_dataset *ds);

/* The largest integer x holds (token and id data sets: what an embedding must cover), or
 * -1 when x is not integer; *where (may be NULL) gets its first position: in a token
 * set, the token's index in the file; otherwise sample * (elements per sample) + element.
 * Cannot fail. */
int64_t lt_dataset_max_id(const struct lt_dataset *ds, int64_t *where);

/* ---- data sets from files ------------------------------------------------------------- */

/* What to do with a file that cannot be decoded. */
enum lt_bad_file { LT_BAD_FILE_ERROR, LT_BAD_FILE_SKIP };

struct lt_image_options {
    int channels;         /* 0: the first file's (gray 1, colour 3); 1 or 3 converts
                           * (lt_png_read's rule) */
    int64_t max_pixels;   /* > 0: a file of more pixels is refused; 0: no limit */
    int same_size;        /* 1: every file must have the first file's size (no loader
                           * transform will make them equal) */
    enum lt_bad_file on_bad_file; /* a file whose header cannot be read: fail, or leave it
                                   * out (lt_dataset_skipped counts them) */
};

/* An image folder as torchvision's ImageFolder reads one: root/<class>/<file>.png, the
 * classes the folder names sorted bytewise, a class's index its position; files sorted
 * within a class; names starting with '.' ignored. Every file's PNG header is read here
 * (size, colour) so a bad or mismatching file is named before training; pixels are decoded
 * when a batch needs them. x is u8 (C, H, W) at the first file's size; with same_size 0,
 * files may differ in size (a loader's resize or crop must make them equal).
 * `classes` (may be NULL): the class names to expect — a test split must have its
 * training split's classes — and their order: a folder's label is then its name's place
 * in that list. Fails with LT_EIO (a folder cannot be read), LT_EINVAL (an empty root, an
 * empty class folder, a folder inside a class folder, a file that cannot be read, is not
 * a PNG, is too large or, with same_size, of another size, a class missing from or not
 * in `classes`), naming the path. */
enum lt_status lt_dataset_open_images(struct lt_ctx *ctx, const char *root,
                                      const char *const *classes, int n_classes,
                                      const struct lt_image_options *o, struct lt_dataset **out);

/* The same from a list file: one "path label" per line (path relative to the list file's
 * folder unless absolute; label an integer in [0, classes); '#' starts a comment; blank
 * lines ignored). Fails as above, also naming the line of a malformed entry. */
enum lt_status lt_dataset_open_image_list(struct lt_ctx *ctx, const char *list, int classes,
                                          const struct lt_image_options *o,
                                          struct lt_dataset **out);

/* Files an image data set left out (LT_BAD_FILE_SKIP) when it was opened, and those its
 * loaders have found since that failed to decode; counted per opened data set, so its
 * ranges and splits give the same count. Cannot fail. */
int64_t lt_dataset_skipped(const struct lt_dataset *ds);

/* A tensors file: x and y from a safetensors file (tensors named "x" and "y"), or from a
 * NumPy pair (`path` names x's .npy; y's is the same name with x replaced by y: x.npy ->
 * y.npy, train_x.npy -> train_y.npy). x: u8, f16, bf16, f32, i32 or i64 (ids, converted
 * to i32 when they fit). y: an integer class index (N) — classes = max + 1 — or a float
 * target (N, ...) for regression (classes 0). Fails with LT_EIO (a file cannot be read),
 * LT_EINVAL (no x or y, no samples, x and y disagree on N, a negative class or more than
 * LT_MAX_CLASSES, a .npy dtype or layout it does not read), LT_EUNSUPPORTED (a
 * safetensors dtype lt_safetensors_load does not read), naming the file. */
enum lt_status lt_dataset_open_tensors(struct lt_ctx *ctx, const char *path,
                                       struct lt_dataset **out);

/* How a token file's tokens are stored. */
enum lt_token_format {
    LT_TOKENS_AUTO, /* a header (below) says; a .txt file is bytes; anything else fails */
    LT_TOKENS_U16,  /* raw little-endian u16, no header */
    LT_TOKENS_U32,  /* raw little-endian u32, no header */
    LT_TOKENS_BYTES /* each byte one token (UTF-8 text: vocabulary 256) */
};

struct lt_token_options {
    enum lt_token_format format;
    int64_t block_size;   /* tokens per sample, >= 1 */
    double begin, end;    /* the part of the stream, as fractions: [0, 0.9) for training
                           * with 10% held out, [0.9, 1) for validation */
    int random_windows;   /* 1: sample i of epoch e starts at position m mod (part -
                           * block_size) of the part, m the mix (lt_mix64, kernels/rng.h)
                           * of the key of (seed, 0x746f6b656e73 "tokens", e, i); 0: at
                           * i * block_size */
    uint64_t seed;
};

/* A token stream read whole: a header of 256 little-endian int32 (llm.c's .bin: magic
 * 20240520 with u16 tokens, or 20240801 with u32; [1] the version, [2] the token count),
 * or raw tokens (`format`). A sample is x = block_size tokens, y = the next token of each
 * (both i32 (block_size)); a part of n tokens gives floor((n - 1) / block_size) samples.
 * Fails with LT_EIO (unreadable), LT_EINVAL (a length that is not a multiple of the token
 * size, a header whose count disagrees with the file, a raw format asked of a file with a
 * header, too few tokens for one sample, a token id that does not fit i32), naming the
 * file. */
enum lt_status lt_dataset_open_tokens(struct lt_ctx *ctx, const char *path,
                                      const struct lt_token_options *o, struct lt_dataset **out);

/* The same over several files read as one stream, in the order given: the files' tokens
 * one after another (each file with its own header, or raw), the part's fractions taken
 * of the whole stream, positions (lt_dataset_max_id) counted in it. The files must all
 * store tokens at one width; every file is checked as lt_dataset_open_tokens checks one.
 * Its origin is "FIRST and N more files". */
enum lt_status lt_dataset_open_token_files(struct lt_ctx *ctx, const char *const *paths,
                                           int n_paths, const struct lt_token_options *o,
                                           struct lt_dataset **out);

/* ---- data sets a host fills ------------------------------------------------------------- */

/* A data set whose samples the embedding program provides. The loader calls `fill` for
 * each batch, with the samples' indices in the order the batch holds them, and buffers for
 * n samples of x and y (laid out as x's and y's sample shapes say, row after row); for
 * images (x u8 (C, H, W)) it calls fill for one sample at a time, so that each takes the
 * image path (augmentation, per-channel normalisation).
 *
 * Threading: with caller_thread, fill runs only inside lt_loader_next, on its caller's
 * thread (a loader over such a set makes its batches there; workers are ignored).
 * Otherwise it runs on the loader's worker threads: concurrently from several when
 * thread_safe, one at a time when not (under a lock of the data set's, which every
 * loader of it and of its views shares). */
struct lt_source {
    int64_t size;               /* samples */
    struct lt_sample_shape x;   /* u8 (an image set when (C, H, W)), f32 or i32 */
    struct lt_sample_shape y;   /* i32 scalar (a class index) when classes >= 1; f32 else */
    int classes;
    /* Writes samples idx[0 .. n-1] of `epoch`. Returns 0, or non-zero with a message in
     * msg (msg_size bytes), which the loader reports. */
    int (*fill)(void *user, uint32_t epoch, const int64_t *idx, int64_t n, void *x, void *y,
                char *msg, size_t msg_size);
    void (*release)(void *user); /* once no data set or loader uses it; may be NULL */
    void *user;
    int thread_safe;
    int caller_thread;
    const char *origin;         /* a name for messages ("my_source"); copied; may be NULL */
};

/* A data set over a host's source. Checks the shapes (x u8, f32 or i32; y i32 scalar with
 * classes >= 1, f32 with classes 0) and fails with LT_EINVAL, or LT_ENOMEM; on failure
 * release is not called. */
enum lt_status lt_dataset_from_source(struct lt_ctx *ctx, const struct lt_source *src,
                                      struct lt_dataset **out);

/* ---- loaders ---------------------------------------------------------------------------- */

/* Turns a data set into micro-batches x (B, ...) and y (B, ...).
 *
 * x: an image set's pixels become f32 (v / 255 - mean[c]) / std[c] (mean and std per
 * channel; one value applies to all), after the augmentation below, shaped (B, C, H, W),
 * or (B, C*H*W) with `flat`; other u8 x is scaled and normalised the same way with
 * channel 0's mean and std; f16, bf16 and f32 x become f32 as they are; i32 x (ids,
 * tokens) stays i32. y: i32 (B) class indices, i32 (B, T) next tokens, or f32 (B, ...)
 * targets.
 *
 * Augmentation (image sets only), in torchvision's order: resize (bilinear) to
 * resize_h × resize_w; a crop of crop_h × crop_w, random with crop_padding zeros on each
 * side when random_crop, else centred; a horizontal flip with probability 1/2 when
 * hflip. Every draw is a function of (seed, epoch, sample index), so resume,
 * accumulation and any number of workers see the same batches, bit for bit.
 *
 * An epoch is one pass over every sample. Its order is the identity, or with `shuffle`
 * a permutation that depends on (seed, epoch) only: a Fisher–Yates shuffle whose step i
 * (from N - 1 down to 1) swaps i with lt_mix64(key + i * 0x9e3779b97f4a7c15) % (i + 1),
 * key = lt_rng_key(seed, 0x73687566666c65 ("shuffle"), epoch, 0) (kernels/rng.h). So
 * resuming, re-batching or another batch size sees the same sample order. An epoch has
 * ceil(N / B) batches, the last one short (B = N mod B rows) unless `drop_last`, which
 * ends the epoch before it (floor(N / B) batches). After an epoch's last batch comes
 * batch 0 of the next epoch: the loader never runs dry.
 *
 * With workers = n >= 1, n threads prepare the batches ahead into n + 1 batch buffers
 * (the `data` memory category), each thread a whole batch; without workers,
 * lt_loader_next makes the batch itself. All give the same batches. A file that fails to
 * decode fails lt_loader_next naming it, or with LT_BAD_FILE_SKIP is replaced by the next
 * sample of the epoch's order that decodes (and counted by lt_dataset_skipped). */
struct lt_loader;

#define LT_MAX_CHANNELS 4

struct lt_loader_config {
    int64_t batch;   /* samples per micro-batch, >= 1 */
    int shuffle;     /* 1: a new order every epoch, from (seed, epoch) */
    int drop_last;   /* 1: skip each epoch's short last batch */
    uint64_t seed;   /* keys the shuffle and the augmentation */
    int n_norm;      /* values in mean and std: 1 (every channel) or the channel count */
    float mean[LT_MAX_CHANNELS], std[LT_MAX_CHANNELS]; /* std > 0 */
    int flat;        /* 1: x is (B, C*H*W) */
    int workers;     /* threads preparing batches ahead; 0: the caller's thread */
    int resize_h, resize_w;          /* > 0: bilinear resize first */
    int crop_h, crop_w, crop_padding, random_crop; /* > 0: crop to this size */
    int hflip;                       /* 1: random horizontal flip */
    enum lt_bad_file on_bad_file;
    /* Data-parallel shards (0 or 1: none): each batch of the epoch is batch × shards
     * samples of the order, every rank's loader handing out its shard's slice (rows
     * [shard × batch, (shard + 1) × batch) of a full one; a short last one cut as evenly
     * as it goes, so a shard's slice may be a row shorter, or empty). sample_base stays
     * the slice's position in the epoch's order: dropout and augmentation draw what one
     * process with the whole batch would. */
    int shard, shards;
};

/* batch as given, shuffle 1, drop_last 0, seed 0, mean 0, std 1 (x = pixel / 255),
 * flat 0, workers 1, no augmentation, LT_BAD_FILE_ERROR, no shards. Cannot fail. */
struct lt_loader_config lt_loader_defaults(int64_t batch);

/* The shape of x's batches of `batch` rows the loader would make of ds under cfg (the
 * plan needs it before any data is read). Fails with LT_EINVAL naming what does not fit:
 * a crop larger than the (padded) image, augmentation or more than one normalisation value
 * per channel on a set that is not images, image sizes that differ without a resize or
 * crop. */
enum lt_status lt_loader_x_shape(struct lt_ctx *ctx, const struct lt_dataset *ds,
                                 const struct lt_loader_config *cfg, int64_t batch,
                                 struct lt_sample_shape *x);

/* A loader positioned at (epoch 0, batch 0). Keeps what it reads of ds (ds may be freed
 * before the loader) and reports on ctx, which must outlive it. Fails like
 * lt_loader_x_shape, with LT_EINVAL for a batch < 1, std <= 0 or not finite, workers
 * outside [0, 64], or a data set with no batch to give (empty, or fewer than `batch`
 * samples with drop_last); LT_ENOMEM, also when a thread cannot be started. */
enum lt_status lt_loader_new(struct lt_ctx *ctx, const struct lt_dataset *ds,
                             const struct lt_loader_config *cfg, struct lt_loader **out);
/* Stops and joins the threads, then frees. Tensors of a batch it handed out and the
 * caller retained stay valid. */
void lt_loader_free(struct lt_loader *ld);

/* One micro-batch. x and y are the loader's buffers, borrowed: their contents are valid
 * until the next lt_loader_next or lt_loader_seek on this loader (lt_tensor_copy to keep
 * them). A short last batch has tensors with that smaller dim 0. */
struct lt_batch {
    struct lt_tensor *x; /* see lt_loader_config */
    struct lt_tensor *y;
    uint32_t epoch;      /* the epoch this batch belongs to */
    int64_t iter;        /* its number within the epoch, from 0 */
    int64_t sample_base; /* iter * batch (with shards: the slice's first row): row 0's
                          * index in the epoch's sample stream (lt_step_input.sample_base,
                          * which keys dropout) */
    int64_t size;        /* rows: batch, or fewer for a short last batch (with shards
                          * possibly 0) */
    int last;            /* 1: the last batch of its epoch */
};

/* Hands out the batch at the loader's position and moves the position on (to the next
 * epoch after the last batch). Fails with LT_EINVAL when a file of the batch cannot be
 * decoded (the message names it) or a host's fill fails (its message); the position then
 * stays, and the next call tries the batch again (with workers, they start making it
 * again at once). */
enum lt_status lt_loader_next(struct lt_loader *ld, struct lt_batch *b);

/* Moves the position to batch `iter` of `epoch`, to resume a run (seek(e, 0) starts
 * epoch e). Batches being prepared are finished and discarded; the last batch handed out
 * becomes invalid. Fails with LT_EINVAL when iter is outside [0, lt_loader_batches). */
enum lt_status lt_loader_seek(struct lt_loader *ld, uint32_t epoch, int64_t iter);

/* The position of the batch the next lt_loader_next hands out (what a checkpoint saves).
 * Cannot fail. */
void lt_loader_position(const struct lt_loader *ld, uint32_t *epoch, int64_t *iter);

/* Batches per epoch; the bytes of its batch buffers (the `data` category: workers + 1
 * batches, or 1 without workers). Cannot fail. */
int64_t lt_loader_batches(const struct lt_loader *ld);
size_t lt_loader_data_bytes(const struct lt_loader *ld);

/* ---- safetensors files ------------------------------------------------------------------ */

/* The safetensors format (Hugging Face's, what PyTorch's safetensors.torch reads): an
 * 8-byte little-endian header length N, N bytes of JSON {"name": {"dtype": "F32",
 * "shape": [2, 3], "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}},
 * then the tensors' bytes, little-endian, row-major, offsets relative to the end of
 * the header. lutra's dtypes are written as F32, F16, BF16, I32 and U8.
 *
 * Every file lutra writes holds the CRC-32 of its data section (zlib's crc32, as
 * Python's zlib.crc32, over all bytes after the header) in __metadata__ under this key,
 * as 8 lowercase hex digits; lt_safetensors_load verifies it when a file has it. */
#define LT_SAFETENSORS_CRC_KEY "lutra.data_crc32"

/* Writes tensors[0 .. n-1] under names[i] (PyTorch's names: "0.weight") and the string
 * pairs meta_keys[k] = meta_values[k] (k < n_meta) as __metadata__, then the data's
 * checksum under LT_SAFETENSORS_CRC_KEY (so __metadata__ is always there; the arrays may
 * be NULL when their count is 0). The header keeps the given order; the data are laid
 * out widest dtype first, so every tensor is aligned to its element size, and the header
 * is padded with spaces to a multiple of 8. Atomic: the file is written under a
 * temporary name in the same directory, flushed to disk (fsync), then renamed over
 * `path`; on failure no temporary stays and an existing file at `path` is unchanged.
 * Fails with LT_EINVAL for a NULL, duplicate, "__metadata__" or non-UTF-8 name or key, a
 * meta key equal to LT_SAFETENSORS_CRC_KEY, or n or n_meta < 0; LT_EIO
 * when the directory cannot be written or a write, fsync or rename fails (the message
 * names the path and the system's reason); LT_ENOMEM. */
enum lt_status lt_safetensors_save(struct lt_ctx *ctx, const char *path, int n,
                                   const char *const *names, struct lt_tensor *const *tensors,
                                   int n_meta, const char *const *meta_keys,
                                   const char *const *meta_values);

/* A safetensors file read into memory: its tensors in header order and its metadata. */
struct lt_safetensors;

/* Reads and checks a whole file. Besides lutra's five dtypes it reads I64 (into i32,
 * when every value fits), F64 (into f32, rounded) and BOOL (into u8); the dtype on disk
 * stays readable with lt_safetensors_dtype. Fails with LT_EIO when the file cannot be
 * opened or read; LT_EINVAL for a malformed file — shorter than 8 bytes, a header
 * length past the end ("ckpt.safetensors: header length 9.22e18 exceeds file size 4096")
 * or over 100 MB, a header that is not a JSON object, an entry without a string dtype,
 * an integer shape or two integer data_offsets, a shape whose bytes differ from its
 * offsets, offsets out of range, overlapping or leaving bytes no tensor owns, a
 * non-string metadata value, an I64 value out of i32's range, a data checksum
 * (LT_SAFETENSORS_CRC_KEY) that is not 8 hex digits or does not match the data
 * ("ckpt.safetensors: data checksum mismatch (file corrupted?)"), an empty path; LT_EIO
 * also for a path that is not a regular file ("x: not a regular file (a FIFO)", refused
 * without waiting on it); LT_EUNSUPPORTED for another dtype (I8, U16, F8_E4M3 ...) or
 * more than LT_MAX_DIMS dims; LT_ENOMEM. Messages start with the path and name the
 * tensor. The checksum key is not among the metadata the accessors list. NaN and inf
 * values are read as they are: lt_safetensors_nonfinite counts them. */
enum lt_status lt_safetensors_load(struct lt_ctx *ctx, const char *path,
                                   struct lt_safetensors **out);
void lt_safetensors_free(struct lt_safetensors *f);

/* Accessors; none can fail. Tensors are borrowed: valid while the file object lives
 * (lt_tensor_retain to keep one longer). Out-of-range i gives NULL. */
int lt_safetensors_count(const struct lt_safetensors *f);
const char *lt_safetensors_name(const struct lt_safetensors *f, int i);
struct lt_tensor *lt_safetensors_tensor(const struct lt_safetensors *f, int i);
/* The dtype as the file spells it: "F32", "BF16", "I64" ... */
const char *lt_safetensors_dtype(const struct lt_safetensors *f, int i);
/* The NaN and ±inf values of tensor i as read (after narrowing: an F64 beyond f32's range
 * counts as inf): their number is returned, NaNs and infs in *n_nan and *n_inf, the flat
 * index of the first in *first (-1 when none); any out pointer may be NULL. 0 for
 * integer dtypes and out-of-range i. */
int64_t lt_safetensors_nonfinite(const struct lt_safetensors *f, int i, int64_t *n_nan,
                                 int64_t *n_inf, int64_t *first);
/* 1 when the file carried a data checksum (which matched: it was read), 0 without one. */
int lt_safetensors_checked(const struct lt_safetensors *f);
/* The index of the tensor called `name`, or -1. */
int lt_safetensors_find(const struct lt_safetensors *f, const char *name);
/* Metadata pairs in header order, and the value for a key (NULL when absent). */
int lt_safetensors_meta_count(const struct lt_safetensors *f);
const char *lt_safetensors_meta_key(const struct lt_safetensors *f, int i);
const char *lt_safetensors_meta_value(const struct lt_safetensors *f, int i);
const char *lt_safetensors_meta(const struct lt_safetensors *f, const char *key);

/* ---- files ------------------------------------------------------------------------------- */

/* Writes n bytes to path atomically: a temporary beside it (<path>.tmp-<pid>-XXXXXX),
 * mode 0644, fsync, rename over path, fsync of the folder; a reader sees the old file or
 * the new one, never a part. Fails with LT_EIO (the message names the path, the step and
 * the reason; path is unchanged and no temporary is left) or LT_ENOMEM. */
enum lt_status lt_file_write_atomic(struct lt_ctx *ctx, const char *path, const void *data,
                                    size_t n);

/* ---- curves ------------------------------------------------------------------------------ */

/* One line of a chart: n points (x[i], y[i]); points with a non-finite coordinate are
 * left out (the line breaks there). */
struct lt_plot_series {
    const char *label; /* the legend's text, or NULL */
    const double *x, *y;
    int n;
    uint32_t rgb; /* 0xRRGGBB */
};

/* Draws the series as a line chart — axes spanning the data, round tick values, the
 * title top left, the legend top right, x_label under the x axis (title, label and
 * x_label may be NULL; letters, digits and . , - + ( ) / % : _ are drawn) — and writes it
 * as an 8-bit RGB PNG of width × height pixels, atomically (a temporary file beside
 * path, fsync, rename). Fails with LT_EINVAL for a size outside 160..4096 × 100..4096, no
 * series or no finite point; LT_EIO when the file cannot be written (the message names
 * the path and the reason); LT_ENOMEM. */
enum lt_status lt_plot_png(struct lt_ctx *ctx, const char *path, const char *title,
                           const char *x_label, int width, int height, int n_series,
                           const struct lt_plot_series *series);

/* ---- PNG images -------------------------------------------------------------------------- */

/* Reads a PNG (any colour type, bit depth 1 to 16, interlaced or not) into a new u8 tensor
 * (C, H, W). channels 0 keeps the file's colour (gray, with or without alpha: 1; RGB, RGBA
 * and palette: 3), 1 makes RGB gray by ITU-R 601-2 luma, round((299 R + 587 G + 114 B) /
 * 1000), 3 replicates gray. 16-bit samples are scaled to 8 bits exactly; alpha and tRNS
 * transparency are dropped, not composited. The file is read through its end: a truncated
 * or corrupt file fails. Fails with LT_EIO when the file cannot be opened or read (or is
 * not a regular file), LT_EINVAL for channels other than 0, 1 and 3 or a file that is not
 * a PNG, truncated or corrupt (CRC error, invalid IHDR data, bad compressed data),
 * LT_ENOMEM. Messages start with the path. */
enum lt_status lt_png_read(struct lt_ctx *ctx, const char *path, int channels,
                           struct lt_tensor **out);
/* Writes a u8 tensor (H, W) or (C, H, W), C = 1 (gray), 2 (gray, alpha), 3 (RGB) or 4
 * (RGBA), 1 to 1000000 pixels a side, as an 8-bit PNG, atomically (a temporary file
 * beside path, fsync, rename). Fails with LT_EINVAL for another dtype or shape, LT_EIO
 * when the file cannot be written (the message names the path and the reason),
 * LT_ENOMEM. */
enum lt_status lt_png_write(struct lt_ctx *ctx, const char *path, const struct lt_tensor *t);

/* ---- data-parallel ranks (docs/distributed.md) ---------------------------------------- */

/* A job of N ranks started by an MPI launcher (mpirun -np N lutra train ...): each rank a
 * process with its own context, the same model and seed, and its shard of every batch. A
 * trainer built on a context that joined the job sums the step's gradient over the ranks
 * before the update (in buckets of the flat gradient buffer, each started as soon as the
 * backward has finished it, so that the transfer overlaps the rest of the backward; on a
 * GPU through NCCL, bootstrapped over MPI), and the step's loss sum and target count, so
 * that every rank applies the update one process would with N times the batch. The MPI
 * world is the process's (the one exception to "no globals": MPI has one per process);
 * any of its contexts may join it. */

/* Whether this process was started by an MPI launcher, as its environment says (Open
 * MPI's OMPI_COMM_WORLD_SIZE and _RANK, PMI's and PMIx's PMI_SIZE, PMIX_RANK ...), with
 * the rank and world size it says (-1 where it does not); rank and size may be NULL.
 * Touches nothing. */
int lt_dist_launched(int *rank, int *size);
/* Whether this lutra was built with MPI (make MPI=1). */
int lt_dist_built(void);

/* Joins ctx to the job: MPI is initialised once per process (and finalised at its exit,
 * or by lt_dist_finalize). A process no launcher started is a world of one, without MPI. Fails
 * with LT_EUNSUPPORTED when a launcher started it but lutra was built without MPI (the
 * message says how to build with it), LT_EIO when MPI cannot start. */
enum lt_status lt_dist_join(struct lt_ctx *ctx);

/* The context's rank, the world's size, and the rank among and count of the ranks on this
 * host: 0, 1, 0, 1 for a context that has not joined. */
int lt_dist_rank(const struct lt_ctx *ctx);
int lt_dist_size(const struct lt_ctx *ctx);
int lt_dist_local_rank(const struct lt_ctx *ctx);
int lt_dist_local_size(const struct lt_ctx *ctx);

/* How long a collective waits for the other ranks before it fails, naming itself and the
 * rank that waited (default 600 s); a rank that stopped or hangs then ends the job instead
 * of blocking it. Fails with LT_EINVAL for seconds not > 0. */
enum lt_status lt_dist_set_timeout(struct lt_ctx *ctx, double seconds);
double lt_dist_timeout(const struct lt_ctx *ctx);

/* The bytes of one gradient bucket (default 1 MiB): for trainers built afterwards. Fails
 * with LT_EINVAL under 4096. */
enum lt_status lt_dist_set_bucket_bytes(struct lt_ctx *ctx, size_t bytes);
size_t lt_dist_bucket_bytes(const struct lt_ctx *ctx);

/* How many buckets a data-parallel trainer of plan p cuts its gradient into with buckets
 * of `bytes` (lt_dist_set_bucket_bytes), and the largest one's bytes (largest may be
 * NULL); -1 when out of memory. Each bucket is one all-reduce per step. */
int lt_plan_grad_buckets(const struct lt_plan *p, size_t bytes, size_t *largest);

/* Sums n doubles over every rank, in place (losses, metrics, flags that must agree);
 * `what` names it in a message. Every rank calls it at the same point. A world of one: a
 * no-op. Fails with LT_EIO (MPI's error, or the timeout). */
enum lt_status lt_dist_sum(struct lt_ctx *ctx, double *v, int n, const char *what);
/* The same with each number's largest over the ranks. */
enum lt_status lt_dist_max(struct lt_ctx *ctx, double *v, int n, const char *what);

/* Rank root's bytes to every rank, as lt_dist_sum. Fails as it, or with LT_EINVAL for a
 * root outside the world. */
enum lt_status lt_dist_broadcast(struct lt_ctx *ctx, void *buf, size_t bytes, int root,
                                 const char *what);

/* This rank is done with the job: MPI is finalised (it waits for the other ranks; also
 * at the process's exit). Without MPI, or called again: nothing. */
void lt_dist_finalize(void);
/* This rank failed: the job ends (MPI_Abort with code: the launcher ends every rank and
 * names this one), and the call does not return. Outside a launched job: nothing. */
void lt_dist_abort(int code);

LT_API_END

#endif
