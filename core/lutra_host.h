/* lutra's host API: a C program (a simulator, a game engine, a robot stack, a data
 * pipeline) runs a training recipe — a Lua file its users edit — from its own process and
 * threads, feeding it data from its own memory. docs/embedding.md is the guide.
 *
 * A run (struct lt_run) is one recipe in one Lua state with lutra loaded: the state
 * lt_run_new makes, or the host's own (lt_run_new_in). The host registers its data sets
 * (lt_run_add_source: struct lt_source from core/lutra.h, which a recipe selects as
 * data.dataset = "host:NAME"), loads the recipe with overrides, and drives the run —
 * lt_run_build, lt_run_steps / lt_run_train, lt_run_evaluate, lt_run_save — reading the
 * last step's numbers with lt_run_stats or in a step callback. lutra's runner does the
 * work, as for `lutra train`: the work dir, its logs, checkpoints and final weights.
 *
 * Conventions, as in core/lutra.h: functions that can fail return enum lt_status and keep
 * the message on the run (lt_run_error), which the run's log (train.log) also gets as
 * "error: ..."; nothing a recipe, a file or a callback does aborts the process; _free(NULL)
 * is a no-op. Every function below that can fail also fails with LT_EINVAL, its message
 * naming the function, on a run that did not open ("<function>: the run did not open:
 * <why>") and when called from the run's step callback ("<function>: called from the step
 * callback"), and with LT_ENOMEM when the Lua state has no room for the call.
 *
 * Threads: a run is driven from one thread at a time (the Lua state is not thread-safe);
 * two runs, each in its own state (lt_run_new), may run at once on two threads and do not
 * interfere: the same recipe and seed give the same parameters, bit for bit, as the run
 * alone. lt_run_stop is the exception: any thread or a signal handler may call it.
 * What stays process-wide is listed in docs/embedding.md (the CUDA plugin, OpenMP's
 * threads, the SIGINT/SIGTERM flag of the lutra binary). */
#ifndef LUTRA_HOST_H
#define LUTRA_HOST_H

#include <stdint.h>

#include "lutra.h"

struct lua_State;

LT_API_BEGIN

/* A recipe run driven by a host. */
struct lt_run;

struct lt_run_options {
    /* The folder holding lutra's Lua files (lutra/runner.lua ...), relative to the working
     * directory or absolute (the run keeps it absolute: the host may change directory
     * later). NULL: beside the library (an install's share/lua/5.4, or the source tree's
     * lua/ for a library in build/<dir>/), else the install's share/lua/5.4 the library
     * was built for. */
    const char *lua_dir;
    int quiet; /* 1: no console lines; the run's train.log is written all the same */
};

/* A new run in a Lua state of its own (the standard libraries and lutra loaded); o may be
 * NULL (every field zero). Fails with LT_ENOMEM, or LT_EINVAL when lutra's Lua files are
 * not found (the message names where it looked); then *out is a run whose lt_run_error
 * says why, or NULL when even that could not be allocated. */
enum lt_status lt_run_new(const struct lt_run_options *o, struct lt_run **out);
/* The same in the host's Lua state L, which must have the standard libraries (the package
 * library at least: luaL_openlibs): lutra is loaded into it (package.preload, and lutra's
 * folder on package.path, added once however many runs L has); the run keeps its objects
 * in L's registry, and when freed removes them — its host:NAME data sets included, which
 * are collected then — and leaves L open. L must outlive the run and be used by one
 * thread at a time. Runs in one state share its lutra context (seed, threads, device):
 * drive them one after another. Fails like lt_run_new, and with LT_EINVAL for a NULL L
 * ("lt_run_new_in: L is NULL") or a state without the package library. */
enum lt_status lt_run_new_in(struct lua_State *L, const struct lt_run_options *o,
                             struct lt_run **out);
/* Closes the run: the logs, the loaders (their threads stopped), the trainer, the work
 * dir's lock, its data sets (their sources released), and its Lua state when lt_run_new
 * made it. A run still training must first return from its call, with one exception:
 * called from the run's step callback, it asks the run to stop (as lt_run_stop) and the
 * run is freed when the lt_run_steps or lt_run_train that runs the callback returns —
 * that call still returns its status; the run must not be used after it. */
void lt_run_free(struct lt_run *run);

/* The message of the run's last failure ("" if none). Valid until the next call on the
 * run. Cannot fail. */
const char *lt_run_error(const struct lt_run *run);

/* Registers the host's data: train and test (each a struct lt_source: sizes, sample
 * shapes, the fill callback that writes a batch into buffers lutra hands it, sized from
 * the plan) as the data set a recipe selects with data.dataset = "host:NAME". Call it
 * before loading the recipe. A fill that returns non-zero fails the step with its message
 * (lt_run_error, train.log). Each source's release runs once lutra holds it no more, at
 * the latest in lt_run_free (in the host's state too: the run's data sets are collected
 * there). Fails with LT_EINVAL for a name that is not a word ([A-Za-z_][A-Za-z0-9_]*) or a
 * source lt_dataset_from_source refuses ("lt_run_add_source: NAME: train source: " and its
 * message), or LT_ENOMEM; a refused source's release is not called (the train source's
 * is, when only the test source was refused). */
enum lt_status lt_run_add_source(struct lt_run *run, const char *name,
                                 const struct lt_source *train, const struct lt_source *test);

/* Loads the recipe at path (with its _base_ chain), with overrides[0 .. n-1] as `lutra
 * train --set` takes them ("optim.lr=0.01", "runner.max_iters=100"). Once per run. Fails
 * with LT_EINVAL naming the file and the key (a bad recipe, an unknown key, a malformed
 * override), when a recipe was loaded already, or for a NULL path, a NULL override, or
 * overrides NULL with n_overrides > 0 (the message names the argument). */
