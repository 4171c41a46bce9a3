-- The words a schema is written in: the field and group constructors (lutra.schema's
-- recipe keys, and the fields a model builder registers with lutra.models), ranges
-- ("[0, 1)"), sizes ("2GiB") and a field's list of types. lutra.validate checks values
-- against fields; scripts/gen-recipe-reference.lua documents them.
--
-- A field is a table: {name, type, default = v | function(parent, ctx), default_doc,
-- range = "[0, 1)", choices = {...}, elements = field (lists), len, unique, aliases =
-- {...}, when = {{sibling, {values}}, ...}, required, false_only, check = function(v) ->
-- nil | message, doc}. type is "number", "integer", "string", "boolean", "table"
-- (free-form), "function", "list", "size" (bytes or "2GiB"), "group" (fixed keys: fields,
-- optional, check), "model", or a list of those (any of them; false_only: of booleans
-- only false). `when` names siblings earlier in the group: the field applies only when
-- each holds one of the values; a value set where it does not apply is dropped with a
-- note. Strings are matched against choices without regard to case and resolve to the
-- listed spelling. Numbers must be finite.
local describe = require("lutra.describe")

local field = {}

local INF = math.huge

-- ---- ranges -------------------------------------------------------------------------

-- "[0, 1)" -> {lo = 0, hi = 1, lo_open = false, hi_open = true}
local function parse_range(text)
    local lb, lo, hi, rb = text:match("^([%[%(])%s*([^,]+),%s*([^%]%)]+)([%]%)])$")
    assert(lb, "bad range " .. text)
    local function num(s)
        if s == "inf" then
            return INF
        elseif s == "-inf" then
            return -INF
        end
        return assert(tonumber(s), "bad range " .. text)
    end
    return {lo = num(lo), hi = num(hi), lo_open = lb == "(", hi_open = rb == ")"}
end

-- Whether v lies in a parsed range (a field's range_parsed). Cannot fail.
function field.in_range(r, v)
    local above = r.lo_open and v > r.lo or (not r.lo_open and v >= r.lo)
    local below = r.hi_open and v < r.hi or (not r.hi_open and v <= r.hi)
    return above and below
end

-- How a range reads in messages and docs: "> 0", ">= 1", "in [0, 1)".
function field.range_phrase(r)
    local lo, hi = describe.show(r.lo), describe.show(r.hi)
    if r.hi == INF and r.lo == -INF then
        return nil
    elseif r.hi == INF then
        return (r.lo_open and "> " or ">= ") .. lo
    elseif r.lo == -INF then
        return (r.hi_open and "< " or "<= ") .. hi
    end
    return "in " .. (r.lo_open and "(" or "[") .. lo .. ", " .. hi .. (r.hi_open and ")" or "]")
end

-- ---- sizes ----------------------------------------------------------------------------

-- Parses a size: a number of bytes, or a string such as "2GiB", "512 MB", "1.5G", "4096".
-- Returns the byte count (an integer), or nil when the text is not a size.
function field.parse_size(v)
    if type(v) == "number" then
        return v >= 1 and v < INF and math.tointeger(math.floor(v)) or nil
    end
    if type(v) ~= "string" then
        return nil
    end
    local num, unit = v:match("^%s*([%d%.]+)%s*(%a*)%s*$")
    num = tonumber(num)
    if not num then
        return nil
    end
    local units = {
        [""] = 1, b = 1,
        k = 1000, kb = 1000, kib = 1024,
        m = 1000 ^ 2, mb = 1000 ^ 2, mib = 1024 ^ 2,
        g = 1000 ^ 3, gb = 1000 ^ 3, gib = 1024 ^ 3,
        t = 1000 ^ 4, tb = 1000 ^ 4, tib = 1024 ^ 4,
    }
    local mult = units[unit:lower()]
    if not mult or num * mult < 1 then
        return nil
    end
    return math.tointeger(math.floor(num * mult))
end

-- ---- constructors ---------------------------------------------------------------------

-- A field (see the top of this file) named name, of type ftype, with the other keys from
-- opts (which it takes over). Raises on a malformed range.
function field.new(name, ftype, opts)
    local f = opts or {}
    f.name, f.type = name, ftype
    if f.range then
        f.range_parsed = parse_range(f.range)
    end
    if f.elements then
        f.elements.name = f.elements.name or "element"
        if f.elements.range then
            f.elements.range_parsed = parse_range(f.elements.range)
        end
    end
    return f
end

-- A group: a table with fixed keys, the fields in order; opts: optional (absent or false
-- means off), check = function(resolved, path, ctx) for rules across its fields.
function field.group(name, doc, fields, opts)
    local g = opts or {}
    g.name, g.type, g.doc, g.fields = name, "group", doc, fields
    g.by_name, g.alias_of = {}, {}
    for _, f in ipairs(fields) do
        g.by_name[f.name] = f
        for _, a in ipairs(f.aliases or {}) do
            g.alias_of[a] = f.name
        end
    end
    return g
end

-- Turns a builder's field table into a list of fields, accepting either a list of
-- fields (each with its name) or a map name -> field (listed in name order).
function field.list(fields)
    if fields[1] or next(fields) == nil then
        local out = {}
        for i, f in ipairs(fields) do
            out[i] = field.new(f.name or f[1], f.type or f[2], f)
        end
        return out
    end
    local names = {}
    for k in pairs(fields) do
        names[#names + 1] = k
    end
    table.sort(names)
    local out = {}
    for i, k in ipairs(names) do
        out[i] = field.new(k, fields[k].type, fields[k])
    end
    return out
end

-- The types a field accepts, as a list ({"number", "string"}). Cannot fail.
function field.types_of(f)
    return type(f.type) == "table" and f.type or {f.type}
end

return field
