-- F.scaled_dot_product_attention: the fused op against its composition from matmul,
-- scale, a causal mask and softmax, eagerly and through a training step (the gradients);
-- its options and errors.
local lutra = require "lutra"
local F = lutra.F
local nn = lutra.nn

-- (T, T) f32: 0 on and below the diagonal, -inf above.
local function causal_mask(t)
    local m = lutra.zeros(t, t)
    for i = 1, t do
        for j = i + 1, t do
            m:set((i - 1) * t + j, -math.huge)
        end
    end
    return m
end

-- softmax(q k^T / sqrt(D) [+ mask]) v, op by op.
local function composed(q, k, v, causal)
    local d = q:shape()[#q:shape()]
    local s = F.scale(F.matmul(q, F.transpose(k)), 1 / math.sqrt(d))
    if causal then
        s = F.add(s, causal_mask(q:shape()[#q:shape() - 1]))
    end
    return F.matmul(F.softmax(s), v)
end

local function max_diff(a, b)
    assert.same(a:shape(), b:shape())
    local m = 0
    for i = 1, a:numel() do
        m = math.max(m, math.abs(a:get(i) - b:get(i)))
    end
    return m
end

-- q, k and v as parameters (B, H, T, D); forward(x) attends with q + x.
local Attn = nn.class("AttnSpec")
function Attn:__init(shape, fused, causal)
    self.q = nn.Parameter(lutra.randn(shape))
    self.k = nn.Parameter(lutra.randn(shape))
    self.v = nn.Parameter(lutra.randn(shape))
    self.fused, self.causal = fused, causal
end
function Attn:forward(x)
    local q = F.add(self.q, x)
    if self.fused then
        return F.scaled_dot_product_attention(q, self.k, self.v, { causal = self.causal })
    end
    return composed(q, self.k, self.v, self.causal)
end

describe("F.scaled_dot_product_attention", function()
    it("equals the composition, causal and not", function()
        lutra.manual_seed(11)
        local q, k, v = lutra.randn(2, 3, 7, 5), lutra.randn(2, 3, 7, 5), lutra.randn(2, 3, 7, 4)
        for _, causal in ipairs { false, true } do
            local y = F.scaled_dot_product_attention(q, k, v, { causal = causal })
            assert.same({ 2, 3, 7, 4 }, y:shape())
            local d = max_diff(y, composed(q, k, v, causal))
            assert.is_true(d < 1e-5, "causal " .. tostring(causal) .. ": max difference " .. d)
        end
    end)

    it("takes a scale, and more keys than queries", function()
        lutra.manual_seed(12)
        local q, k, v = lutra.randn(3, 4, 6), lutra.randn(3, 9, 6), lutra.randn(3, 9, 2)
        local y = F.scaled_dot_product_attention(q, k, v, { scale = 0.5 })
        local want = F.matmul(F.softmax(F.scale(F.matmul(q, F.transpose(k)), 0.5)), v)
        assert.is_true(max_diff(y, want) < 1e-5)
    end)

    it("has the composition's gradients (one SGD step moves q, k, v alike)", function()
        local shape = { 2, 2, 6, 4 }
        for _, causal in ipairs { false, true } do
            local moved = {}
            for _, fused in ipairs { true, false } do
                lutra.manual_seed(13)
                local m = Attn(shape, fused, causal)
                local trainer = lutra.Trainer { model = m, input_shape = shape, loss = "mse",
                    optim = lutra.optim.SGD { lr = 1 } }
                lutra.manual_seed(14)
                trainer:step { lutra.randn(shape), lutra.randn(shape) }
                moved[#moved + 1] = { m.q, m.k, m.v }
            end
            lutra.manual_seed(13)
            local start = Attn(shape, true, causal)
            for i, name in ipairs { "q", "k", "v" } do
                local step = max_diff(moved[1][i], start[name])
                assert.is_true(step > 1e-4, name .. " did not move: " .. step)
                local d = max_diff(moved[1][i], moved[2][i])
                assert.is_true(d < 1e-5, string.format("causal %s: %s differs by %g",
                    tostring(causal), name, d))
            end
        end
    end)

    it("is the identity of dropout when not training or at p = 0", function()
        lutra.manual_seed(15)
        local q, k, v = lutra.randn(2, 1, 5, 3), lutra.randn(2, 1, 5, 3), lutra.randn(2, 1, 5, 3)
        local plain = F.scaled_dot_product_attention(q, k, v)
        local off = F.scaled_dot_product_attention(q, k, v, { dropout = 0.5, training = false })
        assert.equal(0, max_diff(plain, off))
        local dropped = F.scaled_dot_product_attention(q, k, v, { dropout = 0.5, layer = 3 })
        assert.is_true(max_diff(plain, dropped) > 0)
    end)

    it("drops attention weights in nn.CausalSelfAttention while training only", function()
        lutra.manual_seed(16)
        local attn = nn.CausalSelfAttention(16, 2, { dropout = 0.5 })
        attn.resid_dropout.p = 0 -- the attention's own dropout alone
        local plain = nn.CausalSelfAttention(16, 2)
        plain:load_state_dict(attn:state_dict())
        local x = lutra.randn(2, 6, 16)
        attn:eval()
        plain:eval()
        assert.equal(0, max_diff(attn(x), plain(x)))
        attn:train()
        assert.is_true(max_diff(attn(x), plain(x)) > 1e-3)
    end)

    it("names the op and the shapes in its errors", function()
        local q = lutra.randn(2, 5, 4)
        assert.has_error(function()
            F.scaled_dot_product_attention(q, lutra.randn(2, 5, 3), q)
        end, "scaled_dot_product_attention: q (2, 5, 4), k (2, 5, 3), v (2, 5, 4): q's last dim "
            .. "4 and k's 3 differ")
        assert.has_error(function()
            F.scaled_dot_product_attention(q, q, q, { dropout = 1 })
        end, "scaled_dot_product_attention: dropout must be in [0, 1), got 1")
        assert.has_error(function()
            F.scaled_dot_product_attention(q, q, q, { causl = true })
        end, "scaled_dot_product_attention: unknown option 'causl' (it takes: causal, scale, "
            .. "dropout, training, layer)")
    end)
end)
