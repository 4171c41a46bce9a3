-- The GPT modules of lutra.nn, as nanoGPT writes them: CausalSelfAttention, MLP, Block
-- and GPT, with nanoGPT's parameter names (transformer.h.0.attn.c_attn.weight, ...), so
-- that weights can move to and from a nanoGPT model of the same shape. Attention is the
-- fused scaled_dot_product_attention op (causal, with the attention dropout), so the
-- backward keeps each row's log-sum-exp rather than the (B, H, T, T) probabilities.
-- install(nn) adds the classes to lutra.nn (which calls it: this file cannot require
-- lutra.nn while that is still loading).
local util = require "lutra.util"
local F = require "lutra.ops"
local T = require "lutra.tensor"
local check_int = require("lutra.module").check_int

local raise = util.raise

local M = {}

-- The position ids, a constant tensor made once per length and shared by every model: a
-- traced graph then holds one copy of it.
local positions = {}

-- (T) i32: the position ids 0 .. T-1.
local function position_ids(t)
    positions[t] = positions[t] or T.arange(t)
    return positions[t]
end

local function check_dropout(what, p)
    if type(p) ~= "number" or p < 0 or p >= 1 then
        raise(string.format("%s: dropout must be a number in [0, 1), got %s", what, tostring(p)))
    end
    return p
end

-- The checked options shared by the modules: dropout (0), bias (true).
local function options(what, opts)
    opts = util.check_options(what, opts, { "dropout", "bias" })
    return check_dropout(what, opts.dropout or 0), opts.bias ~= false
end

