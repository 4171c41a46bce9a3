#!/usr/bin/env bash
# Ctrl-C (SIGINT) and SIGTERM during lutra train: the step finishes, the logs are
# flushed, weights and trainer state are saved, and the exit status is 130 / 143; the
# saved checkpoint resumes.
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }

# signal NAME CODE: starts a long run, sends the signal once it is training, checks.
signal() {
    local name=$1 code=$2 wd="$SCRATCH/$1"
    "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$wd" \
        --set "${SMALL[@]}" runner.max_iters=100000 runner.log_interval=1 \
        >"$SCRATCH/$name.out" 2>&1 &
    local pid=$!
    for _ in $(seq 1 300); do
        grep -q "^iter 3/" "$SCRATCH/$name.out" 2>/dev/null && break
        sleep 0.1
    done
    kill -s "$name" "$pid"
    wait "$pid"
    local rc=$?
    [ "$rc" -eq "$code" ] || { cat "$SCRATCH/$name.out"; fail "$name: exit $rc, want $code"; }
    has "$SCRATCH/$name.out" "interrupted (SIG$name) at iteration"
    has "$wd/train.log" "interrupted (SIG$name) at iteration"
    has "$wd/train.log" "stopped:"
    local ckpt
    ckpt=$(cat "$wd/last_checkpoint")
    [ -s "$ckpt" ] || fail "$name: no checkpoint at '$ckpt'"
    tail -1 "$wd/metrics.jsonl" | grep -q '"mode":"end"' || fail "$name: metrics.jsonl not flushed"
}
signal INT 130
signal TERM 143
# the checkpoint resumes
ckpt=$(cat "$SCRATCH/INT/last_checkpoint")
iter=$(sed -n 's/.*iter_\([0-9]*\)\.safetensors/\1/p' <<<"$ckpt")
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/INT" --resume-from auto \
    --set "${SMALL[@]}" runner.max_iters=$((iter + 3))
has "$SCRATCH/out" "resumed from $ckpt: iteration $iter"
has "$SCRATCH/out" "done: 3 iterations"
exit 0
