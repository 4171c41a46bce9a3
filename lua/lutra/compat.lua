-- mmengine/mmcv compatibility: rewrites one recipe layer (a file's table or an override)
-- into lutra's own keys before it is merged. Aliases (samples_per_gpu -> batch_size, from
-- the schema's fields), mmcv's `fp16 = {loss_scale = ...}` (-> precision) and
-- mmengine's `auto_scale_lr` (-> optim.lr_scaling); each rewrite adds a note saying what
-- the key was read as. Keys lutra spells differently but cannot read are named by
-- lutra.validate (lutra.schema.foreign_keys).
local schema = require("lutra.schema")
local validate = require("lutra.validate")
local describe = require("lutra.describe")
local suggest = require("lutra.suggest")

local compat = {}

local fail, key_path = describe.raise_at, describe.key_path

local function checker(source)
    return {fail = function(_, msg) fail(source, msg) end}
end

-- Checks v against the field `name` of the group at group_path, errors naming the key
-- as shown and the source.
local function check(group_path, name, v, shown, source)
    local f = schema.node(group_path).by_name[name]
    return validate.check_value(f, v, shown, checker(source))
end

local function reject_unknown(t, allowed, path, source)
    for k in pairs(t) do
        if not allowed[k] then
            local names = {}
            for n in pairs(allowed) do
                names[#names + 1] = n
            end
            table.sort(names)
            local hint = suggest.closest(tostring(k), names)
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
        fail(source, 'fp16.loss_scale.mode must be "dynamic", got ' .. describe.show(t.mode))
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
                source, ls == nil and "nil" or describe.literal(ls),
                describe.literal(out.loss_scale), ls == nil and " (its default)" or "")
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

-- Rewrites one layer (a file's table or an override, set by source) into lutra's own
-- words, in place; appends to notes what each convention was read as. Raises
-- "source: ..." on a convention's bad value or on a key set both ways.
function compat.normalize_layer(layer, source, notes)
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

return compat
