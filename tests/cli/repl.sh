#!/usr/bin/env bash
# The REPL fed through a here-doc: expressions printed, tensors pretty-printed, an error
# shown and the session going on, the helpers, exit 0 at end of input.
. "$(dirname "$0")/lib.sh"

"$LUTRA" repl >"$SCRATCH/out" 2>&1 <<'LUA'
6 * 7
lutra.tensor({{1, 2}, {3, 4}})
nn.Linear(4, 2)
error("deliberate")
undefined_function()
"after the errors"
local s = 0
for i = 1, 3 do
  s = s + i
end
help()
LUA
rc=$?
[ "$rc" -eq 0 ] || { cat "$SCRATCH/out"; fail "repl exited $rc"; }
has "$SCRATCH/out" "42"
has "$SCRATCH/out" "[lutra f32 tensor of size 2x2]"
has "$SCRATCH/out" "Linear(in_features=4, out_features=2, bias=true)"
has "$SCRATCH/out" "error: stdin:1: deliberate"
has "$SCRATCH/out" "attempt to call a nil value (global 'undefined_function')"
has "$SCRATCH/out" "after the errors"
has "$SCRATCH/out" "mem([trainer])"
if have_data; then
    "$LUTRA" <<'LUA' >"$SCRATCH/out2" 2>&1 || fail "repl with a recipe failed"
r = build("examples/fmnist_mlp.lua", {"data.train_samples=256", "data.val_samples=100", "model.hidden={256,256,256}", "memory.checkpoint=true"})
res = step(3)
print("iter", res.iter, res.loss > 0)
evaluate()
mem()
LUA
    has "$SCRATCH/out2" "iter	3	true"
    has "$SCRATCH/out2" "trainer memory by category:"
    has "$SCRATCH/out2" "activations"
    has "$SCRATCH/out2" "activation checkpointing: 3 segments"
    has "$SCRATCH/out2" "1 evaluation and prediction program: "
    # build() logs the thread count in effect (the recipe's threads=0 keeps it), in the
    # singular for one; the line is there when "auto" falls back to the CPU
    "$LUTRA" <<'LUA' >"$SCRATCH/out3" 2>&1 || fail "repl with set_threads failed"
lutra.set_threads(1)
r = build("examples/fmnist_mlp.lua", {"data.train_samples=64", "data.val_samples=32"})
print("threads now", lutra.threads())
LUA
    has "$SCRATCH/out3" "threads now	1"
    if grep -q "training on the CPU with" "$SCRATCH/out3"; then
        grep -q "training on the CPU with 1 thread$" "$SCRATCH/out3" ||
            { cat "$SCRATCH/out3"; fail "build() after set_threads(1) does not say 1 thread"; }
    fi
fi
exit 0
