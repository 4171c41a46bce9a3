#!/usr/bin/env bash
# Same seed and threads give the same run bit for bit, and a run resumed from a
# checkpoint ends with exactly the weights of an uninterrupted one (dropout, shuffling,
# momentum and the schedule included).
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }

args=("${SMALL[@]}" data.train_samples=300 runner.max_iters=24 runner.checkpoint_interval=12
      runner.eval_interval=0 'model.dropout=0.3')
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/a" --quiet --threads 2 \
    --seed 11 --set "${args[@]}"
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/b" --quiet --threads 2 \
    --seed 11 --set "${args[@]}"
a=$(run_dir "$SCRATCH/a") b=$(run_dir "$SCRATCH/b")
same_weights "$a/final.safetensors" "$b/final.safetensors" ||
    fail "the same seed and threads gave different weights"
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/c" --quiet --threads 2 \
    --seed 11 --resume-from "$a/iter_12.safetensors" --set "${args[@]}"
c=$(run_dir "$SCRATCH/c")
same_weights "$a/final.safetensors" "$c/final.safetensors" ||
    fail "the resumed run ended with other weights"
has "$c/train.log" "resumed from $a/iter_12.safetensors: iteration 12"
expect 1 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/d" --quiet \
    --resume-from "$a/final.safetensors" --set "${args[@]}"
has "$SCRATCH/err" "a weights file, not a checkpoint"
exit 0
