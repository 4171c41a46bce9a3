-- The command line's help texts (lutra.cli): the usage line of `lutra --help` and each
-- verb's `lutra VERB --help`. Text only; the options they name are parsed in lutra.cli.
local usage = [[
usage: lutra COMMAND [ARGS]

commands:
  train RECIPE [options]        train a recipe (writes its work dir)
  eval RECIPE --load-from W     evaluate saved weights on the test split
  plan RECIPE [--set k=v ...]   dry run: resolved config, graph, memory by category;
                                --fit: the largest micro-batch that fits, per precision
  generate RECIPE --load-from W text from a trained token model (a GPT)
  sweep SWEEP.lua [options]     train variants of a recipe in turn and compare them
  run SCRIPT.lua [args]         run a Lua script with lutra loaded (your own loop)
  repl                          interactive Lua with lutra (also: lutra alone)

  lutra --version               the version and the build (oneDNN, CUDA plugin, ISA)
  lutra COMMAND --help          a command's options

exit status: 0 ok, 1 failure at run time, 2 usage or config error, 130 after Ctrl-C,
143 after SIGTERM]]

local RECIPE_OPTIONS = [[
  --set k=v [k=v ...]     override recipe keys (Lua literals: 300, 1e-3, true, "x", {1, 2});
                          also --options, --cfg-options; k=nil restores the default]]

