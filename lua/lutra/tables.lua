-- Plain-table helpers the recipe modules share (they need no C module): deep copies and
-- the list and map tests that merging, validation and writing agree on.
local tables = {}

-- A copy of v sharing no table with it (functions and other values are shared). Cannot
-- fail on a table without cycles.
function tables.deep_copy(v)
    if type(v) ~= "table" then
        return v
    end
    local out = {}
    for k, x in pairs(v) do
        out[k] = tables.deep_copy(x)
    end
    return out
end

-- Whether the keys of table t are exactly 1..#t; the empty table is a list.
function tables.is_list(t)
    local n = 0
    for _ in pairs(t) do
        n = n + 1
    end
    return n == #t
end

-- Whether v is a table other than a non-empty list: what merges key by key (a non-empty
-- list is one value). The empty table is a map too.
function tables.is_map(v)
    return type(v) == "table" and (next(v) == nil or not tables.is_list(v))
end

return tables
