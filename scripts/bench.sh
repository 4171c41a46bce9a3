#!/usr/bin/env bash
# `make bench`: lutra's training-step throughput against the PyTorch peer on the same
# models in the same run, and the targets of the "Fast CPU path" issue, met or missed;
# the GPT's training tokens/s against PyTorch's eager nanoGPT.
# What is measured and how to read it: docs/performance.md.
#
# Environment: BUILD (build/release), THREADS (2), BUDGET (seconds per configuration and
# side, warm-up included; 12), PYTHON (/usr/bin/python3: Debian's, with python3-torch),
# MODELS ("mlp cnn gpt": which models to measure; "gpt" alone gives the GPT rows only),
# LOAD (0; 1: one process spins on a core throughout, both sides measured beside it).
# Each step's GFLOP/s is shown as a share of the machine's multiply-add peak, measured
# first by $BUILD/bench/fma_peak on the same threads.
# Every measurement is kept as JSON lines in $BUILD/bench/results.jsonl.
# Exits non-zero only when the harness itself fails; a missed target is a result.
set -u

BUILD=${BUILD:-build/release}
THREADS=${THREADS:-2}
BUDGET=${BUDGET:-12}
PYTHON=${PYTHON:-/usr/bin/python3}
MODELS=${MODELS:-mlp cnn gpt}
LOAD=${LOAD:-0}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$BUILD/bench/bench_step
lutra_bin=$BUILD/lutra
peer=$here/bench/peer_torch.py
results=$BUILD/bench/results.jsonl

# bench_step's models (mlp, cnn) and the GPT (gpt_step.lua, run by the lutra binary)
for m in $MODELS; do
    case "$m" in
    mlp | cnn | gpt) ;;
    *)
        echo "bench: MODELS: unknown model '$m' (want some of: mlp cnn gpt)" >&2
        exit 2
        ;;
    esac
done
step_models=$(grep -o -w 'mlp\|cnn' <<<"$MODELS" | tr '\n' ' ')
want_gpt=$(grep -c -w gpt <<<"$MODELS")
if [ -n "$step_models" ] && [ ! -x "$bin" ]; then
    echo "bench: $bin is not built (run: make BUILD=$BUILD bench)" >&2
    exit 1
fi
if [ "$want_gpt" != 0 ] && [ ! -x "$lutra_bin" ]; then
    echo "bench: $lutra_bin is not built (run: make BUILD=$BUILD bench)" >&2
    exit 1
fi

# field LINE KEY: the value of KEY in a flat one-line JSON object: a string without its
# quotes, a number, true or false; null gives nothing.
field() {
    local v
    v=$(sed -n 's/.*"'"$2"'": *"\(\([^"\\]\|\\.\)*\)".*/\1/p' <<<"$1" | head -1)
    [ -z "$v" ] && v=$(sed -n 's/.*"'"$2"'": *\([^",}][^,}]*\).*/\1/p' <<<"$1" | head -1)
    [ "$v" = null ] && v=""
    printf '%s' "$v"
}
# pick FILE KIND MODEL PRECISION: the last line of that kind and configuration.
pick() {
    local lines
    lines=$(grep "\"kind\": \"$2\"" "$1" | grep "\"precision\": \"$4\"")
    [ -n "$3" ] && lines=$(grep "\"model\": \"$3\"" <<<"$lines")
    tail -1 <<<"$lines"
}
# cpu_ticks: "busy total ours" clock ticks so far: the machine's busy and total time
# (/proc/stat) and the CPU time of this script's finished children (/proc/self/stat).
cpu_ticks() {
    local busy total ours
    read -r _ u n s i w x y z _ </proc/stat
    busy=$((u + n + s + x + y + z)) total=$((u + n + s + i + w + x + y + z))
    ours=$(awk '{ print $16 + $17 }' "/proc/$$/stat")
    echo "$busy $total $ours"
}
# others_share BEFORE AFTER: the percentage of the machine's time between two cpu_ticks
# that other processes used.
others_share() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        t = y[2] - x[2]; o = (y[1] - x[1]) - (y[3] - x[3])
        printf "%.0f", (t > 0 && o > 0) ? 100 * o / t : 0 }'
}

# target MODEL PRECISION: "min_ratio min_share" (share 0: no share target).
target() {
    case "$1 $2" in
    "mlp fp32") echo "1.5 0.80" ;;
    "mlp bf16") echo "1.6 0" ;;
    "cnn fp32") echo "3 0" ;;
    "cnn bf16") echo "2.5 0" ;;
    "gpt fp32" | "gpt bf16") echo "1.5 0" ;;
    esac
}

