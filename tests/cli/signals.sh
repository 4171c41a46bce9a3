#!/usr/bin/env bash
# Ctrl-C (SIGINT) and SIGTERM during lutra train: the step finishes, the logs are
# flushed, weights and trainer state are saved, and the exit status is 130 / 143; the
# saved checkpoint resumes.
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }

# signal NAME CODE: starts a long run, sends the signal once it is training, checks.
signal() {
    local name=$1 code=$2 work="$SCRATCH/$1"
    "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$work" \
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
    local wd
    wd=$(run_dir "$work")
    has "$SCRATCH/$name.out" "interrupted (SIG$name) at iteration"
    has "$wd/train.log" "interrupted (SIG$name) at iteration"
    has "$wd/train.log" "stopped:"
    local ckpt
    ckpt=$(cat "$work/last_checkpoint") # relative to the work dir, in the run's folder
    [ "${ckpt%/*}" = "${wd##*/}" ] || fail "$name: last_checkpoint names $ckpt, not in ${wd##*/}"
    [ -s "$work/$ckpt" ] || fail "$name: no checkpoint at '$work/$ckpt'"
    tail -1 "$wd/metrics.jsonl" | grep -q '"mode":"end"' || fail "$name: metrics.jsonl not flushed"
}
signal INT 130
signal TERM 143
# the checkpoint resumes, into a run folder of its own
ckpt=$(cat "$SCRATCH/INT/last_checkpoint")
iter=$(sed -n 's/.*iter_\([0-9]*\)\.safetensors/\1/p' <<<"$ckpt")
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/INT" --resume-from auto \
    --set "${SMALL[@]}" runner.max_iters=$((iter + 3))
has "$SCRATCH/out" "resumed from $SCRATCH/INT/$ckpt: iteration $iter"
has "$SCRATCH/out" "done: 3 iterations"
[ "$(run_dirs "$SCRATCH/INT" | wc -l)" -eq 2 ] ||
    fail "the resumed run did not get a folder of its own"
[ -s "$(run_dir "$SCRATCH/INT")/final.safetensors" ] ||
    fail "the resumed run saved no final weights"
exit 0
