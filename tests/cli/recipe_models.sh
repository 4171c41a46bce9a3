#!/usr/bin/env bash
# A run's config.lua trains again, from any folder, when the model is custom: a type
# registered by a module beside the recipe (config.lua requires that module), a model
# function returned by such a module, or one the recipe sets itself (config.lua gets it
# from the file that holds it). On a small synthetic data set in Fashion-MNIST's files.
. "$(dirname "$0")/lib.sh"
lutra=$(cd "$(dirname "$LUTRA")" && pwd)/$(basename "$LUTRA")

# 64 training and 20 test images of the synthetic Fashion-MNIST
mkdir -p "$SCRATCH/data" "$SCRATCH/proj"
expect 0 "$LUTRA" run tests/lua/fixtures/synthetic_fmnist.lua "$SCRATCH/data" 64 20

cat >"$SCRATCH/proj/base.lua" <<LUA
data = {root = "$SCRATCH/data", batch_size = 16, train_samples = 64, val_samples = 20}
runner = {max_iters = 2, log_interval = 1, eval_interval = 0, checkpoint_interval = 0}
schedule = {warmup_iters = 0}
LUA
cat >"$SCRATCH/proj/my_models.lua" <<'LUA'
local models = require("lutra.models")
local nn = require("lutra.nn")
models.register("tiny", function(m)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, m.width), nn.ReLU(), nn.Linear(m.width, 10))
end, {{name = "width", type = "integer", default = 16, doc = "Hidden width."}})
LUA
cat >"$SCRATCH/proj/nets.lua" <<'LUA'
local nn = require("lutra.nn")
return {build = function() return nn.Sequential(nn.Flatten(), nn.Linear(784, 10)) end}
LUA
printf '%s\n' '_base_ = "base.lua"' 'require("my_models")' \
    'model = {type = "tiny", width = 8}' >"$SCRATCH/proj/registered.lua"
printf '%s\n' '_base_ = "base.lua"' 'model = require("nets").build' \
    >"$SCRATCH/proj/from_module.lua"
printf '%s\n' '_base_ = "base.lua"' 'local nn = require("lutra.nn")' \
    'model = function() return nn.Sequential(nn.Flatten(), nn.Linear(784, 10)) end' \
    >"$SCRATCH/proj/inline.lua"

# again NAME TEXT: trains proj/NAME.lua, checks its config.lua has TEXT, trains that
# config.lua from / into another work dir
again() {
    local name=$1 text=$2
    expect 0 "$lutra" train "$SCRATCH/proj/$name.lua" --work-dir "$SCRATCH/$name" --quiet
    cfg=""
    cfg=$(find "$SCRATCH/$name" -name config.lua | head -1)
    [ -n "$cfg" ] || fail "$name: no config.lua under $SCRATCH/$name"
    has "$cfg" "$text"
    (cd / && "$lutra" train "$cfg" --work-dir "$SCRATCH/$name-again" --quiet) \
        >"$SCRATCH/out" 2>"$SCRATCH/err" ||
        { cat "$SCRATCH/err"; fail "$name: its config.lua does not train again"; }
    [ -n "$(find "$SCRATCH/$name-again" -name final.safetensors)" ] ||
        fail "$name: the second run saved no weights"
}
again registered "require(\"$SCRATCH/proj/my_models.lua\") -- registers model.type \"tiny\""
has "$cfg" "width = 8,"
again from_module "model = require(\"$SCRATCH/proj/nets.lua\").build"
again inline "model = require(\"$SCRATCH/proj/inline.lua\").model"
exit 0