# bench_step waits at OpenMP barriers as the lutra binary does (lua/main.c sets
# GOMP_SPINCOUNT=10000 before OpenMP starts unless a wait policy is chosen); it is a plain
# C program, so it gets the setting here.
lutra_spin=(GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-10000}")
[ -n "${OMP_WAIT_POLICY:-}" ] && [ -z "${GOMP_SPINCOUNT:-}" ] && lutra_spin=()

# run_peer MODEL PRECISION [ARGS...]: one JSON line of the PyTorch peer into $peer_out,
# PyTorch at its best here: OpenBLAS left to pick its own core type, and for fp32 passive
# OpenMP waiting (spinning workers starve OpenBLAS's pool); bf16 runs on oneDNN under
# OpenMP alone and is fastest with the default policy.
run_peer() {
    local policy=(-u OMP_WAIT_POLICY)
    [ "$2" = fp32 ] && policy=(OMP_WAIT_POLICY=PASSIVE)
    if ! env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${policy[@]}" "$PYTHON" "$peer" \
        --model "$1" --precision "$2" --threads "$THREADS" --budget "$BUDGET" "${@:3}" \
        >>"$peer_out"; then
        echo "bench: the PyTorch peer failed on $1 $2" >&2
        exit 1
    fi
}

# peer_blas: which BLAS the peer's fp32 GEMM ran on, with a warning when it is not
# OpenBLAS (nothing when the peer did not run).
peer_blas() {
    local p1 blas core
    p1=$(grep -m1 '"kind": "step"' "$peer_out")
    [ -z "$p1" ] && return
    blas=$(field "$p1" blas)
    core=$(field "$p1" openblas_core)
    echo "PyTorch $(field "$p1" torch); its fp32 GEMM runs on ${blas:-?}${core:+ (OpenBLAS core $core)}"
    case "$blas" in
    *openblas*) ;;
    *) echo "bench: warning: that is the reference BLAS, not PyTorch at its best: install" \
        "libopenblas0-pthread, or put an OpenBLAS libblas.so.3 on LD_LIBRARY_PATH" ;;
    esac
}

# ratios LUTRA_LINE PEER_LINE RATE: "ratio best": lutra's median RATE over the peer's, and
# the ratio of the two sides' fastest timed runs.
ratios() {
    awk -v a="$(field "$1" "$3")" -v b="$(field "$2" "$3")" \
        -v am="$(field "$1" ms_per_step_min)" -v bm="$(field "$2" ms_per_step_min)" \
        'BEGIN { printf "%.2f %.2f", a / b, bm / am }'
}

# peak_share GFLOPS PRECISION: GFLOP/s as a percentage of the measured multiply-add peak
# of that precision (bf16 without a bf16 peak: fp32's); "-" without a peak.
peak_share() {
    local p
    p=$(field "$peak_line" "$2_gflops")
    [ -z "$p" ] && p=$(field "$peak_line" fp32_gflops)
    if [ -z "$1" ] || [ -z "$p" ]; then
        echo "-"
    else
        awk -v g="$1" -v p="$p" 'BEGIN { printf "%.0f%%", 100 * g / p }'
    fi
}

# gpt_table: the GPT's rows, tokens/s of each side, their ratio against the target (the
# issue's: lutra >= 1.5x PyTorch's eager model), met or missed; counts misses in $missed.
gpt_table() {
    local row='| %-5s | %-9s | %14s | %16s | %13s | %9s | %-7s | %-7s |\n'
    local prec l t want_ratio ls ts ratio best verdict n unavailable=()
    echo "GPT: n_layer 4, n_head 4, n_embd 128, block_size 128, vocab_size 256; batch 32" \
        "sequences of 128 tokens, AdamW, $THREADS threads; each rate is the median of timed runs"
    # shellcheck disable=SC2059
    printf "$row" model precision "lutra tokens/s" "PyTorch tokens/s" "lutra/PyTorch" \
        "best runs" target verdict
    printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------- ----------- ---------------: \
        -----------------: --------------: ----------: --------- ---------
    for prec in fp32 bf16; do
        l=$(pick "$lutra_out" step gpt "$prec")
        t=$(pick "$peer_out" step gpt "$prec")
        read -r want_ratio _ <<<"$(target gpt "$prec")"
        ls="-" ts="-" ratio="-" best="-" verdict="missed"
        if [ "$(field "$l" available)" = true ]; then
            ls=$(field "$l" tokens_per_s)
        else
            unavailable+=("gpt $prec: lutra unavailable: $(field "$l" error)")
        fi
        [ -n "$t" ] && ts=$(field "$t" tokens_per_s)
        if [ "$ls" != "-" ] && [ "$ts" != "-" ]; then
            read -r ratio best <<<"$(ratios "$l" "$t" tokens_per_s)"
            awk -v r="$ratio" -v wr="$want_ratio" 'BEGIN { exit !(r >= wr) }' && verdict="met"
        elif [ "$ls" != "-" ]; then
            verdict="n/a"
        fi
        [ "$verdict" = missed ] && missed=$((missed + 1))
        # shellcheck disable=SC2059
        printf "$row" gpt "$prec" "$ls" "$ts" "$ratio" "$best" ">= ${want_ratio}x" "$verdict"
    done
    for n in "${unavailable[@]+"${unavailable[@]}"}"; do
        echo "$n"
    done
}

