#!/usr/bin/python3
"""PyTorch's side of the GPT parity test (tests/cli/gpt_parity.sh): lutra's ten AdamW steps
again, in fp32 and in fp64, from lutra's initial weights on the same batches.

Reads what tests/parity/gpt_lutra.lua wrote into DIR (init, final and batches as
safetensors, run.json), runs bench/gpt_torch.py's GPT with the same AdamW groups, and
compares each step's loss and each final parameter with the fp64 run, taken as the
truth. The error of a loss is |a - b| / |b|; of a parameter, max|a - b| / max|b| over the
tensor. lutra (fp32) passes where each of its errors is at most
max(FACTOR x PyTorch fp32's error on the same quantity, FLOOR), and at most LIMIT in any
case. The floor is about 16 fp32 roundings (unit roundoff 6e-8): where PyTorch's fp32
happens to land next to the fp64 result, a factor of it would ask lutra for better than
fp32 can do.

One part is checked apart: the key part of each c_attn bias. Adding a constant to every
key changes each query's scores by one constant, which softmax ignores, so its gradient
is zero and every run's is rounding noise; AdamW divides that noise by its own size and
moves the bias in a direction that rounding picks. fp64's noise is far below AdamW's eps,
so there the key bias stays near 1e-13; both fp32 runs' noise is not, and their key biases
drift to ~1e-4. That part is checked on its own: lutra's largest key bias must stay below
the learning rate (one step's move under a real gradient; ten noisy steps stay far below).

Prints a table of the losses and one of the parameters; exits 1 when a check fails.
"""
import json
import os
import struct
import sys

# one thread: PyTorch's sums in one order every run (and both pools pinned before torch loads)
THREADS = 1
os.environ["OMP_NUM_THREADS"] = str(THREADS)
os.environ["OPENBLAS_NUM_THREADS"] = str(THREADS)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))

import torch  # noqa: E402

import gpt_torch  # noqa: E402

FACTOR = 10
FLOOR = 1e-6
LIMIT = 1e-4
DTYPES = {"F32": torch.float32, "I32": torch.int32}


def load_safetensors(path):
    """name -> tensor of a safetensors file (F32 and I32 tensors)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"])
    return out


def key_bias(name, n_embd):
    """The slice of parameter `name` that is a c_attn bias's key part, or None."""
    return slice(n_embd, 2 * n_embd) if name.endswith("attn.c_attn.bias") else None


def train(run, init, batches, dtype):
    """The steps in `dtype`: (losses, final parameters by name, as f64)."""
    model = gpt_torch.GPT(**run["config"]).to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in init.items()})
    o = run["optim"]
    opt = gpt_torch.adamw(model, o["lr"], o["weight_decay"], tuple(o["betas"]), o["eps"])
    losses = []
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        loss = gpt_torch.loss_of(model(x.long()), y.long())
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, {n: p.detach().double() for n, p in model.named_parameters()}


def rel(a, b):
    """max|a - b| / max|b|."""
    return ((a - b).abs().max() / b.abs().max()).item()


def main():
    d = sys.argv[1]
    torch.set_num_threads(THREADS)
    run = json.load(open(os.path.join(d, "run.json")))
    init = load_safetensors(os.path.join(d, "init.safetensors"))
    final = load_safetensors(os.path.join(d, "final.safetensors"))
    b = load_safetensors(os.path.join(d, "batches.safetensors"))
    batches = [(b[f"x.{s}"], b[f"y.{s}"]) for s in range(1, len(run["losses"]) + 1)]
    failures = []

    # lutra saves the tied head under both names; they must be one tensor's values
    for w in (init, final):
        if not torch.equal(w["lm_head.weight"], w["transformer.wte.weight"]):
            failures.append("lm_head.weight and transformer.wte.weight differ in a lutra file")
    # lutra's AdamW groups are the ones gpt_torch.adamw makes
    model = gpt_torch.GPT(**run["config"])
    names = [n for n, _ in model.named_parameters()]
    if sorted(names) != sorted(run["decay_mult"]):
        failures.append(f"parameter names differ: lutra {sorted(run['decay_mult'])}, "
                        f"PyTorch {sorted(names)}")
    for n in names:
        m = run["decay_mult"].get(n)
        if m is not None and (m != 0) != gpt_torch.decays(n):
            failures.append(f"{n}: lutra's decay_mult {m}, minGPT's groups "
                            f"{'decay' if gpt_torch.decays(n) else 'do not decay'} it")

    l32, p32 = train(run, init, batches, torch.float32)
    l64, p64 = train(run, init, batches, torch.float64)

    def check(what, lutra_err, torch_err):
        bound = min(max(FACTOR * torch_err, FLOOR), LIMIT)
        ok = lutra_err <= bound
        if not ok:
            failures.append(f"{what}: lutra's error {lutra_err:.2e} > {bound:.2e}")
        return ok

    print(f"GPT parity, {len(batches)} AdamW steps; error against PyTorch fp64; a check "
          f"passes at <= max({FACTOR} x PyTorch fp32's error, {FLOOR:g}) and <= {LIMIT:g}")
    print(f"{'step':>4} {'lutra fp32':>12} {'torch fp32':>12} {'torch fp64':>12} "
          f"{'lutra err':>10} {'torch32 err':>11}")
    for s, (a, b32, b64) in enumerate(zip(run["losses"], l32, l64), 1):
        ea, e32 = abs(a - b64) / abs(b64), abs(b32 - b64) / abs(b64)
        ok = check(f"loss of step {s}", ea, e32)
        print(f"{s:>4} {a:12.7f} {b32:12.7f} {b64:12.7f} {ea:10.2e} {e32:11.2e}"
              f"{'' if ok else '  FAIL'}")

    n_embd, lr, w = run["config"]["n_embd"], run["optim"]["lr"], 44
    print(f"{'final parameter':<{w}} {'lutra err':>10} {'torch32 err':>11}")
    for n in names:
        a, b32, b64 = final[n].double(), p32[n], p64[n]
        k = key_bias(n, n_embd)
        if k is not None:  # the key part on its own (see the docstring)
            ka, k32, k64 = (t[k].abs().max().item() for t in (a, b32, b64))
            ok = ka < lr
            if not ok:
                failures.append(f"{n}: the key part reaches {ka:.2e}, want < lr {lr:g}: does "
                                "its gradient still vanish?")
            print(f"{n + ' key part':<{w}} largest |b|: lutra {ka:.1e}, PyTorch fp32 "
                  f"{k32:.1e}, fp64 {k64:.1e}{'' if ok else '  FAIL'}")
            keep = torch.ones(b64.numel(), dtype=torch.bool)
            keep[k] = False
            a, b32, b64 = a[keep], b32[keep], b64[keep]
            n += " q, v parts"
        ea, e32 = rel(a, b64), rel(b32, b64)
        ok = check(n, ea, e32)
        print(f"{n:<{w}} {ea:10.2e} {e32:11.2e}{'' if ok else '  FAIL'}")

    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
