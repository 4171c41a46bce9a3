#!/usr/bin/env bash
# Config errors exit 2 with a message naming the file or override and the key.
. "$(dirname "$0")/lib.sh"

expect 2 "$LUTRA" train examples/fmnist_mlp.lua --set 'optim.lr="fast"'
has "$SCRATCH/err" "optim.lr must be a number, got string"
expect 2 "$LUTRA" train examples/fmnist_mlp.lua --set optim.lrr=0.1
has "$SCRATCH/err" "unknown key 'optim.lrr' (did you mean 'optim.lr'?)"
expect 2 "$LUTRA" plan examples/fmnist_mlp.lua --set 'precision={mode="fp8"}'
has "$SCRATCH/err" 'precision.mode must be one of "fp32", "fp16", "bf16", got "fp8"'
printf 'runner = {max_iters = 5, max_epochs = 2}\nmodel = {type = "mlp"}\n' >"$SCRATCH/both.lua"
expect 2 "$LUTRA" train "$SCRATCH/both.lua"
has "$SCRATCH/err" "runner.max_iters and runner.max_epochs are both set"
printf 'model = {type = "mlp"\nrunner = {max_iters = 3}\n' >"$SCRATCH/broken.lua"
expect 2 "$LUTRA" train "$SCRATCH/broken.lua"
has "$SCRATCH/err" "broken.lua:2:"
printf '_base_ = "%s/examples/_base_/fmnist.lua"\nmodel = {type = "mlp", hidden = {"wide"}}\n' \
    "$PWD" >"$SCRATCH/typed.lua"
expect 2 "$LUTRA" plan "$SCRATCH/typed.lua"
has "$SCRATCH/err" "model.hidden[1] must be an integer, got string"
expect 2 "$LUTRA" plan examples/fmnist_cnn.lua --set 'model.channels={8, 8, 8, 8, 8, 8}'
has "$SCRATCH/err" "model.channels: 6 poolings leave nothing of 28-pixel images"
expect 2 "$LUTRA" train examples/fmnist_cnn.lua --work-dir "$SCRATCH/wd" \
    --set 'model.channels={8, 8, 8, 8, 8, 8}'
has "$SCRATCH/err" "6 poolings leave nothing"
expect 2 "$LUTRA" train examples/no_such_recipe.lua
has "$SCRATCH/err" "no_such_recipe.lua"
exit 0
