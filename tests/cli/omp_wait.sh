#!/usr/bin/env bash
# The binary bounds how long OpenMP threads spin at a barrier (GOMP_SPINCOUNT=10000, set
# before libgomp loads by starting itself again: lua/main.c), unless the user chose a wait
# policy; arguments, the exit status and standard input pass through the restart.
. "$(dirname "$0")/lib.sh"

cat >"$SCRATCH/env.lua" <<'LUA'
print(os.getenv("GOMP_SPINCOUNT"), os.getenv("OMP_WAIT_POLICY"), arg[1], io.read("l"))
return 7
LUA
env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY "$LUTRA" run "$SCRATCH/env.lua" "a b" \
    <<<"line" >"$SCRATCH/out"
[ $? -eq 7 ] || fail "the script's exit status 7 did not pass through"
has "$SCRATCH/out" "$(printf '10000\tnil\ta b\tline')"
env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive "$LUTRA" run "$SCRATCH/env.lua" x \
    <<<"" >"$SCRATCH/out"
has "$SCRATCH/out" "$(printf 'nil\tpassive\tx')"
env GOMP_SPINCOUNT=5 "$LUTRA" run "$SCRATCH/env.lua" x <<<"" >"$SCRATCH/out"
has "$SCRATCH/out" "$(printf '5\t')"
exit 0
