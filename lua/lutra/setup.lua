-- The pieces a run is built from, one function each, shared by `lutra train` (the runner),
-- `lutra plan`, `lutra eval` and the REPL, so that every verb starts the context, builds
-- the model, plans memory and builds the trainer the same way: the exit codes and the
-- config error, the context (seed, threads, memory limit) and the device, the lr after
-- scaling, the tables lutra.Trainer takes (optimizer, precision, schedule), the memory
-- policy with its plan probe (lutra.memory_fit), the trainer with its retry on a real
-- out-of-memory, and the resolved config a run writes. Nothing here writes files; pieces
-- with something to say take the run's log or return their lines.
local core = require "lutra.core"
local util = require "lutra.util"
local optim = require "lutra.optim"
local config = require "lutra.config"
local serialize = require "lutra.serialize"
local tables = require "lutra.tables"
local models = require "lutra.models"
local data = require "lutra.data"
local logger = require "lutra.logger"
local trainer_mod = require "lutra.trainer"
local memory_fit = require "lutra.memory_fit"
local dist = require "lutra.dist"

local setup = {}

local num, bytes = logger.num, logger.bytes

-- Exit codes (DESIGN.md): 0 done, 1 a failure at run time, 2 usage or config, 130 after
-- SIGINT, 143 after SIGTERM.
setup.EXIT = { ok = 0, failure = 1, usage = 2, SIGINT = 130, SIGTERM = 143 }

-- A config error (a recipe that does not load, a model builder that refuses its table):
-- raised as this object, so that the CLI exits with its code (2, or 130 / 143 when a
-- signal interrupted the recipe) instead of 1.
local ConfigError = { __tostring = function(e) return e.msg end }

-- setup.config_error(msg [, code = EXIT.usage]): the error object. Cannot fail.
function setup.config_error(msg, code)
    return setmetatable({ msg = tostring(msg), code = code or setup.EXIT.usage }, ConfigError)
end

-- setup.is_config_error(e): whether e is one. Cannot fail.
function setup.is_config_error(e)
    return getmetatable(e) == ConfigError
end

-- ---- the tables lutra.Trainer takes ---------------------------------------------------------

