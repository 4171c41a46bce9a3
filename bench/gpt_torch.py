"""nanoGPT's GPT in plain PyTorch eager: the peer of lutra's nn.GPT (lua/lutra/transformer.lua).

The same modules, parameter names and math as nanoGPT's model.py: pre-norm blocks,
q, k and v split from one c_attn Linear, a causal mask, the exact (erf) GELU, LayerNorm
with eps 1e-5 and an optional bias, the head's weight tied to the token embedding. The
attention is written out (scores, mask, softmax), as nanoGPT does without flash
attention; PyTorch 1.13 has no scaled_dot_product_attention.

Used by bench/peer_torch.py (training throughput) and tests/parity/gpt_parity.py (the
same steps as lutra's, number for number). Import it after torch's threads are set.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    """LayerNorm over the last dim with an optional bias (PyTorch 1.13's has none to drop)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout, bias):
        super().__init__()
        assert n_embd % n_head == 0
        self.n_head, self.n_embd = n_head, n_embd
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        mask = torch.tril(torch.ones(block_size, block_size, dtype=torch.bool))
        self.register_buffer("mask", mask.view(1, 1, block_size, block_size), persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        h = self.n_head
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, h, C // h).transpose(1, 2)  # (B, h, T, D)
        k = k.view(B, T, h, C // h).transpose(1, 2)
        v = v.view(B, T, h, C // h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~self.mask[:, :, :T, :T], float("-inf"))
        att = self.attn_dropout(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, n_embd, dropout, bias):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU()  # the exact erf form, as lutra's gelu
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout, bias):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd, bias)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, dropout, bias)
        self.ln_2 = LayerNorm(n_embd, bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """GPT(n_layer, n_head, n_embd, block_size, vocab_size, dropout=0, bias=True): token
    ids (B, T) give logits (B, T, vocab_size). Initialised as nanoGPT (and lutra):
    weights N(0, 0.02), the residual projections N(0, 0.02 / sqrt(2 n_layer)), biases 0,
    LayerNorms 1 and 0."""

    def __init__(self, n_layer, n_head, n_embd, block_size, vocab_size, dropout=0.0, bias=True):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            drop=nn.Dropout(dropout),
            h=nn.ModuleList([Block(n_embd, n_head, block_size, dropout, bias)
                             for _ in range(n_layer)]),
            ln_f=LayerNorm(n_embd, bias)))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # one tensor, both uses
        for name, p in self.named_parameters():
            if ".ln_" in name:
                continue
            if name.endswith(".bias"):
                nn.init.zeros_(p)
            else:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        t = idx.size(1)
        pos = torch.arange(t, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def loss_of(logits, targets):
    """The mean cross entropy over every position, as lutra's trainer takes it."""
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def decays(name):
    """Whether AdamW decays the parameter `name`: not for biases, LayerNorm parameters and
    the embeddings (minGPT's groups, which lutra's README sets through paramwise; the
    tied head's weight is transformer.wte.weight, so it does not decay either)."""
    return not (name.endswith(".bias") or ".ln_" in name or ".wte." in name
                or ".wpe." in name)


def adamw(model, lr, weight_decay, betas=(0.9, 0.999), eps=1e-8):
    """torch.optim.AdamW over two groups, decaying and not (see decays())."""
    named = list(model.named_parameters())
    groups = [dict(params=[p for n, p in named if decays(n)], weight_decay=weight_decay),
              dict(params=[p for n, p in named if not decays(n)], weight_decay=0.0)]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)