local verbs = {
    train = [[
usage: lutra train RECIPE [options]

Trains the recipe into a folder of its own in the work dir, named after the time it
starts (WORK_DIR/20261207_061500): config.lua (the resolved config), train.log,
metrics.jsonl (one JSON object per log line), curves (PNG), checkpoints,
best_<metric>.safetensors and final.safetensors (PyTorch names and layouts). The work
dir's last_checkpoint names the newest checkpoint; its lutra.lock keeps a second live
run out.

options:
]] .. RECIPE_OPTIONS .. [[

  --work-dir D            where the run writes (default work_dirs/<recipe name>)
  --seed N                seeds initialisation, shuffling and dropout (default 0)
  --threads N             CPU threads (0: one per core); same seed and threads: same run
  --device auto|cpu|cuda  where to train (default auto); cuda:N for GPU N
  --gpu-ids N             the same as --device cuda:N (mmcv's spelling)
  --load-from W           start from these weights (safetensors)
  --resume-from C         resume a checkpoint (weights, optimizer, position); "auto":
                          the work dir's last checkpoint (the newest that loads, else
                          a fresh start); one at or past the end has nothing to do
  --resume-force          resume a checkpoint whose optimizer, effective batch or
                          precision differ from the recipe's, training as the recipe says
  --quiet                 no console output (train.log and metrics.jsonl still written)

Ctrl-C (or SIGTERM) finishes the current step, flushes the logs, saves weights and
trainer state, and exits 130 (143).]],
    eval = [[
usage: lutra eval RECIPE --load-from WEIGHTS [options]

Evaluates saved weights (final.safetensors, best_accuracy.safetensors or a
checkpoint) with the recipe's model on its test split: loss and accuracy.

options:
  --load-from W           the weights to evaluate (required)
]] .. RECIPE_OPTIONS .. [[

  --threads N             CPU threads (0: one per core)
  --device auto|cpu|cuda  where to run (default auto); cuda:N for GPU N
  --gpu-ids N             the same as --device cuda:N]],
    generate = [[
usage: lutra generate RECIPE --load-from WEIGHTS [options]

Writes text from a trained token model (the recipe's model: model = {type = "gpt"} or
your own causal model with a block_size) to standard output: the prompt, then each new
token as it is drawn. When the recipe's tokens are bytes (a .txt file, or
data.token_format = "bytes") the prompt is text and so is the output; otherwise both
are token ids written as numbers ("12 7 431").

Each new token recomputes the window of the last data.block_size tokens (at most the
model's block_size): one forward program, planned once, no KV cache. Sampling: logits
divided by the temperature, the top k kept, softmax, one draw of lutra's multinomial op
keyed by --seed and the token's position; the same weights, prompt, options and seed
give the same text.

options:
  --load-from W           the trained weights (required)
  --prompt TEXT           what the text starts from (default: a newline)
  --tokens N              how many tokens to generate (default 200)
  --temperature T         > 0 flattens (> 1) or sharpens (< 1); 0 takes the most
                          likely token every time (default 1)
  --top-k K               draw from the K most likely tokens only (default 0: all)
  --seed S                seeds the draws, 0 to 4294967295 (default 0)
]] .. RECIPE_OPTIONS .. [[

  --threads N             CPU threads (0: one per core)
  --device auto|cpu|cuda  where to run (default auto); cuda:N for GPU N
  --gpu-ids N             the same as --device cuda:N]],
    plan = [[
usage: lutra plan RECIPE [--set k=v ...] [--threads N] [--device D] [--explain]
       lutra plan RECIPE --fit [--memory SIZE] [--json] [--set k=v ...] [--device D]

A dry run that touches no data: prints the resolved config, the graph (ops,
parameters) and the bytes per memory category the training step will allocate for
the recipe's batch and precision on the device it would train on (after the memory
policy, planned against memory.limit, else the GPU's free memory, else this machine's
RAM), and how long planning took: what `lutra train` with the same flags allocates.

With --fit it answers "what fits?" instead: for each precision (fp32, bf16, fp16),
without and with activation checkpointing, the largest micro-batch whose step fits
memory.target of the capacity, with the accumulation that keeps the effective batch
(data.batch_size × optim.accumulate), its planned bytes and their share of the
capacity. The steps are planned for the device (--device); --memory sets the capacity,
so that a card this machine does not have can be asked about.

options:
]] .. RECIPE_OPTIONS .. [[

  --threads N             CPU threads (0: one per core); the workspace depends on them
  --device auto|cpu|cuda  the device to plan for (default auto); cuda:N for GPU N
  --gpu-ids N             the same as --device cuda:N
  --explain               what each memory category holds, beside its bytes
  --world-size N          plan one rank of a data-parallel job of N (mpirun -np N): the
                          effective batch and the lr rule count N, and the gradient's
                          all-reduce buckets are shown
  --fit                   the largest micro-batch per precision and checkpointing
  --memory SIZE           with --fit: the capacity (16GiB, 512MiB, bytes) instead of
                          memory.limit or the device's
  --json                  with --fit: the rows as a JSON array (precision, checkpoint,
                          micro_batch, accumulate, planned, of_capacity, fits, capacity,
                          budget; bytes as integers)]],
    sweep = [[
usage: lutra sweep SWEEP.lua [--plan-only] [--work-dir D] [--resume] [--set k=v ...]

Trains variants of a recipe one after another, as lutra train would, and compares them.
The sweep file is Lua evaluated like a recipe: base = the recipe (relative to the sweep
file), variants = {{["data.batch_size"] = 128, name = "b128"}, ...} or grid = {key =
{values}, ...} (every combination), and any recipe key every variant gets (runner =
{max_iters = 300}). Writes WORK_DIR/<time it starts>/: a work dir per variant
(NN_<name>/, its run folder inside), and after each variant sweep.csv, sweep.json and
sweep.png (memory and samples/s bars): effective batch and lr, planned memory by
category, measured peak (RSS on the CPU, the card's used memory on a GPU) and its share
of the capacity, samples/s and speed-up, final loss, accuracy and its delta (against
the first variant that ran), and the status: "ok" or why the variant failed (the
sweep goes on).

options:
  --plan-only             plan each variant's step (memory columns) without data or
                          training
  --work-dir D            where the sweep's folder goes (default the sweep file's
                          work_dir, else work_dirs/<sweep name>)
  --resume                carry on in the newest sweep folder of the work dir: the
                          variants that finished keep their rows, the others run
  --set k=v [k=v ...]     override recipe keys of every variant (over the sweep's own
                          recipe keys; a variant's keys win); also --options, --cfg-options

exit status: 0 when every variant was tried (failed ones included), 2 for a sweep file
or --resume that is wrong, 1 when the sweep cannot write, 130 / 143 after Ctrl-C /
SIGTERM (finished variants kept: --resume carries on).]],
    run = [[
usage: lutra run SCRIPT.lua [args]

Runs a Lua script with the global `lutra` (require "lutra") and `arg` as lua5.4 sets
it; write your own loop (see examples/loop.lua). lutra.interrupted() tells a loop that
Ctrl-C or SIGTERM arrived.

exit status: the integer the script returns (0 to 255), else 0; 1 on an error, a syntax
error included, and on a returned number outside 0 to 255 or not an integer (it is not
wrapped: a message says so); 2 when the script cannot be read; 130 / 143 after a signal
the script did not handle.]],
    repl = [[
usage: lutra repl   (or lutra alone)

Interactive Lua with lutra loaded: line editing and history (libedit), expressions
printed, tensors and modules pretty-printed, errors shown without leaving. Ctrl-C stops
what runs; Ctrl-D leaves. Type help() there for the helpers (recipe, build, step,
train, evaluate, mem).]],
}

return { usage = usage, verbs = verbs }
