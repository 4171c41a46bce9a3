#!/usr/bin/env bash
# A recipe stuck in a loop stops at the first SIGINT or SIGTERM, even when it catches
# errors with pcall: "interrupted while evaluating RECIPE", exit 130 / 143. (Training
# keeps its own handling: tests/cli/signals.sh.)
. "$(dirname "$0")/lib.sh"

printf 'model = {type = "mlp"}\nwhile true do end\n' >"$SCRATCH/loop.lua"
printf '%s\n' 'model = {type = "mlp"}' 'require("spin")' >"$SCRATCH/stubborn.lua"
printf '%s\n' 'while true do' '    pcall(function() while true do end end)' \
    'end' >"$SCRATCH/spin.lua"

# interrupt VERB RECIPE SIGNAL CODE: starts lutra on the recipe, sends the signal once it
# has spent 0.3 s of CPU time (it is looping in the recipe by then), checks the outcome.
interrupt() {
    local verb=$1 recipe=$2 name=$3 code=$4
    "$LUTRA" "$verb" "$SCRATCH/$recipe" --work-dir "$SCRATCH/wd" >"$SCRATCH/out" 2>&1 &
    local pid=$! ticks=0
    for _ in $(seq 1 200); do
        ticks=$(awk '{print $14}' "/proc/$pid/stat" 2>/dev/null || echo 0)
        [ "${ticks:-0}" -ge 30 ] && break
        sleep 0.05
    done
    kill -s "$name" "$pid"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        fail "$verb $recipe: still running 10 s after SIG$name"
    fi
    wait "$pid"
    local rc=$?
    [ "$rc" -eq "$code" ] || { cat "$SCRATCH/out"; fail "$verb $recipe, SIG$name: exit $rc, want $code"; }
    has "$SCRATCH/out" "lutra: interrupted while evaluating $SCRATCH/$recipe"
    [ ! -e "$SCRATCH/wd" ] || fail "$verb $recipe, SIG$name: a work dir was written"
}
interrupt train loop.lua INT 130
interrupt train loop.lua TERM 143
interrupt train stubborn.lua INT 130
interrupt train stubborn.lua TERM 143
exit 0
