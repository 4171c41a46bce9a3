#!/usr/bin/env bash
# A C host built against an install with pkg-config alone: make install into a temporary
# prefix (headers, liblutra.so and the core-only liblutra.a, lutra.pc, the Lua files; the
# host API is in the .so alone, as docs/embedding.md says), then examples/embed's own
# Makefile builds embed.c with `pkg-config lutra` and nothing from the source tree; the
# program trains examples/embed/recipe.lua on the data it generates in C, prints its
# progress and exits 0 with a loss that fell. The two lines make install prints let a
# stock lua5.4 require "lutra" from the prefix.
. "$(dirname "$0")/lib.sh"
command -v pkg-config >/dev/null || { echo "skipped: no pkg-config"; exit 0; }

P=$SCRATCH/prefix
expect 0 make --no-print-directory install BUILD="$BUILD" PREFIX="$P"
for f in include/lutra/lutra.h include/lutra/lutra_host.h include/lutra/kernels/ops.h \
    lib/liblutra.a lib/liblutra.so lib/liblutra.so.0 lib/pkgconfig/lutra.pc; do
    [ -e "$P/$f" ] || fail "make install left no $f"
done
# liblutra.a is the core C API (lutra.h): no host API, no Lua
nm -g --defined-only "$P/lib/liblutra.a" 2>/dev/null | grep -q ' T lt_ctx_new$' ||
    fail "liblutra.a has no lt_ctx_new"
nm -g --defined-only "$P/lib/liblutra.a" 2>/dev/null | grep -Eq ' T (lt_run_|luaopen_|lua_)' &&
    fail "liblutra.a holds more than the core"
nm -D --defined-only "$P/lib/liblutra.so" | grep -q ' T lt_run_new$' ||
    fail "liblutra.so has no lt_run_new"
grep '^  export LUA_' "$SCRATCH/out" >"$SCRATCH/lua_env" || fail "make install printed no LUA_PATH"
(
    . "$SCRATCH/lua_env"
    cd "$SCRATCH" && lua5.4 -e 'print(require("lutra").ones(2, 2):sum())'
) >"$SCRATCH/lua_out" 2>&1 || { cat "$SCRATCH/lua_out"; fail "lua5.4 with the printed lines"; }
has "$SCRATCH/lua_out" "4"

cp -r examples/embed "$SCRATCH/embed"
cd "$SCRATCH/embed" || fail "no copy of examples/embed"
rm -f embed
export PKG_CONFIG_PATH=$P/lib/pkgconfig
expect 0 make --no-print-directory
ldd ./embed | grep -q "$P/lib/liblutra.so.0" || fail "embed does not load $P/lib/liblutra.so.0"
expect 0 ./embed recipe.lua "$SCRATCH/wd"
has "$SCRATCH/out" "step  252/252"
has "$SCRATCH/out" "loss fell from"
acc=$(sed -n 's/^test accuracy \([0-9.]*\),.*/\1/p' "$SCRATCH/out")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' || fail "test accuracy $acc on four blobs"
run=$(run_dir "$SCRATCH/wd")
[ -f "$run/final.safetensors" ] || fail "no final.safetensors in $run"
has "$run/train.log" "data host:blobs (blobs train): 2000 training, 400 test samples"
