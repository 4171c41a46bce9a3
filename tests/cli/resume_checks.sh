#!/usr/bin/env bash
# --resume-from and the checks before anything is written: a checkpoint at or past the
# run's end has nothing to do; "auto" in an empty work dir starts fresh, and past a
# missing, empty or broken last_checkpoint takes the newest checkpoint that loads; a
# checkpoint of another precision or effective batch is refused with the differences
# listed (--resume-force trains on, as the recipe says), one of another model always.
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }

train() { # train CODE WORK_DIR ARGS...: lutra train of the small recipe
    local code=$1 wd=$2
    shift 2
    expect "$code" "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$wd" "$@"
}
runs() { run_dirs "$1" | wc -l; }
base=("${SMALL[@]}" runner.eval_interval=0)

# at or past the end: nothing to do, nothing written
wd=$SCRATCH/end
train 0 "$wd" --set "${base[@]}" runner.max_iters=20 runner.checkpoint_interval=10
a=$(run_dir "$wd")
cp "$a/final.safetensors" "$SCRATCH/final.before"
for end in 20 10; do # a finished run ends with a checkpoint: the same command again is done
    train 0 "$wd" --resume-from auto --set "${base[@]}" runner.max_iters=$end
    has "$SCRATCH/out" \
        "nothing to do: $a/iter_20.safetensors is at iteration 20, and the run ends at $end"
    [ "$(runs "$wd")" -eq 1 ] || fail "nothing to do, yet a run folder was made"
done
cmp -s "$SCRATCH/final.before" "$a/final.safetensors" ||
    fail "nothing to do changed final.safetensors"
[ "$(cat "$wd/last_checkpoint")" = "${a##*/}/iter_20.safetensors" ] ||
    fail "nothing to do changed last_checkpoint: $(cat "$wd/last_checkpoint")"

# auto in an empty work dir: a fresh start, said on the console and in train.log
train 0 "$SCRATCH/fresh" --resume-from auto --set "${base[@]}" runner.max_iters=4
has "$SCRATCH/out" "--resume-from auto: no checkpoint in $SCRATCH/fresh ("
has "$SCRATCH/out" "); starting fresh"
has "$SCRATCH/out" "done: 4 iterations"
fresh=$(run_dir "$SCRATCH/fresh")
has "$fresh/train.log" "); starting fresh"
[ -s "$fresh/final.safetensors" ] || fail "the fresh start saved no final weights"

# last_checkpoint naming a deleted file, empty, or naming a broken file: the newest
# checkpoint that loads
wd=$SCRATCH/fallback
train 0 "$wd" --set "${base[@]}" runner.max_iters=20 runner.checkpoint_interval=5 \
    runner.max_keep_ckpts=-1
a=$(run_dir "$wd")
rm "$a/iter_20.safetensors" "$a/iter_15.safetensors"
echo "${a##*/}/iter_15.safetensors" >"$wd/last_checkpoint"
train 0 "$wd" --resume-from auto --set "${base[@]}" runner.max_iters=11 \
    runner.checkpoint_interval=0
newest="resuming from the newest checkpoint that loads"
has "$SCRATCH/out" "--resume-from auto: $wd/last_checkpoint names ${a##*/}/iter_15.safetensors,\
 which does not exist; $newest, $a/iter_10.safetensors"
has "$SCRATCH/out" "resumed from $a/iter_10.safetensors: iteration 10"
has "$SCRATCH/out" "done: 1 iterations"
: >"$wd/last_checkpoint"
train 0 "$wd" --resume-from auto --set "${base[@]}" runner.max_iters=11 \
    runner.checkpoint_interval=0
has "$SCRATCH/out" \
    "--resume-from auto: $wd/last_checkpoint is empty; $newest, $a/iter_10.safetensors"
head -c 1000 "$a/iter_5.safetensors" >"$a/iter_10.safetensors" # cut short
echo "${a##*/}/iter_10.safetensors" >"$wd/last_checkpoint"
train 0 "$wd" --resume-from auto --set "${base[@]}" runner.max_iters=6 \
    runner.checkpoint_interval=0
has "$SCRATCH/out" "--resume-from auto: $a/iter_10.safetensors"
has "$SCRATCH/out" "; $newest, $a/iter_5.safetensors"
has "$SCRATCH/out" "resumed from $a/iter_5.safetensors: iteration 5"
[ "$(runs "$wd")" -eq 4 ] || fail "three resumed runs, $(runs "$wd") run folders"

# a fp16 checkpoint under a fp32 recipe, another effective batch: listed, nothing
# written; --resume-force trains as the recipe says
train 0 "$SCRATCH/fp16" --set "${base[@]}" runner.max_iters=10 runner.checkpoint_interval=5 \
    'precision={mode="fp16"}'
ckpt=$(run_dir "$SCRATCH/fp16")/iter_5.safetensors
[ -s "$ckpt" ] || fail "no fp16 checkpoint"
train 1 "$SCRATCH/b" --resume-from "$ckpt" --set "${base[@]}" runner.max_iters=8
[ "$(cat "$SCRATCH/err")" = "lutra: $ckpt does not fit this recipe:
  precision fp16 in the checkpoint, fp32 in the recipe
--resume-force resumes anyway, training as the recipe says" ] ||
    { cat "$SCRATCH/err"; fail "the refusal of a fp16 checkpoint"; }
train 1 "$SCRATCH/b" --resume-from "$ckpt" --set "${base[@]}" runner.max_iters=8 \
    data.batch_size=64
has "$SCRATCH/err" "  effective batch 32 in the checkpoint, 64 in the recipe"
has "$SCRATCH/err" "  precision fp16 in the checkpoint, fp32 in the recipe"
[ "$(runs "$SCRATCH/b")" -eq 0 ] || fail "a refused resume made a run folder"
[ -z "$(find "$SCRATCH/b" -name final.safetensors)" ] || fail "a refused resume saved weights"
train 0 "$SCRATCH/b" --resume-from "$ckpt" --resume-force --set "${base[@]}" \
    runner.max_iters=8 data.batch_size=64
forced="warning: --resume-force:" as_recipe="; training as the recipe says"
has "$SCRATCH/out" "$forced precision fp16 in the checkpoint, fp32 in the recipe$as_recipe"
has "$SCRATCH/out" "$forced effective batch 32 in the checkpoint, 64 in the recipe$as_recipe"
has "$SCRATCH/out" "resumed from $ckpt: iteration 5"
has "$SCRATCH/out" "done: 3 iterations"
b=$(run_dir "$SCRATCH/b")
grep -q '"mode":"train".*"precision":"fp32"' "$b/metrics.jsonl" ||
    fail "--resume-force did not train in the recipe's fp32"
[ -s "$b/final.safetensors" ] || fail "--resume-force saved no final weights"

# another model: never resumable, --resume-force or not
for force in "" --resume-force; do
    train 1 "$SCRATCH/narrow" --resume-from "$ckpt" $force --set "${base[@]}" \
        runner.max_iters=8 'precision={mode="fp16"}' 'model.hidden={32}'
    has "$SCRATCH/err" "  parameter 1.weight is (64, 784) in the checkpoint, (32, 784) in the model"
    has "$SCRATCH/err" "the model's parameters must match to resume"
done
[ "$(runs "$SCRATCH/narrow")" -eq 0 ] || fail "a refused resume made a run folder"
exit 0
