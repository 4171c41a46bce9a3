-- Values and places as lutra writes them in messages, docs and config.lua: numbers the
-- shortest way that reads back equal, values as messages show them, one-line Lua
-- literals, quoted lists, dotted key paths, and the "where: message" form of every
-- recipe error.
local describe = {}

local INF = math.huge

-- A number written the shortest way that reads back equal; floats keep a decimal point.
function describe.format_number(v)
    if math.type(v) == "integer" then
        return string.format("%d", v)
    end
    if v ~= v then
        return "0/0"
    elseif v == INF then
        return "1/0"
    elseif v == -INF then
        return "-1/0"
    end
    for digits = 15, 17 do
        local s = string.format("%." .. digits .. "g", v)
        if tonumber(s) == v then
            if not s:find("[%.eEn]") then
                s = s .. ".0"
            end
            return s
        end
    end
end

-- A value as messages show it: numbers and strings literally, others by type.
function describe.show(v)
    if type(v) == "number" then
        if v ~= v then
            return "nan"
        elseif v == INF or v == -INF then
            return v > 0 and "inf" or "-inf"
        end
        return describe.format_number(v)
    elseif type(v) == "string" then
        return string.format("%q", v)
    elseif type(v) == "boolean" then
        return tostring(v)
    end
    return type(v)
end

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
        repeat return then true until while]]):gmatch("%a+") do
    KEYWORDS[w] = true
end

-- describe.key_text(k): k as a table constructor writes it: a name (not a keyword) bare,
-- anything else in brackets ("[\"end\"]", "[1.5]").
function describe.key_text(k)
    if type(k) == "string" and k:match("^[%a_][%w_]*$") and not KEYWORDS[k] then
        return k
    end
    return "[" .. describe.literal(k) .. "]"
end

-- A value as a one-line Lua literal (docs, notes, flat lists in config.lua).
function describe.literal(v)
    if type(v) == "number" then
        return describe.format_number(v)
    elseif type(v) == "string" then
        return string.format("%q", v)
    elseif type(v) == "table" then
        local parts = {}
        for i, x in ipairs(v) do
            parts[i] = describe.literal(x)
        end
        local keys = {}
        for k in pairs(v) do
            if math.type(k) ~= "integer" or k < 1 or k > #v then
                keys[#keys + 1] = k
            end
        end
        table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
        for _, k in ipairs(keys) do
            parts[#parts + 1] = describe.key_text(k) .. " = " .. describe.literal(v[k])
        end
        return "{" .. table.concat(parts, ", ") .. "}"
    end
    return tostring(v)
end

-- Each string of a list in double quotes, as a new list.
function describe.quote_all(list)
    local out = {}
    for i, s in ipairs(list) do
        out[i] = string.format("%q", s)
    end
    return out
end

-- The key path of key k inside path: "optim" and "lr" give "optim.lr"; "" and "seed"
-- give "seed".
function describe.key_path(path, k)
    k = tostring(k)
    return path == "" and k or path .. "." .. k
end

-- Raises "where: msg": where is the file or the override ("--set 'optim.lr=x'") a
-- recipe error comes from. Never returns.
function describe.raise_at(where, msg)
    error(where .. ": " .. msg, 0)
end

return describe
