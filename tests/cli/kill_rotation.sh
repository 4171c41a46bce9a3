#!/usr/bin/env bash
# Checkpoint rotation and kills: a resumed run counts the checkpoints of the run it
# resumed from as its own (runner.max_keep_ckpts over the whole lineage); a run killed
# (SIGKILL) at any moment, mid-save or mid-rotation included, leaves a checkpoint that
# --resume-from auto resumes to the end; the temporaries killed writers leave are
# removed by the next run, and a live process's are kept.
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }

base=("${SMALL[@]}" runner.eval_interval=0)
ckpts() { # the checkpoint files in the work dir, relative to it, sorted
    (cd "$1" && find . -name 'iter_*.safetensors' | sed 's|^\./||' | LC_ALL=C sort)
}

# rotation across a resume: keep 2, every 5 iterations
wd=$SCRATCH/rotate
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$wd" --set "${base[@]}" \
    runner.max_iters=20 runner.checkpoint_interval=5 runner.max_keep_ckpts=2
a=$(run_dir "$wd")
a=${a##*/}
[ "$(ckpts "$wd" | tr '\n' ' ')" = "$a/iter_15.safetensors $a/iter_20.safetensors " ] ||
    fail "the first run kept: $(ckpts "$wd" | tr '\n' ' ')"
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$wd" --resume-from auto \
    --set "${base[@]}" runner.max_iters=30 runner.checkpoint_interval=5 runner.max_keep_ckpts=2
has "$SCRATCH/out" "resumed from $wd/$a/iter_20.safetensors: iteration 20"
b=$(run_dir "$wd")
b=${b##*/}
[ "$b" != "$a" ] || fail "the resumed run has no folder of its own"
[ "$(ckpts "$wd" | tr '\n' ' ')" = "$b/iter_25.safetensors $b/iter_30.safetensors " ] ||
    fail "after the resumed run, 2 checkpoints are not all: $(ckpts "$wd" | tr '\n' ' ')"
[ "$(cat "$wd/last_checkpoint")" = "$b/iter_30.safetensors" ] ||
    fail "last_checkpoint: $(cat "$wd/last_checkpoint")"

# killed at random moments while saving every iteration and keeping one: what is left
# always resumes (a fresh start when the kill came before the first checkpoint)
trial=0
for delay in 0.3 0.5 0.7 0.9 1.2 1.5; do
    trial=$((trial + 1))
    wd=$SCRATCH/kill$trial
    "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$wd" --quiet --set "${base[@]}" \
        runner.max_iters=100000 runner.checkpoint_interval=1 runner.max_keep_ckpts=1 \
        >"$SCRATCH/kill.out" 2>&1 &
    pid=$!
    sleep "$delay"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    rc=$?
    [ "$rc" -eq 137 ] || { cat "$SCRATCH/kill.out"; fail "trial $trial: exit $rc, not killed"; }
    left=$(ckpts "$wd" 2>/dev/null)
    # resume a few iterations past the newest checkpoint left
    last=$(sed -n 's/.*iter_\([0-9]*\)\.safetensors$/\1/p' <<<"$left" | sort -n | tail -1)
    expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$wd" --resume-from auto \
        --set "${base[@]}" runner.max_iters=$((${last:-0} + 3)) runner.checkpoint_interval=1 \
        runner.max_keep_ckpts=1
    if [ -n "$left" ]; then # the newest left, even one last_checkpoint did not name yet
        has "$SCRATCH/out" "resumed from $wd/"
        has "$SCRATCH/out" "iter_$last.safetensors: iteration $last"
    else
        has "$SCRATCH/out" "); starting fresh"
    fi
    has "$SCRATCH/out" "done: "
    run=$(run_dir "$wd")
    [ -s "$run/final.safetensors" ] || fail "trial $trial: no final weights"
    [ -z "$(find "$wd" -name '*.tmp-*')" ] ||
        fail "trial $trial: temporaries left: $(find "$wd" -name '*.tmp-*')"
    # one checkpoint kept: the resumed run's own at its end (iteration last + 3); the
    # killed run's are rotated as the resumed run's own
    [ "$(ckpts "$wd" | tr '\n' ' ')" = "${run##*/}/iter_$((${last:-0} + 3)).safetensors " ] ||
        fail "trial $trial: checkpoints left: $(ckpts "$wd" | tr '\n' ' ')"
done

# temporaries: a dead writer's are removed (and said), a live one's kept
dead=999999
while kill -0 "$dead" 2>/dev/null; do dead=$((dead - 1)); done
run=$(run_dir "$wd")
touch "$run/iter_3.safetensors.tmp-$dead-abcdef" "$wd/last_checkpoint.tmp-$dead-a1B2c3" \
    "$run/iter_4.safetensors.tmp-$$-abcdef"
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$wd" --set "${base[@]}" \
    runner.max_iters=2
has "$SCRATCH/out" "removed 2 temporary files that killed runs left in $wd"
has "$(run_dir "$wd")/train.log" "removed 2 temporary files that killed runs left in $wd"
[ ! -e "$run/iter_3.safetensors.tmp-$dead-abcdef" ] &&
    [ ! -e "$wd/last_checkpoint.tmp-$dead-a1B2c3" ] || fail "a dead writer's temporary is left"
[ -e "$run/iter_4.safetensors.tmp-$$-abcdef" ] || fail "a live process's temporary was removed"
exit 0
