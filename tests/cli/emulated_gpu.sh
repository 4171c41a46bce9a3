#!/usr/bin/env bash
# The CLI on the emulated GPU (tests/emulated_device.c: a device backend whose kernels are
# the CPU's, with device memory the host cannot touch). Since the kernels are the same,
# a run on it must give the CPU's run bit for bit: that checks the runner's device paths
# (selection, the step through page-locked staging, evaluation, checkpoints read back
# from the device, resume, bf16 with captured steps and activation checkpointing). lutra
# plan fits the card's free memory, a script picks the device with lutra.set_device, and
# a GPU that is not there is an error that says so.
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }
export LUTRA_CUDA_PLUGIN=$BUILD/tests/lutra_emulated_device.so
[ -f "$LUTRA_CUDA_PLUGIN" ] || { echo "skipped: $LUTRA_CUDA_PLUGIN is not built"; exit 0; }

same() { # same WEIGHTS_A WEIGHTS_B WHAT
    same_weights "$1" "$2" || fail "$3: the weights differ"
}

args=("${SMALL[@]}" data.train_samples=300 runner.max_iters=24 runner.checkpoint_interval=12
      runner.eval_interval=12 'model.dropout=0.3')
for d in cpu cuda; do
    expect 0 "$LUTRA" train examples/fmnist_mlp.lua --device $d --work-dir "$SCRATCH/$d" \
        --threads 2 --seed 11 --quiet --set "${args[@]}"
done
cpu=$(run_dir "$SCRATCH/cpu") cuda=$(run_dir "$SCRATCH/cuda")
has "$cuda/train.log" "device cuda:0: cuda:0 emulated on the CPU"
has "$cuda/metrics.jsonl" '"mem_gpu":'
has "$cuda/metrics.jsonl" '"mem_planned":'
grep -qE 'gpu [0-9.]+[KMG] \(planned [0-9.]+[KMG] \+ runtime\)' "$cuda/train.log" ||
    fail "the log's memory line lacks the plan beside the card's memory"
same "$cpu/final.safetensors" "$cuda/final.safetensors" "MLP on the device"
grep '"mode":"val"' "$cpu/metrics.jsonl" | sed 's/"time":[^,}]*//' >"$SCRATCH/val.cpu"
grep '"mode":"val"' "$cuda/metrics.jsonl" | sed 's/"time":[^,}]*//' >"$SCRATCH/val.cuda"
cmp -s "$SCRATCH/val.cpu" "$SCRATCH/val.cuda" || fail "evaluation on the device differs"

# resumed on the device from its own checkpoint
expect 0 "$LUTRA" train examples/fmnist_mlp.lua --device cuda --work-dir "$SCRATCH/resumed" \
    --threads 2 --seed 11 --quiet --resume-from "$cuda/iter_12.safetensors" \
    --set "${args[@]}"
same "$cuda/final.safetensors" "$(run_dir "$SCRATCH/resumed")/final.safetensors" "resumed run"

# the CNN in bf16 with captured steps and activation checkpointing
cnn=(data.train_samples=256 data.val_samples=100 data.batch_size=32 schedule.warmup_iters=0
     runner.max_iters=8 runner.eval_interval=8 'precision={mode="bf16"}'
     device_options.graph=true memory.checkpoint=true)
for d in cpu cuda; do
    expect 0 "$LUTRA" train examples/fmnist_cnn.lua --device $d --work-dir "$SCRATCH/cnn-$d" \
        --threads 2 --seed 5 --quiet --set "${cnn[@]}"
done
cnn_cpu=$(run_dir "$SCRATCH/cnn-cpu") cnn_cuda=$(run_dir "$SCRATCH/cnn-cuda")
same "$cnn_cpu/final.safetensors" "$cnn_cuda/final.safetensors" "bf16 CNN with captured steps"
has "$cnn_cuda/train.log" "forward nodes recomputed per micro-batch"

# eval on the device
expect 0 "$LUTRA" eval examples/fmnist_mlp.lua --device cuda \
    --load-from "$cuda/final.safetensors" --set 'model.hidden={64}' data.val_samples=500
