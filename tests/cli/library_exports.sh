#!/usr/bin/env bash
# The shared library's ABI: liblutra.so (soname liblutra.so.0) exports exactly the
# functions its public headers declare — core/lutra.h and core/lutra_host.h, as the
# compiler reads them (-aux-info lists every prototype with its file) — and nothing else:
# no internal lt_ function, no variable, none of the bindings' helpers.
. "$(dirname "$0")/lib.sh"

lib=$BUILD/liblutra.so
[ -f "$lib" ] || fail "$lib is not built"
command -v nm >/dev/null || { echo "skipped: no nm (binutils)"; exit 0; }
readelf -d "$lib" | grep -q 'Library soname: \[liblutra.so.0\]' ||
    fail "$lib: its soname is not liblutra.so.0"
echo '#include "core/lutra_host.h"' |
    gcc -std=c11 -I. -fsyntax-only -aux-info "$SCRATCH/aux" -x c - ||
    fail "the public headers do not compile"
grep -E '^/\* core/lutra(_host)?\.h:' "$SCRATCH/aux" |
    sed -E 's/.*[ *]([A-Za-z_][A-Za-z0-9_]*) \(.*/\1/' | sort -u >"$SCRATCH/declared"
n=$(wc -l <"$SCRATCH/declared")
[ "$n" -gt 100 ] || fail "found only $n declarations in the headers"
nm -D --defined-only "$lib" | awk '{ print $3 }' | sort -u >"$SCRATCH/exported"
if ! cmp -s "$SCRATCH/exported" "$SCRATCH/declared"; then
    echo "exported but not declared (<) / declared but not exported (>):"
    diff "$SCRATCH/exported" "$SCRATCH/declared"
    fail "liblutra.so's exports differ from core/lutra.h and core/lutra_host.h"
fi
exit 0
