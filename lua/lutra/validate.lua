-- The validator: walks a merged recipe against lutra.schema and turns it into the
-- resolved config (defaults filled, values normalised, cross-field rules checked), or
-- fails naming the key path and what it must be ("optim.lr must be > 0, got 0", with a
-- "did you mean" for an unknown key). A model table is checked against the fields its
-- type registered, looked up through ctx.models (lutra.models), so that the schema and
-- this file need not know the registry.
--
-- ctx, for every function here: {fail = function(path, msg) that raises, note =
-- function(path, msg), defaulted = function(path), top = the recipe's path (for defaults
-- such as work_dir), models = the model types: names() (sorted) and fields(name) (a
-- list or nil, and whether the type is registered), as lutra.models has them}.
local field = require("lutra.field")
local schema = require("lutra.schema")
local describe = require("lutra.describe")
local suggest = require("lutra.suggest")
local tables = require("lutra.tables")

local validate = {}

local INF = math.huge

local types_of, quote_all, join = field.types_of, describe.quote_all, describe.key_path
local deep_copy = tables.deep_copy

local TYPE_PHRASE = {
    number = "a number", integer = "an integer", string = "a string",
    boolean = "a boolean", table = "a table", ["function"] = "a function", list = "a list",
    size = 'a size (bytes, or a string like "2GiB")', group = "a table",
    model = "a table or a function",
}

