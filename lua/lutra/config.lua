-- Recipes: loads a recipe file with its `_base_` chain in a sandbox, merges the files and
-- the command line's overrides, reads mmengine/mmcv conventions (aliases, `fp16`,
-- `auto_scale_lr`), resolves the result against lutra.schema, and writes the resolved
-- config back as Lua. Every error is a Lua error whose message names the file (or the
-- override) and the key: "examples/x.lua: optim.lr must be a number, got string".
--
-- A recipe runs in lutra.sandbox (the safe base library, copies of math, string, table and
-- utf8, os.getenv/time/clock/date, and a require of lutra's model-building modules and of
-- Lua files beside the recipe, run in the same sandbox). No io, os.exit, package, debug or
-- bytecode: a recipe describes a run, it does not act. Every global a recipe sets is a
-- recipe key; helpers belong in locals. `--set` values are read by lutra.literal: data,
-- never code.
local schema = require("lutra.schema")
local sandbox = require("lutra.sandbox")
local literal = require("lutra.literal")

local config = {}

-- The command-line flags that take overrides (mmengine spells them --cfg-options,
-- mmcv --options).
config.OVERRIDE_FLAGS = {"--set", "--options", "--cfg-options"}

local deep_copy = schema.deep_copy

local function fail(where, msg)
    error(where .. ": " .. msg, 0)
end

-- ---- paths -----------------------------------------------------------------------------

local normalize, dirname, join_path = sandbox.normalize, sandbox.dirname, sandbox.join

-- ---- tables ------------------------------------------------------------------------------

-- A list is a non-empty table whose keys are exactly 1..n; it is merged as one value.
local function is_list(t)
    local n = 0
    for _ in pairs(t) do
        n = n + 1
    end
    return n > 0 and n == #t
end

local function is_map(v)
    return type(v) == "table" and not is_list(v)
end

local function key_path(path, k)
    k = tostring(k)
    return path == "" and k or path .. "." .. k
end

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

-- Origins: path -> the file or override that set it. A replaced subtree forgets its
-- old origins and records the new one for itself and every map inside it.
local function forget(origin, path)
    for p in pairs(origin) do
        if path == "" or p == path or p:sub(1, #path + 1) == path .. "." then
            origin[p] = nil
        end
    end
end

local function record(origin, path, v, source)
    origin[path] = source
    if is_map(v) then
        for k, x in pairs(v) do
            record(origin, key_path(path, k), x, source)
        end
    end
end

-- Merges src over dst (which it may modify) and returns the result: maps merge key by
-- key, anything else (lists included) replaces; `_delete_ = true` in a map replaces.
local function merge_into(dst, src, track, path)
    if is_map(src) and is_map(dst) and src._delete_ ~= true then
        for k, v in pairs(src) do
            if k ~= "_delete_" then
                dst[k] = merge_into(dst[k], v, track, key_path(path, k))
            end
        end
        if track and not track.origin[path] then
            track.origin[path] = track.source
        end
        return dst
    end
    local v = strip(deep_copy(src))
    if track then
        forget(track.origin, path)
        record(track.origin, path, v, track.source)
    end
    return v
end

-- Deep merge of two recipe tables, `over` winning; neither argument is modified.
function config.merge(base, over)
    return merge_into(deep_copy(base), over, nil, "")
end

-- ---- the sandbox -------------------------------------------------------------------------

-- Whether the process was interrupted (SIGINT, SIGTERM): a recipe stuck in a loop stops
-- at the first signal. lutra.core's flag when the C module is there; replaceable.
function config.interrupted()
    local ok, core = pcall(require, "lutra.core")
    if ok and type(core) == "table" and core.interrupted then
        config.interrupted = core.interrupted
        return core.interrupted()
    end
    config.interrupted = function() return false end
    return false
end

-- Runs one recipe file in the load's sandbox; returns the table it describes (globals it
-- set, with the table it returned merged over them). Raises with "file:line: ..." on a
-- syntax or run error, "file: is a directory ..." and the like on a file that is not a
-- recipe, "interrupted while evaluating file" after a signal.
local function run_file(box, path)
    local env, ret = box:evaluate(path)
    local layer = {}
    for k, v in pairs(env) do
        layer[k] = v
    end
    if ret ~= nil then
        if type(ret) ~= "table" then
            fail(path, "a recipe returns a table or nothing, got " .. type(ret))
        end
        layer = merge_into(layer, ret, nil, "")
    end
    -- what require(path) gives a config.lua that needs a function defined here
    sandbox.note_exports(ret ~= nil and ret or env, path)
    return deep_copy(layer)
