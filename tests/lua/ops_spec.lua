-- The functional ops a GPT needs besides attention, from Lua: broadcasting matmul, narrow,
-- split and chunk, index_select, gather, masked_fill, triu and tril, topk, multinomial and
-- arange; their 1-based dims and positions, their errors, and gradients reaching a
-- parameter through them in a training step.
local lutra = require "lutra"
local H = dofile("tests/lua/spec_helpers.lua")

local F, nn = lutra.F, lutra.nn

local function values(t)
    return t:values()
end

-- A model whose output is f(w) + x for a parameter w of `shape`, trained one SGD step
-- (lr 1) on mse against zeros with x = 0: w moves by minus mse's gradient of f(w),
-- 2 f(w) / numel(out) wherever f passes w through. Returns w before and after.
local function one_step(name, shape, out_shape, f)
    local M = nn.class(name)
    function M:__init()
        self.w = nn.Parameter(lutra.randn(shape))
    end
    function M:forward(x)
        return f(self.w) + x
    end
    lutra.manual_seed(7)
    local m = M()
    local before = values(m.w)
    local trainer = lutra.Trainer { model = m, input_shape = out_shape, loss = "mse",
        optim = lutra.optim.SGD { lr = 1 } }
    trainer:step { lutra.zeros(out_shape), lutra.zeros(out_shape) }
    return before, values(m.w)
end

describe("matmul", function()
    it("broadcasts batch dims as torch.matmul", function()
        local a = lutra.tensor({ { { { 1, 2 } } }, { { { 3, 4 } } } }) -- (2, 1, 1, 2)
        local b = lutra.tensor({ { { 1 }, { 0 } }, { { 0 }, { 1 } }, { { 1 }, { 1 } } }) -- (3, 2, 1)
        local c = a:matmul(b)
        assert.same({ 2, 3, 1, 1 }, c:shape())
        assert.same({ 1, 2, 3, 3, 4, 7 }, values(c))
        assert.same({ 3, 1, 1 }, F.matmul(lutra.ones(1, 2), b):shape())
        local err = H.error_of(F.matmul, lutra.zeros(2, 3, 4), lutra.zeros(5, 4, 2))
        assert.matches("matmul: (2, 3, 4) @ (5, 4, 2): batch dims do not broadcast", err, 1, true)
    end)

    it("sums the gradient of a repeated operand over its repeats", function()
        -- out (3, 1, 2) = ones (3, 1, 2) @ w (2, 2): each of w's entries is used 3 times
        local before, after = one_step("MatmulRepeats", { 2, 2 }, { 3, 1, 2 }, function(w)
            return F.matmul(lutra.ones(3, 1, 2), w)
        end)
        -- out[., j] = w[1, j] + w[2, j]; d loss / d w[i, j] = 3 * 2 * out[j] / 6
        for j = 1, 2 do
            local s = before[j] + before[2 + j]
            for i = 0, 1 do
                assert.near(before[i * 2 + j] - s, after[i * 2 + j], 1e-5)
            end
        end
    end)
end)

