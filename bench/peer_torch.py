#!/usr/bin/python3
"""The PyTorch peer of bench_step and bench/gpt_step.lua: the same models, batch, loss,
optimizer and timing.

MLP 784-1024-1024-10 (ReLU) or the CNN conv(1->32,3,p1)-relu-maxpool2-conv(32->64,3,p1)
-relu-maxpool2-linear(3136->128)-relu-linear(128->10); cross-entropy; SGD lr 0.05,
momentum 0.9; wide_cnn is the CNN with 128 and 256 channels and a 512-wide head.
Synthetic data like bench_step's (normal inputs, uniform labels, a few batches cycled):
throughput does not depend on the values. gpt is nanoGPT's model (bench/gpt_torch.py)
as gpt_step.lua has it: n_layer 4, n_head 4, n_embd 128, block_size 128, vocab_size 256,
dropout 0, bias; uniform token ids, cross-entropy at every position, AdamW (lr 6e-4,
betas 0.9 and 0.95, weight_decay 0.1 without decay on biases, norms and embeddings); its
--batch counts sequences (gpt_step's is 32) and its line adds tokens_per_s. bf16 and
fp16 run under autocast (fp16 with a GradScaler, on a GPU); tf32 is fp32 with TF32
allowed, which the fp32 rows switch off.
With --device cuda, each timed run ends with a synchronize and the peak of
torch.cuda.max_memory_allocated is reported.

A step is zero_grad + forward + loss + backward + optimizer step. Warm-up steps (at
least one, at most --warmup or a fifth of --budget), then `repeats` timed runs of several
steps each, sized from the warm-up's step time to fit the budget; the median run's step
time is reported.
Prints one JSON line with the field names bench_step uses (samples_per_s, ms_per_step).

Run it with Debian's interpreter (python3-torch). scripts/bench.sh sets the environment
that gives PyTorch its best rate on this machine: see docs/performance.md.
"""
import argparse
import json
import os
import statistics
import time

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
MODELS = ["mlp", "cnn", "wide_cnn", "gpt"]
PRECISIONS = ["fp32", "bf16", "tf32", "fp16"]


def choices(names):
    """A comma-separated list of names, or "all"."""
    def parse(text):
        picked = names if text == "all" else text.split(",")
        if not picked or any(n not in names for n in picked):
            raise argparse.ArgumentTypeError(f"expected 'all' or some of {','.join(names)}")
        return picked
    return parse


p.add_argument("--model", type=choices(MODELS), default=["mlp"],
               help="mlp, cnn, wide_cnn, gpt, a comma list or all (one JSON line each)")
p.add_argument("--precision", type=choices(PRECISIONS), default=["fp32"],
               help="fp32, bf16, tf32, fp16, a comma list or all")
p.add_argument("--device", default="cpu")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=lambda t: [int(b) for b in t.split(",")], default=[128],
               help="batch size, or a comma list")
p.add_argument("--warmup", type=int, default=20, help="warm-up steps, at most")
p.add_argument("--repeats", type=int, default=5, help="timed runs (median reported)")
p.add_argument("--min-time", type=float, default=0.4, help="seconds per timed run, at least")
p.add_argument("--budget", type=float, default=15, help="seconds for warm-up and timing")
args = p.parse_args()

