#!/usr/bin/env bash
# make install puts the binary, the C module and the Lua files in the standard Lua 5.4
# paths under PREFIX; the installed binary runs, and a stock lua5.4 finds the module.
. "$(dirname "$0")/lib.sh"

expect 0 make --no-print-directory install BUILD="$BUILD" PREFIX="$SCRATCH/prefix"
[ -x "$SCRATCH/prefix/bin/lutra" ] || fail "no bin/lutra"
[ -f "$SCRATCH/prefix/lib/lua/5.4/lutra.so" ] || fail "no lib/lua/5.4/lutra.so"
[ -f "$SCRATCH/prefix/share/lua/5.4/lutra/nn.lua" ] || fail "no share/lua/5.4/lutra/nn.lua"
expect 0 "$SCRATCH/prefix/bin/lutra" --version
has "$SCRATCH/out" "lutra 0."
cd "$SCRATCH" || fail "no scratch folder"
expect 0 env LUA_PATH="$SCRATCH/prefix/share/lua/5.4/?.lua;;" \
    LUA_CPATH="$SCRATCH/prefix/lib/lua/5.4/?.so;;" \
    lua5.4 -e 'local lt = require "lutra"; print(lt.ones(2, 3):sum())'
has "$SCRATCH/out" "6"
# with the CUDA plugin built, it is installed and the installed binary finds it: asked
# for a GPU on a machine without one, it fails for want of a GPU, not of the plugin
if [ -f "$OLDPWD/$BUILD/lutra_cuda.so" ]; then
    [ -f "$SCRATCH/prefix/lib/lutra/lutra_cuda.so" ] || fail "no lib/lutra/lutra_cuda.so"
    expect 1 "$SCRATCH/prefix/bin/lutra" train "$OLDPWD/examples/fmnist_mlp.lua" \
        --work-dir "$SCRATCH/gpu" --device cuda
    has "$SCRATCH/err" "device 'cuda': "
    if grep -q "has no CUDA plugin" "$SCRATCH/err"; then
        fail "the installed binary did not find its plugin: $(cat "$SCRATCH/err")"
    fi
fi
