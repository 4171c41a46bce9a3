#!/usr/bin/env bash
# lutra plan: resolved config, graph summary and bytes per category, touching no data
# (the data folder may not exist at all). How long it takes is in `make bench`.
. "$(dirname "$0")/lib.sh"

expect 0 "$LUTRA" plan examples/fmnist_cnn.lua --set 'data.root="/nonexistent"'
for word in "data = {" "model = {" 'type = "cnn"' "graph:" "conv2d 2" "parameters" \
    "params" "grads" "optimizer" "activations" "temporaries" "workspace" "total" "planned in"; do
    has "$SCRATCH/out" "$word"
done
expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --set 'precision={mode="bf16"}' data.batch_size=256
has "$SCRATCH/out" "micro-batch 256"
has "$SCRATCH/out" "precision bf16"
has "$SCRATCH/out" "param_copies"
# what train would choose under a memory limit: the micro-batch that fits, the same
# effective batch, recorded in the resolved config
expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --set 'memory.limit="35MiB"'
has "$SCRATCH/out" "micro-batch 128 -> 16, accumulate 1 -> 8 (effective batch 128 kept)"
has "$SCRATCH/out" "batch_size = 16, -- memory.fit: was 128"
has "$SCRATCH/out" "micro-batch 16, accumulate 8"
exit 0
