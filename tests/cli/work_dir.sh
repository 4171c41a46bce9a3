#!/usr/bin/env bash
# Runs never mix: each lutra train writes a folder of its own in the work dir, a second
# run leaves the first one's files as they were, last_checkpoint names the newest
# checkpoint, a live run's lock keeps a second one out (and goes with the run), an empty
# or root work dir is refused. The files are 0644, metrics.jsonl counts epochs from 1
# as train.log does, and the run's evaluation time includes its final evaluation.
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }
umask 022 # train.log and metrics.jsonl are made under the umask, the rest 0644 always
lutra=$(realpath "$LUTRA") recipe=$PWD/examples/fmnist_mlp.lua

# an empty or root work dir: a config error, nothing written (the cwd stays empty)
mkdir "$SCRATCH/cwd"
cd "$SCRATCH/cwd" || fail "no $SCRATCH/cwd"
root_lock=$([ -e /lutra.lock ] && echo yes)
expect 2 "$lutra" train "$recipe" --work-dir "" --set "${SMALL[@]}" runner.max_iters=2
has "$SCRATCH/err" "work_dir is empty: give the folder the runs go in (--work-dir DIR)"
for root in / // /./; do
    expect 2 "$lutra" train "$recipe" --work-dir "$root" --set "${SMALL[@]}" runner.max_iters=2
    has "$SCRATCH/err" "work_dir \"$root\" is the root folder: give a folder of its own"
done
[ -z "$(ls -A)" ] || fail "a refused work dir left files in the cwd: $(ls -A)"
[ -n "$root_lock" ] || [ ! -e /lutra.lock ] || fail "--work-dir / made /lutra.lock"
cd "$OLDPWD" || fail "cannot go back to $OLDPWD"

# two runs one after the other: two folders; the second leaves the first's files as
# they were (its rotation included: it keeps one checkpoint of its own)
wd=$SCRATCH/wd
args=("${SMALL[@]}" runner.max_iters=10 runner.checkpoint_interval=5 runner.eval_interval=5)
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$wd" --set "${args[@]}"
first=$(run_dir "$wd")
[ -n "$first" ] || fail "no run folder in $wd"
has "$SCRATCH/out" "run folder $first"
[ "$(cat "$wd/last_checkpoint")" = "${first##*/}/iter_10.safetensors" ] ||
    fail "last_checkpoint after the first run: $(cat "$wd/last_checkpoint")"
mkdir "$SCRATCH/kept"
for f in final.safetensors best_accuracy.safetensors iter_5.safetensors train.log \
    metrics.jsonl config.lua; do
    cp -p "$first/$f" "$SCRATCH/kept/" || fail "the first run wrote no $f"
done
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$wd" \
    --set "${args[@]}" runner.max_keep_ckpts=1
second=$(run_dir "$wd")
[ "$(run_dirs "$wd" | wc -l)" -eq 2 ] && [ "$second" != "$first" ] ||
    fail "two runs, folders: $(run_dirs "$wd" | tr '\n' ' ')"
for f in "$SCRATCH"/kept/*; do
    cmp -s "$f" "$first/${f##*/}" || fail "the second run changed the first run's ${f##*/}"
done
[ "$(cat "$wd/last_checkpoint")" = "${second##*/}/iter_10.safetensors" ] ||
    fail "last_checkpoint after the second run: $(cat "$wd/last_checkpoint")"
[ -s "$second/final.safetensors" ] || fail "the second run saved no final weights"
[ "$(ls "$wd" | wc -l)" -eq 4 ] || fail "the work dir holds more than its runs, " \
    "last_checkpoint and lutra.lock: $(ls "$wd")"

# the files of a run are 0644: the curves too
for f in "$first"/*; do
    [ "$(stat -c %a "$f")" = 644 ] || fail "${f##*/} is mode $(stat -c %a "$f"), not 644"
done
[ "$(stat -c %a "$wd/last_checkpoint")" = 644 ] || fail "last_checkpoint is not 0644"

# two runs at once: the second stops at the lock, writing nothing; the lock goes with
# the first run (SIGTERM: exit 143)
"$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/busy" \
    --set "${SMALL[@]}" runner.max_iters=100000 >"$SCRATCH/busy.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ "$(cat "$SCRATCH/busy/lutra.lock" 2>/dev/null)" = "$pid" ] &&
        [ -n "$(run_dir "$SCRATCH/busy")" ] && break
    sleep 0.05
done
[ "$(cat "$SCRATCH/busy/lutra.lock" 2>/dev/null)" = "$pid" ] ||
    { kill -KILL "$pid"; cat "$SCRATCH/busy.out"; fail "lutra.lock does not hold the pid $pid"; }
busy=$(run_dir "$SCRATCH/busy")
[ -n "$busy" ] || { kill -KILL "$pid"; fail "the long run made no run folder"; }
"$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/busy" \
    --set "${SMALL[@]}" runner.max_iters=2 >"$SCRATCH/out" 2>"$SCRATCH/err"
rc=$?
[ "$rc" -eq 1 ] || { kill -KILL "$pid"; cat "$SCRATCH/err"; fail "second live run: exit $rc"; }
grep -qF "work dir $SCRATCH/busy is in use by another run (pid $pid; lock file" \
    "$SCRATCH/err" || { kill -KILL "$pid"; cat "$SCRATCH/err"; fail "no lock message"; }
[ "$(run_dirs "$SCRATCH/busy")" = "$busy" ] ||
    { kill -KILL "$pid"; fail "the refused run made a run folder"; }
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 143 ] || { cat "$SCRATCH/busy.out"; fail "the long run exited $rc after SIGTERM"; }

# the lock is free again: a third run (by epochs) trains; metrics.jsonl's train lines
# count epochs from 1 as train.log does; "end" eval_time sums every evaluation, the
# final one included
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/busy" \
    --set "${SMALL[@]}" data.train_samples=128 runner.max_epochs=2 runner.log_interval=2 \
    runner.checkpoint_interval=0
third=$(run_dir "$SCRATCH/busy")
[ "$(run_dirs "$SCRATCH/busy" | wc -l)" -eq 2 ] || fail "the third run made no folder of its own"
has "$third/train.log" "epoch 1/2 iter 2/8 loss"
has "$third/train.log" "epoch 2/2 iter 8/8 loss"
python3 - "$third/metrics.jsonl" <<'PY' || fail "metrics.jsonl's epochs or eval_time"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
train = [r for r in rows if r["mode"] == "train"]
assert [(r["iter"], r["epoch"]) for r in train] == [(2, 1), (4, 1), (6, 2), (8, 2)], train
assert [r["epoch"] for r in rows if r["mode"] == "epoch"] == [1, 2], rows
val = [r for r in rows if r["mode"] == "val"]
end = rows[-1]
assert end["mode"] == "end" and len(val) == 2, rows
assert abs(end["eval_time"] - sum(r["time"] for r in val)) < 1e-6, (end, val)
PY
exit 0
