-- Weights and checkpoints in safetensors files, through the core's reader and writer.
-- Weights files (final.safetensors, best_<metric>.safetensors) hold the model's state
-- dict under PyTorch's names and layouts (torch's load_state_dict reads them). A
-- checkpoint holds the same tensors plus the optimizer's moments
-- ("optimizer.exp_avg.0.weight") and, in the metadata, the run's position as JSON under
-- "lutra" (iteration, epoch, loader position, steps, loss scale, precision, best metric):
-- what --resume-from needs. Randomness is counter-based, so no RNG state is kept.
local core = require "lutra.core"
local util = require "lutra.util"

local checkpoint = {}

checkpoint.FORMAT = "lutra.checkpoint/1"

-- The model's tensors as parallel lists, in PyTorch's order.
local function weights(model)
    local map, names = model:state_dict()
    local tensors = {}
    for i, name in ipairs(names) do
        tensors[i] = map[name]
    end
    return names, tensors
end

-- save_weights(path, model [, meta]): the state dict, atomically; meta: string pairs.
function checkpoint.save_weights(path, model, meta)
    local names, tensors = weights(model)
    local m = { format = "pt" }
    for k, v in pairs(meta or {}) do
        m[k] = v
    end
    util.call(core.save_safetensors, path, names, tensors, m)
end

-- save(path, trainer, position): weights, the optimizer's moments and the position
-- (a table, stored as JSON), atomically.
function checkpoint.save(path, trainer, position)
    local names, tensors = weights(trainer.model)
    local onames, otensors, counters = trainer:optimizer_state()
    table.move(onames, 1, #onames, #names + 1, names)
    table.move(otensors, 1, #otensors, #tensors + 1, tensors)
    local state = {}
    for k, v in pairs(position or {}) do
        state[k] = v
    end
    for k, v in pairs(counters) do
        state[k] = v
    end
    util.call(core.save_safetensors, path, names, tensors,
        { format = "pt", lutra = core.json_encode(state), lutra_format = checkpoint.FORMAT })
end

-- load(path): {tensors = name -> tensor, names = {...}, state = the position table or nil
-- for a weights file, meta, dtypes = name -> dtype on disk ("I64"), nonfinite = name ->
-- {nan =, inf =, first =} for tensors holding NaN or inf, checked = whether the file's
-- data checksum was verified}. Raises "path: ..." on a file that is not safetensors or
-- whose checksum does not match its data.
function checkpoint.load(path)
    local f = util.call(core.load_safetensors, path)
    local state
    if f.meta.lutra then
        local err
        state, err = core.json_decode(f.meta.lutra)
        if not state then
            error(path .. ": the checkpoint's lutra metadata is not JSON: " .. err, 0)
        end
    end
    return { tensors = f.tensors, names = f.names, state = state, meta = f.meta,
        dtypes = f.dtypes, nonfinite = f.nonfinite, checked = f.checked }
end

local INTEGER = { I64 = true, I32 = true, U8 = true, BOOL = true }
local FLOAT = { f32 = true, f16 = true, bf16 = true }

-- The error for weights holding NaN or inf: it names the first such tensor (in the
-- file's order) and counts the others.
local function nonfinite_error(file, map, where)
    local bad = {}
    for _, name in ipairs(file.names or {}) do
        if map[name] and file.nonfinite and file.nonfinite[name] then
            bad[#bad + 1] = name
        end
    end
    if #bad == 0 then
        return
    end
    local b = file.nonfinite[bad[1]]
    local what = {}
    if b.nan > 0 then
        what[#what + 1] = b.nan .. " NaN"
    end
    if b.inf > 0 then
        what[#what + 1] = b.inf .. " inf"
    end
    local more = #bad == 2 and ", and 1 more tensor holds NaN or inf" or
        #bad > 2 and string.format(", and %d more tensors hold NaN or inf", #bad - 1) or ""
    error(string.format("%stensor '%s' holds %s (the first at flat index %d)%s; lutra does " ..
        "not load weights that are not numbers", where, bad[1], table.concat(what, " and "),
        b.first, more), 0)
end

-- load_weights(model, file [, path]): copies the file's weights into the model (names and
-- shapes must match; the optimizer's tensors of a checkpoint are skipped). Raises naming
-- the path and the tensor, also for weights holding NaN or inf. Returns a line for the
-- log when integer tensors (PyTorch's I64 ...) were converted into float parameters
-- ("w.safetensors: 2 integer tensors converted to float: 0.weight (I64), 0.bias (I64)"),
-- else nil.
function checkpoint.load_weights(model, file, path)
    local where = path and path .. ": " or ""
    local map = {}
    for name, t in pairs(file.tensors) do
        if not name:match("^optimizer%.") then
            map[name] = t
        end
    end
    nonfinite_error(file, map, where)
    local own = model:state_dict()
    local converted = {}
    for _, name in ipairs(file.names or {}) do
        local disk, dst = file.dtypes and file.dtypes[name], own[name]
        if map[name] and INTEGER[disk] and dst and FLOAT[dst:dtype()] then
            converted[#converted + 1] = name .. " (" .. disk .. ")"
        end
    end
    local ok, err = pcall(model.load_state_dict, model, map)
    if not ok then
        error(where .. tostring(err):gsub("^[^:]+%.lua:%d+: ", ""), 0)
    end
    if #converted > 0 then
        local shown = table.concat(converted, ", ", 1, math.min(#converted, 5))
        return string.format("%s%d integer tensor%s converted to float: %s%s", where, #converted,
            #converted > 1 and "s" or "", shown, #converted > 5 and ", ..." or "")
    end
end

return checkpoint
