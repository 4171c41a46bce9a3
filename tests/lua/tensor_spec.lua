-- The tensor API from Lua: creation, 1-based indexing, printing, eager math, errors.
local lutra = require "lutra"

local function values(t)
    return t:values()
end

describe("tensor creation", function()
    it("makes zeros, ones and full tensors of a shape and dtype", function()
        local z = lutra.zeros(2, 3)
        assert.same({ 2, 3 }, z:shape())
        assert.equal("f32", z:dtype())
        assert.equal(6, z:numel())
        assert.same({ 0, 0, 0, 0, 0, 0 }, values(z))
        local o = lutra.ones({ 4 }, "i32")
        assert.equal("i32", o:dtype())
        assert.same({ 1, 1, 1, 1 }, values(o))
        assert.same({ 2.5, 2.5 }, values(lutra.full({ 2 }, 2.5)))
        assert.same({}, lutra.zeros():shape())
    end)

    it("makes tensors from nested tables", function()
        local t = lutra.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
        assert.same({ 2, 3 }, t:shape())
        assert.same({ 1, 2, 3, 4, 5, 6 }, values(t))
        assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, t:totable())
        local y = lutra.tensor({ 0, 2, 1 }, "i32")
        assert.equal("i32", y:dtype())
        assert.equal(2, y[2])
        assert.equal(3.5, lutra.tensor(3.5):item())
    end)

    it("draws rand and randn from the seed, a new stream per call", function()
        lutra.manual_seed(42)
        local a, b = lutra.randn(3, 4), lutra.rand(100)
        lutra.manual_seed(42)
        local a2 = lutra.randn(3, 4)
        assert.same(values(a), values(a2))
        assert.are_not.same(values(a), values(lutra.randn(3, 4)))
        for _, v in ipairs(values(b)) do
            assert.is_true(v >= 0 and v < 1)
        end
    end)

    it("converts dtypes with :to and copies with :clone", function()
        local t = lutra.tensor({ 1.7, -2.2 })
        assert.same({ 1, -2 }, values(t:to("i32")))
        local c = t:clone()
        c[1] = 9
        assert.near(1.7, t[1], 1e-6)
    end)

    it("rejects ragged tables, bad dims and unknown dtypes", function()
        assert.has_error(function()
            lutra.tensor({ { 1, 2 }, { 3 } })
        end, "tensor: the nested table is ragged: entry 2 has 1 entries, want 2")
        assert.has_error(function()
            lutra.tensor({ 1, "x" })
        end, "tensor: element 2 is a string, not a number")
        assert.has_error(function()
            lutra.zeros(2, 1.5)
        end, "zeros: dim 2 must be an integer, got 1.5")
        local ok, err = pcall(lutra.zeros, { 2 }, "f64")
        assert.is_false(ok)
        assert.matches("unknown dtype 'f64'", err)
    end)
end)

describe("tensor indexing", function()
    it("indexes the first dim from 1, giving views of rows", function()
        local t = lutra.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
        assert.equal(2, #t)
        local row = t[2]
        assert.same({ 3 }, row:shape())
        assert.same({ 4, 5, 6 }, values(row))
        assert.equal(6, t[2][3])
        assert.equal(4, t[-1][1])
        row[1] = 40 -- a view: writes through
        assert.equal(40, t[2][1])
    end)

    it("assigns rows from numbers, tensors and tables", function()
        local t = lutra.zeros(3, 2)
        t[1] = 7
        t[2] = lutra.tensor({ 1, 2 })
        t[3] = { 5, 6 }
        assert.same({ 7, 7, 1, 2, 5, 6 }, values(t))
        local v = lutra.zeros(3)
        v[3] = 1.5
        assert.same({ 0, 0, 1.5 }, values(v))
    end)

    it("slices rows with narrow and rows, and reshapes views", function()
        local t = lutra.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } })
        assert.same({ 3, 4, 5, 6 }, values(t:narrow(1, 2, 2)))
        assert.same({ 1, 2, 3, 4 }, values(t:rows(1, 2)))
        assert.same({ 5, 6 }, values(t:rows(-1)))
        local v = t:view(2, 3)
        assert.same({ 2, 3 }, v:shape())
        assert.same({ 6, 1 }, t:reshape({ -1, 1 }):shape())
        assert.same({ 6 }, t:flatten():shape())
        v[1] = 0
        assert.equal(0, t[1][1]) -- same storage
    end)

    it("raises on indices out of range, naming them", function()
        local t = lutra.zeros(3)
        local line = debug.getinfo(1, "l").currentline + 1
        local ok, err = pcall(function() return t[4] end)
        assert.is_false(ok)
        assert.equal("tests/lua/tensor_spec.lua:" .. line
            .. ": index 4 out of range for dim 1 of size 3", err)
        assert.has_error(function()
            return lutra.zeros()[1]
        end, "a 0-dim tensor has no rows")
        assert.has_error(function()
            t:narrow(1, 3, 2)
        end, "narrow: rows 3 .. 4 out of range for dim 1 of size 3")
        assert.has_error(function()
            t:rows(2, 5)
        end, "rows: rows 2 .. 5 out of range for dim 1 of size 3")
        assert.has_error(function()
            t:reshape(4)
        end, "reshape: 3 elements cannot take a shape of 4")
    end)
