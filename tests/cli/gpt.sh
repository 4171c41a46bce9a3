#!/usr/bin/env bash
# model = {type = "gpt"}: a 2-layer GPT trains on a text file read as byte tokens through
# `lutra train` (the loss more than halves in 60 steps), and `lutra plan` counts its
# activations, the largest category of its step, which grow linearly with the sequence
# length: the fused attention keeps no (T, T) tensor for the backward.
. "$(dirname "$0")/lib.sh"

python3 - "$SCRATCH/text.txt" <<'PY'
import random, sys
random.seed(1)
words = "the quick brown fox jumps over the lazy dog and runs away".split()
open(sys.argv[1], "w").write(" ".join(random.choice(words) for _ in range(800)))
PY

cat >"$SCRATCH/gpt.lua" <<LUA
data = {dataset = "tokens", path = "$SCRATCH/text.txt", block_size = 16, batch_size = 16}
model = {type = "gpt", n_layer = 2, n_head = 2, n_embd = 32, block_size = 16, vocab_size = 256}
optim = {type = "adamw", lr = 0.01}
schedule = {warmup_iters = 0}
runner = {max_iters = 60, log_interval = 5, eval_interval = 60, checkpoint_interval = 0}
seed = 3
LUA

# one thread: the model's ops are too small to gain from two, and a busy machine's second
# core would only slow them down
expect 0 "$LUTRA" train "$SCRATCH/gpt.lua" --work-dir "$SCRATCH/runs" --threads 1
has "$SCRATCH/out" "model gpt: 34176 parameters" # the head tied to the token embedding
has "$SCRATCH/out" "test accuracy - loss"
first=$(grep -o '^iter 5/60 loss [0-9.]*' "$SCRATCH/out" | cut -d' ' -f4)
last=$(grep -o '^iter 60/60 loss [0-9.]*' "$SCRATCH/out" | cut -d' ' -f4)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(a != "" && b != "" && b < a / 2) }' ||
    fail "the loss went from '$first' at iter 5 to '$last' at iter 60; want it halved"

# a model shorter than the data's windows (named while tracing, a run-time failure) and
# heads that do not divide the width (a config error)
expect 1 "$LUTRA" train "$SCRATCH/gpt.lua" --work-dir "$SCRATCH/none" --set model.block_size=8
has "$SCRATCH/err" "GPT: a sequence of 16 tokens is longer than block_size 8"
expect 2 "$LUTRA" train "$SCRATCH/gpt.lua" --work-dir "$SCRATCH/none" --set model.n_head=3
has "$SCRATCH/err" "model.n_embd 32 must be a multiple of model.n_head 3"

expect 0 "$LUTRA" plan "$SCRATCH/gpt.lua"
has "$SCRATCH/out" 'type = "gpt"'
has "$SCRATCH/out" "scaled_dot_product_attention 2"
# the categories' lines ("  activations  1.6M  1,653,760 B"): activations the largest
awk '$NF == "B" && $1 != "total" { gsub(",", "", $3); if ($3 + 0 > max) { max = $3 + 0; top = $1 } }
     END { exit !(top == "activations") }' "$SCRATCH/out" ||
    fail "lutra plan: activations are not the largest category of the GPT's step"

# The activations' bytes at block_size $1.
activations() {
    expect 0 "$LUTRA" plan "$SCRATCH/gpt.lua" --set data.block_size="$1" --set model.block_size="$1"
    awk '$1 == "activations" && $NF == "B" { gsub(",", "", $3); print $3 }' "$SCRATCH/out"
}
short=$(activations 16)
long=$(activations 64)
[ -n "$short" ] && [ "$long" = $((4 * short)) ] ||
    fail "lutra plan: activations $short B at T = 16 and $long B at T = 64; want 4 times as many"
exit 0