describe("narrow", function()
    local t = lutra.tensor({ { 1, 2, 3, 4 }, { 5, 6, 7, 8 } }) -- (2, 4)

    it("takes length positions from start along a 1-based dim, negative from the end", function()
        assert.same({ 2, 3, 6, 7 }, values(F.narrow(t, 2, 2, 2)))
        assert.same({ 2, 2 }, F.narrow(t, 2, 2, 2):shape())
        assert.same({ 4, 8 }, values(t:narrow(-1, -1, 1)))
        assert.same({ 5, 6, 7, 8 }, values(F.narrow(t, 1, 2, 1)))
        assert.same({ 2, 0 }, F.narrow(t, 2, 5, 0):shape())
        assert.equal("i32", F.narrow(t:to("i32"), 2, 1, 3):dtype())
        -- along dim 1 the method is a view, as before; the op is a copy
        local u = lutra.tensor(t)
        u:narrow(1, 2, 1)[1] = { 0, 0, 0, 0 }
        assert.same({ 1, 2, 3, 4, 0, 0, 0, 0 }, values(u))
    end)

    it("names a range outside the dim in 1-based terms", function()
        assert.equal("narrow: positions 4 .. 5 are out of range for dim 2 of size 4",
            H.error_of(F.narrow, t, 2, 4, 2):match("narrow: .*"))
        assert.equal("narrow: positions 0 .. 0 are out of range for dim 2 of size 4",
            H.error_of(F.narrow, t, 2, 0, 1):match("narrow: .*"))
        assert.equal("narrow: dim 3 is out of range for shape (2, 4)",
            H.error_of(F.narrow, t, 3, 1, 1):match("narrow: .*"))
        assert.equal("narrow: length must be an integer, got 1.5",
            H.error_of(F.narrow, t, 2, 1, 1.5):match("narrow: .*"))
        -- the op itself takes start as it takes dims: 1-based, or negative from the end
        assert.equal("narrow: 'start' is 1-based (1 .. n, or negative from the end), got 0",
            H.error_of(lutra.op, "narrow", { t }, { dim = 2, start = 0, length = 1 })
            :match("narrow: .*"))
        assert.same({ 3, 4, 7, 8 }, values(lutra.op("narrow", { t }, { dim = -1, start = -2,
            length = 2 })))
    end)

    it("records a node on symbols, and passes the gradient into the slice only", function()
        local tr = lutra.trace(function(x)
            return x:narrow(2, 3, 2)
        end, { 5, 6 })
        assert.same({ 5, 2 }, tr.outputs[1]:shape())
        -- out = w[:, 2:3] (2, 2): those entries halve (2 * w / 4), the others stay
        local before, after = one_step("NarrowSlice", { 2, 3 }, { 2, 2 }, function(w)
            return w:narrow(2, 2, 2)
        end)
        for i = 1, 6 do
            local col = (i - 1) % 3 + 1
            assert.near(col == 1 and before[i] or before[i] / 2, after[i], 1e-6)
        end
    end)
end)

