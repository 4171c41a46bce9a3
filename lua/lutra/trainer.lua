-- lutra.Trainer: traces a model with its loss, plans the training step and owns its
-- memory; one C call per optimizer step. Also evaluation (loss and accuracy over a data
-- set through planned forward programs) and prediction. A runner builds one from its
-- config and calls step() in its loop; nothing here reads configs or files.
local util = require "lutra.util"
local F = require "lutra.ops"
local trace = require "lutra.trace"
local optim = require "lutra.optim"
local core = require "lutra.core"

local raise, is_tensor = util.raise, util.is_tensor

local M = {}

local Trainer = {}
Trainer.__index = Trainer
M.Trainer = Trainer

local cfg_keys = { "model", "inputs", "input_shape", "input_dtype", "targets", "loss", "optim",
    "schedule", "precision" }

-- The loss scale of a precision config: {scale =, dynamic =} or nil.
local function loss_scale_of(precision)
    local ls = precision.loss_scale
    if ls == nil then
        ls = precision.mode == "fp16" and "dynamic" or nil
    end
    if ls == nil then
        return nil
    elseif ls == "dynamic" then
        return { scale = 65536, dynamic = true }
    elseif type(ls) == "number" then
        return { scale = ls }
    elseif type(ls) == "table" then
        return ls
    end
    raise("Trainer: precision.loss_scale must be \"dynamic\", a number or a table, got "
        .. tostring(ls))
end

-- Trainer{model =, input_shape = {N, ...} (or inputs = {spec, ...}), optim =, ...}:
--   model        an nn.Module
--   input_shape  the micro-batch's shape (f32, or input_dtype); or inputs = a list of
--                specs ({shape =, dtype =, name =}) for several model inputs
--   loss         "cross_entropy" (default) | "mse" | function(output, target, ...)
--   targets      specs of the loss's targets (default: i32 (N) class numbers; mse: the
--                output's shape)
--   optim        lutra.optim.SGD{...} / AdamW{...}, or {type = "SGD", lr = ...}
--   schedule     a lutra.optim.schedules object; its base lr defaults to optim's lr
--   precision    {mode = "fp32" | "fp16" | "bf16", loss_scale = "dynamic" | number}
-- Raises at the caller's line for a bad config, a shape error in the model, or a plan
-- that does not fit the memory limit.
function M.new(cfg)
    cfg = util.check_options("Trainer", cfg, cfg_keys)
    local model = cfg.model
    if type(model) ~= "table" or model.named_parameters == nil then
        raise("Trainer: model must be an nn.Module, got " .. type(model))
    end
    local inputs = cfg.inputs
    if inputs == nil then
        if cfg.input_shape == nil then
            raise("Trainer: give input_shape = {N, ...} or inputs = {spec, ...}")
        end
        inputs = { { shape = cfg.input_shape, dtype = cfg.input_dtype or "f32", name = "x" } }
    end
    inputs = trace.spec_list(inputs)
    if cfg.optim == nil then
        raise("Trainer: optim is required (lutra.optim.SGD{lr = ...} or AdamW{...})")
    end
    local opt = optim.new(cfg.optim)
    local precision = util.check_options("Trainer.precision", cfg.precision or {},
        { "mode", "loss_scale" })
    local mode = precision.mode or "fp32"
    local half = ({ fp32 = false, fp16 = "f16", bf16 = "bf16" })[mode]
    if half == nil then
        raise("Trainer: precision.mode must be \"fp32\", \"fp16\" or \"bf16\", got "
            .. tostring(mode))
    end

    local groups, group_of, members = opt:param_groups(model)
    local loss = cfg.loss or "cross_entropy"
    local tr = trace.trace(model, inputs, {
        mode = "train",
        loss = loss,
        targets = cfg.targets,
        group = function(name)
            return group_of[name]
        end,
    })
    local graph, loss_sym = tr.graph, tr.loss
    if half then
        local mixed, map = util.call(graph.mixed, graph, half)
        graph, loss_sym = mixed, mixed:value(map[loss_sym:id()])
    end
    local plan = util.call(core.plan, graph, loss_sym, opt:config(groups))
    local handle = util.call(core.trainer, plan)
    local ls = loss_scale_of(precision)
    if ls then
        util.call(handle.set_loss_scale, handle, ls)
    end
    local schedule = cfg.schedule
    if schedule ~= nil then
        if type(schedule) ~= "table" or schedule.lr == nil then
            raise("Trainer: schedule must be a lutra.optim.schedules object")
        end
        schedule:with_base(opt.lr)
    end
    local first = tr.inputs[1]:shape()
    return setmetatable({
        model = model,
        optim = opt,
        schedule = schedule,
        precision = mode,
        loss = loss,
        targets = cfg.targets,
        trace = tr,
        graph = graph,
        plan = plan,
        handle = handle,
        groups = groups,
        group_members = members,
        batch_size = first[1],
        iter = 0,        -- optimizer steps attempted (skipped ones count)
        epoch = 0,
        sample_base = 0, -- the next sample's index in the epoch (keys dropout)
        programs = {},   -- evaluation and prediction programs, by key
    }, Trainer)
