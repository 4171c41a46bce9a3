-- Tracing: calling a model's forward on symbols (shape and dtype, no data) records a
-- static graph in C. A Trace holds the graph, its input, output and loss symbols, and the
-- tensors it turned into graph values (parameters by their PyTorch names, buffers as
-- state, any other tensor met on the way as a constant). Shape errors surface while
-- tracing, at the line of the user's forward.
local core = require "lutra.core"
local util = require "lutra.util"
local F = require "lutra.ops"

local raise, is_tensor, is_symbol = util.raise, util.is_tensor, util.is_symbol

local M = {}

local Trace = {}
Trace.__index = Trace

-- A new, empty trace around a new graph.
function M.new()
    local self = setmetatable({
        graph = core.graph(),
        values = setmetatable({}, { __mode = "k" }), -- tensor -> symbol
        inputs = {},
        targets = {},
        outputs = {},
        param_names = {},
        op_counts = {}, -- op name -> nodes recorded through lutra.F (summaries)
        constants = 0,
    }, Trace)
    util.traces[self.graph] = self
    return self
end

-- trace:param(tensor, name, group): tensor becomes a trainable value (group 1-based).
function Trace:param(t, name, group)
    local s = util.call(self.graph.param, self.graph, t, name, group or 1)
    self.values[t] = s
    self.param_names[#self.param_names + 1] = name
    return s
end

-- trace:state(tensor, name): a non-trainable value the graph reads (and batch norm
-- updates).
function Trace:state(t, name)
    local s = util.call(self.graph.state, self.graph, t, name)
    self.values[t] = s
    return s
end

-- trace:value(tensor): the tensor's symbol, making it a constant of the graph the first
-- time it is met.
function Trace:value(t)
    local s = self.values[t]
    if s == nil then
        self.constants = self.constants + 1
        s = self:state(t, "const." .. self.constants)
    end
    return s
end

-- A spec: a shape {8, 784} (f32), {shape = {8, 784}, dtype = "i32", name = "y"}, or a
-- tensor (its shape and dtype). Returns shape, dtype, name.
local function read_spec(what, spec)
    if is_tensor(spec) then
        return spec:shape(), spec:dtype(), nil
    end
    if type(spec) ~= "table" then
        raise(string.format("%s: a spec is a shape, {shape =, dtype =, name =} or a tensor, "
            .. "got %s", what, type(spec)))
    end
    if spec.shape then
        util.check_options(what, spec, { "shape", "dtype", "name" })
        return spec.shape, spec.dtype or "f32", spec.name
    end
    return spec, "f32", nil
end

-- trace:input(spec, default_name): a data input; returns its symbol.
function Trace:input(spec, default_name)
    local shape, dtype, name = read_spec("trace", spec)
    local s = util.call(self.graph.input, self.graph, shape, dtype, name or default_name)
    return s
end

-- Specs as a list: a single spec (a shape whose first entry is a number, or a tensor, or a
-- table with .shape) becomes a list of one.
local function spec_list(specs)
    if specs == nil then
        return {}
    end
    if is_tensor(specs) or type(specs) ~= "table" or type(specs[1]) == "number"
        or specs.shape then
        return { specs }
    end
    return specs
end
M.spec_list = spec_list

local function input_names(n, base)
    local names = {}
    for i = 1, n do
        names[i] = n == 1 and base or base .. i
    end
    return names
end

-- Every module's `training`, to put back after a trace in another mode.
local function modes_of(model)
    local saved = {}
    if type(model) == "table" and model.named_modules then
        for _, m in model:named_modules() do
            saved[m] = rawget(m, "training")
        end
    end
    return saved
end

local function set_modes(saved, training)
    for m, mode in pairs(saved) do
        rawset(m, "training", training == nil and mode or training)
    end
end

-- The default targets of a loss: class numbers (N) i32 for cross entropy (and loss
-- functions), the output's shape in f32 for mse.
local function default_targets(loss, out)
    local shape = out:shape()
    if loss == "mse" then
        return { { shape = shape, dtype = out:dtype() } }
    elseif #shape == 3 then -- a sequence's logits (B, T, V): targets (B, T)
        return { { shape = { shape[1], shape[2] }, dtype = "i32" } }
    end
    return { { shape = { shape[1] }, dtype = "i32" } }
end

-- Cross entropy over every position of a sequence: logits (B, T, V) and targets (B, T)
-- are read as B·T rows; (N, C) and (N) as they are.
local function cross_entropy(out, target)
    if out:ndim() == 3 then
        local s = out:shape()
        return F.cross_entropy(F.reshape(out, s[1] * s[2], s[3]), F.reshape(target, s[1] * s[2]))
    end
    return F.cross_entropy(out, target)
end

local losses = { cross_entropy = cross_entropy, mse = F.mse_loss }

-- trace(model, inputs [, opts]): calls model:forward (or model(...) for a plain function)
-- on one symbol per input spec and returns the Trace: graph, inputs, outputs (symbols),
-- and, with opts.loss, targets and loss.
--   opts.mode     "train" | "eval": the modules' mode while tracing (default: as they are)
--   opts.loss     "cross_entropy" | "mse" | function(output, target, ...) -> loss symbol
--   opts.targets  specs of the loss's extra inputs (default: see default_targets)
--   opts.group    function(param_name) -> optimizer group (1-based) of each parameter
function M.trace(model, inputs, opts)
    opts = util.check_options("trace", opts, { "mode", "loss", "targets", "group" })
    if opts.mode ~= nil and opts.mode ~= "train" and opts.mode ~= "eval" then
        raise("trace: mode must be \"train\" or \"eval\", got " .. tostring(opts.mode))
    end
    local self = M.new()
    local specs = spec_list(inputs)
    local names = input_names(#specs, "x")
    for i, spec in ipairs(specs) do
        self.inputs[i] = self:input(spec, names[i])
    end
    local is_module = type(model) == "table" and model.named_parameters ~= nil
    if is_module then
        for name, p in model:named_parameters() do
            self:param(p, name, opts.group and opts.group(name) or 1)
        end
        for name, b in model:named_buffers() do
            self:state(b, name)
        end
    end
    local saved = modes_of(model)
    if opts.mode then
        set_modes(saved, opts.mode == "train")
    end
    local forward = is_module and function(...)
        return model:forward(...)
    end or model
    local outer = util.building -- a model traced inside another's forward
    util.building = self
    local results = table.pack(pcall(util.track_lines, forward, table.unpack(self.inputs)))
    util.building = outer
    set_modes(saved, nil)
    if not results[1] then
        error(results[2], 0)
    end
    for i = 2, results.n do
        local out = results[i]
        if not is_symbol(out) then
            raise(string.format("trace: forward returned a %s as output %d; want symbols",
                is_tensor(out) and "tensor" or type(out), i - 1))
        end
        self.outputs[i - 1] = out
    end
    if #self.outputs == 0 then
        raise("trace: forward returned nothing")
    end
    -- An output that no node computes (forward returned an input or a parameter, as
    -- Identity and Dropout in eval mode do) goes through a copy, so programs can fetch it.
    local leaves = {}
    for _, s in ipairs(self.inputs) do
        leaves[s:id()] = true
    end
    for _, s in pairs(self.values) do
        leaves[s:id()] = true
    end
    for i, out in ipairs(self.outputs) do
        if leaves[out:id()] and (out:dtype() == "f32" or out:dtype() == "f16"
                or out:dtype() == "bf16") then
            self.outputs[i] = F.scale(out, 1)
        end
    end
    if opts.loss ~= nil then
        self:add_loss(opts.loss, opts.targets)
    end
    return self
end

-- trace:add_loss(loss, targets): declares the targets as inputs after the model's and
-- applies the loss to output 1 and them.
function Trace:add_loss(loss, targets)
    local fn = type(loss) == "function" and loss or losses[loss]
    if fn == nil then
        raise("trace: loss must be \"cross_entropy\", \"mse\" or a function, got "
            .. tostring(loss))
    end
    local out = self.outputs[1]
    local specs = targets and spec_list(targets) or default_targets(loss, out)
    local names = input_names(#specs, "y")
    for i, spec in ipairs(specs) do
        self.targets[i] = self:input(spec, names[i])
    end
    local l = util.track_lines(fn, out, table.unpack(self.targets))
    if not is_symbol(l) then
        raise("trace: the loss function returned a " .. type(l) .. ", not a symbol")
    end
    local shape = l:shape()
    if l:dtype() ~= "f32" or #shape ~= 1 or shape[1] ~= 2 then
        raise("trace: the loss must be the {sum, count} pair of cross_entropy or mse_loss, got "
            .. tostring(l))
    end
    self.loss = l
    return l
end

-- trace:program(outputs [, trainer]): a forward program computing the given symbols
-- (default: the outputs), with what a run needs: output shapes and dtypes. With a core
-- trainer handle, the program borrows its memory between steps (evaluation).
function Trace:program(outputs, trainer)
    outputs = outputs or self.outputs
    local f = util.call(core.forward, self.graph, outputs, trainer)
    local shapes, dtypes = {}, {}
    for i, s in ipairs(outputs) do
        shapes[i], dtypes[i] = s:shape(), s:dtype()
    end
    return { forward = f, shapes = shapes, dtypes = dtypes }
end

-- run(program, inputs [, epoch [, sample_base]]): runs a program from Trace:program on a
-- list of tensors; returns new output tensors.
function M.run(prog, inputs, epoch, sample_base)
    local outs = {}
    for i = 1, #prog.shapes do
        outs[i] = core.tensor(prog.shapes[i], prog.dtypes[i])
    end
    util.call(prog.forward.run, prog.forward, inputs, outs, epoch, sample_base)
    return table.unpack(outs)
end

return M
