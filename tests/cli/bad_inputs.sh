#!/usr/bin/env bash
# Input files that must not hurt: IDX headers claiming far more than their file holds
# (no huge allocation, a message with both sizes), a FIFO as --load-from (refused, not
# waited on), weights holding NaN (refused at load, naming the file and the tensor),
# integer weights converted to float (one log line), and a checkpoint whose data changed
# on disk (its checksum says so). The first part needs no Fashion-MNIST.
. "$(dirname "$0")/lib.sh"

# ---- IDX headers that claim 4.7 GB and 18.8 GB over 5 MB of data -------------------------
mkdir -p "$SCRATCH/fake"
python3 - "$SCRATCH/fake" <<'PY' || fail "cannot write the IDX files"
import gzip, os, struct, sys
def idx(name, dims, data):
    with gzip.open(os.path.join(sys.argv[1], name), "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data)
idx("train-images-idx3-ubyte.gz", [600000, 280, 28], os.urandom(5 << 20))
idx("train-labels-idx1-ubyte.gz", [100], bytes(100))
idx("t10k-images-idx3-ubyte.gz", [60000, 28, 28, 400], os.urandom((5 << 20) - 4))
idx("t10k-labels-idx1-ubyte.gz", [100], bytes(100))
PY
# 3 GB of address space: allocating what the headers claim would fail with "out of memory"
(
    ulimit -v 3000000
    expect 1 timeout 120 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/w0" \
        --quiet --set data.root="$SCRATCH/fake" 'model.hidden={16}'
) || exit 1
has "$SCRATCH/err" \
    "$SCRATCH/fake/train-images-idx3-ubyte.gz: header says 600000 × 280 × 28 bytes but the file has 5242880"

# ---- weights files: made from the recipe's model, then changed ---------------------------
cat >"$SCRATCH/gen.lua" <<'EOF'
-- gen.lua RECIPE OUT: the recipe's model with hidden = {16}, saved as weights.
local config = require "lutra.config"
local models = require "lutra.models"
local cfg = config.load(arg[1], { ["model.hidden"] = { 16 } })
lutra.save_weights(arg[2], models.build(cfg.model, cfg))
EOF
cat >"$SCRATCH/rewrite.py" <<'EOF'
# rewrite.py IN OUT ACTION [NAME [INDEX]]: nan NAME INDEX (a NaN at that flat index, the
# checksum kept valid: the file of a run that diverged), i64 NAME (that tensor as I64
# integers, as PyTorch keeps counters), flip (a bit of the last data byte: a damaged file).
import json, struct, sys, zlib
src, dst, action = sys.argv[1:4]
d = open(src, "rb").read()
(n,) = struct.unpack("<Q", d[:8])
h = json.loads(d[8:8 + n])
meta = h.pop("__metadata__", {})
data = d[8 + n:]
if action == "flip":
    open(dst, "wb").write(d[:-1] + bytes([d[-1] ^ 0x20]))
    sys.exit(0)
tensors = {k: [e["dtype"], e["shape"], data[e["data_offsets"][0]:e["data_offsets"][1]]]
           for k, e in h.items()}
name = sys.argv[4]
if action == "nan":
    b = bytearray(tensors[name][2])
    i = int(sys.argv[5])
    b[4 * i:4 * i + 4] = struct.pack("<f", float("nan"))
    tensors[name][2] = bytes(b)
else:
    count = len(tensors[name][2]) // 4
    vals = [round(v) for v in struct.unpack("<%df" % count, tensors[name][2])]
    tensors[name] = ["I64", tensors[name][1], struct.pack("<%dq" % count, *vals)]
out, blob = {}, b""
for k, (dt, shape, raw) in tensors.items():
    out[k] = {"dtype": dt, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
    blob += raw
meta["lutra.data_crc32"] = "%08x" % zlib.crc32(blob)
out["__metadata__"] = meta
text = json.dumps(out).encode()
text += b" " * (-len(text) % 8)
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + blob)
EOF
W=$SCRATCH/w.safetensors
expect 0 "$LUTRA" run "$SCRATCH/gen.lua" examples/fmnist_mlp.lua "$W"
python3 "$SCRATCH/rewrite.py" "$W" "$SCRATCH/nan.safetensors" nan 1.weight 3 || fail "rewrite nan"
python3 "$SCRATCH/rewrite.py" "$W" "$SCRATCH/i64.safetensors" i64 4.bias || fail "rewrite i64"
python3 "$SCRATCH/rewrite.py" "$W" "$SCRATCH/flip.safetensors" flip || fail "rewrite flip"
mkfifo "$SCRATCH/fifo.safetensors"

# lutra eval loads the weights before the data: these need no Fashion-MNIST
EVAL=(eval examples/fmnist_mlp.lua --set 'model.hidden={16}' data.val_samples=100)
expect 1 "$LUTRA" "${EVAL[@]}" --load-from "$SCRATCH/nan.safetensors"
has "$SCRATCH/err" "$SCRATCH/nan.safetensors: tensor '1.weight' holds 1 NaN (the first at flat index 3);\
 lutra does not load weights that are not numbers"
expect 1 timeout 60 "$LUTRA" "${EVAL[@]}" --load-from "$SCRATCH/fifo.safetensors"
has "$SCRATCH/err" "$SCRATCH/fifo.safetensors: not a regular file (a FIFO)"
expect 1 "$LUTRA" "${EVAL[@]}" --load-from "$SCRATCH/flip.safetensors"
has "$SCRATCH/err" "$SCRATCH/flip.safetensors: data checksum mismatch (file corrupted?)"

have_data || { echo "skipped: no Fashion-MNIST (the IDX, eval-time and FIFO checks ran)"; exit 0; }

expect 0 "$LUTRA" "${EVAL[@]}" --load-from "$SCRATCH/i64.safetensors"
has "$SCRATCH/err" \
    "warning: $SCRATCH/i64.safetensors: 1 integer tensor converted to float: 4.bias (I64)"

TRAIN=(train examples/fmnist_mlp.lua --quiet --threads 2 --set "${SMALL[@]}" 'model.hidden={16}'
       runner.max_iters=8 runner.checkpoint_interval=4 runner.eval_interval=0)
expect 1 timeout 60 "$LUTRA" "${TRAIN[@]}" --work-dir "$SCRATCH/w1" \
    --load-from "$SCRATCH/fifo.safetensors"
has "$SCRATCH/err" "$SCRATCH/fifo.safetensors: not a regular file (a FIFO)"
expect 1 "$LUTRA" "${TRAIN[@]}" --work-dir "$SCRATCH/w2" --load-from "$SCRATCH/nan.safetensors"
has "$SCRATCH/err" "$SCRATCH/nan.safetensors: tensor '1.weight' holds 1 NaN"
expect 0 "$LUTRA" "${TRAIN[@]}" --work-dir "$SCRATCH/w3" --load-from "$SCRATCH/i64.safetensors"
has "$(run_dir "$SCRATCH/w3")/train.log" \
    "warning: $SCRATCH/i64.safetensors: 1 integer tensor converted to float: 4.bias (I64)"

# a checkpoint with one flipped bit is refused, naming it, before anything trains
ckpt=$(run_dir "$SCRATCH/w3")/iter_4.safetensors
[ -f "$ckpt" ] || fail "no checkpoint $ckpt"
python3 "$SCRATCH/rewrite.py" "$ckpt" "$SCRATCH/bad_ckpt.safetensors" flip || fail "rewrite ckpt"
expect 1 "$LUTRA" "${TRAIN[@]}" --work-dir "$SCRATCH/w4" \
    --resume-from "$SCRATCH/bad_ckpt.safetensors"
has "$SCRATCH/err" "$SCRATCH/bad_ckpt.safetensors: data checksum mismatch (file corrupted?)"
exit 0