end

setmetatable(Trainer, {
    __call = function(_, cfg)
        return M.new(cfg)
    end,
})

local function rows(batch)
    local shape = batch[1]:shape()
    return shape[1] or 1
end

-- trainer:step(batches [, epoch [, sample_base]]): one optimizer step. batches is a list
-- of micro-batches ({{x1, y1}, {x2, y2}}) or one micro-batch ({x, y}); the tensors follow
-- the inputs, then the targets. epoch and sample_base (the index of the step's first
-- sample in the epoch) key dropout; by default the trainer counts them itself. Sets the
-- schedule's lr first. Returns {loss, count, grad_norm, skipped, step, loss_scale, lr,
-- iter}.
function Trainer:step(batches, epoch, sample_base)
    if type(batches) ~= "table" or is_tensor(batches) then
        raise("step: want a list of micro-batches {{x, y}, ...} or one micro-batch {x, y}, got "
            .. (is_tensor(batches) and "a tensor" or type(batches)))
    end
    if is_tensor(batches[1]) then
        batches = { batches }
    end
    epoch = epoch or self.epoch
    if epoch ~= self.epoch then
        self.epoch, self.sample_base = epoch, 0
    end
    sample_base = sample_base or self.sample_base
    local lr
    if self.schedule then
        lr = self.schedule:lr(self.iter)
        self.handle:set_lr(lr)
    else
        lr = self.handle:lr()
    end
    local r = util.call(self.handle.step, self.handle, batches, epoch, sample_base)
    local n = 0
    for _, b in ipairs(batches) do
        n = n + rows(b)
    end
    self.sample_base = sample_base + n
    self.iter = self.iter + 1
    r.lr, r.iter = lr, self.iter
    return r
end

function Trainer:set_lr(lr)
    util.call(self.handle.set_lr, self.handle, lr)
end

function Trainer:lr()
    return self.handle:lr()
end

function Trainer:loss_scale()
    return self.handle:loss_scale()
end

-- trainer:memory(): bytes allocated by category (as the plan report), with total and
-- live_peak.
function Trainer:memory()
    return self.handle:memory()
end

-- trainer:plan_report(): the planned bytes by category; nodes = forward + backward nodes.
function Trainer:plan_report()
    local r = self.plan:report()
    r.nodes = self.plan:nodes()
    return r
end

local function spec_of(t, name)
    return { shape = t:shape(), dtype = t:dtype(), name = name }
end

-- A forward program of the model in eval mode for these tensors' shapes; with targets,
-- its outputs are {loss, output}.
function Trainer:program(x, y)
    local key = util.shape_str(x:shape()) .. x:dtype()
        .. (y and "|" .. util.shape_str(y:shape()) .. y:dtype() or "")
    local prog = self.programs[key]
    if prog == nil then
        local tr = trace.trace(self.model, { spec_of(x, "x") }, {
            mode = "eval",
            loss = y and self.loss or nil,
            targets = y and { spec_of(y, "y") } or nil,
        })
        prog = tr:program(y and { tr.loss, tr.outputs[1] } or tr.outputs)
        self.programs[key] = prog
    end
    return prog
end

-- trainer:evaluate(x, y [, {batch_size =}]): the model in eval mode over every row of x
-- and y, in batches (a short last batch gets its own program). Returns {loss = mean loss,
-- accuracy = fraction of rows whose largest output is the target (classification with
-- 2-dim outputs), count = rows}.
function Trainer:evaluate(x, y, opts)
    opts = util.check_options("evaluate", opts, { "batch_size" })
    if not is_tensor(x) or not is_tensor(y) then
        raise("evaluate: want tensors x and y")
    end
    local n, bs = x:shape()[1], opts.batch_size or self.batch_size
    if y:shape()[1] ~= n then
        raise(string.format("evaluate: x has %d rows but y has %d", n, y:shape()[1]))
    end
    local sum, count, correct, classify = 0, 0, 0, nil
    for first = 1, n, bs do
        local len = math.min(bs, n - first + 1)
        local xb, yb = x:narrow(1, first, len), y:narrow(1, first, len)
        local loss, out = trace.run(self:program(xb, yb), { xb, yb })
        sum, count = sum + loss:get(1), count + loss:get(2)
        if classify == nil then
            classify = out:ndim() == 2 and yb:ndim() == 1 and yb:dtype() == "i32"
        end
        if classify then
            correct = correct + F.sum(F.eq(F.argmax(out, -1), yb)):get(1)
        end
    end
    return { loss = count > 0 and sum / count or 0, accuracy = classify and correct / n or nil,
        count = n }
end

-- trainer:predict(x): the model's outputs on x in eval mode (one program per shape).
function Trainer:predict(x)
    if not is_tensor(x) then
        raise("predict: want a tensor, got " .. type(x))
    end
    return trace.run(self:program(x), { x })
end

-- trainer:close(): frees the trainer's memory now (also done when it is collected, and
-- by `local trainer <close> = lutra.Trainer{...}`).
function Trainer:close()
    self.handle:close()
    self.plan:close()
    self.programs = {}
end
Trainer.__close = Trainer.close

return M
