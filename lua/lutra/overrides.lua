-- Command-line overrides (`--set key=value`, also spelled --options and --cfg-options):
-- parses "a.b.c=value" with lutra.literal (data, never code; a bare word is a string)
-- and applies the overrides over the merged recipe, in order, each a layer of its own
-- (conventions read, exclusive keys dropped, origins recorded); `key=nil` removes a key so
-- that its default applies.
local schema = require("lutra.schema")
local literal = require("lutra.literal")
local layers = require("lutra.layers")
local compat = require("lutra.compat")
local describe = require("lutra.describe")

local overrides = {}

local fail, key_path = describe.raise_at, describe.key_path

-- The command-line flags that take overrides (mmengine spells them --cfg-options,
-- mmcv --options).
overrides.OVERRIDE_FLAGS = {"--set", "--options", "--cfg-options"}

-- A value that is not a literal but reads as a plain word or path (adamw, cuda:0, 2GiB,
-- runs/a-1, /data/fmnist) is taken as that string; code-like text is not.
local function bare_word(value, pos)
    if value:find("[%(%){}%[%]\"'=,;%*%^<>]") then
        return false
    end
    -- a number followed by an operator (1/0, 2024-01-01, 1e-3*2) is arithmetic
    local before = value:sub(1, pos - 1):gsub("%s", "")
    return not (tonumber(before) and value:sub(pos, pos):match("[%+%-%*/%%%^&|~<>=]"))
end

-- What is wrong with a recipe key path (words joined by dots, "data.batch_size"), or
-- nil when nothing is.
function overrides.key_problem(key)
    for seg in (key .. "."):gmatch("([^.]*)%.") do
        if not seg:match("^[%a_][%w_]*$") then
            return seg == "" and "empty name in key '" .. key .. "'" or
                string.format("'%s' in key '%s' is not a name", seg, key)
        end
    end
    return nil
end

-- Parses "a.b.c=value": returns the key ("a.b.c") and the value, a Lua literal (300,
-- 1e-3, 0x10, -2, true, nil, "x", {512, 512}, {a = 1, ["b"] = {2}}) read without running
-- anything, or else a bare word taken as a string (adamw, cuda:0). Raises "--set 'text':
-- ..." on a malformed override: no "=", a bad name, or a value that is neither (a call,
-- arithmetic, an unfinished table or string), naming the character where reading stopped.
function overrides.parse_override(text)
    if type(text) ~= "string" then
        error("--set: an override must be a string key=value, got " .. type(text), 0)
    end
    local where = "--set '" .. text .. "'"
    local key, raw = text:match("^([^=]*)=(.*)$")
    if not key then
        fail(where, "expected key=value")
    end
    key = key:match("^%s*(.-)%s*$")
    if key == "" then
        fail(where, "the key is empty")
    end
    local problem = overrides.key_problem(key)
    if problem then
        fail(where, problem)
    end
    local lead = raw:match("^%s*()") - 1
    local value = raw:match("^%s*(.-)%s*$")
    if value == "" then
        return key, ""
    end
    local ok, v, pos = literal.read(value)
    if ok then
        return key, v
    elseif bare_word(value, pos) then
        return key, value
    end
    local at = text:find("=", 1, true) + lead + pos
    if tonumber((value:sub(1, pos - 1):gsub("%s", ""))) then
        v = "arithmetic is not evaluated (write the number itself)"
    end
    fail(where, string.format("the value is not a Lua literal: %s (character %d)", v, at))
end

local function split(key)
    local names = {}
    for seg in key:gmatch("[^.]+") do
        names[#names + 1] = seg
    end
    return names
end

-- `key=nil`: removes the key (aliases resolved), so its default applies.
local function remove(acc, origin, names)
    local t, path, node = acc, "", schema.root
    for i, name in ipairs(names) do
        name = node and node.alias_of and node.alias_of[name] or name
        path = key_path(path, name)
        if type(t) ~= "table" then
            return
        end
        if i == #names then
            t[name] = nil
            layers.forget(origin, path)
            return
        end
        t, node = t[name], node and node.by_name and node.by_name[name]
    end
end

-- The command-line flags that set one key; a key -> value override of such a key is
-- labelled with its flag ("--seed: seed must be >= 0, got -1"), others "--set 'key'".
overrides.FLAGS = {seed = "--seed", threads = "--threads", device = "--device",
    work_dir = "--work-dir", load_from = "--load-from", resume_from = "--resume-from"}

-- Applies overrides (given) to acc, a merged recipe, and returns the result (acc may be
-- modified): strings "key=value" (in order) and, for programs, key -> value pairs (in
-- key order). Records each override as the origin of what it set, and adds to notes what
-- a convention was read as. Raises "--set '...': ..." (or "--seed: ..." for a flag's
-- key; or `source` for every key -> value pair when given: a sweep's variant) on a
-- malformed override or a convention's bad value.
function overrides.apply(acc, origin, notes, given, source)
    local list = {}
    for _, text in ipairs(given or {}) do
        local key, v = overrides.parse_override(text)
        list[#list + 1] = {key = key, value = v, source = "--set '" .. text .. "'"}
    end
    local keyed = {}
    for k in pairs(given or {}) do
        if math.type(k) ~= "integer" then
            keyed[#keyed + 1] = k
        end
    end
    table.sort(keyed)
    for _, k in ipairs(keyed) do
        list[#list + 1] = {key = k, value = given[k],
            source = source or overrides.FLAGS[k] or "--set '" .. k .. "'"}
    end
    for _, o in ipairs(list) do
        local names = split(o.key)
        if o.value == nil then
            remove(acc, origin, names)
        else
            local layer = {}
            local t = layer
            for i = 1, #names - 1 do
                t[names[i]] = {}
                t = t[names[i]]
            end
            t[names[#names]] = o.value
            compat.normalize_layer(layer, o.source, notes)
            layers.drop_exclusive(acc, layer, origin)
            acc = layers.merge_into(acc, layer, {origin = origin, source = o.source}, "")
        end
    end
    return acc
end

return overrides
