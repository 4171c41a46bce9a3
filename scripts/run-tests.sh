#!/usr/bin/env bash
# Runs every test suite given on the command line, then the Lua specs, then the CLI tests,
# and prints one summary line: "N passed, N failed, N skipped", then each skip's reason
# and the CPU ISAs the C suites covered. Exits non-zero when anything failed.
#
# C suites are cmocka binaries; their counts are read from cmocka's summary lines, a
# skip's reason from the "skipped: REASON" line the test prints. The GPU training suite
# runs a second time on the emulated device ($BUILD/tests/lutra_emulated_device.so,
# tests/emulated_device.c) when it is built.
# CPU coverage: the C suites run at the widest ISA this CPU has, then again with lutra's
# own dispatch and oneDNN capped one level down (LUTRA_MAX_CPU_ISA and
# ONEDNN_MAX_CPU_ISA: on an AVX-512 CPU at AVX2, whose kernels and bf16 arithmetic
# differ; on an AVX2 CPU at the x86-64 baseline). The GPU suites run once.
# Lua specs are tests/lua/*_spec.lua, run by busted (one run per file) against the C
# module in $BUILD (LUA_CPATH) and the library in lua/ (LUA_PATH), with TAP output:
# "ok" counts as passed, "ok ... # SKIP" (busted's pending) as skipped, "not ok" (busted's
# failures and errors) as failed. A sanitizer build has no module and runs no specs.
# CLI tests are tests/cli/*.sh (lib.sh is their shared part), run against $BUILD/lutra:
# each script is one test, its exit status the verdict; one that prints "skipped: ..."
# counts as skipped.
set -u
BUILD=${BUILD:-build/release}
c_only=0
if [ "${1:-}" = --c-only ]; then # the C suites given, no specs or CLI tests
    c_only=1
    shift
fi
# the GPU suites load the plugin of this build (they skip without a GPU)
if [ -f "$BUILD/lutra_cuda.so" ] && [ -z "${LUTRA_CUDA_PLUGIN:-}" ]; then
    export LUTRA_CUDA_PLUGIN=$BUILD/lutra_cuda.so
fi
passed=0 failed=0 skipped=0
reasons=() # "N NAME: REASON" per suite with skips
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The reason the log gives for its skips: the first "skipped: REASON" line's reason up to
# any parenthesis ("no GPU (no NVIDIA driver ...)" gives "no GPU"), or busted's pending
# message without its file:line; "no reason given" when there is none.
skip_reason() {
    local r
    r=$(sed -n 's/^skipped: \([^(]*\).*/\1/p; s/^ok [0-9]* - # SKIP \([^:]*:[0-9]*: \)\{0,1\}\(.*\)/\2/p' "$log" |
        head -1 | sed 's/ *$//')
    echo "${r:-no reason given}"
}

