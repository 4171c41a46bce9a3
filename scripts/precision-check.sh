#!/usr/bin/env bash
# Trains the default recipes (MLP and CNN on Fashion-MNIST) in their full schedules in
# fp32, bf16 and fp16 with the same seed, and checks that each half precision ends within
# 0.5 points of fp32's test accuracy. Prints a table; exits 1 when a precision misses.
#
#   bash scripts/precision-check.sh [mlp|cnn ...]      (default: both; BUILD, OUT, SEED)
set -u
BUILD=${BUILD:-build/release}
OUT=${OUT:-work_dirs/precision-check}
SEED=${SEED:-0}
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(mlp cnn)

declare -A acc secs
status=0
for model in "${models[@]}"; do
    for mode in fp32 bf16 fp16; do
        dir="$OUT/$model-$mode"
        log="$dir.log"
        mkdir -p "$OUT"
        start=$(date +%s)
        "$BUILD/lutra" train "examples/fmnist_$model.lua" --work-dir "$dir" --seed "$SEED" \
            --set "precision={mode=\"$mode\"}" >"$log" 2>&1 || {
            echo "$model $mode: training failed (see $log)" >&2
            status=1
            continue
        }
        secs[$model-$mode]=$(($(date +%s) - start))
        acc[$model-$mode]=$(sed -n 's/.*done:.*test accuracy \([0-9.]*\).*/\1/p' "$log" | tail -1)
    done
done

printf '%-5s %-5s %10s %10s %8s\n' model mode accuracy "vs fp32" seconds
for model in "${models[@]}"; do
    base=${acc[$model-fp32]:-}
    for mode in fp32 bf16 fp16; do
        a=${acc[$model-$mode]:-}
        [ -n "$a" ] || continue
        diff=""
        if [ -n "$base" ] && [ "$mode" != fp32 ]; then
            diff=$(awk -v a="$a" -v b="$base" 'BEGIN { printf "%+.2f", 100 * (a - b) }')
            awk -v a="$a" -v b="$base" 'BEGIN { exit !(a - b >= -0.005) }' || status=1
        fi
        printf '%-5s %-5s %10s %10s %8s\n' "$model" "$mode" "$a" "$diff" "${secs[$model-$mode]}"
    done
done
[ "$status" -eq 0 ] && echo "every half precision is within 0.5 points of fp32" \
    || echo "a half precision missed fp32 by more than 0.5 points, or a run failed"
exit "$status"