start=$(date +%s)
mkdir -p "$BUILD/bench"
lutra_out=$(mktemp)
peer_out=$(mktemp)
spinner=""
trap 'rm -f "$lutra_out" "$peer_out"; [ -n "$spinner" ] && kill "$spinner" 2>/dev/null' EXIT

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
isa=$(grep -m1 '^flags' /proc/cpuinfo | grep -o -w 'avx512f\|avx512_bf16\|avx2\|fma' | sort -u |
    tr '\n' ' ')
echo "bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $cpu ($(nproc) CPUs; ${isa% }), $THREADS threads"
# On two cores any other busy process distorts the numbers, and not evenly: lutra's
# OpenMP threads wait at each parallel region for a descheduled partner, while the peer's
# fp32 runs with passive waiting. Measure how busy the machine is, before and during.
# The machine's peak on these threads, before any load is started.
peak_line=""
if [ -x "$BUILD/bench/fma_peak" ]; then
    peak_line=$("$BUILD/bench/fma_peak" --json --threads "$THREADS")
    echo "$peak_line" >>"$lutra_out"
    echo "bench: multiply-add peak on $THREADS threads ($(field "$peak_line" isa)): fp32" \
        "$(field "$peak_line" fp32_gflops) GFLOP/s, bf16 $(field "$peak_line" bf16_gflops | sed 's/^$/-/') GFLOP/s"
fi
if [ "$LOAD" = 1 ]; then
    sh -c 'while :; do :; done' &
    spinner=$!
    echo "bench: LOAD=1: one process spins on a core throughout the measurements"
fi
t0=$(cpu_ticks)
sleep 2
before=$(others_share "$t0" "$(cpu_ticks)")
if [ "$before" -gt 10 ] && [ "$LOAD" != 1 ]; then
    echo "bench: warning: other processes are using $before% of the CPUs: the rates will be" \
        "low and noisy, lutra's more than PyTorch's; rerun on a quiet machine"
fi
t0=$(cpu_ticks)

have_torch=0
if [ -x "$PYTHON" ] && "$PYTHON" -c 'import torch' 2>/dev/null; then
    have_torch=1
else
    echo "bench: $PYTHON cannot import torch: the PyTorch columns stay empty"
fi

# Each configuration runs lutra then PyTorch back to back, so that a slow spell of a noisy
# machine hits both sides of one ratio alike.
for model in $step_models; do
    for prec in fp32 bf16 fp16; do
        if ! env "${lutra_spin[@]}" "$bin" --json --threads "$THREADS" --model "$model" --precision "$prec" \
            --budget "$BUDGET" >>"$lutra_out"; then
            echo "bench: bench_step failed on $model $prec" >&2
            exit 1
        fi
        line=$(pick "$lutra_out" step "$model" "$prec")
        msg="bench: $model $prec: lutra $(field "$line" samples_per_s) samples/s"
        [ "$(field "$line" available)" = false ] && msg="bench: $model $prec: lutra unavailable"
        # PyTorch has no fp16 autocast on a CPU: lutra's fp16 is compared with its fp32
        if [ $have_torch = 1 ] && [ "$prec" != fp16 ]; then
            run_peer "$model" "$prec"
            line=$(pick "$peer_out" step "$model" "$prec")
            msg="$msg, PyTorch $(field "$line" samples_per_s) samples/s"
        fi
        echo "$msg"
    done