describe("split and chunk", function()
    local t = lutra.tensor({ { 1, 2, 3, 4, 5 }, { 6, 7, 8, 9, 10 } }) -- (2, 5)

    it("split cuts pieces of a size along a dim, the last one shorter", function()
        local a, b, c = t:split(2, 2)
        assert.same({ 1, 2, 6, 7 }, values(a))
        assert.same({ 3, 4, 8, 9 }, values(b))
        assert.same({ 5, 10 }, values(c))
        assert.equal(2, #{ F.split(t, 1) })
        assert.same({ 2, 5 }, (F.split(t, 7, -1)):shape())
    end)

    it("chunk cuts n pieces of ceil(len / n)", function()
        local q, k, v = t:chunk(3, -1)
        assert.same({ 2, 2 }, q:shape())
        assert.same({ 2, 2 }, k:shape())
        assert.same({ 5, 10 }, values(v))
        assert.equal(2, #{ t:chunk(2, 1) })
        assert.equal(2, #{ lutra.zeros(2, 4):chunk(3, 2) }) -- pieces of 2, as torch.chunk
    end)
end)

describe("indexing", function()
    local t = lutra.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }) -- (2, 3)

    it("index_select and gather take 0-based ids along a 1-based dim", function()
        local cols = lutra.tensor({ 2, 0, 2 }, "i32")
        assert.same({ 3, 1, 3, 6, 4, 6 }, values(t:index_select(2, cols)))
        assert.same({ 4, 5, 6 }, values(F.index_select(t, 1, lutra.tensor({ 1 }, "i32"))))
        local ids = lutra.tensor({ { 2, 2 }, { 0, 1 } }, "i32")
        assert.same({ 3, 3, 4, 5 }, values(t:gather(-1, ids)))
        local err = H.error_of(F.index_select, t, 2, lutra.tensor({ 0, 3 }, "i32"))
        assert.matches("id 3 at (1,) is outside [0, 3)", err, 1, true)
    end)

    it("masked_fill fills where a u8 mask is nonzero; triu / tril make causal masks", function()
        local mask = lutra.ones({ 3, 3 }, "u8"):triu(1)
        assert.same({ 0, 1, 1, 0, 0, 1, 0, 0, 0 }, values(mask))
        local s = lutra.ones(2, 3, 3):masked_fill(mask, -math.huge)
        local v = values(s)
        assert.equal(-math.huge, v[2])
        assert.equal(1, v[4])
        assert.equal(-math.huge, v[15])
        assert.same({ 1, 0, 4, 5 }, values(F.tril(lutra.tensor({ { 1, 2 }, { 4, 5 } }))))
        assert.same({ 1, 2, 0, 5 }, values(F.triu(lutra.tensor({ { 1, 2 }, { 4, 5 } }))))
        assert.matches("masked_fill: input 2 must be u8, got f32",
            H.error_of(F.masked_fill, t, lutra.zeros(2, 3), 0), 1, true)
    end)

    it("passes gradients back through a scatter-add and through masks", function()
        -- out = w:index_select(1, {1, 1, 0}) (3, 2): row 1 of w used twice
        local before, after = one_step("SelectRows", { 2, 2 }, { 3, 2 }, function(w)
            return w:index_select(1, lutra.tensor({ 1, 1, 0 }, "i32"))
        end)
        -- d loss / d w[r] = 2 * uses(r) * w[r] / 6
        assert.near(before[1] - before[1] / 3, after[1], 1e-6)
        assert.near(before[3] - 2 * before[3] / 3, after[3], 1e-6)
        -- out = tril(w) (2, 2): w[1][2] is cut off and keeps its value
        before, after = one_step("Lower", { 2, 2 }, { 2, 2 }, function(w)
            return w:tril()
        end)
        assert.near(before[2], after[2], 0)
        assert.near(before[1] / 2, after[1], 1e-6)
    end)
end)

describe("sampling", function()
    it("topk gives the k largest of the last dim and their positions", function()
        local t = lutra.tensor({ { 1, 3, 2, 3 }, { 0, -1, 5, 4 } })
        local v, i = F.topk(t, 2)
        assert.same({ 3, 3, 5, 4 }, values(v))
        assert.same({ 1, 3, 2, 3 }, values(i)) -- 0-based, as F.argmax
        assert.equal("i32", i:dtype())
        local _, j = t:topk(1)
        assert.same({ 2, 3 }, values(j)) -- 1-based, as Tensor:argmax
        assert.matches("topk: k = 5 does not fit", H.error_of(F.topk, t, 5), 1, true)
    end)

    it("multinomial draws one position per row, the same for a seed and step", function()
        local p = lutra.tensor({ { 0, 1, 0 }, { 0.5, 0.5, 0 }, { 0, 0, 3 } })
        local d = F.multinomial(p, 7)
        assert.same({ 3, 1 }, d:shape())
        local v = values(d)
        assert.equal(1, v[1])
        assert.is_true(v[2] == 0 or v[2] == 1)
        assert.equal(2, v[3])
        assert.same(v, values(F.multinomial(p, 7)))
        local many = lutra.ones(1000, 2)
        assert.are_not.same(values(F.multinomial(many, 7, 0)), values(F.multinomial(many, 7, 1)))
        assert.matches("no nonzero probability",
            H.error_of(F.multinomial, lutra.zeros(2, 3), 1), 1, true)
    end)

    it("arange makes the positions 0 .. n - 1", function()
        assert.same({ 0, 1, 2, 3 }, values(lutra.arange(4)))
        assert.equal("i32", lutra.arange(4):dtype())
        assert.equal("f32", lutra.arange(2, "f32"):dtype())
        assert.same({ 0 }, lutra.arange(0):shape())
        assert.matches("arange: n must be an integer >= 0, got -1",
            H.error_of(lutra.arange, -1), 1, true)
    end)
end)
