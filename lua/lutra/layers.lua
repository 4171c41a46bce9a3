-- Recipe layers merged one over another (a file over its bases, an override over the
-- files): maps merge key by key, anything else (lists included) replaces, `_delete_ =
-- true` in a map replaces; at most one key of an exclusive set (lutra.schema.exclusive)
-- survives. While merging, the origin map (key path -> the file or override that set
-- it) follows what each layer set.
local schema = require("lutra.schema")
local describe = require("lutra.describe")
local tables = require("lutra.tables")

local layers = {}

local deep_copy, is_map, key_path = tables.deep_copy, tables.is_map, describe.key_path

-- Removes `_delete_` markers from a table that replaces a value.
local function strip(v)
    if type(v) ~= "table" then
        return v
    end
    local out = {}
    for k, x in pairs(v) do
        if k ~= "_delete_" then
            out[k] = strip(x)
        end
    end
    return out
end

-- Forgets the origins of path and of every key path below it ("" forgets all). Cannot
-- fail.
function layers.forget(origin, path)
    for p in pairs(origin) do
        if path == "" or p == path or p:sub(1, #path + 1) == path .. "." then
            origin[p] = nil
        end
    end
end

-- Records source as the origin of path and of every map inside v.
local function record(origin, path, v, source)
    origin[path] = source
    if is_map(v) then
        for k, x in pairs(v) do
            record(origin, key_path(path, k), x, source)
        end
    end
end

-- Merges src over dst (which it may modify) at key path `path` and returns the result.
-- track: nil, or {origin = the origin map, source = src's file or override}; a replaced
-- subtree forgets its old origins and records the new one for itself and every map
-- inside it. Cannot fail.
function layers.merge_into(dst, src, track, path)
    if is_map(src) and is_map(dst) and src._delete_ ~= true then
        for k, v in pairs(src) do
            if k ~= "_delete_" then
                dst[k] = layers.merge_into(dst[k], v, track, key_path(path, k))
            end
        end
        if track and not track.origin[path] then
            track.origin[path] = track.source
        end
        return dst
    end
    local v = strip(deep_copy(src))
    if track then
        layers.forget(track.origin, path)
        record(track.origin, path, v, track.source)
    end
    return v
end

-- Deep merge of two recipe tables, `over` winning; neither argument is modified.
function layers.merge(base, over)
    return layers.merge_into(deep_copy(base), over, nil, "")
end

-- Before a layer merges over acc: where the layer sets one key of an exclusive set, the
-- others set below it are dropped from acc (and from origin). Cannot fail.
function layers.drop_exclusive(acc, layer, origin)
    for _, set in ipairs(schema.exclusive) do
        local g = set[1]
        local sets = type(layer[g]) == "table" and layer[g] or {}
        local hit = false
        for i = 2, #set do
            hit = hit or sets[set[i]] ~= nil
        end
        if hit and type(acc[g]) == "table" then
            for i = 2, #set do
                if sets[set[i]] == nil and acc[g][set[i]] ~= nil then
                    acc[g][set[i]] = nil
                    layers.forget(origin, g .. "." .. set[i])
                end
            end
        end
    end
end

return layers