-- setup.optimizer(o, lr): the optimizer table lutra.optim.new takes, from the resolved optim
-- group and the lr (clip_grad's max_norm included). Cannot fail.
function setup.optimizer(o, lr)
    local t = { type = o.type, lr = lr, weight_decay = o.weight_decay, paramwise = o.paramwise,
        max_grad_norm = o.clip_grad and o.clip_grad.max_norm or nil }
    if o.type == "sgd" then
        t.momentum, t.dampening, t.nesterov = o.momentum, o.dampening, o.nesterov
    else
        t.betas, t.eps = o.betas, o.eps
    end
    return t
end

-- setup.precision(p, mode): the Trainer's precision table for mode, with the recipe's
-- loss-scaling keys. Cannot fail.
function setup.precision(p, mode)
    return { mode = mode, loss_scale = p.loss_scale, init_scale = p.init_scale,
        growth_factor = p.growth_factor, backoff_factor = p.backoff_factor,
        growth_interval = p.growth_interval }
end

-- setup.schedule(s, total, steps_per_epoch): the schedule (lutra.optim.schedules) of a
-- resolved schedule group over `total` iterations; step sizes and milestones by epoch
-- count steps_per_epoch iterations each.
function setup.schedule(s, total, steps_per_epoch)
    local S = optim.schedules
    local per = s.by_epoch and steps_per_epoch or 1
    local main
    if s.type == "step" then
        main = S.step { step_size = s.step_size * per, gamma = s.gamma }
    elseif s.type == "multistep" then
        local ms = {}
        for i, m in ipairs(s.milestones) do
            ms[i] = m * per
        end
        main = S.multistep { milestones = ms, gamma = s.gamma }
    elseif s.type == "cosine" then
        main = S.cosine { T_max = math.max(1, total), eta_min = s.min_lr }
    elseif s.type == "poly" then
        main = S.poly { total = math.max(1, total), power = s.power, eta_min = s.min_lr }
    else
        main = S.constant {}
    end
    if s.warmup_iters > 0 then
        return S.warmup { iters = s.warmup_iters, start_factor = s.warmup_ratio, main = main }
    end
    return main
end

-- setup.trainer_config(cfg, model, lr [, mode = precision.mode]): what lutra.Trainer (and
-- lutra.trainer.plan) take for cfg's micro-batch, optimizer, precision and checkpointing.
function setup.trainer_config(cfg, model, lr, mode)
    return {
        model = model,
        input_shape = data.input_shape(cfg, cfg.data.batch_size),
        input_dtype = data.input_spec(cfg, 1).dtype,
        loss = data.loss(cfg),
        loader_bytes = data.loader_bytes(cfg),
        optim = setup.optimizer(cfg.optim, lr),
        precision = setup.precision(cfg.precision, mode or cfg.precision.mode),
        checkpoint = cfg.memory.checkpoint,
    }
end

-- ---- the context, the lr, the model ---------------------------------------------------------

-- setup.context(cfg): seeds, sets the CPU threads (a data-parallel rank's share of the
-- host's cores when the recipe says 0) and the memory limit plans are held to
-- (memory.limit, else the device's). Cannot fail on a resolved config.
function setup.context(cfg)
    util.manual_seed(cfg.seed)
    core.set_threads(dist.threads(cfg.threads))
    core.set_memory_limit(cfg.memory.limit or 0)
end

-- setup.device(cfg [, log]): starts the device the config asks for: a GPU through the CUDA
-- plugin, or the CPU ("auto" without a usable GPU says why on the log). An explicit "cuda"
-- that cannot run raises the reason. Returns the device picked, and why not a GPU when
-- "auto" fell back to the CPU.
function setup.device(cfg, log)
    local want = cfg.device
    local device, notice
    if dist.active() and (want == "cuda" or want == "auto") then
        -- one GPU per rank: the rank's place among this host's ranks
        want = "cuda:" .. dist.world().local_rank
        device, notice = core.set_device(want)
        if not device and cfg.device == "auto" then
            device, notice = core.set_device("cpu"), "no usable GPU: " .. tostring(notice)
        end
    else
        device, notice = core.set_device(want)
    end
    if not device then -- a rank that fails here ends the job (the others wait for it)
        error(notice, 0)
    end
    if dist.active() then
        dist.agree_device(cfg.device, device)
    end
    core.set_tf32(cfg.precision.tf32 == true)
    core.set_deterministic(cfg.device_options.deterministic ~= false)
    core.set_graphs(cfg.device_options.graph == true)
    if log then
        if notice then
            -- the count in effect, not cfg.threads: its 0 keeps OpenMP's setting, which
            -- an earlier lutra.set_threads(n) (in the REPL, say) may have made
            local n = core.threads()
            log:info(string.format("device auto: %s; training on the CPU with %d thread%s",
                notice, n, n == 1 and "" or "s"))
        elseif device ~= "cpu" then
            log:info(string.format("device %s: %s", device, core.device_info()))
        end
    end
    return device, notice
end

-- setup.lr_scaling(cfg): the lr after optim.lr_scaling, and the line that says so (nil
-- when the rule is none): "lr 2e-4 -> 4e-4: linear rule, effective batch 32 / base 16".
function setup.lr_scaling(cfg)
    local s, lr = cfg.optim.lr_scaling, cfg.optim.lr
    if s.rule == "none" then
        return lr, nil
    end
    local scaled, eff = config.scaled_lr(cfg, dist.size()), config.effective_batch(cfg, dist.size())
    return scaled, string.format("lr %s -> %s: %s rule, effective batch %d / base %d",
        num(lr), num(scaled), s.rule, eff, s.base_batch_size)
end

-- setup.model(cfg): the recipe's model; a builder's refusal is raised as a config error.
function setup.model(cfg)
    local ok, model = pcall(models.build, cfg.model, cfg)
    if not ok then
        error(setup.config_error(model), 0)
    end
    return model
end

-- setup.precision_lines(p): what a run will train in, with its loss scaling, for the log.
function setup.precision_lines(p)
    local lines = {}
    if p.mode == "fp16" then
        if p.loss_scale == "dynamic" then
            lines[#lines + 1] = string.format("precision fp16: dynamic loss scale from %g " ..
                "(× %g after %d clean steps, × %g after an overflow; collapse: %d skipped in a " ..
                "row or scale < %g -> %s)", p.init_scale, p.growth_factor,
                p.growth_interval, p.backoff_factor, p.max_skipped, p.min_scale,
                p.on_collapse)
        else
            lines[#lines + 1] = string.format("precision fp16: static loss scale %g " ..
                "(collapse: %d skipped in a row -> %s)", p.loss_scale, p.max_skipped,
                p.on_collapse)
        end
    else
        lines[#lines + 1] = "precision " .. p.mode
    end
    if (p.fp32_warmup_iters or 0) > 0 then
        lines[#lines + 1] = string.format("the first %d iterations train in fp32, then %s",
            p.fp32_warmup_iters, p.mode)
    end
    return lines
end

-- ---- memory ---------------------------------------------------------------------------------

-- No limit, for plans the memory policy measures (passed per call, never set globally).
local NO_LIMIT = { memory_limit = math.maxinteger }

-- setup.capacity(cfg, device): the bytes memory.target is a fraction of (memory.limit,
-- else the GPU's free memory, else the machine's RAM) and what they are, for the log.
function setup.capacity(cfg, device)
    if cfg.memory.limit then
        return cfg.memory.limit, "memory.limit"
    end
    local free, total = core.device_memory()
    if device ~= "cpu" then
        return free, "the GPU's free memory"
    end
    local ranks = dist.active() and dist.world().local_size or 1
    if ranks > 1 then -- the ranks on this host share its RAM
        return total // ranks, string.format("the machine's RAM shared by its %d ranks", ranks)
    end
    return total, "the machine's RAM"
end

-- Plans candidate config c's step with plan(); a model that cannot take the data's
-- batches (a shape error while tracing it) is named with what the data hands it, since
-- the message alone speaks of the layer ("linear: input (128, 2304) has 2304 features
-- but weight (128, 3136) expects 3136").
local function plan_on_data(c, plan)
    local ok, res = pcall(plan)
    if ok then
        return res
    end
    if type(res) ~= "string" then
        error(res, 0)
    end
    local x, y = data.input_spec(c, c.data.batch_size), data.target_spec(c, c.data.batch_size)
    error(string.format("%s (the model was traced on the data's batches: x %s %s, y %s %s; " ..
        "a built-in model's sizes (cnn.in_channels, cnn.image_size, mlp.in_features, " ..
        "num_classes) must fit them)", res, x.dtype, util.shape_str(x.shape), y.dtype,
        util.shape_str(y.shape)), 0)
end

-- setup.process_bytes(cfg, device): what the process holds besides the plans, counted
-- against the capacity: its resident memory now on the CPU with memory.process; 0 on a
-- GPU (the card's memory is the plans' and the runtime's alone) or without it. Cannot fail.
function setup.process_bytes(cfg, device)
    if device ~= "cpu" or not cfg.memory.process then
        return 0
    end
    return logger.rss() or 0
end

-- setup.plan_probe(model, lr): the probe lutra.memory_fit.fit takes: plans a candidate
-- config's step and its evaluation with no memory limit for that call.
function setup.plan_probe(model, lr)
    return function(c)
        return plan_on_data(c, function()
            return trainer_mod.plan(setup.trainer_config(c, model, lr), c.data.val_batch_size,
                NO_LIMIT)
        end)
    end
end

-- setup.step_probe(model, lr): the probe lutra.memory_fit.answers takes: plans a candidate
-- config's step alone, with no memory limit for that call.
function setup.step_probe(model, lr)
    return function(c)
        return plan_on_data(c, function()
            return trainer_mod.plan(setup.trainer_config(c, model, lr), nil, NO_LIMIT)
        end)
    end
end

-- setup.eval_probe(model): the probe lutra.memory_fit.fit_eval takes: plans a candidate
-- config's evaluation program alone, with no memory limit for that call.
function setup.eval_probe(model)
    return function(c)
        local rows = c.data.val_batch_size
        return trainer_mod.eval_plan(model, data.input_spec(c, rows), data.target_spec(c, rows),
            data.loss(c), NO_LIMIT)
    end
end

-- setup.fit_memory(cfg, model, lr, device [, test_size]): lutra.memory_fit.fit on this
-- device, its choices written into cfg. Returns the log lines, {key = why} for the
-- resolved config, {batch =, extra =} (the evaluation's batch and the bytes it needs
-- beyond the step's) and the process's own bytes it counted (setup.process_bytes);
-- raises as fit does.
function setup.fit_memory(cfg, model, lr, device, test_size)
    local capacity, what = setup.capacity(cfg, device)
    local process = setup.process_bytes(cfg, device)
    local fitted, why = memory_fit.fit(cfg, setup.plan_probe(model, lr),
        { capacity = capacity, capacity_name = what, test_size = test_size,
          baseline = process })
    memory_fit.apply(cfg, fitted, why.origin)
    return why.lines, why.origin, why.eval, process
end

-- setup.fit_eval(cfg, model, device, test_size): lutra.memory_fit.fit_eval on this device.
-- Returns the evaluation batch and the line saying what changed, or nil; raises as
-- fit_eval does.
function setup.fit_eval(cfg, model, device, test_size)
    local capacity, what = setup.capacity(cfg, device)
    local fitted, why = memory_fit.fit_eval(cfg, setup.eval_probe(model),
        { capacity = capacity, capacity_name = what, test_size = test_size,
          baseline = setup.process_bytes(cfg, device) })
    return fitted.data.val_batch_size, why.lines[1]
end

-- setup.checkpoint_line(segments, recomputed): what activation checkpointing did to a plan.
function setup.checkpoint_line(segments, recomputed)
    return segments > 1 and string.format("activation checkpointing: %d segments, %d " ..
        "forward nodes recomputed per micro-batch", segments, recomputed) or
        "activation checkpointing: nothing in this model is worth recomputing (the step " ..
        "would not get smaller); the plain step runs"
end

-- setup.layout_line(blocked, aliased): what the planner laid out (lt_plan_layout).
function setup.layout_line(blocked, aliased)
    return string.format("layout: %d tensors channel-blocked between the kernels that take " ..
        "them (no reorders), %d reshapes copying nothing", blocked, aliased)
end

-- setup.eval_line(eval): what evaluation takes, from fit_memory's third result.
function setup.eval_line(eval)
    return string.format("evaluation (batch %d): %s", eval.batch, eval.extra > 0 and
        string.format("%s beyond the step's memory", bytes(eval.extra)) or
        "within the step's memory")
end

-- ---- the trainer ----------------------------------------------------------------------------

-- setup.trainer(cfg, model, lr, opts): the trainer for cfg, built in opts.mode (default
-- precision.mode) with opts.schedule, by opts.make (default lutra.Trainer). On a real
-- out-of-memory (the device had less than it said) with memory.on_oom = "reduce", halves
-- the micro-batch and doubles accumulate in cfg, says so on opts.log, and builds again.
-- Returns the trainer and whether cfg's micro-batch changed; raises what building raised
-- otherwise.
function setup.trainer(cfg, model, lr, opts)
    local make = opts.make or trainer_mod.Trainer
    local reduced = false
    while true do
        local t = setup.trainer_config(cfg, model, lr, opts.mode)
        t.schedule = opts.schedule
        local built, trainer = pcall(make, t)
        if built then
            return trainer, reduced
        end
        local b, acc = cfg.data.batch_size, cfg.optim.accumulate
        if cfg.memory.on_oom ~= "reduce" or b % 2 ~= 0 or
            not tostring(trainer):find("out of memory", 1, true) then
            error(trainer, 0)
        end
        opts.log:info(string.format("memory: out of memory building the step (%s); micro-batch " ..
            "%d -> %d, accumulate %d -> %d (memory.on_oom = \"reduce\")", tostring(trainer), b,
            b // 2, acc, acc * 2))
        cfg.data.batch_size, cfg.optim.accumulate, reduced = b // 2, acc * 2, true
    end
end

-- setup.resolved_config(cfg, opts): the text of a run's config.lua, as a function of the
-- run's folder: cfg (copied now) with opts.lr written in place of the lr scaling
-- (opts.lr_line says how it came), and each key's origin (opts.origin, then opts.fit's
-- reasons) beside it. opts: {lr =, lr_line =, origin =, fit =, recipe =}.
function setup.resolved_config(cfg, opts)
    local resolved = tables.deep_copy(cfg)
    local origin = {}
    for k, v in pairs(opts.origin) do
        origin[k] = v
    end
    for k, v in pairs(opts.fit) do
        origin[k] = v
    end
    if opts.lr_line then
        resolved.optim.lr = opts.lr
        resolved.optim.lr_scaling = { rule = "none" }
        origin["optim.lr"] = opts.lr_line
        origin["optim.lr_scaling.rule"] = string.format("was %q (base_batch_size %d), " ..
            "applied to optim.lr above", cfg.optim.lr_scaling.rule,
            cfg.optim.lr_scaling.base_batch_size)
        origin["optim.lr_scaling.base_batch_size"] = nil
    end
    return function(run_dir)
        return serialize.text(resolved, { origin = origin,
            header = "The resolved config of this run (lutra " .. core.version() ..
                "), from " .. (opts.recipe or "a script") .. ".\nTrain it again: lutra " ..
                "train " .. run_dir .. "/config.lua" })
    end
end

return setup
