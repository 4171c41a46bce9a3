#!/usr/bin/env bash
# Under memory.limit a run's peak RSS stays under the limit: on the CPU the memory policy
# counts the process's own memory (measured: the program, its libraries, the Lua state,
# the data sets) beside the plans. The example CNN asked for a batch of 4096 under 512 MiB
# is fitted to a smaller micro-batch; its peak RSS stays under 512 MiB, and the log's
# "planned X + process Y" is within 10% of that peak.
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }
[ -x /usr/bin/time ] || { echo "skipped: no /usr/bin/time to measure the peak RSS"; exit 0; }

expect 0 /usr/bin/time -f "peak_kib %M" "$LUTRA" train examples/fmnist_cnn.lua \
    --work-dir "$SCRATCH/wd" --threads 2 --set data.batch_size=4096 'memory.limit="512MiB"' \
    runner.max_iters=2 runner.eval_interval=2 runner.log_interval=1 data.val_samples=2000
has "$SCRATCH/out" "less the process's"
has "$SCRATCH/out" "(effective batch 4096 kept)"
peak=$(sed -n 's/^peak_kib \([0-9]*\)$/\1/p' "$SCRATCH/err")
[ -n "$peak" ] || { cat "$SCRATCH/err"; fail "no peak RSS measured"; }
[ "$peak" -le $((512 * 1024)) ] || fail "peak RSS $((peak / 1024)) MiB is over memory.limit 512 MiB"
# the log's last memory line: planned X + process Y, beside the measured peak
python3 - "$SCRATCH/out" "$peak" <<'PY' || fail "the plan and the measured peak disagree"
import re, sys
units = {"B": 1, "K": 2**10, "M": 2**20, "G": 2**30}
def size(s):
    m = re.fullmatch(r"([0-9.]+)([BKMG])", s)
    return float(m.group(1)) * units[m.group(2)]
lines = [l for l in open(sys.argv[1]) if "planned" in l and "+ process" in l]
m = re.search(r"planned ([0-9.]+[BKMG]) \+ process ([0-9.]+[BKMG])", lines[-1])
planned = size(m.group(1)) + size(m.group(2))
peak = int(sys.argv[2]) * 1024
print("planned with the process %.1f MiB, measured peak %.1f MiB (%.1f%%)"
      % (planned / 2**20, peak / 2**20, 100 * (planned - peak) / peak))
sys.exit(0 if abs(planned - peak) <= 0.10 * peak else 1)
PY
exit 0
