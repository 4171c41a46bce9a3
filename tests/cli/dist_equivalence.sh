#!/usr/bin/env bash
# Data parallel equals one big batch: 2 ranks × batch 64 end 20+ SGD steps with the
# parameters of 1 process × batch 128 (norm-wise within 1e-5, fp32), and so do 2 ranks ×
# 32 × accumulate 2, and ranks whose memory differs. The run crosses an epoch's short last
# batch of one sample, which leaves rank 0's shard empty, and has dropout, whose masks
# follow the sample's place in the epoch, not the rank.
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }
mpi_ready

args=(data.train_samples=2561 data.val_samples=200 'model.hidden={64}' model.dropout=0.2
      schedule.warmup_iters=0 runner.max_iters=23 runner.eval_interval=0 optim.type=sgd
      optim.lr_scaling.rule=linear optim.lr_scaling.base_batch_size=128)
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/one" --quiet --threads 1 \
    --set data.batch_size=128 "${args[@]}"
expect 0 mpirun -np 2 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/two" \
    --set data.batch_size=64 "${args[@]}"
one=$(run_dir "$SCRATCH/one") two=$(run_dir "$SCRATCH/two")
# rank 0 alone wrote the run: one run folder, its log says what the job was
[ "$(run_dirs "$SCRATCH/two" | wc -l)" -eq 1 ] || fail "the ranks wrote more than one run folder"
has "$two/train.log" "batch 64 × accumulate 1 × 2 ranks = effective batch 128; 21 iterations per epoch"
has "$two/train.log" "data parallel: 2 ranks (MPI), 2 on this host; each rank 1 thread"
# the lr rule counts the ranks: the same lr as one process with batch 128
has "$two/train.log" "effective batch 128 / base 128"
close_weights "$one/final.safetensors" "$two/final.safetensors" 1e-5 ||
    fail "2 ranks × 64 and 1 × 128 ended with different parameters"
# the metrics are every rank's: the same test accuracy as the lone process
acc_one=$(grep -o 'test accuracy [0-9.]*' "$one/train.log" | tail -1)
acc_two=$(grep -o 'test accuracy [0-9.]*' "$two/train.log" | tail -1)
[ -n "$acc_one" ] && [ "$acc_one" = "$acc_two" ] ||
    fail "evaluation differs: '$acc_one' alone, '$acc_two' over 2 ranks"

# with accumulation: 2 ranks × 32 × accumulate 2 too (each micro-batch's dropout keyed by
# its own place in the epoch)
expect 0 mpirun -np 2 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/acc" \
    --quiet --set data.batch_size=32 optim.accumulate=2 "${args[@]}"
close_weights "$one/final.safetensors" "$(run_dir "$SCRATCH/acc")/final.safetensors" 1e-5 ||
    fail "2 ranks × 32 × accumulate 2 and 1 × 128 ended with different parameters"

# ranks whose memory differs (an MPMD job: rank 1 has a tenth of rank 0's limit) train with
# what fits both: rank 1's micro-batch of 32, accumulate 2, and still 1 × 128's parameters
small=(memory.process=false memory.target=1 data.val_batch_size=32)
expect 0 mpirun -np 1 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/fit" \
    --set data.batch_size=64 "${args[@]}" "${small[@]}" memory.limit=16000000 : \
    -np 1 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/fit" \
    --set data.batch_size=64 "${args[@]}" "${small[@]}" memory.limit=1600000
fit=$(run_dir "$SCRATCH/fit")
has "$fit/train.log" "memory: taken what fits every rank: micro-batch 32, accumulate 2"
has "$fit/train.log" "batch 32 × accumulate 2 × 2 ranks = effective batch 128"
close_weights "$one/final.safetensors" "$fit/final.safetensors" 1e-5 ||
    fail "ranks that fitted their memory ended with other parameters than 1 × 128"

# a job of one rank (mpirun -np 1) runs the collectives and trains as a lone process does,
# bit for bit
expect 0 mpirun -np 1 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/np1" \
    --quiet --threads 1 --set data.batch_size=128 "${args[@]}"
same_weights "$one/final.safetensors" "$(run_dir "$SCRATCH/np1")/final.safetensors" ||
    fail "mpirun -np 1 trained otherwise than a lone process"

# buckets start as the backward finishes them: of a 3-layer MLP's gradient cut in two, the
# last layers' bucket goes while the first layer's backward still runs
expect 0 mpirun -np 2 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/overlap" \
    --quiet --set data.batch_size=64 "${args[@]}" 'model.hidden={256,256}' dist.bucket_mb=0.1
log=$(run_dir "$SCRATCH/overlap")/train.log
has "$log" "gradient all-reduced in 2 buckets of at most 0.77 MiB"
has "$log" "all-reduce: 1 of 2 gradient buckets started while the backward ran"
has "$log" "data parallel: the steps waited"
exit 0
