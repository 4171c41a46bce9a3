#!/usr/bin/env bash
# --help, COMMAND --help, --version, and the exit code of a usage error.
. "$(dirname "$0")/lib.sh"

expect 0 "$LUTRA" --help
has "$SCRATCH/out" "usage: lutra COMMAND"
has "$SCRATCH/out" "130 after Ctrl-C"
for verb in train eval plan run repl; do
    expect 0 "$LUTRA" "$verb" --help
    has "$SCRATCH/out" "usage: lutra $verb"
done
expect 0 "$LUTRA" help plan
has "$SCRATCH/out" "usage: lutra plan"
expect 0 "$LUTRA" --version
has "$SCRATCH/out" "lutra 0."
has "$SCRATCH/out" "CPU backend:"
has "$SCRATCH/out" "oneDNN"
has "$SCRATCH/out" "CUDA plugin:"
expect 2 "$LUTRA" frobnicate
has "$SCRATCH/err" "unknown command 'frobnicate'"
expect 2 "$LUTRA" trian examples/fmnist_mlp.lua
has "$SCRATCH/err" "did you mean 'train'?"
expect 2 "$LUTRA" train
has "$SCRATCH/err" "which recipe?"
expect 2 "$LUTRA" train examples/fmnist_mlp.lua --threds 2
has "$SCRATCH/err" "did you mean '--threads'?"
expect 2 "$LUTRA" run
exit 0
