-- The GPT modules of lutra.nn and `model = {type = "gpt"}`: shapes, nanoGPT's parameter
-- names and count, causality of the attention, and a tiny model learning a sequence.
local lutra = require "lutra"
local models = require "lutra.models"
local nn = lutra.nn

local SMALL = { n_layer = 2, n_head = 2, n_embd = 32, block_size = 16, vocab_size = 8 }

local function gpt(over)
    local cfg = {}
    for k, v in pairs(SMALL) do
        cfg[k] = v
    end
    for k, v in pairs(over or {}) do
        cfg[k] = v
    end
    return nn.GPT(cfg)
end

-- (B, T) i32 ids from f(b, t) (both from 1).
local function ids(b, t, f)
    local x = lutra.zeros({ b, t }, "i32")
    for i = 1, b do
        for j = 1, t do
            x:set((i - 1) * t + j, f(i, j))
        end
    end
    return x
end

local function max_diff(a, b, first, last)
    local m = 0
    for i = first, last do
        m = math.max(m, math.abs(a:get(i) - b:get(i)))
    end
    return m
end

describe("nn.GPT", function()
    it("maps token ids (B, T) to logits (B, T, vocab_size), T up to block_size", function()
        lutra.manual_seed(1)
        local m = gpt()
        local out = m(ids(3, 5, function(b, t) return (b + t) % 8 end))
        assert.same({ 3, 5, 8 }, out:shape())
        assert.same({ 2, 16, 8 }, m(ids(2, 16, function() return 1 end)):shape())
        assert.has_error(function()
            m:forward(ids(1, 17, function() return 0 end))
        end, "GPT: a sequence of 17 tokens is longer than block_size 16")
        assert.has_error(function()
            m:forward(lutra.zeros(2, 4))
        end, "GPT: want token ids i32 (B, T), got f32 (2, 4)")
    end)

    it("has nanoGPT's parameter names, order and count", function()
        local L, C, V, P = 2, 32, 8, 16
        local m = gpt()
        local names = {}
        for name in m:named_parameters() do
            names[#names + 1] = name
        end
        local want = { "transformer.wte.weight", "transformer.wpe.weight" }
        for l = 0, L - 1 do
            for _, p in ipairs { "ln_1.weight", "ln_1.bias", "attn.c_attn.weight",
                "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",
                "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
                "mlp.c_proj.bias" } do
                want[#want + 1] = "transformer.h." .. l .. "." .. p
            end
        end
        for _, p in ipairs { "transformer.ln_f.weight", "transformer.ln_f.bias" } do
            want[#want + 1] = p
        end
        assert.same(want, names) -- the head's weight is the embedding's: named once
        assert.is_true(m.lm_head.weight == m.transformer.wte.weight)
        -- nanoGPT: 12 C² + 13 C a layer with biases (12 C² + 2 C without), the embeddings
        -- (the head tied to wte) and ln_f
        assert.equal(V * C + P * C + L * (12 * C * C + 13 * C) + 2 * C, m:num_parameters())
        local bare = gpt { bias = false }
        assert.equal(V * C + P * C + L * (12 * C * C + 2 * C) + C, bare:num_parameters())
        assert.is_nil(bare.lm_head.bias)
    end)

    it("is causal: the logits at t do not depend on the tokens after t", function()
        lutra.manual_seed(2)
        local m = gpt()
        local T, cut = 12, 5
        local a = m(ids(2, T, function(b, t) return (b * 3 + t) % 8 end))
        local b = m(ids(2, T, function(b, t)
            return t <= cut and (b * 3 + t) % 8 or (b + 5 * t) % 8
        end))
        local V = SMALL.vocab_size
        for row = 0, 1 do
            local base = row * T * V
            assert.is_true(max_diff(a, b, base + 1, base + cut * V) < 1e-6)
            assert.is_true(max_diff(a, b, base + cut * V + 1, base + T * V) > 1e-4,
                "changing later tokens changed nothing at all")
        end
    end)

    it("rejects an n_embd that n_head does not divide", function()
        assert.has_error(function()
            nn.CausalSelfAttention(30, 4)
        end, "CausalSelfAttention: n_embd 30 must be a multiple of n_head 4")
    end)

    it("memorises a repeating sequence with AdamW in a few steps", function()
        lutra.manual_seed(3)
        local m = gpt()
        local B, T = 8, 16
        -- windows of "abcabc..." (tokens 0, 1, 2) from shifted starts; y is x one ahead
        local x = ids(B, T, function(b, t) return (b + t) % 3 end)
        local y = ids(B, T, function(b, t) return (b + t + 1) % 3 end)
        local trainer = lutra.Trainer { model = m, input_shape = { B, T }, input_dtype = "i32",
            optim = lutra.optim.AdamW { lr = 3e-3 } }
        local first, last
        for i = 1, 50 do
            local r = trainer:step { x, y }
            first = first or r.loss
            last = r.loss
            assert(r.loss == r.loss, "NaN loss at step " .. i)
        end
        assert.is_true(first > 1.5, "initial loss " .. first)
        assert.is_true(last < first / 2, string.format("loss %.3f -> %.3f", first, last))
    end)
end)

describe('model = {type = "gpt"}', function()
    it("builds nanoGPT's model from the fields, with nanoGPT's defaults", function()
        local m = models.build({ type = "gpt", n_layer = 1, n_head = 2, n_embd = 16,
            block_size = 8, vocab_size = 10 })
        assert.equal("GPT", getmetatable(m).__name)
        assert.same({ 10, 16 }, m.transformer.wte.weight:shape())
        assert.is_not_nil(m.transformer.h[1].attn.c_attn.bias)
    end)

    it("names an n_embd that n_head does not divide", function()
        assert.has_error(function()
            models.build({ type = "gpt", n_layer = 1, n_head = 3, n_embd = 16, block_size = 8,
                vocab_size = 10 })
        end, "model.n_embd 16 must be a multiple of model.n_head 3")
    end)
end)