-- What a field must be, for messages: "a number", "a number or \"dynamic\"".
local function must_be(f)
    local types = types_of(f)
    if #types == 1 then
        return TYPE_PHRASE[types[1]]
    end
    local parts = {}
    for _, t in ipairs(types) do
        if t == "string" and f.choices then
            parts[#parts + 1] = table.concat(quote_all(f.choices), " or ")
        elseif t == "boolean" and f.false_only then
            parts[#parts + 1] = "false"
        else
            parts[#parts + 1] = TYPE_PHRASE[t]
        end
    end
    return table.concat(parts, " or ")
end

local function matches(t, v)
    local lt = type(v)
    if t == "integer" then
        return lt == "number"
    elseif t == "list" or t == "group" then
        return lt == "table"
    elseif t == "size" then
        return lt == "number" or lt == "string"
    end
    return lt == t
end

local check_value

local function check_number(f, t, v, path, ctx)
    if v ~= v or v == INF or v == -INF then
        ctx.fail(path, path .. " must be a finite number, got " .. describe.show(v))
    end
    if t == "integer" then
        local i = math.tointeger(v)
        if not i then
            ctx.fail(path, path .. " must be an integer, got " .. describe.show(v))
        end
        v = i
    end
    if f.range_parsed and not field.in_range(f.range_parsed, v) then
        ctx.fail(path, path .. " must be " .. field.range_phrase(f.range_parsed) .. ", got " ..
            describe.show(v))
    end
    return v
end

local function check_string(f, v, path, ctx)
    if not f.choices then
        return v
    end
    for _, c in ipairs(f.choices) do
        if c:lower() == v:lower() then
            return c
        end
    end
    local hint = suggest.closest(v, f.choices)
    local what = #types_of(f) > 1 and must_be(f) or
        "one of " .. table.concat(quote_all(f.choices), ", ")
    ctx.fail(path, path .. " must be " .. what .. ", got " .. describe.show(v) ..
        (hint and ' (did you mean "' .. hint .. '"?)' or ""))
end

local function check_list(f, v, path, ctx)
    if not tables.is_list(v) then
        ctx.fail(path, path .. " must be a list, got a table with named keys")
    end
    if f.len and #v ~= f.len then
        ctx.fail(path, string.format("%s must have %d elements, got %d", path, f.len, #v))
    end
    local out, seen = {}, {}
    for i, e in ipairs(v) do
        local p = path .. "[" .. i .. "]"
        if f.elements then
            out[i] = check_value(f.elements, e, p, ctx)
        else -- a list of anything
            out[i] = deep_copy(e)
        end
        if f.unique and seen[out[i]] then
            ctx.fail(p, p .. " repeats " .. describe.show(out[i]))
        end
        seen[out[i]] = true
    end
    return out
end

local resolve_group, resolve_model

-- Checks one value against a field and returns it normalised; raises on a bad value.
function check_value(f, v, path, ctx)
    if f.type == "group" then
        return resolve_group(f, v, path, ctx)
    end
    local t
    for _, cand in ipairs(types_of(f)) do
        if matches(cand, v) then
            t = cand
            break
        end
    end
    if not t then
        ctx.fail(path, path .. " must be " .. must_be(f) .. ", got " .. type(v))
    end
    if t == "number" or t == "integer" then
        v = check_number(f, t, v, path, ctx)
    elseif t == "string" then
        v = check_string(f, v, path, ctx)
    elseif t == "list" then
        v = check_list(f, v, path, ctx)
    elseif t == "size" then
        local n = field.parse_size(v)
        if not n then
            ctx.fail(path, path .. ' must be a size in bytes or a string like "2GiB", got ' ..
                describe.show(v))
        end
        v = n
    elseif t == "table" then
        v = deep_copy(v)
    end
    local msg = f.check and f.check(v)
    if msg then
        ctx.fail(path, path .. " " .. msg)
    end
    return v
end

-- Whether a field applies given its resolved siblings; also the condition in words.
local function applies(f, parent, path)
    if not f.when then
        return true
    end
    local ok, words = true, {}
    for _, cond in ipairs(f.when) do
        local key, values = cond[1], cond[2]
        local hit = false
        for _, want in ipairs(values) do
            hit = hit or parent[key] == want
        end
        ok = ok and hit
        words[#words + 1] = join(path, key) .. " is " .. table.concat(quote_all(values), " or ")
    end
    return ok, table.concat(words, " and ")
end

local function unknown_key(g, key, path, ctx)
    local full = join(path, tostring(key))
    if type(key) ~= "string" then
        ctx.fail(path, string.format("unknown key '%s[%s]' (%s takes named keys)", path,
            describe.show(key), path == "" and "a recipe" or path))
    end
    local names = {}
    for _, f in ipairs(g.fields) do
        names[#names + 1] = f.name
    end
    local foreign = schema.foreign_keys[full]
    if foreign then
        ctx.fail(full, string.format("unknown key '%s' (%s)", full, foreign:find(" ") and
            foreign or string.format("lutra's is '%s'", foreign)))
    end
    local hint = suggest.closest(key, names)
    if hint then
        hint = join(path, hint)
    else
        hint = schema.find_key(key)
    end
    ctx.fail(full, string.format("unknown key '%s'", full) ..
        (hint and string.format(" (did you mean '%s'?)", hint) or ""))
end

-- Resolves a group's table: unknown keys rejected, fields checked in order, defaults
-- filled where a field applies, values that do not apply dropped with a note.
function resolve_group(g, value, path, ctx)
    if value == nil or (value == false and g.optional) then
        if g.optional then
            return nil
        end
        value = {}
    end
    if type(value) ~= "table" then
        ctx.fail(path, path .. " must be a table, got " .. type(value))
    end
    local keys = {}
    for k in pairs(value) do
        keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
        if not g.by_name[k] then
            unknown_key(g, k, path, ctx)
        end
    end
    local out = {}
    for _, f in ipairs(g.fields) do
        local p = join(path, f.name)
        local v = value[f.name]
        local ok, cond = applies(f, out, path)
        if not ok then
            if v ~= nil then
                ctx.note(p, p .. " has no effect unless " .. cond .. "; ignored")
            end
        elseif v ~= nil then
            out[f.name] = f.type == "model" and resolve_model(f, v, p, ctx) or
                check_value(f, v, p, ctx)
        elseif f.type == "group" then
            out[f.name] = resolve_group(f, nil, p, ctx)
        elseif f.default ~= nil then
            local d = f.default
            if type(d) == "function" then
                d = d(out, ctx)
            end
            out[f.name] = deep_copy(d)
            ctx.defaulted(p)
        elseif f.required then
            ctx.fail(p, p .. " is required" .. (cond and " when " .. cond or "") ..
                (f.type == "model" and
                    ' (a table such as {type = "mlp"}, or a function returning a module)' or ""))
        end
    end
    if g.check then
        g.check(out, path, ctx)
    end
    return out
end

-- The model: a function is kept as it is; a table's type picks the builder whose fields
-- check the rest.
function resolve_model(_, v, path, ctx)
    if type(v) == "function" then
        return v
    elseif type(v) ~= "table" then
        ctx.fail(path, path .. " must be a table or a function, got " .. type(v))
    end
    local tpath = path .. ".type"
    local names = ctx.models.names()
    if v.type == nil then
        ctx.fail(path, tpath .. " is required (one of " ..
            table.concat(quote_all(names), ", ") .. ")")
    end
    local tfield = field.new("type", "string", {choices = names})
    local name = check_value(tfield, v.type, tpath, ctx)
    local fields, known = ctx.models.fields(name)
    assert(known, "model type " .. name .. " vanished")
    if not fields then
        return deep_copy(v)
    end
    local list = {field.new("type", "string", {choices = {name}})}
    for _, f in ipairs(fields) do
        list[#list + 1] = f
    end
    local out = resolve_group(field.group(path, nil, list), v, path, ctx)
    out.type = name
    return out
end

-- Resolves a merged recipe table against schema.root (ctx: see the top of this file).
-- Returns the resolved table; raises through ctx.fail.
function validate.resolve(raw, ctx)
    return resolve_group(schema.root, raw, "", ctx)
end

-- Resolves a model table against its builder's fields alone (lutra.models.build uses
-- this on tables that did not come through a recipe). ctx needs only models; fail, note
-- and defaulted default to raising the message, and doing nothing. Raises on a bad table.
function validate.resolve_model(v, ctx)
    ctx.fail = ctx.fail or function(_, msg) error(msg, 0) end
    ctx.note = ctx.note or function() end
    ctx.defaulted = ctx.defaulted or function() end
    return resolve_model(schema.root.by_name.model, v, "model", ctx)
end

-- Checks one value against a field (see lutra.field) and returns it normalised;
-- ctx.fail(path, message) is called on a bad value and must raise.
validate.check_value = check_value

-- Whether field f applies given its resolved siblings (parent), and the condition in
-- words with key paths under path ("optim.type is \"sgd\""). Cannot fail.
validate.applies = applies

return validate
