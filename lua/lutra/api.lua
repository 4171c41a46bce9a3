-- The `lutra` module as `require "lutra"` returns it: the C core (lutra.core) with the
-- Lua library on top. luaopen_lutra (lua/l_lutra.c) opens the core and loads this file;
-- there is deliberately no lutra/init.lua, so that `require "lutra"` reaches the C module.
-- No library file may require "lutra" itself: it is being loaded while they load.
--
-- What it holds (indices, dims and positions are 1-based; names and layouts PyTorch's):
--   tensors    zeros, ones, full, rand, randn, tensor, arange; t:shape() dtype() numel() to(dt)
--              t[i], t[i] = v, view/reshape, permute, narrow, rows, + - * / sum mean max argmax eq
--   nn         Module (class, extend), Sequential, Linear, Conv2d, MaxPool2d, AvgPool2d,
--              AdaptiveAvgPool2d, BatchNorm2d, LayerNorm, Dropout, Embedding, Flatten,
--              ReLU, GELU, ...; functional ops as nn.relu, nn.cross_entropy (also lutra.F)
--   trace      trace(model, input_specs [, {mode, loss, targets, group}]) -> a Trace
--              (graph, inputs, outputs, targets, loss); lutra.tracing has the rest
--   optim      SGD{...}, AdamW{...} with paramwise groups; optim.schedules.*
--   Trainer    Trainer{model, input_shape, optim, schedule, precision, loss}: step,
--              evaluate, predict, plan_report, memory, set_lr
--   data       fmnist(dir, "train" | "test"), dataset(x, y, classes), images(root, opts),
--              image_list(path, classes, opts), tensors(path), tokens(path, opts),
--              source{...}; loader(ds, {batch =, shuffle =, seed =, mean =, std =,
--              workers =, crop =, hflip =, ...}); lutra.data.register(name, spec) for
--              recipes; idx_read(path), read_png(path), write_png(path, t)
--   files      save_weights(path, model), load_weights(model, path) (safetensors with
--              PyTorch names), load_safetensors, save_safetensors, json_encode/decode
--   running    config (recipes), runner (the loop lutra train runs), sweep(spec [, opts])
--              (variants of a recipe compared: the rows), interrupted()
--   context    manual_seed, seed, set_threads, threads, set_profile, set_memory_limit,
--              memory_limit, use_reference, backend, version, interrupted; the raw
--              binding is lutra.core
--   device     set_device("auto" | "cpu" | "cuda" | "cuda:N"), device, device_info,
--              device_memory, set_tf32, set_deterministic, set_graphs
local core = require "lutra.core"
local util = require "lutra.util"
local T = require "lutra.tensor"
local F = require "lutra.ops"
local trace = require "lutra.trace"
local nn = require "lutra.nn"
local optim = require "lutra.optim"
local trainer = require "lutra.trainer"
local checkpoint = require "lutra.checkpoint"

local lutra = {
    core = core,
    nn = nn,
    F = F,
    optim = optim,
    Trainer = trainer.Trainer,

    -- tensors
    zeros = T.zeros,
    ones = T.ones,
    full = T.full,
    arange = T.arange,
    rand = T.rand,
    randn = T.randn,
    tensor = T.tensor,
    is_tensor = util.is_tensor,
    is_symbol = util.is_symbol,
    op = F.op,

    -- tracing: trace(model, input_specs [, {mode =, loss =, targets =, group =}])
    trace = trace.trace,
    tracing = trace,

    -- the context
    set_threads = core.set_threads,
    threads = core.threads,
    set_profile = core.set_profile,
    set_memory_limit = core.set_memory_limit,
    memory_limit = core.memory_limit,
    use_reference = core.use_reference,
    interrupted = core.interrupted,
    seed = core.seed,

    -- the device: trainers and forward programs built afterwards run there
    device = core.device,
    device_info = core.device_info,
    device_memory = core.device_memory,
    set_tf32 = core.set_tf32,
    set_deterministic = core.set_deterministic,
    set_graphs = core.set_graphs,

    -- data and files
    fmnist = core.fmnist,
    dataset = core.dataset,
    images = core.images,
    image_list = core.image_list,
    tensors = core.tensors,
    tokens = core.tokens,
    source = core.source,
    loader = core.loader,
    read_png = core.read_png,
    write_png = core.write_png,
    idx_read = core.idx_read,
    save_safetensors = core.save_safetensors,
    load_safetensors = core.load_safetensors,
    json_encode = core.json_encode,
    json_decode = core.json_decode,
    clock = core.clock,
}

-- save_weights(path, model): the model's state dict as safetensors (PyTorch's names and
-- layouts), written atomically.
function lutra.save_weights(path, model)
    checkpoint.save_weights(path, model)
end

-- load_weights(model, path): copies a safetensors file's weights into the model (names
-- and shapes must match).
function lutra.load_weights(model, path)
    checkpoint.load_weights(model, checkpoint.load(path), path)
    return model
end

-- The recipe and loop modules, loaded when first used (they are not needed by scripts
-- that write their own loop).
setmetatable(lutra, {
    __index = function(_, k)
        if k == "config" or k == "runner" or k == "models" or k == "data" then
            return require("lutra." .. k)
        elseif k == "sweep" then -- lutra.sweep{...}: the rows (lutra.sweep's sweep.run)
            return require("lutra.sweep").run
        end
    end,
})

-- manual_seed(n): the seed of every random stream; restarts the streams that
-- initialisation, rand/randn and dropout layer ids draw, so the same seed and program
-- give the same numbers.
-- set_device(name): "cuda" (or "cuda:N") insists and raises the reason when there is no
-- usable GPU; "auto" takes the GPU when there is one, else the CPU. Returns the device
-- now in use, and for "auto" without a GPU, why.
function lutra.set_device(name)
    if type(name) ~= "string" then
        error("set_device: want \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", got a " ..
            type(name), 2)
    end
    local device, why = core.set_device(name)
    if not device then
        error(why, 2)
    end
    return device, why
end

function lutra.manual_seed(seed)
    util.call(util.manual_seed, seed)
end

-- "own kernels (avx2), oneDNN 2.6.3": what the CPU backend runs.
function lutra.backend()
    return core.backend_info()
end

-- version(): "lutra 0.1.0 (Lua 5.4; own kernels (avx2), oneDNN 2.6.3)"; the bare
-- number is lutra.VERSION.
function lutra.version()
    return string.format("lutra %s (%s; %s)", core.version(), _VERSION, core.backend_info())
end

lutra.VERSION = core.version()

return lutra