function M.install(nn)
    local CausalSelfAttention = nn.class("CausalSelfAttention")
    nn.CausalSelfAttention = CausalSelfAttention

    -- CausalSelfAttention(n_embd, n_head [, opts]) with opts = {dropout = 0, bias = true}:
    -- c_attn Linear(n_embd, 3 n_embd) gives q, k, v; each head (n_embd / n_head wide)
    -- attends causally; c_proj Linear(n_embd, n_embd). x (B, T, n_embd) -> (B, T, n_embd).
    function CausalSelfAttention:__init(n_embd, n_head, opts)
        local what = "CausalSelfAttention"
        local dropout, bias = options(what, opts)
        self.n_embd = check_int(what, "n_embd", n_embd, 1)
        self.n_head = check_int(what, "n_head", n_head, 1)
        if n_embd % n_head ~= 0 then
            raise(string.format("%s: n_embd %d must be a multiple of n_head %d", what, n_embd,
                n_head))
        end
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
    end

    function CausalSelfAttention:forward(x)
        local s = x:shape()
        if #s ~= 3 or s[3] ~= self.n_embd then
            raise(string.format("CausalSelfAttention: want x (B, T, %d), got %s", self.n_embd,
                util.shape_str(s)))
        end
        local b, t, h = s[1], s[2], self.n_head
        local d = self.n_embd // h
        -- (B, T, 3C) -> (B, T, 3, H, D) -> (3, B, H, T, D): q, k and v one after another
        local qkv = F.permute(F.reshape(self.c_attn(x), b, t, 3, h, d), 3, 1, 4, 2, 5)
        local function part(k)
            return F.reshape(F.narrow(qkv, 1, k, 1), b, h, t, d)
        end
        local q, k, v = part(1), part(2), part(3)
        -- the attention dropout draws from attn_dropout's stream (its layer id), in
        -- training only, as the Dropout module itself would
        local drop = self.attn_dropout
        local y = F.scaled_dot_product_attention(q, k, v, { causal = true, dropout = drop.p,
            training = self.training, layer = drop.layer })                 -- (B, H, T, D)
        y = F.reshape(F.permute(y, 1, 3, 2, 4), b, t, self.n_embd)
        return self.resid_dropout(self.c_proj(y))
    end

    function CausalSelfAttention:extra_repr()
        return string.format("n_embd=%d, n_head=%d", self.n_embd, self.n_head)
    end

    local MLP = nn.class("MLP")
    nn.MLP = MLP

    -- MLP(n_embd [, opts]) with opts = {dropout = 0, bias = true}: c_fc Linear(n_embd,
    -- 4 n_embd), GELU, c_proj Linear(4 n_embd, n_embd), Dropout.
    function MLP:__init(n_embd, opts)
        local dropout, bias = options("MLP", opts)
        n_embd = check_int("MLP", "n_embd", n_embd, 1)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias)
        self.dropout = nn.Dropout(dropout)
    end

    function MLP:forward(x)
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))
    end

    local TransformerBlock = nn.class("TransformerBlock")
    nn.TransformerBlock = TransformerBlock

    -- TransformerBlock(n_embd, n_head [, opts]) with opts = {dropout = 0, bias = true}:
    -- pre-norm, x + attn(ln_1(x)), then x + mlp(ln_2(x)) (nanoGPT's Block).
    function TransformerBlock:__init(n_embd, n_head, opts)
        local dropout, bias = options("TransformerBlock", opts)
        opts = { dropout = dropout, bias = bias }
        self.ln_1 = nn.LayerNorm(n_embd, { bias = bias })
        self.attn = nn.CausalSelfAttention(n_embd, n_head, opts)
        self.ln_2 = nn.LayerNorm(n_embd, { bias = bias })
        self.mlp = nn.MLP(n_embd, opts)
    end

    function TransformerBlock:forward(x)
        x = F.add(x, self.attn(self.ln_1(x)))
        return F.add(x, self.mlp(self.ln_2(x)))
    end

    local GPT = nn.class("GPT")
    nn.GPT = GPT

    -- GPT{n_layer =, n_head =, n_embd =, block_size =, vocab_size = [, dropout = 0]
    -- [, bias = true]}: nanoGPT's model. Token ids i32 (B, T), T <= block_size, give
    -- logits (B, T, vocab_size). Initialised as nanoGPT: weights N(0, 0.02) (the residual
    -- projections N(0, 0.02 / sqrt(2 n_layer))), biases 0. lm_head's weight is the token
    -- embedding's, as nanoGPT ties them: one tensor (one entry of the flat parameter
    -- buffer, saved once as transformer.wte.weight), its gradient the sum of both uses.
    function GPT:__init(cfg)
        if type(cfg) ~= "table" then
            raise("GPT: want a table {n_layer =, n_head =, n_embd =, block_size =, "
                .. "vocab_size =, ...}, got " .. type(cfg))
        end
        cfg = util.check_options("GPT", cfg, { "n_layer", "n_head", "n_embd", "block_size",
            "vocab_size", "dropout", "bias" })
        local n_layer = check_int("GPT", "n_layer", cfg.n_layer, 1)
        local n_embd = check_int("GPT", "n_embd", cfg.n_embd, 1)
        self.block_size = check_int("GPT", "block_size", cfg.block_size, 1)
        local dropout, bias = options("GPT", { dropout = cfg.dropout, bias = cfg.bias })
        local body = nn.Module()
        body.wte = nn.Embedding(check_int("GPT", "vocab_size", cfg.vocab_size, 1), n_embd)
        body.wpe = nn.Embedding(self.block_size, n_embd)
        body.drop = nn.Dropout(dropout)
        body.h = nn.Sequential()
        for _ = 1, n_layer do
            body.h:add(nn.TransformerBlock(n_embd, cfg.n_head, { dropout = dropout, bias = bias }))
        end
        body.ln_f = nn.LayerNorm(n_embd, { bias = bias })
        self.transformer = body
        self.lm_head = nn.Linear(n_embd, cfg.vocab_size, false)
        self.lm_head.weight = body.wte.weight -- (V, C) both: the head reads the embedding
        for name, p in self:named_parameters() do
            if name:match("%.ln_[%w]+%.") then -- LayerNorm keeps weight 1, bias 0
            elseif name:match("%.bias$") then
                nn.init.zeros_(p)
            else
                local residual = name:match("c_proj%.weight$")
                nn.init.normal_(p, 0, residual and 0.02 / math.sqrt(2 * n_layer) or 0.02)
            end
        end
    end

    function GPT:forward(idx)
        local s = idx:shape()
        if #s ~= 2 or idx:dtype() ~= "i32" then
            raise(string.format("GPT: want token ids i32 (B, T), got %s %s", idx:dtype(),
                util.shape_str(s)))
        end
        if s[2] > self.block_size then
            raise(string.format("GPT: a sequence of %d tokens is longer than block_size %d",
                s[2], self.block_size))
        end
        local body = self.transformer
        local x = F.add(body.wte(idx), body.wpe(position_ids(s[2]))) -- (B, T, C) + (T, C)
        x = body.h(body.drop(x))
        return self.lm_head(body.ln_f(x))
    end
end

return M
