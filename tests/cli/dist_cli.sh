#!/usr/bin/env bash
# The command line of data-parallel jobs: lutra plan --world-size N plans one rank of N
# (the effective batch and the lr rule count N, the all-reduce buckets are shown), its
# bad values are usage errors, and a command other than train under mpirun refuses to run
# N copies side by side.
. "$(dirname "$0")/lib.sh"
mpi_ready

expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --world-size 4 --set optim.lr_scaling.rule=linear \
    optim.lr_scaling.base_batch_size=128 data.batch_size=64 dist.bucket_mb=0.5
has "$SCRATCH/out" "lr 0.1 -> 0.2: linear rule, effective batch 256 / base 128"
has "$SCRATCH/out" "data parallel: 4 ranks, effective batch 256 (micro-batch 64 × accumulate 1 × 4 ranks)"
has "$SCRATCH/out" "(dist.bucket_mb), started as the backward finishes them"
expect 0 "$LUTRA" plan examples/fmnist_mlp.lua
grep -qF "data parallel" "$SCRATCH/out" && fail "a plan of one process speaks of ranks"
expect 2 "$LUTRA" plan examples/fmnist_mlp.lua --world-size 0
has "$SCRATCH/err" "plan: --world-size wants an integer in [1, 4096], got '0'"
expect 2 "$LUTRA" train examples/fmnist_mlp.lua --set dist.timeout=0
has "$SCRATCH/err" "dist.timeout"
expect 2 mpirun -np 2 "$LUTRA" plan examples/fmnist_mlp.lua
has "$SCRATCH/err" "lutra plan runs in one process; of the commands only lutra train runs as the ranks"
expect 0 "$LUTRA" --version
has "$SCRATCH/out" "ranks: MPI (mpirun -np N lutra train RECIPE)"
exit 0
