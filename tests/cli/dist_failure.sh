#!/usr/bin/env bash
# A rank that dies ends the job within a bounded time, named in a message; one that hangs
# (stopped) ends it at dist.timeout, naming the collective; SIGTERM to mpirun stops every
# rank after the same step with a checkpoint; a job resumed from the last checkpoint with
# the same world size ends with exactly the weights of one never interrupted; ranks that
# would resume from different checkpoints refuse; a hook that stops one rank stops all.
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }
mpi_ready

# the default recipe, each step made slower by a hook (the math is the same), so that a
# rank can be stopped mid-run
cat >"$SCRATCH/slow.lua" <<LUA
_base_ = "$PWD/examples/fmnist_mlp.lua"
hooks = { { after_step = function() for _ = 1, 3000000 do end end } }
LUA
args=(data.train_samples=1000 data.val_samples=100 'model.hidden={32}' data.batch_size=32
      schedule.type=constant schedule.warmup_iters=0 runner.checkpoint_interval=6 runner.eval_interval=0
      runner.log_interval=1)

# rank_pid R: the process id of rank R of the job training in this test
rank_pid() {
    local p
    for p in $(pgrep -f "lutra train $SCRATCH/slow.lua"); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" &&
            { echo "$p"; return; }
    done
}

# start WORK [SETS...]: a long job in the background ($job), once it has a checkpoint
start() {
    local work=$1
    shift
    mpirun -np 2 "$LUTRA" train "$SCRATCH/slow.lua" --work-dir "$work" \
        --set "${args[@]}" runner.max_iters=100000 "$@" >"$work.out" 2>&1 &
    job=$!
    for _ in $(seq 1 300); do
        [ -s "$work/last_checkpoint" ] && return
        sleep 0.1
    done
    cat "$work.out"
    fail "no checkpoint after 30 s"
}

# ends_within SECONDS: the job ends, non-zero, within SECONDS of now
ends_within() {
    local t0=$SECONDS
    for _ in $(seq 1 $(($1 * 10))); do
        kill -0 "$job" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$job" 2>/dev/null && { kill -9 "$job"; fail "the job still runs $1 s later"; }
    wait "$job"
    local rc=$?
    [ "$rc" -ne 0 ] || fail "the job exited 0 after losing a rank"
    echo "the job ended $((SECONDS - t0)) s after the rank was lost, exit status $rc"
}

# a rank killed: mpirun notices and ends the job, naming the rank
start "$SCRATCH/killed"
kill -9 "$(rank_pid 1)"
ends_within 30
has "$SCRATCH/killed.out" "rank 1"

# a rank that hangs: the others stop waiting at dist.timeout and end the job
start "$SCRATCH/hung" dist.timeout=2
victim=$(rank_pid 1)
kill -STOP "$victim"
ends_within 30
kill -9 "$victim" 2>/dev/null
has "$SCRATCH/hung.out" "did not answer within 2 s (dist.timeout)"

# SIGTERM (or Ctrl-C) to mpirun reaches every rank: they stop after the same step, and
# rank 0 saves the checkpoint
start "$SCRATCH/term"
before=$(cat "$SCRATCH/term/last_checkpoint")
kill -TERM "$job"
wait "$job"
has "$SCRATCH/term.out" "interrupted (SIGTERM) at iteration"
[ "$(cat "$SCRATCH/term/last_checkpoint")" != "$before" ] || fail "SIGTERM saved no checkpoint"
grep -qF "MPI_ABORT" "$SCRATCH/term.out" && fail "a stop every rank agreed on aborted the job"

# the killed job resumes from its last checkpoint with the same world size and ends with
# the weights of a job never interrupted (a constant lr: the killed job was to run on)
ckpt="$SCRATCH/killed/$(cat "$SCRATCH/killed/last_checkpoint")"
iter=$(sed -n 's/.*iter_\([0-9]*\)\.safetensors/\1/p' <<<"$ckpt")
[ -n "$iter" ] || fail "last_checkpoint names no iteration: $ckpt"
end=$((iter + 4))
expect 0 mpirun -np 2 "$LUTRA" train "$SCRATCH/slow.lua" --work-dir "$SCRATCH/whole" \
    --set "${args[@]}" runner.max_iters=$end
expect 0 mpirun -np 2 "$LUTRA" train "$SCRATCH/slow.lua" --work-dir "$SCRATCH/killed" \
    --resume-from "$ckpt" --set "${args[@]}" runner.max_iters=$end
resumed=$(run_dir "$SCRATCH/killed")
has "$resumed/train.log" "resumed from $ckpt: iteration $iter"
same_weights "$(run_dir "$SCRATCH/whole")/final.safetensors" "$resumed/final.safetensors" ||
    fail "the resumed job ended with other weights than the uninterrupted one"

# ranks that would resume from different places (rank 1 finds no checkpoint) refuse to
# train on apart
expect 1 mpirun -np 1 "$LUTRA" train "$SCRATCH/slow.lua" --work-dir "$SCRATCH/split" \
    --resume-from "$ckpt" --set "${args[@]}" runner.max_iters=$end : \
    -np 1 "$LUTRA" train "$SCRATCH/slow.lua" --work-dir "$SCRATCH/split" \
    --set "${args[@]}" runner.max_iters=$end
has "$SCRATCH/err" "the ranks resume from different checkpoints (iterations -1 to $iter"

# a hook that stops one rank stops the job after the same step, cleanly (an MPMD job:
# rank 1's recipe has the hook)
cat >"$SCRATCH/stops.lua" <<LUA
_base_ = "$SCRATCH/slow.lua"
hooks = { { after_step = function(_, runner)
    if runner.iter == 5 then runner:request_stop("enough") end
end } }
LUA
expect 0 timeout 60 mpirun -np 1 "$LUTRA" train "$SCRATCH/slow.lua" --work-dir "$SCRATCH/hook" \
    --set "${args[@]}" runner.max_iters=50 : \
    -np 1 "$LUTRA" train "$SCRATCH/stops.lua" --work-dir "$SCRATCH/hook" \
    --set "${args[@]}" runner.max_iters=50
has "$(run_dir "$SCRATCH/hook")/train.log" "stopped at iteration 5: another rank stopped"
exit 0