done
# The GPT is a Lua model: bench/gpt_step.lua times it through lutra.Trainer, run by the
# lutra binary; the peer runs bench/gpt_torch.py's nanoGPT in eager mode (bf16: autocast).
if [ "$want_gpt" != 0 ]; then
    for prec in fp32 bf16; do
        if ! "$lutra_bin" run "$here/bench/gpt_step.lua" --precision "$prec" \
            --threads "$THREADS" --budget "$BUDGET" >>"$lutra_out"; then
            echo "bench: bench/gpt_step.lua failed on $prec" >&2
            exit 1
        fi
        line=$(pick "$lutra_out" step gpt "$prec")
        msg="bench: gpt $prec: lutra $(field "$line" tokens_per_s) tokens/s"
        [ "$(field "$line" available)" = false ] && msg="bench: gpt $prec: lutra unavailable"
        if [ $have_torch = 1 ]; then
            run_peer gpt "$prec" --batch 32
            line=$(pick "$peer_out" step gpt "$prec")
            msg="$msg, PyTorch $(field "$line" tokens_per_s) tokens/s"
        fi
        echo "$msg"
    done
fi

during=$(others_share "$t0" "$(cpu_ticks)")
{
    sed 's/^{/{"side": "lutra", /' "$lutra_out"
    sed 's/^{/{"side": "pytorch", /' "$peer_out"
} >"$results"
missed=0

if [ -z "$step_models" ]; then # the GPT rows alone
    echo
    peer_blas
    echo
    gpt_table
    echo
    echo "other processes used $during% of the CPUs during these measurements ($before% just before)"
    echo "bench: $missed target(s) missed; $(($(date +%s) - start)) s; JSON lines in $results"
    exit 0
fi

info=$(grep -m1 '"kind": "info"' "$lutra_out")
echo
echo "lutra $(field "$info" version): $(field "$info" backend); batch 128, $THREADS threads;" \
    "each rate is the median of timed runs"
for prec in fp32 bf16; do
    g=$(pick "$lutra_out" gemm "" "$prec")
    [ -z "$g" ] && continue
    if [ "$(field "$g" available)" = true ]; then
        ref=""
        [ "$(field "$g" uses_ref)" = true ] && ref=" (oneDNN ran a ref: implementation)"
        echo "bare oneDNN GEMM on the MLP step's shapes, $prec: $(field "$g" gflops) GFLOP/s," \
            "$(field "$g" ms_per_step) ms per step$ref"
    else
        echo "bare oneDNN GEMM, $prec: unavailable: $(field "$g" error)"
    fi
done
peer_blas
echo

# The verdict reads the ratio of medians. Contention only ever slows a run down, so the
# ratio of each side's fastest timed run is shown too: on a shared machine it is the
# closer to what the two would do alone.
row='| %-5s | %-9s | %15s | %17s | %13s | %9s | %10s | %12s | %-21s | %-7s |\n'
# shellcheck disable=SC2059
printf "$row" model precision "lutra samples/s" "PyTorch samples/s" "lutra/PyTorch" \
    "best runs" "GEMM share" "of FMA peak" target verdict
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------- ----------- ----------------: \
    ------------------: --------------: ----------: -----------: -------------: \
    ----------------------- ---------
notes=()
for model in $step_models; do
    for prec in fp32 bf16; do
        l=$(pick "$lutra_out" step "$model" "$prec")
        t=$(pick "$peer_out" step "$model" "$prec")
        read -r want_ratio want_share <<<"$(target "$model" "$prec")"
        goal=">= ${want_ratio}x"
        [ "$want_share" != 0 ] &&
            goal="$goal, >= $(awk -v s="$want_share" 'BEGIN { printf "%d", 100 * s }')% GEMM"
        ls="-" ts="-" ratio="-" best="-" share="-" of_peak="-" verdict="n/a"
        s=$(field "$l" gemm_share)
        if [ "$(field "$l" available)" = true ]; then
            ls=$(field "$l" samples_per_s)
            [ -n "$s" ] && share=$(awk -v s="$s" 'BEGIN { printf "%.0f%%", 100 * s }')
            of_peak=$(peak_share "$(field "$l" gflops)" "$prec")
        else
            notes+=("$model $prec: lutra unavailable: $(field "$l" error)")
        fi
        [ -n "$t" ] && ts=$(field "$t" samples_per_s)
        if [ "$ls" != "-" ] && [ "$ts" != "-" ]; then
            read -r ratio best <<<"$(ratios "$l" "$t" samples_per_s)"
            if awk -v r="$ratio" -v wr="$want_ratio" -v s="${s:-0}" -v ws="$want_share" \
                'BEGIN { exit !(r >= wr && (ws == 0 || s >= ws)) }'; then
                verdict="met"
            else
                verdict="missed"
            fi
        elif [ "$ls" = "-" ]; then
            verdict="missed"
        fi
        [ "$verdict" = missed ] && missed=$((missed + 1))
        # shellcheck disable=SC2059
        printf "$row" "$model" "$prec" "$ls" "$ts" "$ratio" "$best" "$share" "$of_peak" "$goal" \
            "$verdict"
    done
