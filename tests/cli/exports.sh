#!/usr/bin/env bash
# The line between lutra's API and its insides: the Lua module (a shared object that
# links the whole library) exports Lua's two openers and exactly the functions
# core/lutra.h declares; the core's internal lt_ functions (lt_fail, the planner's
# builders, the CPU backend's registration) stay hidden.
. "$(dirname "$0")/lib.sh"

module=$BUILD/lutra.so
[ -f "$module" ] || fail "$module is not built"
command -v nm >/dev/null || { echo "skipped: no nm (binutils)"; exit 0; }
nm -D --defined-only "$module" | awk '$2 == "T" { print $3 }' | sort >"$SCRATCH/exported"
grep -v '^ \*\|^/\*' core/lutra.h | grep -oE '\blt_[a-z0-9_]+\(' | tr -d '(' | sort -u \
    >"$SCRATCH/declared"
grep '^lt_' "$SCRATCH/exported" >"$SCRATCH/exported_lt"
if ! cmp -s "$SCRATCH/exported_lt" "$SCRATCH/declared"; then
    echo "exported but not in core/lutra.h (<) / declared but not exported (>):"
    diff "$SCRATCH/exported_lt" "$SCRATCH/declared"
    fail "the module's exports differ from core/lutra.h"
fi
grep -v '^lt_' "$SCRATCH/exported" >"$SCRATCH/others"
printf 'luaopen_lutra\nluaopen_lutra_core\n' | cmp -s - "$SCRATCH/others" ||
    fail "the module exports other symbols: $(tr '\n' ' ' <"$SCRATCH/others")"
for internal in lt_fail lt_plan_add_buf lt_cpu_backend_init lt_lua_ctx; do
    grep -qx "$internal" "$SCRATCH/exported" && fail "$internal is exported"
done
exit 0
