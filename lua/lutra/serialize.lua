-- Writes a resolved config back as Lua (a run's config.lua): one global per top-level
-- key in the schema's order, each value with the file or flag it came from as a comment,
-- and what it takes to build the model again (the require of the file that registered
-- its type, or of the file that holds a model function). Loading the text gives the
-- config back; a config that cannot be rebuilt gets a line that refuses to train.
local schema = require("lutra.schema")
local models = require("lutra.models")
local sandbox = require("lutra.sandbox")
local describe = require("lutra.describe")
local tables = require("lutra.tables")

local serialize = {}

local is_list, is_map, key_path = tables.is_list, tables.is_map, describe.key_path

local key_text = describe.key_text

-- Keys in schema order where the schema knows the table, then the rest sorted; `type`
-- leads a free-form table (a hook).
local function ordered_keys(t, fields)
    local keys, known = {}, {}
    for _, f in ipairs(fields or {{name = "type"}}) do
        if t[f.name] ~= nil then
            keys[#keys + 1] = f.name
            known[f.name] = true
        end
    end
    local rest = {}
    for k in pairs(t) do
        if not known[k] then
            rest[#rest + 1] = k
        end
    end
    table.sort(rest, function(a, b)
        if type(a) == type(b) then
            return a < b
        end
        return type(a) == "number"
    end)
    table.move(rest, 1, #rest, #keys + 1, keys)
    return keys
end

local function fields_of(node, v)
    if node and node.type == "group" then
        return node.fields, node
    elseif node and node.type == "model" and type(v) == "table" and v.type then
        local list = {{name = "type"}}
        for _, f in ipairs(models.fields(v.type) or {}) do
            list[#list + 1] = f
        end
        return list
    end
end

local function is_flat_list(v)
    if not is_list(v) then
        return false
    end
    for _, x in ipairs(v) do
        if type(x) == "table" or type(x) == "function" then
            return false
        end
    end
    return true
end

local function function_text(fn)
    local info = debug.getinfo(fn, "S")
    return string.format("a function (%s:%d), not serialisable", info.short_src,
        info.linedefined)
end

-- `require("/abs/file.lua")`: absolute, so that config.lua trains again from any folder.
local function require_text(path)
    return "require(" .. describe.literal(sandbox.absolute(path) or path) .. ")"
end

-- What config.lua needs to build the model again: {requires = {lines}, text = the Lua
-- text of a function model, problem = why it cannot be rebuilt}. A registered type
-- needs the file that registered it (a recipe or module the sandbox ran); a function
-- needs a file that holds it (a module that returned it, or the recipe that set it).
function serialize.rebuild(model)
    local out = {requires = {}}
    if type(model) == "table" and type(model.type) == "string" then
        local origin = models.origin(model.type)
        if origin and origin ~= "builtin" and sandbox.loaded(origin) then
            out.requires[1] = require_text(origin) .. " -- registers model.type " ..
                describe.literal(model.type)
        elseif origin ~= "builtin" then
            out.problem = string.format("model.type %s was registered by %s, which a " ..
                "config.lua cannot require; register it in a module beside the recipe " ..
                "(require(\"my_models\") there)", describe.literal(model.type),
                origin and origin or "code that is not a file lutra ran")
        end
    elseif type(model) == "function" then
        local e = sandbox.export_of(model)
        if e then
            out.text = require_text(e.path) .. (e.field == nil and "" or
                (key_text(e.field):sub(1, 1) == "[" and key_text(e.field) or
                    "." .. e.field))
        else
            local info = debug.getinfo(model, "S")
            out.problem = string.format("model is a function (%s:%d) that a config.lua " ..
                "cannot hold; set model in a recipe, return it from a module beside the " ..
                "recipe (model = require(\"nets\").build), or register a model type " ..
                "there (lutra.models.register) and set model = {type = ...}",
                info.short_src, info.linedefined)
        end
    end
    return out
end

local emit

-- Emits `name = value` lines for a table's entries at the given indent.
local function emit_entries(t, fields, by_name, indent, path, opts, out, top)
    for _, k in ipairs(ordered_keys(t, fields)) do
        local v, p = t[k], key_path(path, k)
        local child = by_name and by_name[k]
        if type(v) == "function" and top and k == "model" and opts.model_text then
            local comment = opts.origin and opts.origin[p]
            out[#out + 1] = "model = " .. opts.model_text .. (comment and " -- " .. comment or "")
        elseif type(v) == "function" then
            out[#out + 1] = indent .. "-- " .. tostring(k) .. ": " .. function_text(v)
        else
            local comment = opts.origin and opts.origin[p]
            local head = indent .. key_text(k) .. " = "
            local body = emit(v, child, indent, p, opts)
            local sep = top and "" or ","
            out[#out + 1] = head .. body .. sep ..
                ((comment and not (is_map(v) and next(v))) and " -- " .. comment or "")
        end
    end
end

-- The Lua text of a value; tables span lines, flat lists stay on one.
function emit(v, node, indent, path, opts)
    if type(v) ~= "table" then
        return describe.literal(v)
    elseif next(v) == nil then
        return "{}"
    elseif is_flat_list(v) then
        return describe.literal(v)
    end
    local out = {"{"}
    local inner = indent .. "    "
    if is_list(v) then
        for i, x in ipairs(v) do
            out[#out + 1] = inner .. emit(x, nil, inner, path .. "[" .. i .. "]", opts) .. ","
        end
    else
        local fields, g = fields_of(node, v)
        local by_name = g and g.by_name
        emit_entries(v, fields, by_name, inner, path, opts, out)
    end
    out[#out + 1] = indent .. "}"
    return table.concat(out, "\n")
end

-- The Lua source of a config: one global per top-level key, keys in schema order (then
-- by name), so that the same config always gives the same text and loading the text
-- gives the config back. The model comes back too: a type registered in a file the
-- sandbox ran gets `require("/abs/that/file.lua")` at the top, and a function model
-- `model = require("/abs/file.lua").name` (see serialize.rebuild); one that cannot be
-- rebuilt (registered or made outside those files) gets a comment and an error() line
-- that says why, so that the file refuses to train rather than train something else.
-- Other functions (in hooks) become comments. opts: {header = a comment line or lines,
-- origin = an origin map whose entries become comments after each value}.
function serialize.text(cfg, opts)
    local out = {}
    for line in ((opts or {}).header or ""):gmatch("[^\n]+") do
        out[#out + 1] = "-- " .. line
    end
    local rebuild = serialize.rebuild(cfg.model)
    for _, line in ipairs(rebuild.requires) do
        out[#out + 1] = line
    end
    if rebuild.problem then
        out[#out + 1] = "error(" .. describe.literal("this config cannot be trained again: " ..
            rebuild.problem) .. ")"
    end
    opts = setmetatable({model_text = rebuild.text}, {__index = opts})
    emit_entries(cfg, schema.root.fields, schema.root.by_name, "", "", opts, out, true)
    return table.concat(out, "\n") .. "\n"
end

-- Writes serialize.text(cfg, opts) to path atomically: a temporary file in the same folder,
-- then a rename over path (Lua cannot fsync; the rename is what readers see). Raises
-- "path: <reason>" when it cannot.
function serialize.write(cfg, path, opts)
    local text = serialize.text(cfg, opts)
    local tmp = string.format("%s.tmp%d", path, math.random(1, 1 << 30))
    local f, err = io.open(tmp, "w")
    if not f then
        error(err, 0)
    end
    local ok, werr = f:write(text)
    local closed, cerr = f:close()
    if not ok or not closed then
        os.remove(tmp)
        describe.raise_at(path, werr or cerr)
    end
    local renamed, rerr = os.rename(tmp, path)
    if not renamed then
        os.remove(tmp)
        error(rerr, 0)
    end
end

return serialize
