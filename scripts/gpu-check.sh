#!/usr/bin/env bash
# The one-shot check for a lent GPU machine, in under five minutes.
#
#   scripts/gpu-check.sh --build     (here) build the bundle: the GPU test programs, the
#                                    step bench, the CUDA plugin and the Lua module
#                                    (ONEDNN=0; MPI=0, as the GPU machine has no Open MPI:
#                                    the NCCL collectives get test_gpu_ops's one-rank
#                                    test, not ranks; jansson, libpng and zlib static in
#                                    the programs; libcmocka, lua5.4 and the libraries of
#                                    it and of the module carried), the PyTorch peer
#                                    and a slice of Fashion-MNIST
#   scripts/gpu-check.sh --dry-run   build the bundle, check its size, and run what runs
#                                    without a GPU (the suites must say "skipped: no GPU")
#   scripts/gpu-check.sh             (on the GPU machine, from the repository root) probe
#                                    the card and its libraries, run the GPU suites, train
#                                    two recipes on the slice and the char GPT on two
#                                    fortune files with `lutra train` (and `lutra
#                                    generate` from it), then time MLP, CNN and a wide CNN
#                                    in fp32, TF32, bf16 and fp16 at batch 128 and 512, and
#                                    the GPT in fp32 and bf16, lutra against the machine's
#                                    PyTorch (AMP for half), with peak memory; everything
#                                    goes to $OUT (or .gpu-bundle/out), the tables to stdout
#
# The bundle is .gpu-bundle/ (git-ignored): the device call carries it.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
bundle=$here/.gpu-bundle
BUILD_GPU=build/gpu
LIMIT_MB=60
mode=${1:-run}

