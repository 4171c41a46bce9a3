#!/usr/bin/env bash
# A short Fashion-MNIST run learns: 300 steps of the default recipe with a narrower MLP
# (784-256-10) on 10,000 training images reach more than 80% on 2,000 test images
# (chance is 10%).
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }

expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/wd" --quiet \
    --set 'model.hidden={256}' data.train_samples=10000 data.val_samples=2000 runner.max_iters=300 \
    runner.eval_interval=0 schedule.warmup_iters=50
metrics=$(run_dir "$SCRATCH/wd")/metrics.jsonl
acc=$(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print([r for r in rows if r["mode"] == "val"][-1]["accuracy"])' "$metrics")
python3 -c "import sys; sys.exit(0 if $acc > 0.80 else 1)" || fail "test accuracy $acc <= 0.80"
echo "test accuracy $acc after 300 steps"
exit 0
