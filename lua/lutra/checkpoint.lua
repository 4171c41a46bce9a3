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
-- for a weights file}. Raises "path: ..." on a file that is not safetensors.
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
    return { tensors = f.tensors, names = f.names, state = state, meta = f.meta }
end

-- load_weights(model, file [, path]): copies the file's weights into the model (names and
-- shapes must match; the optimizer's tensors of a checkpoint are skipped). Raises naming
-- the path and the tensor.
function checkpoint.load_weights(model, file, path)
    local map = {}
    for name, t in pairs(file.tensors) do
        if not name:match("^optimizer%.") then
            map[name] = t
        end
    end
    local ok, err = pcall(model.load_state_dict, model, map)
    if not ok then
        error((path and path .. ": " or "") .. tostring(err):gsub("^[^:]+%.lua:%d+: ", ""), 0)
    end
end

return checkpoint
