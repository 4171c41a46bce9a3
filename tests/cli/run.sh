#!/usr/bin/env bash
# lutra run SCRIPT.lua [args]: the script sees lutra and arg; its integer return is the
# exit status; an error exits 1 with the message.
. "$(dirname "$0")/lib.sh"

cat >"$SCRATCH/s.lua" <<'LUA'
local t = lutra.ones(2, 2) * 3
print("sum", t:sum(), "args", arg[1], arg[2], #arg)
return tonumber(arg[3])
LUA
expect 0 "$LUTRA" run "$SCRATCH/s.lua" a b
has "$SCRATCH/out" "sum	12.0	args	a	b	2"
expect 3 "$LUTRA" run "$SCRATCH/s.lua" a b 3
echo 'local x = nil; return x.field' >"$SCRATCH/bad.lua"
expect 1 "$LUTRA" run "$SCRATCH/bad.lua"
has "$SCRATCH/err" "bad.lua:1: attempt to index a nil value"
expect 2 "$LUTRA" run "$SCRATCH/none.lua"
# the old host form: lutra script.lua
expect 0 "$LUTRA" "$SCRATCH/s.lua" x y
has "$SCRATCH/out" "args	x	y"
if have_data; then
    expect 0 timeout 120 "$LUTRA" run examples/loop.lua 1
    has "$SCRATCH/out" "epoch 1: train loss"
fi
exit 0
