-- Recipes: loads a recipe file with its `_base_` chain in a sandbox, merges the files and
-- the command line's overrides, reads mmengine/mmcv conventions, and resolves the result
-- against the schema; also the values derived from a resolved config (the effective
-- batch, the scaled lr). Every error is a Lua error whose message names the file (or the
-- override) and the key: "examples/x.lua: optim.lr must be a number, got string".
-- lutra.serialize writes a resolved config back as Lua.
--
-- A recipe runs in lutra.sandbox (the safe base library, copies of math, string, table and
-- utf8, os.getenv/time/clock/date, and a require of lutra's model-building modules and of
-- Lua files beside the recipe, run in the same sandbox). No io, os.exit, package, debug or
-- bytecode: a recipe describes a run, it does not act. Every global a recipe sets is a
-- recipe key; helpers belong in locals. `--set` values are read by lutra.literal (through
-- lutra.overrides): data, never code. Merging is lutra.layers, the conventions
-- lutra.compat, the checks lutra.validate.
local sandbox = require("lutra.sandbox")
local paths = require("lutra.paths")
local layers = require("lutra.layers")
local compat = require("lutra.compat")
local overrides = require("lutra.overrides")
local validate = require("lutra.validate")
local models = require("lutra.models")
local describe = require("lutra.describe")
local tables = require("lutra.tables")

local config = {}

local fail = describe.raise_at
local normalize, dirname, join_path = paths.normalize, paths.dirname, paths.join

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
        layer = layers.merge_into(layer, ret, nil, "")
    end
    -- what require(path) gives a config.lua that needs a function defined here
    sandbox.note_exports(ret ~= nil and ret or env, path)
    return tables.deep_copy(layer)
end

-- ---- files and their bases -----------------------------------------------------------------

-- Appends path's layers to `files` ({source = path, table = its layer}), bases first
-- (each file once); `stack` is the chain of files including this one, for cycles.
local function collect(box, path, files, seen, stack)
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
    elseif bases ~= nil and (type(bases) ~= "table" or
            (next(bases) and not tables.is_list(bases))) then
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
        collect(box, full, files, seen, stack)
    end
    stack[#stack] = nil
    files[#files + 1] = {source = path, table = layer}
end

-- ---- loading -----------------------------------------------------------------------------

-- Reads a recipe and its bases, applies the conventions and the overrides (given: as
-- config.load takes them); nothing is validated yet. Returns the merged table, the
-- origin map (key path -> file or "--set '...'") and the notes (a list of messages).
-- Raises on a missing file or base, a syntax or run error in a recipe, a malformed
-- override. text: the recipe's text when it is not a file (path then only names it, and
-- its folder is where its _base_ and requires are looked for).
function config.read(path, given, text)
    path = normalize(path)
    local files, notes, origin = {}, {}, {}
    local box = sandbox.new({interrupted = function() return config.interrupted() end,
        texts = text and {[path] = text}})
    collect(box, path, files, {}, {})
    local acc = {}
    for _, layer in ipairs(files) do
        compat.normalize_layer(layer.table, layer.source, notes)
        layers.drop_exclusive(acc, layer.table, origin)
        acc = layers.merge_into(acc, layer.table, {origin = origin, source = layer.source}, "")
    end
    return overrides.apply(acc, origin, notes, given), origin, notes
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
    local ctx = {top = top, models = models}
    ctx.fail = function(path, msg)
        fail(where(origin, top, path), msg)
    end
    ctx.note = function(path, msg)
        notes[#notes + 1] = where(origin, top, path) .. ": " .. msg
    end
    ctx.defaulted = function(path)
        origin[path] = "default"
    end
    return validate.resolve(raw, ctx)
end

-- Loads a recipe: its `_base_` chain, the overrides (given: a list of "key=value" strings
-- and/or key -> value pairs), the conventions, then validation. Returns the resolved
-- config, the notes (a list of messages for the runner to log) and the origin map (key
-- path -> the file, "--set '...'" or "default" it comes from). Raises with a message
-- naming the file (or override) and the key on any bad input. text: as config.read takes
-- it.
function config.load(path, given, text)
    local raw, origin, notes = config.read(path, given, text)
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

return config