enum lt_status lt_run_load_file(struct lt_run *run, const char *path, int n_overrides,
                                const char *const *overrides);
/* The same for a recipe held in memory: `name` stands for its path in messages, and its
 * folder is where its _base_ files and requires are looked for. name and text must not
 * be NULL. */
enum lt_status lt_run_load_string(struct lt_run *run, const char *name, const char *text,
                                  int n_overrides, const char *const *overrides);

/* Builds the run: context, work dir and run folder, logs, device, model, data, memory fit,
 * trainer, a resume. lt_run_steps, lt_run_evaluate and lt_run_save build first when this
 * was not called. Fails with LT_EINVAL and the message (no recipe loaded, a model or data
 * set that does not fit, a work dir another run holds, ...). A build that failed, in
 * whichever call, marks the run failed: it is not built again, and later lt_run_build,
 * lt_run_steps, lt_run_evaluate and lt_run_save fail ("the run failed while building:
 * <message>" from the last two). */
enum lt_status lt_run_build(struct lt_run *run);

/* Runs n more optimizer steps (n < 0: to the end of the run) and, when the run is then
 * over — its last iteration, or a stop request — finishes it: the final evaluation (not
 * after a stop), a checkpoint, final.safetensors, the summary. The step callback runs
 * after each step. Fails with LT_EINVAL and the message for an error at run time (a
 * host's fill that failed, a NaN the recipe's guard stops on), and when the run has
 * ended. Such a failure marks the run failed (a step may be half done): later
 * lt_run_build and lt_run_steps fail, lt_run_evaluate and lt_run_save still work. Only a
 * failure of lt_run_build or lt_run_steps (or of a build in any call) marks the run. */
enum lt_status lt_run_steps(struct lt_run *run, int64_t n);
/* lt_run_steps(run, -1). */
enum lt_status lt_run_train(struct lt_run *run);

/* Loss and accuracy over the test split (the recipe's evaluation). */
struct lt_run_eval {
    double loss;
    double accuracy; /* NaN for regression (no classes) */
    int64_t count;   /* targets counted */
};
/* Evaluates the model now (building the run first) into *out. Fails like lt_run_build,
 * and with LT_EINVAL for a NULL out or an error while evaluating (a test source's fill
 * that failed); that failure leaves the run as it was: it may step on. */
enum lt_status lt_run_evaluate(struct lt_run *run, struct lt_run_eval *out);

/* Saves a checkpoint now (weights and trainer state, resumable with --resume-from) into
 * the run's folder, and writes its path into path (size bytes, truncated to fit; path
 * may be NULL), building the run first. Fails like lt_run_build, and with LT_EINVAL when
 * it cannot be written (the message names the file) or the run has no folder; that
 * failure leaves the run as it was. */
enum lt_status lt_run_save(struct lt_run *run, char *path, size_t size);

/* The run's folder (work_dir/YYYYMMDD_HHMMSS), or "" before the build made it (in
 * lt_run_build or the first call that built the run, failed or not). Valid while the run
 * lives. Cannot fail. */
const char *lt_run_dir(const struct lt_run *run);

/* Where a run stands after its last step. */
struct lt_run_stats {
    int64_t iter;                /* optimizer steps done, skipped ones included */
    int64_t max_iters;           /* the run's length (0 before it is built) */
    int64_t epoch;               /* epochs completed */
    double loss;                 /* the last step's loss (NaN before the first step) */
    double lr;                   /* the lr the last step used */
    double grad_norm;            /* its gradient's global norm, before clipping */
    double loss_scale;           /* the loss scale it ran with (1 unless fp16) */
    int64_t skipped;             /* steps skipped so far (a gradient that was not finite) */
    int last_skipped;            /* 1: the last step was skipped */
    double samples_per_s;        /* training samples per second, smoothed over steps */
    struct lt_mem_report memory; /* the trainer's bytes by category */
    int done;                    /* 1: the run has ended (lt_run_steps finished it) */
};

/* Copies the numbers of the last step (updated after each step, before the step
 * callback). Call it from the thread driving the run, or inside its step callback.
 * Cannot fail. */
void lt_run_stats(const struct lt_run *run, struct lt_run_stats *out);

/* Called after each optimizer step, on the thread driving the run, with the run's
 * numbers. It may call lt_run_stats, lt_run_stop, lt_run_error, lt_run_dir and
 * lt_run_on_step on this run; the others fail with LT_EINVAL ("<function>: called from
 * the step callback"), except lt_run_free, which frees the run once the step's
 * lt_run_steps returns (see lt_run_free). */
typedef void (*lt_run_step_fn)(void *user, const struct lt_run_stats *stats);
/* Sets the step callback (NULL: none). Cannot fail. */
void lt_run_on_step(struct lt_run *run, lt_run_step_fn fn, void *user);

/* Asks the run to stop: at the next step boundary it finishes as after Ctrl-C in `lutra
 * train` — the step in progress completes, a checkpoint of weights and trainer state is
 * saved, the logs are flushed — and lt_run_steps returns LT_OK with the run done. Only
 * sets an atomic flag of this run: safe from any thread and from a signal handler; other
 * runs are not affected. Cannot fail. */
void lt_run_stop(struct lt_run *run);

/* ---- Lua ---------------------------------------------------------------------------------- */

/* The openers Lua's require calls: `require "lutra"` (the whole module: the C core and the
 * Lua library, found on package.path) and `require "lutra.core"` (the C functions alone).
 * A host with its own Lua state can luaL_requiref them, or use lt_run_new_in, which puts
 * them in package.preload. Raise as Lua functions do. */
int luaopen_lutra(struct lua_State *L);
int luaopen_lutra_core(struct lua_State *L);

LT_API_END

#endif
