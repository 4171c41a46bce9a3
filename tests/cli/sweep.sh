#!/usr/bin/env bash
# `lutra sweep`: three variants of a tiny MLP on a small synthetic data set, the last
# failing with a config error: a CSV row per variant with its numbers and the failure's
# reason, sweep.json and a PNG; --plan-only without data or training; a second sweep in
# a folder of its own, leaving the first's files as they were; --resume keeping the
# finished rows; usage and sweep-file errors exit 2.
. "$(dirname "$0")/lib.sh"

mkdir -p "$SCRATCH/data"
expect 0 "$LUTRA" run tests/lua/fixtures/synthetic_fmnist.lua "$SCRATCH/data" 128 40

cat >"$SCRATCH/tiny.lua" <<LUA
base = "$PWD/examples/fmnist_mlp.lua"
device = "cpu"
data = {root = "$SCRATCH/data", train_samples = 128, val_samples = 40, batch_size = 32}
model = {hidden = {16}}
schedule = {warmup_iters = 0}
runner = {max_iters = 4, log_interval = 2, eval_interval = 0, checkpoint_interval = 0}
variants = {
    {name = "b32"},
    {name = "b64 bf16", ["data.batch_size"] = 64, ["precision.mode"] = "bf16",
     ["optim.lr"] = 0.1 / 3},
    {name = "broken", ["optim.lrr"] = 0.1},
}
LUA
WD=$SCRATCH/wd

# row CSV N: line N+1 of the CSV (the header is line 1)
row() { sed -n "$(($2 + 1))p" "$1"; }
# field CSV N COLUMN: a column of row N, by the header's name (the names hold no commas)
field() {
    python3 - "$@" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(rows[int(sys.argv[2]) - 1][sys.argv[3]])
PY
}

expect 0 "$LUTRA" sweep "$SCRATCH/tiny.lua" --work-dir "$WD"
first=$(run_dir "$WD")
[ -n "$first" ] || fail "no sweep folder in $WD"
csv=$first/sweep.csv
[ "$(wc -l <"$csv")" -eq 4 ] || { cat "$csv"; fail "sweep.csv: want a header and 3 rows"; }
for n in 1 2; do
    [ "$(field "$csv" $n status)" = ok ] || { cat "$csv"; fail "row $n is not ok"; }
    for c in planned_total planned_activations measured_peak samples_per_s speedup loss \
        accuracy effective_batch lr; do
        v=$(field "$csv" $n "$c")
        python3 -c "import sys; float(sys.argv[1])" "$v" 2>/dev/null ||
            { cat "$csv"; fail "row $n: $c is not a number: '$v'"; }
    done
    [ -f "$(field "$csv" $n run_dir)/metrics.jsonl" ] || fail "row $n: no run folder with metrics"
done
[ "$(field "$csv" 2 effective_batch)" = 64 ] || fail "row 2: effective batch is not 64"
[ "$(field "$csv" 2 precision)" = bf16 ] || fail "row 2: precision is not bf16"
has "$csv" "unknown key 'optim.lrr'"
[ "$(field "$csv" 3 status)" != ok ] || fail "the broken variant's row says ok"
has "$SCRATCH/out" "b64 bf16"
has "$first/sweep.json" '"rows":'
[ "$(head -c 8 "$first/sweep.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
    fail "sweep.png is not a PNG"

# --plan-only: memory columns, no run folders, no training
t0=$(date +%s%N)
expect 0 "$LUTRA" sweep "$SCRATCH/tiny.lua" --work-dir "$SCRATCH/plan" --plan-only
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 5000 ] || fail "--plan-only took $ms ms"
plan=$(run_dir "$SCRATCH/plan")
[ "$(field "$plan/sweep.csv" 2 status)" = ok ] || fail "--plan-only: row 2 is not ok"
[ -n "$(field "$plan/sweep.csv" 2 planned_total)" ] || fail "--plan-only: no planned memory"
[ -z "$(field "$plan/sweep.csv" 2 samples_per_s)" ] || fail "--plan-only trained"
[ -z "$(find "$plan" -name metrics.jsonl)" ] || fail "--plan-only wrote a run"

# a second sweep: a folder of its own, the first's files untouched
sums() { (cd "$1" && find . -type f ! -name lutra.lock -exec md5sum {} + | sort); }
before=$(sums "$first")
sleep 1
expect 0 "$LUTRA" sweep "$SCRATCH/tiny.lua" --work-dir "$WD"
second=$(run_dir "$WD")
[ "$second" != "$first" ] || fail "the second sweep wrote into the first's folder"
[ "$(sums "$first")" = "$before" ] || fail "the second sweep changed the first's files"

# --resume after the last variant's row is lost: the finished rows are kept
python3 - "$second/sweep.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["rows"] = s["rows"][:2]
json.dump(s, open(sys.argv[1], "w"))
PY
kept=$(row "$second/sweep.csv" 1)
expect 0 "$LUTRA" sweep "$SCRATCH/tiny.lua" --work-dir "$WD" --resume
has "$SCRATCH/out" "variant 1/3 b32: done before (ok)"
has "$SCRATCH/out" "variant 3/3 broken: config error"
[ "$(run_dir "$WD")" = "$second" ] || fail "--resume made a new sweep folder"
[ "$(row "$second/sweep.csv" 1)" = "$kept" ] || { echo "$kept"; row "$second/sweep.csv" 1; fail "--resume changed a finished row"; }
[ "$(wc -l <"$second/sweep.csv")" -eq 4 ] || fail "--resume: want 3 rows again"
expect 2 "$LUTRA" sweep "$SCRATCH/tiny.lua" --work-dir "$WD" --resume --set runner.max_iters=9
has "$SCRATCH/err" "no sweep in $WD is this one"
# a newer sweep of the same file planned only: --resume still finds the trained one
python3 - "$second/sweep.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["rows"] = s["rows"][:2]
json.dump(s, open(sys.argv[1], "w"))
PY
expect 0 "$LUTRA" sweep "$SCRATCH/tiny.lua" --work-dir "$WD" --plan-only
expect 0 "$LUTRA" sweep "$SCRATCH/tiny.lua" --work-dir "$WD" --resume
has "$SCRATCH/out" "variant 1/3 b32: done before (ok)"
[ "$(wc -l <"$second/sweep.csv")" -eq 4 ] || fail "--resume did not finish the trained sweep"

# usage and sweep-file errors
expect 0 "$LUTRA" sweep --help
has "$SCRATCH/out" "usage: lutra sweep SWEEP.lua"
expect 2 "$LUTRA" sweep
expect 2 "$LUTRA" sweep "$SCRATCH/tiny.lua" --work-dir "$WD" --bogus
expect 2 "$LUTRA" sweep "$SCRATCH/tiny.lua" --work-dir "$SCRATCH/none" --resume
has "$SCRATCH/err" "no sweep to resume"
printf 'base = "nowhere.lua"\nvariants = {{}}\n' >"$SCRATCH/bad.lua"
expect 2 "$LUTRA" sweep "$SCRATCH/bad.lua" --work-dir "$SCRATCH/bad"
has "$SCRATCH/err" "nowhere.lua"
[ ! -d "$SCRATCH/bad" ] || [ -z "$(run_dirs "$SCRATCH/bad")" ] || fail "a broken sweep made a folder"
printf 'base = "x.lua"\n' >"$SCRATCH/novariants.lua"
expect 2 "$LUTRA" sweep "$SCRATCH/novariants.lua"
has "$SCRATCH/err" "give variants"
exit 0
