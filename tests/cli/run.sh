#!/usr/bin/env bash
# lutra run SCRIPT.lua [args]: the script sees lutra and arg; its integer return (0..255)
# is the exit status; an error, a syntax error or a status out of range exits 1 with the
# message; a script that cannot be read exits 2.
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
has "$SCRATCH/err" "cannot open"
# a syntax error is the script's failure (1), as its help says
echo 'local x = = 1' >"$SCRATCH/syntax.lua"
expect 1 "$LUTRA" run "$SCRATCH/syntax.lua"
has "$SCRATCH/err" "syntax.lua:1: unexpected symbol near '='"
"$LUTRA" run --help | grep -q "a syntax" || fail "run --help does not say what a syntax error exits"
# the returned status is one byte: outside 0..255 or not an integer is refused, not wrapped
expect 255 "$LUTRA" run "$SCRATCH/s.lua" a b 255
expect 3 "$LUTRA" run "$SCRATCH/s.lua" a b 3.0
expect 1 "$LUTRA" run "$SCRATCH/s.lua" a b 300
has "$SCRATCH/err" "s.lua returned 300: an exit status must be an integer from 0 to 255"
expect 1 "$LUTRA" run "$SCRATCH/s.lua" a b -1
has "$SCRATCH/err" "returned -1: an exit status must be"
expect 1 "$LUTRA" run "$SCRATCH/s.lua" a b 2.5
has "$SCRATCH/err" "returned 2.5: an exit status must be"
# the old host form: lutra script.lua
expect 0 "$LUTRA" "$SCRATCH/s.lua" x y
has "$SCRATCH/out" "args	x	y"
if have_data; then
    expect 0 timeout 120 "$LUTRA" run examples/loop.lua 1
    has "$SCRATCH/out" "epoch 1: train loss"
fi
exit 0