end)

describe("tensor printing", function()
    it("prints values then a Torch7-style size line", function()
        assert.equal(" 1  2  3\n 4  5  6\n[lutra f32 tensor of size 2x3]",
            tostring(lutra.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })))
        assert.equal(" 1\n 2\n[lutra i32 tensor of size 2]", tostring(lutra.tensor({ 1, 2 }, "i32")))
        assert.equal("  0.5000\n -1.2500\n[lutra f32 tensor of size 2]",
            tostring(lutra.tensor({ 0.5, -1.25 })))
        assert.equal("[lutra f32 tensor of size 0x3]", tostring(lutra.zeros(0, 3)))
        assert.equal(" 2\n[lutra f32 tensor of size ()]", tostring(lutra.tensor(2)))
    end)

    it("prints higher dims as matrices", function()
        local s = tostring(lutra.ones(2, 1, 2))
        assert.equal("(1,.,.) = \n 1  1\n\n(2,.,.) = \n 1  1\n\n[lutra f32 tensor of size 2x1x2]", s)
    end)

    it("elides columns beyond 20, keeping the first and last 3, in every dim", function()
        local wide = lutra.zeros(2, 200000)
        wide:set(1, 1)
        wide:set(400000, 2)
        local s = tostring(wide)
        assert.equal(" 1  0  0  ...  0  0  0\n 0  0  0  ...  0  0  2\n" ..
            "[lutra f32 tensor of size 2x200000]", s)
        assert.truthy(#tostring(lutra.zeros(200000, 200)) < 2000)
        assert.truthy(#tostring(lutra.zeros(100, 100, 100)) < 20000)
        local cube = tostring(lutra.zeros(2, 1, 21))
        assert.equal("(1,.,.) = \n 0  0  0  ...  0  0  0\n\n(2,.,.) = \n 0  0  0  ...  0  0  0\n\n" ..
            "[lutra f32 tensor of size 2x1x21]", cube)
        -- 20 columns still print whole
        assert.equal(" " .. string.rep("0", 20, "  ") .. "\n[lutra f32 tensor of size 1x20]",
            tostring(lutra.zeros(1, 20)))
    end)

    it("prints NaN and infinities as nan, inf and -inf", function()
        local t = lutra.tensor({ { 1, 0 }, { 0, 0.5 } })
        t:set(2, 0 / 0) -- x86's 0/0 has its sign bit set: C's printf writes "-nan"
        t:set(3, -math.huge)
        assert.equal(" 1.0000     nan\n   -inf  0.5000\n[lutra f32 tensor of size 2x2]",
            tostring(t))
        local u = lutra.tensor({ 1, 2, 3 })
        u:set(1, -(0 / 0))
        u:set(3, math.huge)
        assert.equal(" nan\n   2\n inf\n[lutra f32 tensor of size 3]", tostring(u))
    end)
end)

describe("eager math", function()
    local a = lutra.tensor({ { 1, 2 }, { 3, 4 } })
    local b = lutra.tensor({ 10, 20 })

    it("adds, subtracts and multiplies tensors, rows and numbers", function()
        assert.same({ 11, 22, 13, 24 }, values(a + b))
        assert.same({ 0, 0, 0, 0 }, values(a - a))
        assert.same({ 1, 4, 9, 16 }, values(a * a))
        assert.same({ 2, 3, 4, 5 }, values(a + 1))
        assert.same({ 0, -1, -2, -3 }, values(1 - a))
        assert.same({ 2, 4, 6, 8 }, values(2 * a))
        assert.same({ 0.5, 1, 1.5, 2 }, values(a / 2))
        assert.same({ -1, -2, -3, -4 }, values(-a))
        assert.same({ 11, 22, 13, 24 }, values(a:add(b)))
        assert.same({ 7, 10, 15, 22 }, values(a:matmul(a)))
    end)

    it("reduces to numbers, or along 1-based dims", function()
        assert.equal(10, a:sum())
        assert.equal(2.5, a:mean())
        assert.equal(4, a:max())
        assert.same({ 4, 6 }, values(a:sum(1)))
        assert.same({ 3, 7 }, values(a:sum(2)))
        assert.same({ 2, 1 }, a:sum(2, true):shape())
        assert.same({ 1.5, 3.5 }, values(a:mean(-1)))
    end)

    it("gives 1-based positions from argmax and max, as Torch7", function()
        local t = lutra.tensor({ { 1, 9, 3 }, { 7, 2, 7 } })
        assert.equal(2, t:argmax())
        local idx = t:argmax(2)
        assert.equal("i32", idx:dtype())
        assert.same({ 2, 1 }, values(idx))
        local v, i = t:max(1)
        assert.same({ 7, 9, 7 }, values(v))
        assert.same({ 2, 1, 2 }, values(i))
    end)

    it("permutes dims, 1-based and negative from the end, into a contiguous copy", function()
        local t = lutra.tensor({ { { 1, 2, 3 }, { 4, 5, 6 } } }) -- (1, 2, 3)
        local p = t:permute(3, 1, 2)
        assert.same({ 3, 1, 2 }, p:shape())
        assert.same({ 1, 4, 2, 5, 3, 6 }, values(p))
        assert.same({ 2, 3, 1 }, lutra.F.permute(t, { -2, -1, 1 }):shape())
        assert.same(values(t), values(t:permute(1, 2, 3)))
        assert.same({ 3, 4, 2, 5 }, lutra.zeros({ 3, 2, 4, 5 }):permute(1, 3, 2, 4):shape())
        assert.equal("i32", t:to("i32"):permute(2, 1, 3):dtype())
        assert.has_error(function()
            return t:permute(1, 2)
        end, "permute: dims (0, 1) do not fit shape (1, 2, 3): want 3 dims, got 2")
        assert.has_error(function()
            return t:permute(1, 2, 2)
        end, "permute: dims (0, 1, 1) are not a permutation of the dims of shape (1, 2, 3): "
            .. "dim 1 is named twice")
        assert.has_error(function()
            return t:permute(1, 0, 2)
        end, "permute: 'dims' is 1-based (1 .. n, or negative from the end), got 0")
    end)

    it("compares with eq", function()
        local e = lutra.tensor({ 1, 2, 3 }):eq(lutra.tensor({ 1, 0, 3 }))
        assert.equal("u8", e:dtype())
        assert.same({ 1, 0, 1 }, values(e))
        assert.same({ 0, 1, 0 }, values(lutra.tensor({ 1, 2, 3 }):eq(2)))
    end)

    it("raises shape errors at the caller's line, naming the op", function()
        local line = debug.getinfo(1, "l").currentline + 1
        local ok, err = pcall(function() return a + lutra.zeros(3) end)
        assert.is_false(ok)
        assert.equal("tests/lua/tensor_spec.lua:" .. line .. ": add: shapes (2, 2) and (3,) do "
            .. "not broadcast: the second must equal the first or a suffix of it", err)
        assert.has_error(function()
            return a / a
        end, "div: lutra divides by numbers only, got userdata")
    end)
end)

describe("tensor handles", function()
    it("are released by <close> and raise when used after", function()
        local kept
        do
            local t <close> = lutra.zeros(2)
            kept = t
        end
        local ok, err = pcall(kept.numel, kept)
        assert.is_false(ok)
        assert.matches("the tensor was closed", err)
    end)

    it("keep views alive after the base is closed", function()
        local base = lutra.tensor({ { 1, 2 }, { 3, 4 } })
        local row = base[2]
        base:close()
        collectgarbage()
        assert.same({ 3, 4 }, values(row))
    end)
end)
