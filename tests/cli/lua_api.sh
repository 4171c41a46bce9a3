#!/usr/bin/env bash
# Every example of docs/lua-api.md runs: each ```lua block is a whole script, run with
# `lutra run` from a scratch folder, on small synthetic Fashion-MNIST files.
. "$(dirname "$0")/lib.sh"
lutra=$(cd "$(dirname "$LUTRA")" && pwd)/$(basename "$LUTRA")
repo=$(pwd)

mkdir -p "$SCRATCH/data" "$SCRATCH/examples"
expect 0 "$LUTRA" run tests/lua/fixtures/synthetic_fmnist.lua "$SCRATCH/data" 512 200

# the blocks, one file each
awk -v dir="$SCRATCH/examples" '
    /^```lua$/ { n++; file = sprintf("%s/%02d.lua", dir, n); inside = 1; next }
    /^```$/ { inside = 0; next }
    inside { print > file }
' docs/lua-api.md
count=$(ls "$SCRATCH/examples" | wc -l)
[ "$count" -ge 8 ] || fail "docs/lua-api.md: $count examples found, want at least 8"

for f in "$SCRATCH"/examples/*.lua; do
    run=$SCRATCH/run-$(basename "$f" .lua)
    mkdir -p "$run"
    (cd "$run" && LUTRA_DATA="$SCRATCH/data" LUTRA_REPO="$repo" "$lutra" run "$f") \
        >"$SCRATCH/out" 2>"$SCRATCH/err" ||
        { echo "--- $f"; cat "$f"; echo "--- stderr"; cat "$SCRATCH/err";
          fail "docs/lua-api.md example $(basename "$f" .lua) failed"; }
    [ -s "$SCRATCH/out" ] || fail "docs/lua-api.md example $(basename "$f" .lua) printed nothing"
done
exit 0
