-- lutra.optim: optimizer configs (SGD, AdamW) with mmengine's paramwise words for
-- parameter groups, and learning-rate schedules counted in iterations (optimizer steps).
-- Everything here is plain Lua data; lutra.Trainer hands it to the core.
local util = require "lutra.util"

local raise = util.raise

local optim = {}

-- ---- optimizers ------------------------------------------------------------------------------

local Optimizer = {}
Optimizer.__index = Optimizer

local paramwise_keys = { "bias_lr_mult", "bias_decay_mult", "norm_decay_mult",
    "dwconv_decay_mult", "flat_decay_mult", "custom_keys" }

local function number_option(what, opts, key, default, lo)
    local v = opts[key]
    if v == nil then
        return default
    end
    if type(v) ~= "number" or v ~= v or v < lo then
        raise(string.format("%s: %s must be a number >= %g, got %s", what, key, lo, tostring(v)))
    end
    return v
end

local function new_optimizer(what, kind, opts, keys, defaults)
    opts = util.check_options(what, opts, keys)
    local self = setmetatable({ kind = kind }, Optimizer)
    for k, def in pairs(defaults) do
        if type(def) == "number" then
            self[k] = number_option(what, opts, k, def, 0)
        end
    end
    self.lr = number_option(what, opts, "lr", defaults.lr, 0)
    if self.lr == nil then
        raise(what .. ": lr is required")
    end
    self.max_grad_norm = number_option(what, opts, "max_grad_norm", 0, 0)
    self.paramwise = util.check_options(what .. ".paramwise", opts.paramwise, paramwise_keys)
    for _, k in ipairs(paramwise_keys) do
        if k ~= "custom_keys" then
            number_option(what .. ".paramwise", self.paramwise, k, nil, 0)
        end
    end
    return self, opts
end

-- SGD{lr =, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false,
-- max_grad_norm = 0, paramwise = {...}}: PyTorch's SGD.
function optim.SGD(opts)
    local self
    self, opts = new_optimizer("SGD", "sgd", opts, { "lr", "momentum", "dampening",
        "weight_decay", "nesterov", "max_grad_norm", "paramwise" },
        { momentum = 0, dampening = 0, weight_decay = 0 })
    self.nesterov = opts.nesterov == true
    return self
end

-- AdamW{lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2, max_grad_norm =
-- 0, paramwise = {...}}: PyTorch's AdamW.
function optim.AdamW(opts)
    local self
    self, opts = new_optimizer("AdamW", "adamw", opts, { "lr", "betas", "eps", "weight_decay",
        "max_grad_norm", "paramwise" }, { lr = 1e-3, eps = 1e-8, weight_decay = 1e-2 })
    local betas = opts.betas or { 0.9, 0.999 }
    if type(betas) ~= "table" or type(betas[1]) ~= "number" or type(betas[2]) ~= "number" then
        raise("AdamW: betas must be a pair of numbers, got " .. tostring(betas))
    end
    self.betas = { betas[1], betas[2] }
    return self
end

-- new{type = "SGD" | "AdamW", ...}: an optimizer from an mmengine-style table.
function optim.new(cfg)
    if type(cfg) ~= "table" then
        raise("optim: want a table {type = \"SGD\" | \"AdamW\", lr = ...}, got " .. type(cfg))
    end
    if getmetatable(cfg) == Optimizer then
        return cfg
    end
    local make = ({ SGD = optim.SGD, AdamW = optim.AdamW, sgd = optim.SGD,
        adamw = optim.AdamW })[cfg.type]
    if make == nil then
        raise("optim: type must be \"SGD\" or \"AdamW\", got " .. tostring(cfg.type))
    end
    local opts = {}
    for k, v in pairs(cfg) do
        if k ~= "type" then
            opts[k] = v
        end
    end
    return make(opts)
end

optim.is_optimizer = function(v)
    return getmetatable(v) == Optimizer
end

