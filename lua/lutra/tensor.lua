-- Tensors and symbols as Lua sees them. Adds to the metatables the binding made
-- (core.Tensor, core.Symbol): 1-based row indexing (t[i], t[i] = v), Torch7-style printing,
-- arithmetic operators and methods for eager math; and returns the constructors (zeros,
-- ones, full, rand, randn, tensor). Random tensors draw from the context's seed, one
-- stream per draw (lutra.manual_seed restarts the streams).
local core = require "lutra.core"
local util = require "lutra.util"
local F = require "lutra.ops"

local raise, is_tensor, is_symbol = util.raise, util.is_tensor, util.is_symbol
local Tensor, Symbol = core.Tensor, core.Symbol

-- The method tables start from the binding's C methods (kept pristine in the core, so
-- that loading this file again starts over) and get the Lua methods below.
local tmethods, smethods = {}, {}
for k, f in pairs(core.TensorMethods) do
    tmethods[k] = f
end
for k, f in pairs(core.SymbolMethods) do
    smethods[k] = f
end

local T = {}

-- ---- constructors ---------------------------------------------------------------------------

-- (d1, d2, ..., [dtype]) or ({d1, d2, ...}, [dtype]) -> shape, dtype
local function shape_args(what, ...)
    local n, first = select("#", ...), ...
    if type(first) == "table" then
        return first, (select(2, ...))
    end
    local shape, dtype = {}, nil
    for i = 1, n do
        local v = select(i, ...)
        if type(v) == "string" and i == n then
            dtype = v
        elseif math.tointeger(v) then
            shape[#shape + 1] = math.tointeger(v)
        else
            raise(string.format("%s: dim %d must be an integer, got %s", what, i, tostring(v)))
        end
    end
    return shape, dtype
end

local function new(what, shape, dtype)
    local ok, t = pcall(core.tensor, shape, dtype)
    if not ok then
        raise(what .. ": " .. t)
    end
    return t
end

-- zeros(2, 3 [, dtype]) or zeros({2, 3} [, dtype]); dtype defaults to "f32".
function T.zeros(...)
    return new("zeros", shape_args("zeros", ...))
end

function T.ones(...)
    return new("ones", shape_args("ones", ...)):fill(1)
end

-- full(shape, value [, dtype])
function T.full(shape, value, dtype)
    return new("full", shape, dtype):fill(value)
end

-- arange(n [, dtype = "i32"]): the 1-dim tensor 0, 1, ..., n - 1 (torch.arange(n)):
-- positions as the ids of embedding and index_select count them, 0-based.
function T.arange(n, dtype)
    if math.type(n) ~= "integer" or n < 0 then
        raise("arange: n must be an integer >= 0, got " .. tostring(n))
    end
    local t = new("arange", { n }, dtype or "i32")
    local v = {}
    for i = 1, n do
        v[i] = i - 1
    end
    t:set_values(v)
    return t
end

-- rand(...): uniform in [0, 1); randn(...): standard normal. Same arguments as zeros.
function T.rand(...)
    local t = new("rand", shape_args("rand", ...))
    return util.call(t.uniform, t, util.next_stream(), 0, 1)
end

function T.randn(...)
    local t = new("randn", shape_args("randn", ...))
    return util.call(t.normal, t, util.next_stream(), 0, 1)
end

local function nested_shape(data)
    local shape, v = {}, data
    while type(v) == "table" do
        shape[#shape + 1] = #v
        v = v[1]
    end
    return shape
end

local function flatten_into(data, shape, depth, out, path)
    if depth > #shape then
        if type(data) ~= "number" then
            raise(string.format("tensor: element %s is a %s, not a number", path, type(data)))
        end
        out[#out + 1] = data
        return
    end
    if type(data) ~= "table" or #data ~= shape[depth] then
        raise(string.format("tensor: the nested table is ragged: %s has %s entries, want %d",
            path == "" and "the table" or "entry " .. path,
            type(data) == "table" and tostring(#data) or "no", shape[depth]))
    end
    for i = 1, #data do
        flatten_into(data[i], shape, depth + 1, out, path == "" and tostring(i) or path .. "." .. i)
    end
end

-- tensor(data [, dtype = "f32"]): from a number (0-dim), a nested table of numbers
-- ({{1, 2}, {3, 4}} is 2x2), or a tensor (a copy).
function T.tensor(data, dtype)
    if is_tensor(data) then
        return util.call(data.to, data, dtype or data:dtype())
    end
    if type(data) == "number" then
        return new("tensor", {}, dtype):fill(data)
    end
    if type(data) ~= "table" then
        raise("tensor: want a number, a nested table of numbers or a tensor, got " .. type(data))
    end
    local shape, flat = nested_shape(data), {}
    flatten_into(data, shape, 1, flat, "")
    local t = new("tensor", shape, dtype)
    t:set_values(flat)
    return t
end

-- ---- methods shared by tensors and symbols ----------------------------------------------------

local shared = {}

-- x:size() -> the shape; x:size(d) -> dim d (1-based, negative from the end)
function shared.size(x, d)
    local shape = x:shape()
    if d == nil then
        return shape
    end
    local i = d < 0 and #shape + 1 + d or d
    if i < 1 or i > #shape then
        raise(string.format("size: dim %d out of range for shape %s", d, util.shape_str(shape)))
    end
    return shape[i]
end

function shared.dim(x)
    return x:ndim()
end

function shared.nelement(x)
    local n = 1
    for _, d in ipairs(x:shape()) do
        n = n * d
    end
    return n
end

shared.flatten = F.flatten
shared.add = F.add
shared.sub = F.sub
shared.mul = F.mul
shared.div = F.div
shared.scale = F.scale
shared.matmul = F.matmul
shared.transpose = F.transpose
shared.permute = F.permute
shared.split = F.split
shared.chunk = F.chunk
shared.index_select = F.index_select
shared.gather = F.gather
shared.masked_fill = F.masked_fill
shared.triu = F.triu
shared.tril = F.tril
shared.cast = F.cast
shared.relu = F.relu
shared.gelu = F.gelu
shared.sigmoid = F.sigmoid
shared.tanh = F.tanh
shared.softmax = F.softmax
shared.log_softmax = F.log_softmax

for k, f in pairs(shared) do
    tmethods[k] = f
    smethods[k] = f
end
smethods.numel = shared.nelement
smethods.narrow = F.narrow
smethods.reshape = F.reshape
smethods.view = F.reshape
tmethods.nElement = tmethods.numel

-- t:reshape(2, 3) or t:reshape({2, 3}); t:view(...): a view with another shape.
local c_reshape = core.TensorMethods.reshape
function tmethods.reshape(t, ...)
    local shape = ...
    if type(shape) ~= "table" then
        shape = { ... }
    end
    return util.call(c_reshape, t, shape)
end
tmethods.view = tmethods.reshape

local arith = {
    __add = F.add,
    __sub = F.sub,
    __mul = F.mul,
    __div = F.div,
    __unm = function(x)
        return F.scale(x, -1)
    end,
}
for k, f in pairs(arith) do
    Tensor[k] = f
    Symbol[k] = f
end

function Tensor.__len(t)
    local shape = t:shape()
    return shape[1] or 0
end
Symbol.__len = Tensor.__len

-- ---- tensor rows ----------------------------------------------------------------------------

-- The 1-based row i (negative from the end) as a number (1-dim) or a view.
local function row(t, i)
    local shape = t:shape()
    if #shape == 0 then
        raise("a 0-dim tensor has no rows")
    end
    local n = shape[1]
    local j = i < 0 and n + 1 + i or i
    if j < 1 or j > n then
        raise(string.format("index %d out of range for dim 1 of size %d", i, n))
    end
    if #shape == 1 then
        return t:get(j)
    end
    return t:slice(j, 1):reshape(table.move(shape, 2, #shape, 1, {}))
end

function Tensor.__index(t, k)
    if math.type(k) == "integer" then
        return row(t, k)
    end
    return tmethods[k]
end

-- t[i] = v: v a number (fills the row), a tensor (copied in) or a nested table.
function Tensor.__newindex(t, k, v)
    if math.type(k) ~= "integer" then
        raise("cannot set field '" .. tostring(k) .. "' of a tensor")
    end
    if t:ndim() == 1 then
        row(t, k) -- checks the index
        t:set(k < 0 and t:numel() + 1 + k or k, v)
        return
    end
    local r = row(t, k)
    if type(v) == "number" then
        r:fill(v)
    elseif is_tensor(v) then
        util.call(r.copy, r, v)
    else
        util.call(r.copy, r, T.tensor(v))
    end
end

-- t:select(1, i) or t:row(i): row i; t:narrow(1, first, count), t:rows(first, last):
-- rows first .. last (inclusive, negative from the end), views of t; t:narrow(dim, ...)
-- along another dim is a copy (F.narrow).
function tmethods.row(t, i)
    return row(t, i)
end

function tmethods.select(t, dim, i)
    if dim ~= 1 then
        raise("select: lutra selects along dim 1 only, got dim " .. tostring(dim))
    end
    return row(t, i)
end

-- Rows first .. first + count - 1 of t as a view; a range outside dim 1 is an error in
-- the caller's 1-based terms, under the method's name (the core speaks 0-based).
local function rows_view(t, what, first, count)
    local n = t:shape()[1]
    if n and math.type(first) == "integer" and math.type(count) == "integer" and
        (first < 1 or count < 0 or first + count - 1 > n) then
        raise(string.format("%s: rows %d .. %d out of range for dim 1 of size %d", what, first,
            first + count - 1, n))
    end
    return util.call(t.slice, t, first, count)
end

-- Along dim 1 a view, as PyTorch's narrow; along another dim, or of a parameter of the
-- model being traced (whose gradient must reach it), the narrow op (a copy).
function tmethods.narrow(t, dim, first, count)
    local building = util.building
    if dim ~= 1 or (building and building.values[t]) then
        return F.narrow(t, dim, first, count)
    end
    return rows_view(t, "narrow", first, count)
end

function tmethods.rows(t, first, last)
    local n = t:shape()[1] or 0
    last = last or n
    if first < 0 then
        first = n + 1 + first
    end
    if last < 0 then
        last = n + 1 + last
    end
    return rows_view(t, "rows", first, last - first + 1)
end

function tmethods.clone(t)
    return t:to(t:dtype())
end

-- t:item(): the value of a one-element tensor.
function tmethods.item(t)
    if t:numel() ~= 1 then
        raise("item: the tensor has " .. t:numel() .. " elements, not 1")
    end
    return t:get(1)
end

-- t:totable(): nested Lua tables of numbers (a number for a 0-dim tensor).
function tmethods.totable(t)
    local shape, vals = t:shape(), t:values()
    if #shape == 0 then
        return vals[1]
    end
    local pos = 0
    local function build(depth)
        local out = {}
        for i = 1, shape[depth] do
            if depth == #shape then
                pos = pos + 1
                out[i] = vals[pos]
            else
                out[i] = build(depth + 1)
            end
        end
        return out
    end
    return build(1)
end

-- ---- eager reductions: 1-based dims and positions, as Torch7 --------------------------------

-- Adds 1 to every element of an i32 tensor of positions (0-based from the core).
local function one_based(idx)
    local v = idx:values()
    for i = 1, #v do
        v[i] = v[i] + 1
    end
    idx:set_values(v)
    return idx
end

-- t:sum([dim [, keepdim]]), t:mean(...): a number without dim, else a tensor.
function tmethods.sum(t, dim, keepdim)
    local r = F.sum(t, dim, keepdim)
    return dim == nil and r:get(1) or r
end

function tmethods.mean(t, dim, keepdim)
    local r = F.mean(t, dim, keepdim)
    return dim == nil and r:get(1) or r
end

-- t:max(): the largest element; t:max(dim [, keepdim]): values and 1-based positions.
function tmethods.max(t, dim, keepdim)
    if dim == nil then
        return F.max(t):get(1)
    end
    return F.max(t, dim, keepdim), one_based(F.argmax(t, dim, keepdim))
end

-- t:argmax(): the 1-based flat position of the first largest element; t:argmax(dim
-- [, keepdim]): 1-based positions along dim (i32).
function tmethods.argmax(t, dim, keepdim)
    if dim == nil then
        return F.argmax(t):get(1) + 1
    end
    return one_based(F.argmax(t, dim, keepdim))
end

tmethods.eq = F.eq
smethods.eq = F.eq

-- t:topk(k): values and 1-based positions of the k largest along the last dim, largest
-- first (F.topk gives 0-based positions, as F.argmax).
function tmethods.topk(t, k)
    local values, idx = F.topk(t, k)
    return values, one_based(idx)
end

-- ---- printing -----------------------------------------------------------------------------

local function size_str(shape)
    return #shape == 0 and "()" or table.concat(shape, "x")
end

-- A format for all of vals: integers as integers, else fixed or scientific. NaN and inf
-- do not count (as in PyTorch: {nan, 1, 2} still prints as integers).
local function number_format(vals, integer_dtype)
    if integer_dtype then
        return "%d"
    end
    local all_int, maxabs, minabs = true, 0, math.huge
    for _, v in ipairs(vals) do
        if v == v and v ~= math.huge and v ~= -math.huge then
            local a = math.abs(v)
            all_int = all_int and v == math.floor(v)
            maxabs = math.max(maxabs, a)
            if a > 0 then
                minabs = math.min(minabs, a)
            end
        end
    end
    if all_int and maxabs < 1e9 then
        return "%.0f"
    elseif maxabs >= 1e5 or minabs < 1e-4 then
        return "%.4e"
    end
    return "%.4f"
end

-- One value's text: NaN and infinities as nan, inf and -inf, as PyTorch prints them (C's
-- printf writes "-nan" for a NaN with its sign bit set, as x86's 0/0 has).
local function number_str(fmt, v)
    if v ~= v then
        return "nan"
    elseif v == math.huge then
        return "inf"
    elseif v == -math.huge then
        return "-inf"
    end
    return string.format(fmt, v)
end

-- Rows, columns and matrices beyond ELIDE are elided: the first and last EDGE rows (or
-- matrices) are kept, and the first and last EDGE_COLS columns, so that a row stays one
-- short line (a 2x200000 tensor prints 2 rows of 6 values).
local ELIDE, EDGE, EDGE_COLS = 20, 10, 3

-- The indices of 1..n that are printed: all up to ELIDE, else the first and last `edge`
-- with false between them where the rest are left out.
local function kept(n, edge)
    local ks = {}
    if n <= ELIDE then
        for i = 1, n do
            ks[i] = i
        end
        return ks
    end
    for i = 1, edge do
        ks[#ks + 1] = i
    end
    ks[#ks + 1] = false
    for i = n - edge + 1, n do
        ks[#ks + 1] = i
    end
    return ks
end

-- Torch7's layout: a 1-D tensor as a column, a matrix as rows, higher dims as matrices
-- headed (i,j,.,.) = ; then the size line. Only the printed values are read.
function Tensor.__tostring(t)
    local shape, dtype = t:shape(), t:dtype()
    local footer = string.format("[lutra %s tensor of size %s]", dtype, size_str(shape))
    local n = t:numel()
    if n == 0 then
        return footer
    end
    local nd = #shape
    local rows = nd >= 2 and shape[nd - 1] or shape[1] or 1
    local cols = nd >= 2 and shape[nd] or 1
    local per = rows * cols
    local count = n // per
    -- body: text lines, and rows as lists of values (false: the elided columns)
    local body, vals = {}, {}
    local rs, cs = kept(rows, EDGE), kept(cols, EDGE_COLS)
    for _, m in ipairs(kept(count, EDGE)) do
        if not m then
            body[#body + 1] = "..."
            body[#body + 1] = ""
            goto continue
        end
        if count > 1 then
            local idx, rest = {}, m - 1
            for d = nd - 2, 1, -1 do
                idx[d] = rest % shape[d] + 1
                rest = rest // shape[d]
            end
            body[#body + 1] = "(" .. table.concat(idx, ",") .. ",.,.) = "
        end
        for _, r in ipairs(rs) do
            if r then
                local row, base = {}, (m - 1) * per + (r - 1) * cols
                for k, c in ipairs(cs) do
                    row[k] = false
                    if c then
                        row[k] = t:get(base + c)
                        vals[#vals + 1] = row[k]
                    end
                end
                body[#body + 1] = row
            else
                body[#body + 1] = " ..."
            end
        end
        if count > 1 then
            body[#body + 1] = ""
        end
        ::continue::
    end
    local fmt, width = number_format(vals, dtype == "i32" or dtype == "u8"), 0
    for _, row in ipairs(body) do
        if type(row) == "table" then
            for k, v in ipairs(row) do
                if v then
                    row[k] = number_str(fmt, v)
                    width = math.max(width, #row[k])
                end
            end
        end
    end
    local lines = {}
    for i, row in ipairs(body) do
        if type(row) == "table" then
            for k, s in ipairs(row) do
                row[k] = s and string.rep(" ", width - #s) .. s or "..."
            end
            row = " " .. table.concat(row, "  ")
        end
        lines[i] = row
    end
    lines[#lines + 1] = footer
    return table.concat(lines, "\n")
end

function Symbol.__tostring(s)
    return string.format("[lutra %s symbol of size %s]", s:dtype(), size_str(s:shape()))
end

function Symbol.__index(s, k)
    local m = smethods[k]
    if m == nil and math.type(k) == "integer" then
        raise("symbols cannot be indexed; reshape or slice the data before tracing")
    end
    return m
end

return T