# Adds one suite's counts and prints its line (its log when it failed).
# count NAME RC PASSED FAILED SKIPPED
count() {
    local name=$1 rc=$2 p=${3:-0} f=${4:-0} s=${5:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed or died before its summary
    fi
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    if [ "$f" -ne 0 ]; then
        echo "FAIL $name"
        cat "$log"
    elif [ "$s" -ne 0 ]; then
        echo "ok   $name ($p passed, $s skipped: $(skip_reason))"
    else
        echo "ok   $name ($p passed)"
    fi
    [ "$s" -ne 0 ] && reasons+=("$s $name: $(skip_reason)")
    return 0
}

# A suite or group that could not run at all: one skip, with its reason.
# skip_all NAME REASON
skip_all() {
    echo "skipped: $2" >"$log"
    count "$1" 0 0 0 1
}

# Runs one cmocka binary (with the environment given before it) and counts it.
# cmocka_suite NAME [VAR=VALUE ...] BINARY
cmocka_suite() {
    local name=$1
    shift
    env "$@" >"$log" 2>&1
    local rc=$?
    p=$(sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    f=$(sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    s=$(sed -n 's/.*\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    count "$name" "$rc" "$p" "$f" "$s"
}

# The CPU backend the C suites ran on under the environment given (as `lutra --version`
# names it); the ISA the dispatch took, where there is no binary (sanitizer builds).
# backend_of ISA [VAR=VALUE ...]
backend_of() {
    local isa=$1
    shift
    if [ -x "$BUILD/lutra" ]; then
        env "$@" "$BUILD/lutra" --version 2>/dev/null | sed -n 's/^ *CPU backend: //p' | head -1
    else
        echo "$isa"
    fi
}

# The ISA this CPU runs (as lutra's dispatch names it) and the one below it to cap at.
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    isa=avx512 cap=avx2 onednn_cap=AVX2
elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    isa=avx2 cap=baseline onednn_cap=SSE41
else
    isa=baseline cap="" onednn_cap=""
fi
covered=("$(backend_of "$isa")")

emulated=$BUILD/tests/lutra_emulated_device.so
for t in "$@"; do
    cmocka_suite "$(basename "$t")" "$t"
    if [ "$(basename "$t")" = test_gpu_train ] && [ -f "$emulated" ]; then
        cmocka_suite "test_gpu_train on the emulated device" LUTRA_CUDA_PLUGIN="$emulated" "$t"
    fi
done
if [ -n "$cap" ] && [ "$c_only" = 0 ]; then
    for t in "$@"; do
        case "$(basename "$t")" in test_gpu_*) continue ;; esac
        cmocka_suite "$(basename "$t") capped at $cap" LUTRA_MAX_CPU_ISA=$cap \
            ONEDNN_MAX_CPU_ISA=$onednn_cap "$t"
    done
    covered+=("$(backend_of "$cap" LUTRA_MAX_CPU_ISA=$cap ONEDNN_MAX_CPU_ISA=$onednn_cap)")
fi

specs=(tests/lua/*_spec.lua)
if [ "${SANITIZE:-}" = 1 ] || [ "$c_only" = 1 ]; then
    : # no module in a sanitizer build
elif [ ! -e "${specs[0]}" ]; then
    :
elif [ ! -f "$BUILD/lutra.so" ]; then
    skip_all tests/lua "$BUILD/lutra.so is not built"
elif [ ! -f /usr/bin/busted ]; then
    echo "FAIL tests/lua: busted is not installed (Debian package lua-busted)"
    failed=$((failed + 1))
else
    for spec in "${specs[@]}"; do
        LUA_CPATH="$BUILD/?.so;;" LUA_PATH="lua/?.lua;;" \
            lua5.4 /usr/bin/busted -o TAP "$spec" >"$log" 2>&1
        rc=$?
        p=$(grep -Ec '^ok [0-9]+ - ' "$log")
        s=$(grep -Ec '^ok [0-9]+ - # SKIP' "$log")
        f=$(grep -Ec '^not ok [0-9]+ ' "$log")
        count "$(basename "$spec" .lua)" "$rc" "$((p - s))" "$f" "$s"
    done
fi

clis=(tests/cli/*.sh)
if [ "${SANITIZE:-}" = 1 ] || [ "$c_only" = 1 ] || [ ! -e "${clis[0]}" ]; then
    :
elif [ ! -x "$BUILD/lutra" ]; then
    skip_all tests/cli "$BUILD/lutra is not built"
else
    for t in "${clis[@]}"; do
        [ "$(basename "$t")" = lib.sh ] && continue
        BUILD=$BUILD bash "$t" >"$log" 2>&1
        rc=$?
        if [ "$rc" -eq 0 ] && grep -q '^skipped: ' "$log"; then
            count "cli/$(basename "$t" .sh)" 0 0 0 1
        elif [ "$rc" -eq 0 ]; then
            count "cli/$(basename "$t" .sh)" 0 1 0 0
        else
            count "cli/$(basename "$t" .sh)" "$rc" 0 1 0
        fi
    done
fi

for r in "${reasons[@]}"; do
    echo "  skipped $r"
done
for c in "${covered[@]}"; do
    echo "  C suites ran on: $c"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
