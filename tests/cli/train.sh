#!/usr/bin/env bash
# lutra train writes a run folder in its work dir (config.lua, train.log, metrics.jsonl,
# weights PyTorch reads), the resolved config trains again, and lutra eval scores the
# saved weights.
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }

expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/work" --seed 3 \
    --threads 2 --set "${SMALL[@]}" runner.max_iters=20 runner.eval_interval=10
# one run folder; the work dir itself holds only last_checkpoint (naming the run's
# checkpoint at its end, relative to the work dir) and the lock
wd=$(run_dir "$SCRATCH/work")
[ -n "$wd" ] || fail "no run folder in $SCRATCH/work"
[ "$(ls "$SCRATCH/work" | tr '\n' ' ')" = "${wd##*/} last_checkpoint lutra.lock " ] ||
    fail "the work dir holds more than its run, last_checkpoint and the lock: $(ls "$SCRATCH/work")"
[ "$(cat "$SCRATCH/work/last_checkpoint")" = "${wd##*/}/iter_20.safetensors" ] ||
    fail "last_checkpoint: $(cat "$SCRATCH/work/last_checkpoint")"
has "$SCRATCH/out" "run folder $wd"
for f in config.lua train.log metrics.jsonl final.safetensors best_accuracy.safetensors \
    loss.png lr.png memory.png; do
    [ -s "$wd/$f" ] || fail "no $wd/$f"
done
for f in loss lr memory; do
    [ "$(head -c 8 "$wd/$f.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] ||
        fail "$f.png is not a PNG"
done
has "$SCRATCH/out" "iter 20/20 loss"
has "$wd/train.log" "test accuracy"
has "$wd/config.lua" "seed = 3"
has "$wd/config.lua" "threads = 2"
python3 - "$wd" <<'PY' || fail "metrics.jsonl or final.safetensors malformed"
import json, struct, sys
wd = sys.argv[1]
rows = [json.loads(l) for l in open(wd + "/metrics.jsonl")]
assert sum(r["mode"] == "train" for r in rows) == 5, rows
assert sum(r["mode"] == "val" for r in rows) == 2, rows
f = open(wd + "/final.safetensors", "rb")
n = struct.unpack("<Q", f.read(8))[0]
header = json.loads(f.read(n))
assert header["__metadata__"]["format"] == "pt"
shapes = {k: v["shape"] for k, v in header.items() if k != "__metadata__"}
assert shapes == {"1.weight": [64, 784], "1.bias": [64], "4.weight": [10, 64], "4.bias": [10]}, shapes
assert all(v["dtype"] == "F32" for k, v in header.items() if k != "__metadata__")
data = f.read()
try:
    import torch
except ImportError:
    sys.exit(0)
state = {}
for k, v in header.items():
    if k == "__metadata__":
        continue
    b, e = v["data_offsets"]
    state[k] = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(v["shape"])
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 64), torch.nn.ReLU(),
                            torch.nn.Dropout(0.2), torch.nn.Linear(64, 10))
model.load_state_dict(state)
PY
# the resolved config is a recipe that trains again
expect 0 "$LUTRA" train "$wd/config.lua" --work-dir "$SCRATCH/again" --quiet --set runner.max_iters=4
[ -s "$(run_dir "$SCRATCH/again")/final.safetensors" ] || fail "config.lua did not train again"
# eval --load-from
expect 0 "$LUTRA" eval examples/fmnist_mlp.lua --load-from "$wd/final.safetensors" \
    --set 'model.hidden={64}' data.val_samples=500
has "$SCRATCH/out" "accuracy 0."
has "$SCRATCH/out" "(500 samples"
accuracy=$(grep -o 'accuracy [0-9.]*' "$SCRATCH/out")
# under a memory limit the evaluation batch halves; the result does not change
expect 0 "$LUTRA" eval examples/fmnist_mlp.lua --load-from "$wd/final.safetensors" \
    --set 'model.hidden={64}' data.val_samples=500 'memory.limit="1MiB"' memory.process=false
has "$SCRATCH/out" "memory: evaluation batch 500 -> 125"
has "$SCRATCH/out" "$accuracy"
expect 1 "$LUTRA" eval examples/fmnist_mlp.lua --load-from "$wd/final.safetensors"
has "$SCRATCH/err" "final.safetensors: load_state_dict"
expect 1 "$LUTRA" eval examples/fmnist_mlp.lua --load-from "$SCRATCH/none.safetensors"
# failures at run time exit 1 with the reason: no GPU backend, no data; a run that fails
# before its first step leaves no run folder
expect 1 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/gpu" --device cuda
has "$SCRATCH/err" "device 'cuda': "
expect 1 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/nodata" \
    --set 'data.root="/nonexistent"'
has "$SCRATCH/err" "/nonexistent"
[ -z "$(run_dir "$SCRATCH/nodata")" ] || fail "a run that failed in setup left a run folder"
exit 0
