#!/usr/bin/env bash
# Data parallel on the device: 2 ranks on the emulated GPU (tests/emulated_device.c, whose
# collectives are MPI's) end with the weights of 2 ranks on the CPU, bit for bit. The
# kernels are the CPU's and both sum each bucket with the same MPI_Allreduce, so only the
# core's device path differs: the communicator's id broadcast and join, the bucket sums on
# device memory, each rank on the card of its local rank (cuda:0, cuda:1). 641 samples
# make the epoch's last global batch one sample, which leaves rank 0's shard empty for a
# step; dropout's masks follow the sample, not the rank.
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }
mpi_ready
export LUTRA_CUDA_PLUGIN=$BUILD/tests/lutra_emulated_device.so LUTRA_EMULATED_DEVICE_COUNT=2
[ -f "$LUTRA_CUDA_PLUGIN" ] || { echo "skipped: $LUTRA_CUDA_PLUGIN is not built"; exit 0; }

args=(data.train_samples=641 data.val_samples=100 'model.hidden={32}' data.batch_size=32
      schedule.warmup_iters=0 runner.max_iters=24 runner.eval_interval=0 optim.type=sgd
      model.dropout=0.2)
for d in cpu cuda; do
    # -x: the plugin's variables reach every rank, not only those on this host
    expect 0 mpirun -np 2 -x LUTRA_CUDA_PLUGIN -x LUTRA_EMULATED_DEVICE_COUNT \
        "$LUTRA" train examples/fmnist_mlp.lua --device $d --work-dir "$SCRATCH/$d" \
        --seed 7 --quiet --set "${args[@]}"
done
cpu=$(run_dir "$SCRATCH/cpu") cuda=$(run_dir "$SCRATCH/cuda")
has "$cuda/train.log" "device cuda:0: cuda:0 emulated on the CPU"
has "$cuda/train.log" "data parallel: 2 ranks"
has "$cuda/train.log" "11 iterations per epoch"
same_weights "$cpu/final.safetensors" "$cuda/final.safetensors" ||
    fail "2 ranks on the emulated GPU and 2 on the CPU ended with different weights"

# the card of local rank 1 must exist: with one card, rank 1 says why it cannot start
LUTRA_EMULATED_DEVICE_COUNT=1 expect 1 mpirun -np 2 -x LUTRA_CUDA_PLUGIN \
    -x LUTRA_EMULATED_DEVICE_COUNT "$LUTRA" train examples/fmnist_mlp.lua --device cuda \
    --work-dir "$SCRATCH/one" --quiet --set "${args[@]}"
has "$SCRATCH/err" "no CUDA device 1"
exit 0