# Debian's torch does fp32 GEMM through OpenBLAS, whose pthread pool
# torch.set_num_threads() does not size: pin both pools before torch loads.
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
os.environ["OMP_NUM_THREADS"] = str(args.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import gpt_torch  # noqa: E402  (beside this file)

N_BATCHES = 4
GPT = dict(n_layer=4, n_head=4, n_embd=128, block_size=128, vocab_size=256, dropout=0.0,
           bias=True)


def make_model(name):
    if name == "gpt":
        return gpt_torch.GPT(**GPT)
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(),
                             nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
    c1, c2, hidden = (128, 256, 512) if name == "wide_cnn" else (32, 64, 128)
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 49, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def train_step(model, opt, scaler, precision, xb, yb):
    opt.zero_grad(set_to_none=True)
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    with torch.autocast(args.device.split(":")[0], dtype=half or torch.bfloat16,
                        enabled=half is not None):
        out = model(xb)
        loss = gpt_torch.loss_of(out, yb) if out.dim() == 3 else F.cross_entropy(out, yb)
    if scaler:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
    return loss


def sync():
    if args.device != "cpu":
        torch.cuda.synchronize()


def blas_info():
    """Which BLAS torch's fp32 GEMM runs on: the file behind libblas.so.3, and OpenBLAS's
    core type when it is OpenBLAS (Debian's default libblas3 is the slow reference)."""
    path = None
    with open("/proc/self/maps") as maps:
        for line in maps:
            name = line.split()[-1]
            if "libblas.so" in name or "libopenblas" in name:
                path = os.path.realpath(name)
                break
    core = None
    if path and "openblas" in path:
        try:
            import ctypes
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            core = lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            pass
    return path, core


def bench(name, precision, batch):
    torch.manual_seed(0)
    gpu = args.device != "cpu"
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cudnn.allow_tf32 = precision == "tf32"
        torch.cuda.reset_peak_memory_stats()
    model = make_model(name).to(args.device)
    scaler = torch.amp.GradScaler("cuda") if gpu and precision == "fp16" else None
    if name == "gpt":
        opt = gpt_torch.adamw(model, 6e-4, 0.1, betas=(0.9, 0.95))
        shape = (batch, GPT["block_size"])
        batches = [(torch.randint(0, GPT["vocab_size"], shape).to(args.device),
                    torch.randint(0, GPT["vocab_size"], shape).to(args.device))
                   for _ in range(N_BATCHES)]
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        shape = (batch, 784) if name == "mlp" else (batch, 1, 28, 28)
        batches = [(torch.randn(shape).to(args.device),
                    torch.randint(0, 10, (batch,)).to(args.device))
                   for _ in range(N_BATCHES)]
    step = 0
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        train_step(model, opt, scaler, precision, *batches[step % N_BATCHES])
        sync()
        last = max(time.perf_counter() - t0, 1e-6)
        step += 1
        if step >= args.warmup or time.perf_counter() - start >= 0.2 * args.budget:
            break
    warmup = step
    left = args.budget - (time.perf_counter() - start)
    per_run = max(1, int(args.min_time / last + 0.999))
    repeats = max(1, args.repeats)
    while repeats > 1 and repeats * per_run * last > left:
        if per_run > 1:
            per_run -= 1
        else:
            repeats -= 1
    runs = []
    loss = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(per_run):
            loss = train_step(model, opt, scaler, precision, *batches[step % N_BATCHES])
            step += 1
        sync()
        runs.append((time.perf_counter() - t0) / per_run)
    ms = 1e3 * statistics.median(runs)
    blas, core = blas_info()
    mem = torch.cuda.max_memory_allocated() / 2**20 if gpu else None
    tokens = {}
    if name == "gpt":
        t = GPT["block_size"]
        tokens = dict(block_size=t, tokens_per_s=round(1e3 * batch * t / ms))
    print(json.dumps(dict(device=args.device, mem_mib=mem and round(mem, 1),
        kind="step", model=name, precision=precision, threads=args.threads,
        batch=batch, **tokens, samples_per_s=round(1e3 * batch / ms, 1),
        ms_per_step=round(ms, 3), ms_per_step_min=round(1e3 * min(runs), 3),
        ms_per_step_max=round(1e3 * max(runs), 3), warmup=warmup,
        repeats=repeats, steps_per_repeat=per_run, last_loss=round(loss.item(), 4),
        torch=torch.__version__, torch_threads=torch.get_num_threads(),
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "default"), blas=blas,
        openblas_core=core)), flush=True)


def main():
    torch.set_num_threads(args.threads)
    for batch in args.batch:
        for name in args.model:
            for precision in args.precision:
                bench(name, precision, batch)


if __name__ == "__main__":
    main()