build_bundle() {
    cd "$here" || exit 1
    echo "gpu-check: building the bundle in $BUILD_GPU"
    make -s deps || exit 1
    make -s -j"$(nproc)" BUILD=$BUILD_GPU ONEDNN=0 STATIC_LIBS=1 MPI=0 \
        $BUILD_GPU/lutra_cuda.so $BUILD_GPU/tests/test_gpu_ops $BUILD_GPU/tests/test_gpu_train \
        $BUILD_GPU/bench/bench_step $BUILD_GPU/lutra.so || exit 1
    rm -rf "$bundle"
    mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/data"
    cp $BUILD_GPU/lutra_cuda.so $BUILD_GPU/tests/test_gpu_ops $BUILD_GPU/tests/test_gpu_train \
        $BUILD_GPU/bench/bench_step bench/peer_torch.py bench/gpt_torch.py "$bundle/bin/" ||
        exit 1
    cp $BUILD_GPU/lutra.so /usr/bin/lua5.4 "$bundle/bin/" || exit 1
    if ldd "$bundle"/bin/* 2>/dev/null | grep -i 'libmpi'; then
        echo "gpu-check: the bundle needs Open MPI, which the GPU machine lacks" >&2
        exit 1
    fi
    printf 'os.exit(require("lutra.cli").main(arg))\n' >"$bundle/bin/lutra.lua"
    local lib
    for lib in libcmocka.so.0 liblua5.4.so.0 libreadline.so.8 libtinfo.so.6 libjansson.so.4 \
        libpng16.so.16; do
        cp -L "$(ldconfig -p | sed -n "s/.*$lib .*=> //p" | head -1)" "$bundle/lib/" || exit 1
    done
    # 8192 training and 2048 test images with their labels, as idx files
    python3 - "$bundle/data" <<'PY' || exit 1
import gzip, os, sys
src, dst = "/usr/share/datasets/fashion-mnist", sys.argv[1]
for name, n in [("train-images-idx3-ubyte", 8192), ("train-labels-idx1-ubyte", 8192),
                ("t10k-images-idx3-ubyte", 2048), ("t10k-labels-idx1-ubyte", 2048)]:
    with gzip.open(os.path.join(src, name + ".gz")) as f:
        data = f.read()
    images = "images" in name
    head, size = (16, 784) if images else (8, 1)
    out = bytearray(data[:head])
    out[4:8] = n.to_bytes(4, "big")
    out += data[head:head + n * size]
    with gzip.open(os.path.join(dst, name + ".gz"), "wb") as f:
        f.write(out)
PY
    # the char GPT's text: two fortune databases (examples/char_gpt.lua's package), or
    # generated sentences where the package is missing
    local f
    for f in computers cookie; do
        if [ -f "/usr/share/games/fortunes/$f" ]; then
            cp "/usr/share/games/fortunes/$f" "$bundle/data/$f.txt" || exit 1
        else
            python3 -c 'import random, sys; random.seed(sys.argv[2]); w = "the cat sat on a mat and ran off with my hat".split(); open(sys.argv[1], "w").write(" ".join(random.choice(w) for _ in range(40000)))' \
                "$bundle/data/$f.txt" "$f" || exit 1
        fi
    done
    local mb
    mb=$(du -sm "$bundle" | cut -f1)
    echo "gpu-check: bundle $mb MiB (a device call carries at most 64 MiB)"
    if [ "$mb" -gt $LIMIT_MB ]; then
        echo "gpu-check: the bundle is over $LIMIT_MB MiB" >&2
        exit 1
    fi
}

# The card's own CUDA libraries: its CUDA install, and PyTorch's nvidia/*/lib folders.
find_libs() {
    local dirs=() site
    site=$(python3 -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' \
        2>/dev/null)
    for d in "$site"/nvidia/*/lib /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
        [ -d "$d" ] && dirs+=("$d")
    done
    local IFS=:
    echo "${dirs[*]}"
}

run_suites() {
    local rc=0 t
    for t in test_gpu_ops test_gpu_train; do
        echo "== $t"
        timeout 240 "$bundle/bin/$t" 2>&1 | grep -v '^\[ \(RUN\|      OK\) '
        [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
    done
    echo "== lutra train examples/char_gpt.lua (two fortune files), then lutra generate"
    timeout 150 "$bundle/bin/lua5.4" "$bundle/bin/lutra.lua" train examples/char_gpt.lua \
        --device cuda --work-dir "$wd/char_gpt" --set "data.path=\"$bundle/data/computers.txt\"" \
        "data.test_path=\"$bundle/data/cookie.txt\"" runner.max_iters=400 \
        runner.eval_interval=400 runner.checkpoint_interval=0 runner.log_interval=100 2>&1 |
        tee -a "$OUT/train.log" | grep -E "device|planned|test|error|samples/s" | tail -8
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
    local w
    w=$(ls "$wd"/char_gpt/*/final.safetensors 2>/dev/null | tail -1)
    if [ -n "$w" ]; then
        timeout 60 "$bundle/bin/lua5.4" "$bundle/bin/lutra.lua" generate examples/char_gpt.lua \
            --device cuda --load-from "$w" --tokens 300 --temperature 0.8 --seed 1 \
            --set "data.path=\"$bundle/data/computers.txt\"" 2>&1 | tee -a "$OUT/train.log" ||
            rc=1
    else
        echo "gpu-check: the char GPT left no final weights" >&2
        rc=1
    fi
    return $rc
}

# `lutra train` on the GPU through the Lua front end: the MLP recipe in fp32, the CNN
# recipe in bf16 with the step captured as CUDA graphs; two epochs of the slice each.
run_recipes() {
    local rc=0 wd=$bundle/work
    export LUA_CPATH="$bundle/bin/?.so;;" LUA_PATH="$here/lua/?.lua;;"
    for recipe in "fmnist_mlp.lua" "fmnist_cnn.lua precision.mode=\"bf16\" device_options.graph=true"; do
        set -- $recipe
        echo "== lutra train examples/$*"
        timeout 120 "$bundle/bin/lua5.4" "$bundle/bin/lutra.lua" train "examples/$1" \
            --device cuda --work-dir "$wd/${1%.lua}" --set "data.root=\"$bundle/data\"" \
            runner.max_epochs=2 runner.log_interval=32 "${@:2}" 2>&1 |
            tee -a "$OUT/train.log" | grep -E "device|planned|accuracy|error|samples/s" | tail -8
        [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
    done
    return $rc
}

bench_table() {
    local b mode
    local f
    for f in lutra lutra-graphs torch; do : >"$OUT/bench-$f.jsonl"; done
    for b in 128 512; do
        for mode in plain graphs; do
            timeout 150 "$bundle/bin/bench_step" --device cuda --json --model all \
                --precision all --batch $b --warmup 20 --repeats 5 --min-time 0.15 \
                --budget 1.5 $([ $mode = graphs ] && echo --graphs) \
                >>"$OUT/bench-lutra$([ $mode = graphs ] && echo -graphs).jsonl" ||
                echo "gpu-check: bench_step ($mode) failed at batch $b" >&2
        done
    done
    PYTHONUNBUFFERED=1 timeout 200 python3 "$bundle/bin/peer_torch.py" --device cuda \
        --model mlp,cnn,wide_cnn --precision all --batch 128,512 --warmup 20 --min-time 0.15 \
        --budget 1.5 \
        >>"$OUT/bench-torch.jsonl" ||
        echo "gpu-check: the PyTorch peer failed" >&2
    python3 - "$OUT" <<'PY' | tee "$OUT/table.md"
import json, os, sys
def load(name):
    rows = {}
    for line in open(os.path.join(sys.argv[1], name)):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("kind") == "step":
            rows[(r["model"], r["precision"], r["batch"])] = r
    return rows
plain, graphs, peer = load("bench-lutra.jsonl"), load("bench-lutra-graphs.jsonl"), load("bench-torch.jsonl")
def num(v):
    return f"{v:.0f}" if isinstance(v, (int, float)) else "-"
print("| model | precision | batch | lutra samples/s | lutra, CUDA graphs | PyTorch samples/s | "
      "best lutra / PyTorch | lutra MiB | PyTorch MiB |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
for key in sorted(set(plain) | set(peer), key=lambda k: (k[2], k[0], k[1])):
    a, g, b = plain.get(key, {}), graphs.get(key, {}), peer.get(key, {})
    best = max(a.get("samples_per_s") or 0, g.get("samples_per_s") or 0)
    ratio = f"{best / b['samples_per_s']:.2f}" if best and b.get("samples_per_s") else "-"
    print(f"| {key[0]} | {key[1]} | {key[2]} | {num(a.get('samples_per_s'))} | "
          f"{num(g.get('samples_per_s'))} | {num(b.get('samples_per_s'))} | {ratio} | "
          f"{num(a.get('mem_mib'))} | {num(b.get('mem_mib'))} |")
PY
    echo "== the GPT (examples/char_gpt.lua's model), tokens/s: lutra, then PyTorch (AMP)"
    : >"$OUT/bench-gpt.jsonl"
    local gb
    for gb in 32 256; do
        timeout 90 "$bundle/bin/lua5.4" "$bundle/bin/lutra.lua" run bench/gpt_step.lua \
            --device cuda --precision fp32,bf16 --batch $gb --warmup 10 --min-time 0.15 \
            --budget 3 | sed 's/^{/{"side": "lutra", /' >>"$OUT/bench-gpt.jsonl" ||
            echo "gpu-check: gpt_step failed at batch $gb" >&2
    done
    PYTHONUNBUFFERED=1 timeout 120 python3 "$bundle/bin/peer_torch.py" --device cuda \
        --model gpt --precision fp32,bf16 --batch 32,256 --warmup 10 --min-time 0.15 \
        --budget 3 | sed 's/^{/{"side": "pytorch", /' >>"$OUT/bench-gpt.jsonl" ||
        echo "gpu-check: the PyTorch peer failed on the GPT" >&2
    python3 - "$OUT/bench-gpt.jsonl" <<'PY' | tee -a "$OUT/table.md"
import json, sys
rows = {}
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("kind") == "step":
        rows[(r["side"], r["precision"], r["batch"])] = r
print("| GPT | batch | lutra tokens/s | PyTorch tokens/s | lutra / PyTorch | lutra MiB | PyTorch MiB |")
print("|---|---|---:|---:|---:|---:|---:|")
for prec, batch in sorted({(k[1], k[2]) for k in rows}):
    a, b = rows.get(("lutra", prec, batch), {}), rows.get(("pytorch", prec, batch), {})
    ta, tb = a.get("tokens_per_s"), b.get("tokens_per_s")
    ratio = f"{ta / tb:.2f}" if ta and tb else "-"
    f = lambda v: f"{v:.0f}" if isinstance(v, (int, float)) else "-"
    print(f"| {prec} | {batch} | {f(ta)} | {f(tb)} | {ratio} | {f(a.get('mem_mib'))} | "
          f"{f(b.get('mem_mib'))} |")
PY
    echo "== where the step goes (wide CNN, batch 512), and cuDNN's non-deterministic choice"
    local prec
    for prec in fp32 bf16; do
        timeout 60 "$bundle/bin/bench_step" --device cuda --model wide_cnn --precision $prec \
            --batch 512 --warmup 20 --repeats 3 --min-time 0.3 --budget 3 --profile
        timeout 60 "$bundle/bin/bench_step" --device cuda --model wide_cnn --precision $prec \
            --batch 512 --warmup 20 --repeats 5 --min-time 0.2 --budget 3 --nondeterministic
    done
}

case $mode in
--build)
    build_bundle
    ;;
--dry-run)
    build_bundle
    export LUTRA_CUDA_PLUGIN=$bundle/bin/lutra_cuda.so LD_LIBRARY_PATH=$bundle/lib
    export LUTRA_FMNIST_DIR=$bundle/data
    for t in test_gpu_ops test_gpu_train; do
        out=$("$bundle/bin/$t" 2>&1) || { echo "$out"; echo "gpu-check: $t failed" >&2; exit 1; }
        grep -q '^skipped: no GPU' <<<"$out" || { echo "$out"; echo "gpu-check: $t did not skip" >&2; exit 1; }
    done
    # the bench runs on the bundle's own libraries, and refuses a missing GPU with a reason
    "$bundle/bin/bench_step" --device cpu --model mlp --precision fp32 --batch 32 --budget 0.5 \
        --min-time 0.05 --repeats 1 >/dev/null || exit 1
    if "$bundle/bin/bench_step" --device cuda --model mlp 2>"$bundle/err" >/dev/null; then
        echo "gpu-check: bench_step --device cuda ran without a GPU?" >&2
        exit 1
    fi
    grep -q "device 'cuda'" "$bundle/err" || { cat "$bundle/err"; exit 1; }
    # the front end runs from the bundle's lua5.4 and module, and finds the plugin
    LUA_CPATH="$bundle/bin/?.so;;" LUA_PATH="$here/lua/?.lua;;" \
        "$bundle/bin/lua5.4" "$bundle/bin/lutra.lua" --version >"$bundle/err" 2>&1 &&
        grep -q "CUDA plugin: $bundle/bin/lutra_cuda.so" "$bundle/err" ||
        { cat "$bundle/err"; echo "gpu-check: the bundle's lutra.lua failed" >&2; exit 1; }
    echo "gpu-check: dry run passed"
    ;;
run)
    OUT=${OUT:-$bundle/out}
    mkdir -p "$OUT"
    exec > >(tee "$OUT/gpu-check.log") 2>&1
    echo "== probe ($(date -u +%F))"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
    export LD_LIBRARY_PATH=$bundle/lib:$(find_libs)
    echo "libraries: $LD_LIBRARY_PATH"
    export LUTRA_CUDA_PLUGIN=$bundle/bin/lutra_cuda.so LUTRA_FMNIST_DIR=$bundle/data
    rc=0
    run_suites || rc=1
    run_recipes || rc=1
    echo "== step throughput, lutra against PyTorch $(python3 -c 'import torch; print(torch.__version__)')"
    bench_table
    exit $rc
    ;;
*)
    echo "usage: scripts/gpu-check.sh [--build | --dry-run]" >&2
    exit 2
    ;;
esac