end

-- ---- conventions: aliases, fp16, auto_scale_lr ---------------------------------------------

local function checker(source)
    return {fail = function(_, msg) fail(source, msg) end}
end

local function check(group_path, name, v, shown, source)
    local f = schema.node(group_path).by_name[name]
    return schema.check_value(f, v, shown, checker(source))
end

local function reject_unknown(t, allowed, path, source)
    for k in pairs(t) do
        if not allowed[k] then
            local names = {}
            for n in pairs(allowed) do
                names[#names + 1] = n
            end
            table.sort(names)
            local hint = schema.suggest(tostring(k), names)
            fail(source, string.format("unknown key '%s.%s'", path, tostring(k)) ..
                (hint and string.format(" (did you mean '%s.%s'?)", path, hint) or ""))
        end
    end
end

-- mmcv/mmengine's loss_scale table: a dynamic scale with these settings.
local DYNAMIC_KEYS = {init_scale = "init_scale", growth_factor = "growth_factor",
    backoff_factor = "backoff_factor", growth_interval = "growth_interval",
    scale_window = "growth_interval", scale_factor = "growth_factor", mode = true}

local function dynamic_scale(t, out, source)
    reject_unknown(t, DYNAMIC_KEYS, "fp16.loss_scale", source)
    if t.mode ~= nil and t.mode ~= "dynamic" then
        fail(source, 'fp16.loss_scale.mode must be "dynamic", got ' .. schema.show(t.mode))
    end
    out.loss_scale = "dynamic"
    for k, v in pairs(t) do
        local name = DYNAMIC_KEYS[k]
        if name ~= true then
            out[name] = check({"precision"}, name, v, "fp16.loss_scale." .. k, source)
        end
    end
    if t.scale_factor then
        out.backoff_factor = 1 / out.growth_factor
    end
end

-- mmcv's `fp16 = {loss_scale = ...}`: mode fp16 with a static scale (512 when absent, as
-- in mmcv's Fp16OptimizerHook), "dynamic", or a table of dynamic settings.
local function from_fp16(fp16, source, notes)
    if type(fp16) ~= "table" then
        fail(source, "fp16 must be a table, got " .. type(fp16))
    end
    reject_unknown(fp16, {loss_scale = true}, "fp16", source)
    local out, ls = {mode = "fp16"}, fp16.loss_scale
    if type(ls) == "table" then
        dynamic_scale(ls, out, source)
    else
        out.loss_scale = check({"precision"}, "loss_scale", ls == nil and 512.0 or ls,
            "fp16.loss_scale", source)
        if out.loss_scale ~= "dynamic" then
            notes[#notes + 1] = string.format("%s: fp16 = {loss_scale = %s} read as " ..
                'precision = {mode = "fp16", loss_scale = %s}: a static scale, as in mmcv%s',
                source, ls == nil and "nil" or schema.literal(ls),
                schema.literal(out.loss_scale), ls == nil and " (its default)" or "")
        end
    end
    return out
end

-- mmengine's `auto_scale_lr = {enable, base_batch_size}` -> optim.lr_scaling.
local function from_auto_scale_lr(t, source, notes)
    if type(t) ~= "table" then
        fail(source, "auto_scale_lr must be a table, got " .. type(t))
    end
    reject_unknown(t, {enable = true, base_batch_size = true}, "auto_scale_lr", source)
    if type(t.enable) ~= "boolean" and t.enable ~= nil then
        fail(source, "auto_scale_lr.enable must be a boolean, got " .. type(t.enable))
    end
    if not t.enable then
        return {rule = "none"}
    end
    if t.base_batch_size == nil then
        fail(source, "auto_scale_lr.base_batch_size is required when auto_scale_lr.enable " ..
            "is true")
    end
    local b = check({"optim", "lr_scaling"}, "base_batch_size", t.base_batch_size,
        "auto_scale_lr.base_batch_size", source)
    notes[#notes + 1] = string.format("%s: auto_scale_lr read as optim.lr_scaling = " ..
        '{rule = "linear", base_batch_size = %d}; lutra scales lr on the effective batch ' ..
        "(batch_size × accumulate × world size), which counts accumulation; mmengine's " ..
        "auto_scale_lr does not", source, b)
    return {rule = "linear", base_batch_size = b}
end

-- Moves a convention's result into the layer, refusing a layer that also sets the key.
local function place(layer, group, key, value, from, source)
    if key then
        layer[group] = layer[group] == nil and {} or layer[group]
        if type(layer[group]) ~= "table" then
            return -- the type error is reported when the recipe is resolved
        end
        if layer[group][key] ~= nil then
            fail(source, string.format("%s and %s.%s are both set; set one", from, group, key))
        end
        layer[group][key] = value
    else
        if layer[group] ~= nil then
            fail(source, string.format("%s and %s are both set; set one", from, group))
        end
        layer[group] = value
    end
end

-- Renames aliases (samples_per_gpu -> batch_size ...) in a layer, walking the schema;
-- notes what each was read as.
local function rename_aliases(t, names, path, source, notes)
    local node = schema.node(names)
    if not node or type(t) ~= "table" then
        return
    end
    for alias, name in pairs(node.alias_of) do
        if t[alias] ~= nil then
            if t[name] ~= nil then
                fail(source, string.format("%s and %s are both set (%s is an alias of %s)",
                    key_path(path, alias), key_path(path, name), alias, name))
            end
            t[name], t[alias] = t[alias], nil
            notes[#notes + 1] = string.format("%s: %s read as %s", source,
                key_path(path, alias), key_path(path, name))
        end
    end
    for k, v in pairs(t) do
        if type(k) == "string" and type(v) == "table" then
            local sub = {table.unpack(names)}
            sub[#sub + 1] = k
            rename_aliases(v, sub, key_path(path, k), source, notes)
        end
    end
end

-- Rewrites one layer (a file's table or an override) into lutra's own words; notes say
-- what a convention was read as.
local function normalize_layer(layer, source, notes)
    if layer.fp16 ~= nil then
        local p = from_fp16(layer.fp16, source, notes)
        layer.fp16 = nil
        place(layer, "precision", nil, p, "fp16", source)
    end
    if layer.auto_scale_lr ~= nil then
        local s = from_auto_scale_lr(layer.auto_scale_lr, source, notes)
        layer.auto_scale_lr = nil
        place(layer, "optim", "lr_scaling", s, "auto_scale_lr", source)
    end
    rename_aliases(layer, {}, "", source, notes)
end

-- A layer that sets one key of an exclusive set drops the others set below it.
local function drop_exclusive(acc, layer, origin)
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
                    forget(origin, g .. "." .. set[i])
                end
            end
        end
    end
end

-- ---- files and their bases -----------------------------------------------------------------

-- Appends path's layers to `layers`, bases first (each file once); `stack` is the chain
-- of files including this one, for cycles.
local function collect(box, path, layers, seen, stack)
    for i, p in ipairs(stack) do
        if p == path then
            local chain = {table.unpack(stack, i)}
            chain[#chain + 1] = path
            fail(stack[#stack], "_base_ cycle: " .. table.concat(chain, " -> "))
        end
    end
    if seen[path] then
        return
    end
    seen[path] = true
    local layer = run_file(box, path)
    local bases = layer._base_
    layer._base_ = nil
    if type(bases) == "string" then
        bases = {bases}
    elseif bases ~= nil and (type(bases) ~= "table" or (next(bases) and not is_list(bases))) then
        fail(path, "_base_ must be a string or a list of strings, got " .. type(bases))
    end
    stack[#stack + 1] = path
    local dir = dirname(path)
    for _, b in ipairs(bases or {}) do
        if type(b) ~= "string" then
            fail(path, "_base_ must be a string or a list of strings, got a " .. type(b) ..
                " in the list")
        end
        local full = join_path(dir, b)
        local kind = sandbox.kind(full)
        if not kind then
            fail(path, string.format("_base_ '%s' not found (looked in %s/)", b,
                dir == "" and "." or dir))
        elseif kind == "directory" then
            fail(path, string.format("_base_ '%s' is a directory (%s), not a recipe file", b,
                full))
        end
        collect(box, full, layers, seen, stack)
    end
    stack[#stack] = nil
    layers[#layers + 1] = {source = path, table = layer}
end

-- ---- overrides ---------------------------------------------------------------------------

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

-- Parses "a.b.c=value": returns the key ("a.b.c") and the value, a Lua literal (300,
-- 1e-3, 0x10, -2, true, nil, "x", {512, 512}, {a = 1, ["b"] = {2}}) read without running
-- anything, or else a bare word taken as a string (adamw, cuda:0). Raises "--set 'text':
-- ..." on a malformed override: no "=", a bad name, or a value that is neither (a call,
-- arithmetic, an unfinished table or string), naming the character where reading stopped.
function config.parse_override(text)
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
    for seg in (key .. "."):gmatch("([^.]*)%.") do
        if not seg:match("^[%a_][%w_]*$") then
            fail(where, seg == "" and "empty name in key '" .. key .. "'" or
                string.format("'%s' in key '%s' is not a name", seg, key))
        end
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
            forget(origin, path)
            return
        end
        t, node = t[name], node and node.by_name and node.by_name[name]
    end
end

-- The command-line flags that set one key; a key -> value override of such a key is
-- labelled with its flag ("--seed: seed must be >= 0, got -1"), others "--set 'key'".
config.FLAGS = {seed = "--seed", threads = "--threads", device = "--device",
    work_dir = "--work-dir", load_from = "--load-from", resume_from = "--resume-from"}

-- Applies overrides to a merged table: strings "key=value" (in order) and, for
-- programs, key -> value pairs (in key order).
local function apply_overrides(acc, origin, notes, overrides)
    local list = {}
    for _, text in ipairs(overrides or {}) do
        local key, v = config.parse_override(text)
        list[#list + 1] = {key = key, value = v, source = "--set '" .. text .. "'"}
    end
    local keyed = {}
    for k in pairs(overrides or {}) do
        if math.type(k) ~= "integer" then
            keyed[#keyed + 1] = k
        end
    end
    table.sort(keyed)
    for _, k in ipairs(keyed) do
        list[#list + 1] = {key = k, value = overrides[k],
            source = config.FLAGS[k] or "--set '" .. k .. "'"}
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
            normalize_layer(layer, o.source, notes)
            drop_exclusive(acc, layer, origin)
            acc = merge_into(acc, layer, {origin = origin, source = o.source}, "")
        end
    end
    return acc
end

-- ---- loading -----------------------------------------------------------------------------

-- Reads a recipe and its bases, applies the conventions and the overrides; nothing is
-- validated yet. Returns the merged table, the origin map (key path -> file or
-- "--set '...'") and the notes (a list of messages). Raises on a missing file or base,
-- a syntax or run error in a recipe, a malformed override.
function config.read(path, overrides)
    path = normalize(path)
    local layers, notes, origin = {}, {}, {}
    local box = sandbox.new({interrupted = function() return config.interrupted() end})
    collect(box, path, layers, {}, {})
    local acc = {}
    for _, layer in ipairs(layers) do
        normalize_layer(layer.table, layer.source, notes)
        drop_exclusive(acc, layer.table, origin)
        acc = merge_into(acc, layer.table, {origin = origin, source = layer.source}, "")
    end
    return apply_overrides(acc, origin, notes, overrides), origin, notes
end

-- Where a key was set: its own origin or the nearest enclosing one (not a default),
-- else the recipe.
local function where(origin, top, path)
    path = path:gsub("%[%d+%]", "")
    while path ~= "" do
        local o = origin[path]
        if o and o ~= "default" then
            return o
        end
        path = path:match("^(.*)%.[^.]*$") or ""
    end
    return top
end

-- Resolves a merged table against the schema (defaults filled, values checked and
-- normalised). Adds "default" to origin for every default it fills and messages to
-- notes. Returns the resolved config; raises "<file>: <message>".
function config.resolve(raw, origin, notes, top)
    local ctx = {top = top}
    ctx.fail = function(path, msg)
        fail(where(origin, top, path), msg)
    end
    ctx.note = function(path, msg)
        notes[#notes + 1] = where(origin, top, path) .. ": " .. msg
    end
    ctx.defaulted = function(path)
        origin[path] = "default"
    end
    return schema.resolve(raw, ctx)
end

-- Loads a recipe: its `_base_` chain, the overrides (a list of "key=value" strings
-- and/or key -> value pairs), the conventions, then validation. Returns the resolved
-- config, the notes (a list of messages for the runner to log) and the origin map (key
-- path -> the file, "--set '...'" or "default" it comes from). Raises with a message
-- naming the file (or override) and the key on any bad input.
function config.load(path, overrides)
    local raw, origin, notes = config.read(path, overrides)
    local cfg = config.resolve(raw, origin, notes, normalize(path))
    return cfg, notes, origin
end

-- ---- derived values ----------------------------------------------------------------------

-- batch_size × accumulate × world size.
function config.effective_batch(cfg, world_size)
    return cfg.data.batch_size * cfg.optim.accumulate * (world_size or 1)
end

-- optim.lr after optim.lr_scaling on the effective batch (before the schedule).
function config.scaled_lr(cfg, world_size)
    local s, lr = cfg.optim.lr_scaling, cfg.optim.lr
    local ratio = s.rule ~= "none" and config.effective_batch(cfg, world_size) /
        s.base_batch_size or 1
    if s.rule == "linear" then
        return lr * ratio
    elseif s.rule == "sqrt" then
        return lr * math.sqrt(ratio)
    end
    return lr
end

-- ---- writing -----------------------------------------------------------------------------

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
        repeat return then true until while]]):gmatch("%a+") do
    KEYWORDS[w] = true
end

local function key_text(k)
    if type(k) == "string" and k:match("^[%a_][%w_]*$") and not KEYWORDS[k] then
        return k
    end
    return "[" .. schema.literal(k) .. "]"
end

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
        local ok, fields = pcall(schema.model_fields, v.type)
        local list = {{name = "type"}}
        for _, f in ipairs(ok and fields or {}) do
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
    return "require(" .. schema.literal(sandbox.absolute(path) or path) .. ")"
end

-- What config.lua needs to build the model again: {requires = {lines}, text = the Lua
-- text of a function model, problem = why it cannot be rebuilt}. A registered type
-- needs the file that registered it (a recipe or module the sandbox ran); a function
-- needs a file that holds it (a module that returned it, or the recipe that set it).
function config.rebuild(model)
    local models = require("lutra.models")
    local out = {requires = {}}
    if type(model) == "table" and type(model.type) == "string" then
        local origin = models.origin(model.type)
        if origin and origin ~= "builtin" and sandbox.loaded(origin) then
            out.requires[1] = require_text(origin) .. " -- registers model.type " ..
                schema.literal(model.type)
        elseif origin ~= "builtin" then
            out.problem = string.format("model.type %s was registered by %s, which a " ..
                "config.lua cannot require; register it in a module beside the recipe " ..
                "(require(\"my_models\") there)", schema.literal(model.type),
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
        return schema.literal(v)
    elseif next(v) == nil then
        return "{}"
    elseif is_flat_list(v) then
        return schema.literal(v)
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
-- `model = require("/abs/file.lua").name` (see config.rebuild); one that cannot be
-- rebuilt (registered or made outside those files) gets a comment and an error() line
-- that says why, so that the file refuses to train rather than train something else.
-- Other functions (in hooks) become comments. opts: {header = a comment line or lines,
-- origin = an origin map whose entries become comments after each value}.
function config.serialize(cfg, opts)
    local out = {}
    for line in ((opts or {}).header or ""):gmatch("[^\n]+") do
        out[#out + 1] = "-- " .. line
    end
    local rebuild = config.rebuild(cfg.model)
    for _, line in ipairs(rebuild.requires) do
        out[#out + 1] = line
    end
    if rebuild.problem then
        out[#out + 1] = "error(" .. schema.literal("this config cannot be trained again: " ..
            rebuild.problem) .. ")"
    end
    opts = setmetatable({model_text = rebuild.text}, {__index = opts})
    emit_entries(cfg, schema.root.fields, schema.root.by_name, "", "", opts, out, true)
    return table.concat(out, "\n") .. "\n"
end

-- Writes serialize(cfg, opts) to path atomically: a temporary file in the same folder,
-- then a rename over path (Lua cannot fsync; the rename is what readers see). Raises
-- "path: <reason>" when it cannot.
function config.write(cfg, path, opts)
    local text = config.serialize(cfg, opts)
    local tmp = string.format("%s.tmp%d", path, math.random(1, 1 << 30))
    local f, err = io.open(tmp, "w")
    if not f then
        error(err, 0)
    end
    local ok, werr = f:write(text)
    local closed, cerr = f:close()
    if not ok or not closed then
        os.remove(tmp)
        fail(path, werr or cerr)
    end
    local renamed, rerr = os.rename(tmp, path)
    if not renamed then
        os.remove(tmp)
        error(rerr, 0)
    end
end

return config