-- The (lr_mult, decay_mult) of one parameter, by mmengine's DefaultOptimWrapperConstructor
-- rules: a custom key contained in the name wins (longest key first); else biases outside
-- norm layers take bias_lr_mult, and decay follows the first that applies of
-- norm_decay_mult (norm layers), bias_decay_mult, dwconv_decay_mult, flat_decay_mult
-- (1-dim parameters). Unset words change nothing.
function Optimizer:multipliers(name, param, module, local_name)
    local pw = self.paramwise
    local custom = pw.custom_keys
    if custom then
        local keys = {}
        for k in pairs(custom) do
            keys[#keys + 1] = k
        end
        table.sort(keys)
        table.sort(keys, function(a, b)
            return #a > #b
        end)
        for _, k in ipairs(keys) do
            if name:find(k, 1, true) then
                return custom[k].lr_mult or 1, custom[k].decay_mult or 1
            end
        end
    end
    local is_norm = module and module.is_norm == true
    local is_dwconv = module and module.groups ~= nil and module.in_channels ~= nil
        and module.groups > 1 and module.groups == module.in_channels
    local lr_mult, decay_mult = 1, 1
    if local_name == "bias" and not is_norm and pw.bias_lr_mult then
        lr_mult = pw.bias_lr_mult
    end
    if is_norm and pw.norm_decay_mult then
        decay_mult = pw.norm_decay_mult
    elseif local_name == "bias" and pw.bias_decay_mult then
        decay_mult = pw.bias_decay_mult
    elseif is_dwconv and pw.dwconv_decay_mult then
        decay_mult = pw.dwconv_decay_mult
    elseif param:ndim() == 1 and pw.flat_decay_mult then
        decay_mult = pw.flat_decay_mult
    end
    return lr_mult, decay_mult
end

-- optimizer:param_groups(model): the groups ({lr_mult =, decay_mult =}, in order of first
-- use), each parameter's group number (name -> 1-based index), and the parameter names of
-- each group.
function Optimizer:param_groups(model)
    local groups, group_of, members, index = {}, {}, {}, {}
    for _, e in ipairs(model:parameter_entries()) do
        local name, p, m, local_name = e[1], e[2], e[3], e[4]
        local lr_mult, decay_mult = self:multipliers(name, p, m, local_name)
        local key = string.format("%.17g/%.17g", lr_mult, decay_mult)
        if index[key] == nil then
            groups[#groups + 1] = { lr_mult = lr_mult, decay_mult = decay_mult }
            members[#groups] = {}
            index[key] = #groups
        end
        group_of[name] = index[key]
        table.insert(members[index[key]], name)
    end
    if #groups == 0 then
        groups[1] = { lr_mult = 1, decay_mult = 1 }
        members[1] = {}
    end
    return groups, group_of, members
end

-- optimizer:config(groups): the table core.plan takes.
function Optimizer:config(groups)
    local c = {
        kind = self.kind,
        lr = self.lr,
        weight_decay = self.weight_decay,
        max_grad_norm = self.max_grad_norm,
        groups = groups,
    }
    if self.kind == "sgd" then
        c.momentum, c.dampening, c.nesterov = self.momentum, self.dampening, self.nesterov
    else
        c.beta1, c.beta2, c.eps = self.betas[1], self.betas[2], self.eps
    end
    return c
end

-- ---- schedules ---------------------------------------------------------------------------------
-- A schedule is an object with :lr(iter), iter counting optimizer steps from 0 (the lr of
-- the step about to run). base_lr is given (lr =) or filled in by the trainer from the
-- optimizer (schedule:with_base(lr)). `begin` delays a schedule: before it, the base lr.

local schedules = {}
optim.schedules = schedules

local Schedule = {}
Schedule.__index = Schedule

local function schedule(what, opts, keys, factor)
    keys[#keys + 1] = "lr"
    keys[#keys + 1] = "begin"
    opts = util.check_options(what, opts, keys)
    local self = setmetatable({ name = what, base_lr = opts.lr, begin = opts.begin or 0,
        opts = opts, factor_at = factor }, Schedule)
    return self
end

-- schedule:with_base(lr): this schedule with base_lr = lr unless it has one.
function Schedule:with_base(lr)
    if self.base_lr == nil then
        self.base_lr = lr
    end
    if self.main then
        self.main:with_base(lr)
    end
    return self
end

function Schedule:lr(iter)
    if self.base_lr == nil then
        raise(self.name .. ": no base lr (give lr =, or let the trainer set it)")
    end
    local t = iter - self.begin
    if t < 0 then
        return self.base_lr
    end
    return self:factor_at(t)
end

local function required(what, opts, key)
    local v = opts and opts[key]
    if type(v) ~= "number" or v <= 0 then
        raise(string.format("%s: %s must be a number > 0, got %s", what, key, tostring(v)))
    end
    return v
end

-- constant{lr}
function schedules.constant(opts)
    return schedule("constant", opts, {}, function(self)
        return self.base_lr
    end)
end

-- step{step_size, gamma = 0.1}: lr * gamma^floor(iter / step_size) (StepLR)
function schedules.step(opts)
    local size = required("step", opts, "step_size")
    return schedule("step", opts, { "step_size", "gamma" }, function(self, t)
        return self.base_lr * (self.opts.gamma or 0.1) ^ (t // size)
    end)
end

-- multistep{milestones = {...}, gamma = 0.1}: lr * gamma^(milestones passed) (MultiStepLR)
function schedules.multistep(opts)
    local ms = opts and opts.milestones
    if type(ms) ~= "table" then
        raise("multistep: milestones must be a list of iterations")
    end
    return schedule("multistep", opts, { "milestones", "gamma" }, function(self, t)
        local passed = 0
        for _, m in ipairs(ms) do
            if t >= m then
                passed = passed + 1
            end
        end
        return self.base_lr * (self.opts.gamma or 0.1) ^ passed
    end)
end

-- cosine{T_max, eta_min = 0}: eta_min + (lr - eta_min) (1 + cos(pi t / T_max)) / 2,
-- eta_min after T_max (CosineAnnealingLR)
function schedules.cosine(opts)
    local T_max = required("cosine", opts, "T_max")
    return schedule("cosine", opts, { "T_max", "eta_min" }, function(self, t)
        local eta_min = self.opts.eta_min or 0
        local x = math.min(t, T_max) / T_max
        return eta_min + (self.base_lr - eta_min) * (1 + math.cos(math.pi * x)) / 2
    end)
end

-- poly{total, power = 1, eta_min = 0}: eta_min + (lr - eta_min) (1 - t / total)^power,
-- eta_min after total (mmengine's PolyLR)
function schedules.poly(opts)
    local total = required("poly", opts, "total")
    return schedule("poly", opts, { "total", "power", "eta_min" }, function(self, t)
        local eta_min = self.opts.eta_min or 0
        local x = math.min(t, total) / total
        return eta_min + (self.base_lr - eta_min) * (1 - x) ^ (self.opts.power or 1)
    end)
end

-- linear{iters, start_factor = 1/3, end_factor = 1}: lr times a factor going linearly
-- from start_factor to end_factor over iters, then staying (LinearLR).
function schedules.linear(opts)
    local iters = required("linear", opts, "iters")
    return schedule("linear", opts, { "iters", "start_factor", "end_factor" }, function(self, t)
        local s, e = self.opts.start_factor or 1 / 3, self.opts.end_factor or 1
        return self.base_lr * (s + (e - s) * math.min(t, iters) / iters)
    end)
end

-- warmup{iters, start_factor = 0.001, main = schedule}: linear warmup multiplying the main
-- schedule (default constant) over the first iters, as mmengine's LinearLR chained
-- before it.
function schedules.warmup(opts)
    local iters = required("warmup", opts, "iters")
    local self = schedule("warmup", opts, { "iters", "start_factor", "main" }, function(self, t)
        local s = self.opts.start_factor or 0.001
        local f = s + (1 - s) * math.min(t, iters) / iters
        return f * self.main:lr(t + self.begin)
    end)
    self.main = opts.main or schedules.constant {}
    if getmetatable(self.main) ~= Schedule then
        raise("warmup: main must be a schedule")
    end
    if self.base_lr then
        self.main:with_base(self.base_lr)
    end
    return self
end

return optim
