#!/usr/bin/env bash
# Recipes and overrides do what the docs say: a recipe cannot leave its sandbox (no os,
# io, shared metatables), --set values are literals that never run (also --cfg-options
# and --options), --threads stays in lutra.core's range, and a folder or Lua bytecode
# given as a recipe is named as such. Each is a config error: exit 2, with the place.
. "$(dirname "$0")/lib.sh"

# the sandbox: os.exit does not exit 5, io.open writes nothing
printf 'model = {type = "mlp"}\nrequire("os").exit(5)\n' >"$SCRATCH/exit.lua"
expect 2 "$LUTRA" plan "$SCRATCH/exit.lua"
has "$SCRATCH/err" "exit.lua:2: require 'os': not available in a recipe"
printf 'model = {type = "mlp"}\nrequire("io").open("%s/written", "w")\n' "$SCRATCH" \
    >"$SCRATCH/writes.lua"
expect 2 "$LUTRA" plan "$SCRATCH/writes.lua"
has "$SCRATCH/err" "writes.lua:2: require 'io': not available in a recipe"
[ ! -e "$SCRATCH/written" ] || fail "a recipe wrote a file"
# a recipe (and a module beside it) that breaks string functions breaks only its copies
printf 'string.rep = function() error("x") end\nstring.format = nil\n' >"$SCRATCH/helper.lua"
printf 'require("helper")\nstring.rep = function() error("x") end\nstring.format = nil\n%s\n' \
    'model = {type = "mlp", hidden = {8}}' 'runner = {max_iters = 1}' >"$SCRATCH/strings.lua"
expect 0 "$LUTRA" plan "$SCRATCH/strings.lua"
has "$SCRATCH/out" "memory the step allocates"
printf 'getmetatable("").__index.format = function() error("x") end\n' >"$SCRATCH/meta.lua"
expect 2 "$LUTRA" plan "$SCRATCH/meta.lua"
has "$SCRATCH/err" "meta.lua:1: attempt to index a nil value"
printf 'require("lutra.models").build = nil\n' >"$SCRATCH/ro.lua"
expect 2 "$LUTRA" plan "$SCRATCH/ro.lua"
has "$SCRATCH/err" "ro.lua:1: lutra.models is read-only in a recipe (setting 'build')"

# --set and its aliases read literals and never run code: no hang, a clear error
for flag in --set --cfg-options --options; do
    expect 2 timeout 20 "$LUTRA" plan examples/fmnist_mlp.lua "$flag" \
        'x=(function() while true do end end)()'
    has "$SCRATCH/err" "--set 'x=(function() while true do end end)()': the value is not a Lua literal: unexpected '(' (a literal is a number, a string, true, false, nil or a table of them) (character 3)"
done
expect 2 "$LUTRA" plan examples/fmnist_mlp.lua --set 'optim.lr=2^-4'
has "$SCRATCH/err" "--set 'optim.lr=2^-4': the value is not a Lua literal: arithmetic is not evaluated"
expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --set optim.type=adamw 'optim.lr=0x1p-10' \
    'model.hidden={ 16, [2] = 8 }' "data.root='/no/such dir'" memory.limit=2GiB
has "$SCRATCH/out" 'type = "adamw",'
has "$SCRATCH/out" "lr = 0.0009765625,"
has "$SCRATCH/out" "hidden = {16, 8},"
has "$SCRATCH/out" 'root = "/no/such dir",'

# --threads: lutra.core takes [0, 4096]
expect 2 "$LUTRA" train examples/fmnist_mlp.lua --threads 100000 --work-dir "$SCRATCH/wd"
has "$SCRATCH/err" "--threads: threads must be in [0, 4096], got 100000"
expect 2 "$LUTRA" eval examples/fmnist_mlp.lua --threads -1 --load-from x.safetensors
has "$SCRATCH/err" "--threads: threads must be in [0, 4096], got -1"
printf '_base_ = "%s/examples/fmnist_mlp.lua"\nthreads = 5000\n' "$PWD" >"$SCRATCH/threads.lua"
expect 2 "$LUTRA" train "$SCRATCH/threads.lua" --work-dir "$SCRATCH/wd"
has "$SCRATCH/err" "threads.lua: threads must be in [0, 4096], got 5000"

# a folder or bytecode is not a recipe
mkdir -p "$SCRATCH/folder"
expect 2 "$LUTRA" plan "$SCRATCH/folder"
has "$SCRATCH/err" "$SCRATCH/folder: is a directory, not a recipe file"
printf '_base_ = "folder"\nmodel = {type = "mlp"}\n' >"$SCRATCH/base_dir.lua"
expect 2 "$LUTRA" plan "$SCRATCH/base_dir.lua"
has "$SCRATCH/err" "base_dir.lua: _base_ 'folder' is a directory ($SCRATCH/folder), not a recipe file"
luac5.4 -o "$SCRATCH/mlp.luac" examples/fmnist_mlp.lua || fail "luac5.4"
expect 2 "$LUTRA" plan "$SCRATCH/mlp.luac"
has "$SCRATCH/err" "$SCRATCH/mlp.luac: is Lua bytecode, not a recipe source (lutra reads recipes as text)"
exit 0