cp "$SCRATCH/out" "$SCRATCH/eval.cuda"
expect 0 "$LUTRA" eval examples/fmnist_mlp.lua --device cpu \
    --load-from "$cuda/final.safetensors" --set 'model.hidden={64}' data.val_samples=500
[ "$(grep -o 'accuracy [0-9.]*' "$SCRATCH/eval.cuda")" = \
  "$(grep -o 'accuracy [0-9.]*' "$SCRATCH/out")" ] || fail "eval on the device differs"

# planned for a 52 MiB card (16 MiB of it the runtime's): the micro-batch and the
# evaluation batch that fit
LUTRA_EMULATED_DEVICE_MIB=52 expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --gpu-ids 0
has "$SCRATCH/out" "of the GPU's free memory (36.0M)"
has "$SCRATCH/out" "evaluation batch 1000 -> 125"
has "$SCRATCH/out" "micro-batch 128 -> 32, accumulate 1 -> 4 (effective batch 128 kept)"
has "$SCRATCH/out" "device: cuda:0 emulated on the CPU"
# --fit against the card's free memory: the micro-batch whose step fits, per precision
LUTRA_EMULATED_DEVICE_MIB=52 expect 0 "$LUTRA" plan examples/fmnist_mlp.lua --gpu-ids 0 --fit
has "$SCRATCH/out" "memory.target 0.75 of the GPU's free memory (36.0M) = 27.0M on cuda:0"
grep -qE '^fp32 +off +32 +4 ' "$SCRATCH/out" || fail "--fit on the device: no fp32 row"
LUTRA_EMULATED_DEVICE_MIB=abc expect 1 "$LUTRA" plan examples/fmnist_mlp.lua --gpu-ids 0
has "$SCRATCH/err" "LUTRA_EMULATED_DEVICE_MIB must be a whole number of MiB"

# a script: lutra.set_device, steps with a host write to a weight between them (sent
# to the device before the next step), weights read back, an eager forward
cat >"$SCRATCH/loop.lua" <<'LUA'
local lutra = require "lutra"
local nn = lutra.nn
print(lutra.set_device(arg[1]))
lutra.manual_seed(0)
local model = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
local train = lutra.loader(lutra.fmnist(nil, "train"), { batch = 64, shuffle = true, seed = 0 })
local trainer = lutra.Trainer { model = model, input_shape = { 64, 1, 28, 28 },
    optim = lutra.optim.SGD { lr = 0.05, momentum = 0.9 } }
local loss
for i = 1, 20 do
    local b = train:next()
    loss = trainer:step({ b.x, b.y }, b.epoch, b.sample_base).loss
    if i == 10 then
        model[2].weight[1][1] = 0.5
    end
end
local b = train:next()
print(string.format("loss %.9g weight %.9g logit %.9g", loss, model[2].weight[1][2],
    model(b.x)[1][1]))
LUA
for d in cpu cuda; do
    expect 0 "$LUTRA" run "$SCRATCH/loop.lua" $d
    cp "$SCRATCH/out" "$SCRATCH/loop.$d"
done
has "$SCRATCH/loop.cuda" "cuda:0"
[ "$(tail -1 "$SCRATCH/loop.cpu")" = "$(tail -1 "$SCRATCH/loop.cuda")" ] ||
    fail "the script's run on the device differs: $(tail -1 "$SCRATCH/loop.cuda")"

# back and forth between the card and the CPU
cat >"$SCRATCH/switch.lua" <<'LUA'
local lutra = require "lutra"
for _, d in ipairs { "cuda", "cpu", "cuda", "auto" } do
    io.write(lutra.set_device(d), " ")
end
print(pcall(lutra.set_device, "cuda:1"))
LUA
expect 0 "$LUTRA" run "$SCRATCH/switch.lua"
has "$SCRATCH/out" "cuda:0 cpu cuda:0 cuda:0 false"
has "$SCRATCH/out" "this context already started cuda:0; one GPU per context"

expect 1 "$LUTRA" train examples/fmnist_mlp.lua --device cuda:1 --work-dir "$SCRATCH/none" \
    --set "${SMALL[@]}"
has "$SCRATCH/err" "no CUDA device 1"
exit 0
