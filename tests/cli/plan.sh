#!/usr/bin/env bash
# lutra plan: resolved config, graph summary and bytes per category, touching no data
# (the data folder may not exist at all); --fit's table and JSON; plan and train agree;
# device auto without a driver costs nothing. How long it takes is in `make bench`.
. "$(dirname "$0")/lib.sh"

expect 0 "$LUTRA" plan examples/fmnist_cnn.lua --set 'data.root="/nonexistent"'
for word in "data = {" "model = {" 'type = "cnn"' "graph:" "conv2d 2" "parameters" \
    "params" "grads" "optimizer" "activations" "temporaries" "workspace" "total" "planned in"; do
    has "$SCRATCH/out" "$word"
done
expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --set 'precision={mode="bf16"}' data.batch_size=256
has "$SCRATCH/out" "micro-batch 256"
has "$SCRATCH/out" "precision bf16"
has "$SCRATCH/out" "param_copies"
# what train would choose under a memory limit: the micro-batch that fits, the same
# effective batch, recorded in the resolved config
expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --set 'memory.limit="35MiB"' memory.process=false
has "$SCRATCH/out" "micro-batch 128 -> 16, accumulate 1 -> 8 (effective batch 128 kept)"
has "$SCRATCH/out" "batch_size = 16, -- memory.fit: was 128"
has "$SCRATCH/out" "micro-batch 16, accumulate 8"

# what the planner laid out: the CNN's flatten copies nothing (forward and backward), and
# its tensors are blocked as far as this CPU's convolutions take them
expect 0 "$LUTRA" plan examples/fmnist_cnn.lua
grep -qE '^layout: [0-9]+ tensors channel-blocked between the kernels that take them \(no reorders\), 2 reshapes copying nothing$' "$SCRATCH/out" ||
    fail "no layout line for the CNN"

# --fit: per precision and checkpointing, the largest micro-batch that fits a capacity
# given with --memory, the effective batch (128) kept
expect 0 "$LUTRA" plan examples/fmnist_cnn.lua --fit --memory 24MiB --threads 2
has "$SCRATCH/out" "memory.target 0.75 of --memory 24MiB (24.0M) = 18.0M on cpu"
has "$SCRATCH/out" "precision  checkpointing  micro-batch  accumulate   planned  of capacity"
grep -qE '^fp32 +off +64 +2 +[0-9.]+M +[0-9.]+%$' "$SCRATCH/out" || fail "--fit: no fp32 row"
[ "$(grep -cE '^(fp32|bf16|fp16) +(off|on) ' "$SCRATCH/out")" = 6 ] || fail "--fit: not 6 rows"
expect 0 "$LUTRA" plan examples/fmnist_cnn.lua --fit --memory 24MiB --json --threads 2
python3 - "$SCRATCH/out" <<'PY' || fail "--fit --json: rows wrong (above)"
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 6, rows
seen = set()
for r in rows:
    seen.add((r["precision"], r["checkpoint"]))
    assert r["fits"] and r["micro_batch"] * r["accumulate"] == 128, r
    assert r["planned"] <= r["budget"] == int(0.75 * 24 * 2**20) == int(0.75 * r["capacity"]), r
    assert abs(r["of_capacity"] - r["planned"] / r["capacity"]) < 1e-9, r
assert seen == {(p, c) for p in ("fp32", "bf16", "fp16") for c in (False, True)}, seen
PY
# a capacity too small for even one row: every row says so
expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --fit --memory 20MiB
[ "$(grep -cE '^(fp32|bf16|fp16) +(off|on) +none +- ' "$SCRATCH/out")" = 6 ] ||
    fail "--fit: rows that fit in 20MiB"
has "$SCRATCH/out" "none: even micro-batch 1 needs more than the target"
expect 2 "$LUTRA" plan examples/fmnist_mlp.lua --json
has "$SCRATCH/err" "plan: --json goes with --fit"
expect 2 "$LUTRA" plan examples/fmnist_mlp.lua --fit --memory lots
has "$SCRATCH/err" "plan: --memory wants a size such as 16GiB, 512MiB or a number of bytes, got 'lots'"
expect 2 "$LUTRA" plan examples/fmnist_mlp.lua --threads many
has "$SCRATCH/err" "plan: --threads wants an integer, got 'many'"

# plan and train allocate the same: the workspace depends on the threads, which both take
if have_data; then
    expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --threads 2
    planned=$(awk '$1 == "total" {print $2}' "$SCRATCH/out")
    expect 0 "$LUTRA" train examples/fmnist_mlp.lua --threads 2 --work-dir "$SCRATCH/wd" \
        --quiet --set runner.max_iters=1
    has "$(run_dir "$SCRATCH/wd")/train.log" "step planned in fp32: $planned ("
fi

# device auto on a machine without an NVIDIA driver loads none of CUDA's libraries: the
# process's peak is the CPU's (a loaded plugin costs about 200 MiB)
peak_kib() { # peak_kib DEVICE: the peak RSS of lutra plan on DEVICE, in KiB
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f %M -o "$SCRATCH/peak" "$LUTRA" plan examples/fmnist_mlp.lua \
            --device "$1" >/dev/null 2>&1 || fail "lutra plan --device $1 failed"
        cat "$SCRATCH/peak"
    else
        printf '%s\n' 'lutra.set_device(arg[1])' \
            'print(io.open("/proc/self/status"):read("a"):match("VmHWM:%s*(%d+)"))' \
            >"$SCRATCH/peak.lua"
        "$LUTRA" run "$SCRATCH/peak.lua" "$1" || fail "lutra run --device $1 failed"
    fi
}
expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --device auto
if grep -qF "no usable GPU: no NVIDIA driver" "$SCRATCH/out"; then
    auto=$(peak_kib auto) cpu=$(peak_kib cpu)
    [ "$auto" -le $((cpu + 30 * 1024)) ] ||
        fail "device auto without a driver peaks at $auto KiB, the CPU at $cpu KiB"
fi
# --explain: what each category holds, beside its bytes
expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --explain
has "$SCRATCH/out" "activations"
has "$SCRATCH/out" "forward tensors kept for the backward"
has "$SCRATCH/out" "process       not planned"
exit 0