done
for n in "${notes[@]+"${notes[@]}"}"; do
    echo "$n"
done
if [ "$want_gpt" != 0 ]; then
    echo
    gpt_table
fi

# Mixed precision on this CPU: what each precision's step costs against fp32's.
echo
printf '| %-5s | %-9s | %15s | %9s |\n' model precision "lutra samples/s" "vs fp32"
printf '|%s|%s|%s|%s|\n' ------- ----------- ----------------: ----------:
for model in $step_models; do
    base=$(field "$(pick "$lutra_out" step "$model" fp32)" samples_per_s)
    for prec in fp32 bf16 fp16; do
        l=$(pick "$lutra_out" step "$model" "$prec")
        ls="-" vs="-"
        if [ "$(field "$l" available)" = true ]; then
            ls=$(field "$l" samples_per_s)
            [ -n "$base" ] && vs=$(awk -v a="$ls" -v b="$base" 'BEGIN { printf "%.2fx", a / b }')
        fi
        printf '| %-5s | %-9s | %15s | %9s |\n' "$model" "$prec" "$ls" "$vs"
    done
done
# Activation checkpointing: what the recomputation costs in step time, against what it
# saves of the planned activations (fp32, the same batch); "-" where the planner found
# nothing worth recomputing and kept the plain step.
echo
printf '| %-5s | %21s | %24s | %9s | %26s |\n' model "plain samples/s" \
    "checkpointed samples/s" "step time" "activations (MiB)"
printf '|%s|%s|%s|%s|%s|\n' ------- ----------------------: -------------------------: \
    ----------: ---------------------------:
for model in $step_models; do
    if ! env "${lutra_spin[@]}" "$bin" --json --threads "$THREADS" --model "$model" --precision fp32 --checkpoint \
        --no-gemm --budget "$BUDGET" >>"$results.checkpoint"; then
        echo "bench: bench_step --checkpoint failed on $model" >&2
        exit 1
    fi
    plain=$(pick "$lutra_out" step "$model" fp32)
    ck=$(pick "$results.checkpoint" step "$model" fp32)
    read -r ps cs cost acts < <(awk -v a="$(field "$plain" samples_per_s)" \
        -v b="$(field "$ck" samples_per_s)" -v x="$(field "$plain" activations_mib)" \
        -v y="$(field "$ck" activations_mib)" \
        'BEGIN { printf "%.0f %.0f %s %.1f->%.1f\n", a, b,
                 x == y ? "-" : sprintf("%.2fx", a / b), x, y }')
    printf '| %-5s | %21s | %24s | %9s | %26s |\n' "$model" "$ps" "$cs" "$cost" "$acts"
done
cat "$results.checkpoint" >>"$results"
rm -f "$results.checkpoint"
echo "other processes used $during% of the CPUs during these measurements ($before% just before)"
if [ "$during" -gt 10 ]; then
    echo "bench: warning: that is too busy for the numbers above to mean much; rerun when" \
        "the machine is quiet"
