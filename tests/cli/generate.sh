#!/usr/bin/env bash
# lutra generate: a GPT trained to recite one sentence continues it exactly at
# temperature 0, also from a prompt longer than its window (the window slides); draws are
# the same for the same seed; ids recipes take ids; bad options and models are named.
. "$(dirname "$0")/lib.sh"

python3 -c "import sys; open(sys.argv[1], 'w').write('the cat sat on the mat. ' * 200)" \
    "$SCRATCH/text.txt"
cat >"$SCRATCH/gpt.lua" <<LUA
data = {dataset = "tokens", path = "$SCRATCH/text.txt", block_size = 16, batch_size = 16}
model = {type = "gpt", n_layer = 2, n_head = 2, n_embd = 32, block_size = 32, vocab_size = 256}
optim = {type = "adamw", lr = 0.01}
schedule = {warmup_iters = 0}
runner = {max_iters = 300, log_interval = 100, eval_interval = 300, checkpoint_interval = 0}
seed = 3
LUA
# one thread: the model is too small to gain from two (see tests/cli/gpt.sh)
expect 0 "$LUTRA" train "$SCRATCH/gpt.lua" --work-dir "$SCRATCH/runs" --threads 1
w=$(run_dir "$SCRATCH/runs")/final.safetensors
gen() { "$LUTRA" generate "$SCRATCH/gpt.lua" --load-from "$w" --threads 1 "$@"; }

expect 0 gen --prompt "the c" --tokens 60 --temperature 0
has "$SCRATCH/out" "the cat sat on the mat. the cat sat on the mat."
has "$SCRATCH/err" "generated 60 tokens"
has "$SCRATCH/err" "the window of 16 recomputed for each" # data.block_size, under the model's 32
[ "$(wc -c <"$SCRATCH/out")" -eq 66 ] || fail "want the prompt, 60 bytes and a newline"

# 42 bytes of prompt against a 16-token window: the continuation reads the last 16
expect 0 gen --prompt "the cat sat on the mat. the cat sat on the m" --tokens 12 --temperature 0
has "$SCRATCH/out" "the cat sat on the mat. the cat sat on the mat. the cat"

expect 0 gen --tokens 80 --seed 7 --temperature 2 --top-k 6
cp "$SCRATCH/out" "$SCRATCH/seed7"
expect 0 gen --tokens 80 --seed 7 --temperature 2 --top-k 6
cmp -s "$SCRATCH/out" "$SCRATCH/seed7" || fail "the same seed drew different text"
expect 0 gen --tokens 80 --seed 8 --temperature 2 --top-k 6
cmp -s "$SCRATCH/out" "$SCRATCH/seed7" && fail "seeds 7 and 8 drew the same 80 tokens"
expect 0 gen --tokens 0
[ "$(cat "$SCRATCH/out")" = "" ] || fail "--tokens 0 should print the prompt (a newline) alone"

# a recipe whose tokens are ids: the prompt is numbers, and so is the output
expect 0 gen --set 'data.token_format="u16"' --prompt "99 97 116 32" --tokens 3 --temperature 0
has "$SCRATCH/out" "99 97 116 32 115 97 116" # "cat " -> "sat"
expect 2 gen --set 'data.token_format="u16"' --prompt "116 oops"
has "$SCRATCH/err" "this recipe's tokens are ids, not bytes"
expect 2 gen --set 'data.token_format="u16"' --prompt "1 2 300"
has "$SCRATCH/err" "its token 3 (300) is outside the model's vocabulary of 256"

expect 2 "$LUTRA" generate "$SCRATCH/gpt.lua"
has "$SCRATCH/err" "--load-from WEIGHTS is required"
expect 2 gen --top-k -1
has "$SCRATCH/err" "--top-k wants an integer >= 0, got '-1'"
expect 2 gen --temperature warm
has "$SCRATCH/err" "--temperature wants a number >= 0, got 'warm'"
expect 2 gen --prompt ""
has "$SCRATCH/err" "--prompt is empty"
expect 2 "$LUTRA" generate examples/fmnist_mlp.lua --load-from "$w"
has "$SCRATCH/err" "has no block_size: generation needs a causal token model"
expect 1 "$LUTRA" generate "$SCRATCH/gpt.lua" --load-from "$SCRATCH/none.safetensors"
has "$SCRATCH/err" "none.safetensors"
exit 0