fi
# The recipe path: the same steps through `lutra train` (real data, the C loader, the Lua
# runner and its hooks around each C step). Its rate should match bench_step's; the share
# of wall time spent in Lua and logging (outside trainer:step and the loader) should stay
# under 1%; the C loader's share is shown beside it.
if [ -x "$lutra_bin" ] && [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo
    row2='| %-5s | %-9s | %21s | %20s | %6s | %16s | %11s |\n'
    # shellcheck disable=SC2059
    printf "$row2" model precision "lutra train samples/s" "bench_step samples/s" ratio \
        "Lua and logging" "C loader"
    printf '|%s|%s|%s|%s|%s|%s|%s|\n' ------- ----------- ----------------------: \
        ---------------------: -------: -----------------: ------------:
    for model in $step_models; do
        iters=240
        [ "$model" = cnn ] && iters=80
        for prec in fp32 bf16; do
            wd=$(mktemp -d)
            if ! "$lutra_bin" train "examples/fmnist_$model.lua" --quiet --work-dir "$wd" \
                --threads "$THREADS" --set runner.max_iters=$iters \
                runner.log_interval=$((iters / 8)) runner.eval_interval=0 \
                runner.checkpoint_interval=0 runner.save_best=false data.val_samples=1000 \
                model.dropout=0 "precision={mode=\"$prec\"}" >"$wd/out" 2>&1; then
                echo "bench: lutra train failed on $model $prec: $(tail -1 "$wd/out")" >&2
                rm -rf "$wd"
                continue
            fi
            # the run's folder (the only run in this work dir) holds its metrics
            run=$(ls -d "$wd"/2*/ | tail -1)
            read -r rate lua loader < <("$PYTHON" - "${run}metrics.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
train = [r for r in rows if r["mode"] == "train"][1:]  # the first window plans and warms up
print("%.0f %.4f %.4f" % (
    statistics.median(r["samples_per_s"] for r in train),
    statistics.median(r["outside_step"] - r["loader_share"] for r in train),
    statistics.median(r["loader_share"] for r in train)))
PY
)
            rm -rf "$wd"
            l=$(pick "$lutra_out" step "$model" "$prec")
            c="-" ratio="-"
            if [ "$(field "$l" available)" = true ]; then
                c=$(field "$l" samples_per_s)
                ratio=$(awk -v a="$rate" -v b="$c" 'BEGIN { printf "%.2f", a / b }')
            fi
            lua=$(awk -v s="$lua" 'BEGIN { printf "%.2f%%", 100 * s }')
            loader=$(awk -v s="$loader" 'BEGIN { printf "%.2f%%", 100 * s }')
            # shellcheck disable=SC2059
            printf "$row2" "$model" "$prec" "$rate" "$c" "$ratio" "$lua" "$loader"
        done
    done
else
    echo
    echo "bench: the recipe path needs $lutra_bin and Debian's dataset-fashion-mnist; skipped"
fi

# The loader on an image folder: PNG decode, random crop with padding, flip and normalise
# on 1 and 2 worker threads, against the CNN's fp32 training rate measured above. With one
# worker it must make images at least 4× as fast as the step uses them, so that it never
# bounds a step.
loader_bin=$BUILD/bench/bench_loader
if [ -x "$loader_bin" ] && [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    if "$loader_bin" --json --budget "$((BUDGET / 3 + 1))" >"$results.loader"; then
        cnn=$(field "$(pick "$lutra_out" step cnn fp32)" samples_per_s)
        echo
        for w in 1 2; do
            l=$(grep "\"workers\": $w," "$results.loader")
            r=$(field "$l" images_per_s)
            vs=""
            [ -n "$cnn" ] && vs=$(awk -v a="$r" -v b="$cnn" \
                'BEGIN { printf " (%.1fx the CNN'"'"'s fp32 training rate, %s samples/s)", a / b, b }')
            echo "loader on $(field "$l" images) Fashion-MNIST PNGs, $w worker$([ "$w" = 1 ] || echo s):" \
                "$r images/s$vs"
        done
        r1=$(field "$(grep '"workers": 1,' "$results.loader")" images_per_s)
        if [ -n "$cnn" ]; then
            if awk -v a="$r1" -v b="$cnn" 'BEGIN { exit !(a >= 4 * b) }'; then
                echo "loader target (1 worker >= 4x the CNN's training rate): met"
            else
                echo "loader target (1 worker >= 4x the CNN's training rate): missed"
                missed=$((missed + 1))
            fi
        fi
        cat "$results.loader" >>"$results"
    else
        echo "bench: bench_loader failed" >&2
    fi
    rm -f "$results.loader"
fi

# `lutra plan` answers before any data is read: its wall time (the binary's start, the
# recipe, tracing and planning), the median of five runs.
if [ -x "$lutra_bin" ]; then
    plan_ms=()
    for _ in 1 2 3 4 5; do
        t0=$(date +%s%N)
        "$lutra_bin" plan examples/fmnist_cnn.lua --set 'data.root="/nonexistent"' \
            >/dev/null 2>&1 || { echo "bench: lutra plan failed" >&2; break; }
        plan_ms+=($((($(date +%s%N) - t0) / 1000000)))
    done
    if [ "${#plan_ms[@]}" -eq 5 ]; then
        echo
        echo "lutra plan examples/fmnist_cnn.lua: $(printf '%s\n' "${plan_ms[@]}" | sort -n | sed -n 3p) ms (median of 5)"
    fi
fi

echo
echo "bench: $missed target(s) missed; $(($(date +%s) - start)) s; JSON lines in $results"
