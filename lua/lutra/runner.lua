-- The training loop a recipe describes: builds the model, the data loaders and the
-- trainer from a resolved config (lutra.config), applies the policies (lr scaling on the
-- effective batch, precision with loss scaling, fp32 warmup, collapse handling, the NaN
-- guard, accumulation, clipping, the schedule in iterations), and runs iteration- or
-- epoch-based training: one trainer:step (one C call) per optimizer step, then the
-- hooks. It writes the work dir (config.lua, train.log, metrics.jsonl, checkpoints,
-- best_<metric>.safetensors, final.safetensors, loss/lr/memory curves as PNG) and stops
-- cleanly on SIGINT or SIGTERM after the current step: logs flushed, weights and trainer
-- state saved, 130 or 143.
--
-- Hooks are tables with any of before_run, before_epoch, after_step, after_eval,
-- after_epoch, after_run (each called as hook:event(runner, ...)); the recipe's `hooks`
-- list and runner.new's opts.hooks add them. Each call runs in a protected call: an
-- error is logged and the run goes on. runner:request_stop(reason) ends the run after
-- the current step.
local core = require "lutra.core"
local util = require "lutra.util"
local optim = require "lutra.optim"
local config = require "lutra.config"
local schema = require "lutra.schema"
local models = require "lutra.models"
local data = require "lutra.data"
local checkpoint = require "lutra.checkpoint"
local logger = require "lutra.logger"
local trainer_mod = require "lutra.trainer"
local workdir = require "lutra.workdir"
local resume = require "lutra.resume"

local runner = {}

local Runner = {}
Runner.__index = Runner
runner.Runner = Runner

-- Exit codes (DESIGN.md): 0 done, 1 a failure at run time, 2 usage or config, 130 after
-- SIGINT, 143 after SIGTERM.
runner.EXIT = { ok = 0, failure = 1, usage = 2, SIGINT = 130, SIGTERM = 143 }

-- A config error found while building (the model's builder refused its table): raised as
-- this object, so that the CLI exits 2 instead of 1.
local ConfigError = { __tostring = function(e) return e.msg end }

function runner.config_error(msg)
    return setmetatable({ msg = tostring(msg), code = runner.EXIT.usage }, ConfigError)
end

function runner.is_config_error(e)
    return getmetatable(e) == ConfigError
end

local HOOK_EVENTS = { "before_run", "before_epoch", "after_step", "after_eval", "after_epoch",
    "after_run" }

local num, bytes = logger.num, logger.bytes

-- ---- building ---------------------------------------------------------------------------------

-- The optimizer table lutra.optim.new takes, from the resolved optim group and the lr.
local function optimizer_of(o, lr)
    local t = { type = o.type, lr = lr, weight_decay = o.weight_decay, paramwise = o.paramwise,
        max_grad_norm = o.clip_grad and o.clip_grad.max_norm or nil }
    if o.type == "sgd" then
        t.momentum, t.dampening, t.nesterov = o.momentum, o.dampening, o.nesterov
    else
        t.betas, t.eps = o.betas, o.eps
    end
    return t
end

-- The schedule (lutra.optim.schedules) of a resolved schedule group over `total`
-- iterations; step sizes and milestones by epoch count steps_per_epoch iterations each.
function runner.schedule(s, total, steps_per_epoch)
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

-- The lr after optim.lr_scaling, and the line that says so (nil when the rule is none):
-- "lr 2e-4 -> 4e-4: linear rule, effective batch 32 / base 16".
function runner.lr_scaling(cfg)
    local s, lr = cfg.optim.lr_scaling, cfg.optim.lr
    if s.rule == "none" then
        return lr, nil
    end
    local scaled, eff = config.scaled_lr(cfg), config.effective_batch(cfg)
    return scaled, string.format("lr %s -> %s: %s rule, effective batch %d / base %d",
        num(lr), num(scaled), s.rule, eff, s.base_batch_size)
end

-- What a run will train on, and how: the line for the log.
local function precision_lines(p)
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

-- runner.new(cfg [, opts]): a runner for a resolved config. opts: {notes = the config's
-- notes, origin = its origin map, recipe = the recipe's path, hooks = more hook tables,
-- console = a file for the console (default stdout), tty = draw a progress bar (default:
-- whether stdout is a terminal), quiet = no console output, write = false: no work dir
-- (the REPL), make_trainer = what builds the trainer (default lutra.Trainer; tests put an
-- out-of-memory there)}. Nothing is built until setup() (train() calls it).
function runner.new(cfg, opts)
    opts = opts or {}
    local self = setmetatable({
        cfg = cfg,
        opts = opts,
        notes = opts.notes or {},
        origin = opts.origin or {},
        recipe = opts.recipe,
        hooks = {},
        iter = 0,          -- optimizer steps done (skipped ones count)
        epoch = 0,         -- epochs completed
        skipped = 0,       -- skipped steps in all
        skipped_in_row = 0,
        best = nil,        -- {metric =, value =, iter =}
        ckpts = {},        -- checkpoint paths, oldest first
        last_eval_iter = -1,
        stop = nil,        -- {reason =, code =, message =}
    }, Runner)
    for _, h in ipairs(cfg.hooks or {}) do
        self:add_hook(h)
    end
    for _, h in ipairs(opts.hooks or {}) do
        self:add_hook(h)
    end
    return self
end

-- runner:add_hook(h): appends a hook table (see the top of this file).
function Runner:add_hook(h)
    if type(h) ~= "table" then
        error("a hook is a table of functions (after_step = function(hook, runner, result)), " ..
            "got " .. type(h), 0)
    end
    local any = false
    for _, e in ipairs(HOOK_EVENTS) do
        if h[e] ~= nil and type(h[e]) ~= "function" then
            error(string.format("hook %s: %s must be a function, got %s",
                tostring(h.name or h.type or #self.hooks + 1), e, type(h[e])), 0)
        end
        any = any or h[e] ~= nil
    end
    if not any then
        error(string.format("hook %s has none of %s", tostring(h.name or h.type or
            #self.hooks + 1), table.concat(HOOK_EVENTS, ", ")), 0)
    end
    self.hooks[#self.hooks + 1] = h
end

-- Calls event on every hook, each in a protected call; errors are logged.
function Runner:call_hooks(event, ...)
    for i, h in ipairs(self.hooks) do
        local fn = h[event]
        if fn then
            local ok, err = pcall(fn, h, self, ...)
            if not ok then
                self.log:warn(string.format("hook %s %s failed: %s",
                    tostring(h.name or h.type or i), event, tostring(err)))
            end
        end
    end
end

-- runner:request_stop(reason [, code = 0]): ends the run after the current step.
function Runner:request_stop(reason, code)
    self.stop = self.stop or { reason = reason, code = code or 0 }
end

-- Starts the device the config asks for: a GPU through the CUDA plugin, or the CPU
-- ("auto" without a usable GPU says why on the log). An explicit "cuda" that cannot
-- run raises the reason. Returns the device picked, and why not a GPU when "auto" fell
-- back to the CPU.
function runner.check_device(cfg, log)
    local device, notice = core.set_device(cfg.device)
    if not device then
        error(notice, 0)
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

-- The Trainer's precision table for mode, with the recipe's loss-scaling keys.
local function trainer_precision(p, mode)
    return { mode = mode, loss_scale = p.loss_scale, init_scale = p.init_scale,
        growth_factor = p.growth_factor, backoff_factor = p.backoff_factor,
        growth_interval = p.growth_interval }
end

-- The capacity the memory target is a fraction of: memory.limit, else the GPU's free
-- memory, else the machine's RAM; and what it is, for the log.
local function capacity_of(cfg, device)
    if cfg.memory.limit then
        return cfg.memory.limit, "memory.limit"
    end
    local free, total = core.device_memory()
    if device ~= "cpu" then
        return free, "the GPU's free memory"
    end
    return total, "the machine's RAM"
end

-- The memory policy (DESIGN, "Policies"): plans the step for the recipe's micro-batch and
-- precision and, while it needs more than memory.target of the capacity, applies
-- memory.fit in order: "batch" halves the micro-batch and doubles accumulate (the
-- effective batch, hence the lr, stays), "precision" trains an fp32 recipe in bf16,
-- "checkpoint" turns activation checkpointing on. The evaluation program counts too (what
-- it needs beyond the step's memory, which it borrows), at a batch no larger than the
-- test split (test_size, when known): when the step fits and the two do not, the
-- evaluation batch is halved, as evaluation's results do not depend on it.
-- Writes what it chose into cfg and returns the log lines, {key = why} for the resolved
-- config and {batch =, extra =}: the evaluation's batch and the bytes it needs beyond the
-- step's; raises, with the bytes, when nothing it may change fits.
function runner.fit_memory(cfg, model, lr, device, test_size)
    local m = cfg.memory
    local capacity, what = capacity_of(cfg, device)
    local budget = math.floor(m.target * capacity)
    local p = cfg.precision
    -- the bytes of a step and its evaluation; when the step fits and the two do not, the
    -- evaluation batch halves (never to grow again: a smaller step lends it less) until
    -- they fit or the evaluation borrows all it needs
    -- an evaluation batch is never larger than the test split it reads
    local val0 = math.min(cfg.data.val_batch_size, test_size or math.huge)
    if cfg.data.val_samples > 0 then
        val0 = math.min(val0, cfg.data.val_samples)
    end
    local val = val0
    local function measure(batch, mode, ck)
        local plan = trainer_mod.plan({
            model = model,
            input_shape = data.input_shape(cfg, batch),
            optim = optimizer_of(cfg.optim, lr),
            precision = trainer_precision(p, mode),
            checkpoint = ck,
        }, val)
        return plan.report.total + plan.eval_extra, plan.eval_extra
    end
    local function need(batch, mode, ck)
        local total, extra = measure(batch, mode, ck)
        while total > budget and total - extra <= budget and extra > 0 and val > 1 do
            val = (val + 1) // 2
            total, extra = measure(batch, mode, ck)
        end
        return total, extra
    end
    -- plans that do not fit are what is being measured: no limit while probing
    core.set_memory_limit(math.maxinteger)
    local ok, result = pcall(function()
        local batch, acc, mode, ck = cfg.data.batch_size, cfg.optim.accumulate, p.mode,
            m.checkpoint
        local first = measure(batch, mode, ck)
        local bytes_needed, eval_extra = need(batch, mode, ck)
        for _, way in ipairs(m.fit) do
            if bytes_needed <= budget then
                break
            end
            if way == "batch" then
                while bytes_needed > budget and batch % 2 == 0 do
                    batch, acc = batch // 2, acc * 2
                    bytes_needed, eval_extra = need(batch, mode, ck)
                end
            elseif way == "precision" and mode == "fp32" then
                mode = "bf16"
                bytes_needed, eval_extra = need(batch, mode, ck)
            elseif way == "checkpoint" and not ck then
                ck = true
                bytes_needed, eval_extra = need(batch, mode, ck)
            end
        end
        return { batch = batch, acc = acc, mode = mode, ck = ck, bytes = bytes_needed,
            first = first, val = val, eval_extra = eval_extra }
    end)
    core.set_memory_limit(cfg.memory.limit or 0)
    if not ok then
        error(result, 0)
    end
    local r = result
    local target = string.format("memory.target %g of %s (%s)", m.target, what, bytes(capacity))
    if r.bytes > budget then
        error(string.format("memory: the step and its evaluation need %s (micro-batch %d, " ..
            "%s, evaluation batch %d), over %s = %s, " ..
            "and memory.fit {%s} cannot bring it under (a larger memory.limit or " ..
            "memory.target, or a smaller model, may)", bytes(r.bytes), r.batch, r.mode, r.val,
            target, bytes(budget), table.concat(m.fit, ", ")), 0)
    end
    local lines, why = {}, {}
    if r.batch ~= cfg.data.batch_size or r.mode ~= p.mode or r.ck ~= m.checkpoint or
        r.val ~= val0 then
        local said = string.format("memory: the step and its evaluation need %s, over %s = %s",
            bytes(r.first), target, bytes(budget))
        if r.val ~= val0 then
            said = said .. string.format("; evaluation batch %d -> %d", val0, r.val)
            why["data.val_batch_size"] = string.format("memory: was %d",
                cfg.data.val_batch_size)
            cfg.data.val_batch_size = r.val
        end
        if r.batch ~= cfg.data.batch_size then
            said = said .. string.format("; micro-batch %d -> %d, accumulate %d -> %d " ..
                "(effective batch %d kept)", cfg.data.batch_size, r.batch, cfg.optim.accumulate,
                r.acc, r.batch * r.acc)
            why["data.batch_size"] = string.format("memory.fit: was %d", cfg.data.batch_size)
            why["optim.accumulate"] = string.format("memory.fit: was %d", cfg.optim.accumulate)
        end
        if r.mode ~= p.mode then
            said = said .. string.format("; precision %s -> %s", p.mode, r.mode)
            why["precision.mode"] = string.format("memory.fit: was %q", p.mode)
        end
        if r.ck ~= m.checkpoint then
            said = said .. "; activation checkpointing on"
            why["memory.checkpoint"] = "memory.fit: was false"
        end
        lines[1] = said .. string.format("; now %s", bytes(r.bytes))
        cfg.data.batch_size, cfg.optim.accumulate, p.mode = r.batch, r.acc, r.mode
        m.checkpoint = r.ck
    end
    return lines, why, { batch = r.val, extra = r.eval_extra }
end

-- The line that says what activation checkpointing did to a plan.
function runner.checkpoint_line(segments, recomputed)
    return segments > 1 and string.format("activation checkpointing: %d segments, %d " ..
        "forward nodes recomputed per micro-batch", segments, recomputed) or
        "activation checkpointing: nothing in this model is worth recomputing (the step " ..
        "would not get smaller); the plain step runs"
end

-- The line that says what evaluation takes, from fit_memory's third result.
function runner.eval_line(eval)
    return string.format("evaluation (batch %d): %s", eval.batch, eval.extra > 0 and
        string.format("%s beyond the step's memory", bytes(eval.extra)) or
        "within the step's memory")
end

-- The evaluation batch of a model evaluated alone (lutra eval): val_batch_size, at most
-- the test split, halved until the program fits memory.target of the capacity. Returns
-- the batch and a line saying what changed, or nil; raises, with the bytes, when even
-- one row does not fit.
function runner.fit_eval_batch(cfg, model, device, test_size)
    local capacity, what = capacity_of(cfg, device)
    local budget = math.floor(cfg.memory.target * capacity)
    local val0 = math.min(cfg.data.val_batch_size, test_size)
    local val, bytes_needed = val0, nil
    core.set_memory_limit(math.maxinteger)
    local ok, err = pcall(function()
        while true do
            local x = { shape = data.input_shape(cfg, val), dtype = "f32" }
            bytes_needed = trainer_mod.eval_plan(model, x, { shape = { val }, dtype = "i32" }).total
            if bytes_needed <= budget or val == 1 then
                return
            end
            val = (val + 1) // 2
        end
    end)
    core.set_memory_limit(cfg.memory.limit or 0)
    if not ok then
        error(err, 0)
    end
    local target = string.format("memory.target %g of %s (%s)", cfg.memory.target, what,
        bytes(capacity))
    if bytes_needed > budget then
        error(string.format("memory: evaluation needs %s even one row at a time, over %s = %s",
            bytes(bytes_needed), target, bytes(budget)), 0)
    end
    return val, val ~= val0 and string.format("memory: evaluation batch %d -> %d to fit %s = %s",
        val0, val, target, bytes(budget)) or nil
end

-- runner:setup(): builds everything (context, work dir, logs, model, data, trainer,
-- resume) and logs what the run will do. Raises on failures; called by train().
function Runner:setup()
    if self.trainer then
        return self
    end
    local cfg = self.cfg
    self.t_setup = core.clock()
    util.manual_seed(cfg.seed)
    core.set_threads(cfg.threads)
    core.set_memory_limit(cfg.memory.limit or 0)
    local write = self.opts.write ~= false
    if write then
        local why = workdir.check(cfg.work_dir)
        if why then
            error(runner.config_error(why), 0)
        end
        -- the lock first: a second run on this work dir stops here, having written nothing
        self.wd = workdir.open(cfg.work_dir)
    end
    -- until the run's folder exists (once nothing can stop the run before its first step),
    -- the log keeps its file lines
    self.log = self.opts.logger or logger.new {
        console = self.opts.console,
        tty = self.opts.tty,
        quiet = self.opts.quiet,
        pending = write,
    }
    local log = self.log
    log:info(string.format("lutra %s (%s; %s)", core.version(), _VERSION, core.backend_info()))
    if self.recipe then
        log:info(write and string.format("recipe %s -> work dir %s", self.recipe, cfg.work_dir)
            or string.format("recipe %s (nothing written)", self.recipe))
    end
    for _, n in ipairs(self.notes) do
        log:info("note: " .. n)
    end
    self.device = runner.check_device(cfg, log)

    -- policies: lr scaling on the effective batch, written into the resolved config
    local lr, line = runner.lr_scaling(cfg)
    self.lr = lr
    if line then
        log:info(line)
    end
    local ok, model = pcall(models.build, cfg.model, cfg)
    if not ok then
        error(runner.config_error(model), 0)
    end
    self.model = model
    -- the data sets first: the evaluation batch the policy plans is at most the test split
    local train_set, test_set = data.dataset(cfg, "train"), data.dataset(cfg, "test")
    local fitted, fit_why, eval = runner.fit_memory(cfg, model, lr, self.device,
        test_set:size())
    for _, l in ipairs(fitted) do
        log:info(l)
    end
    local config_text
    if write then
        local resolved = schema.deep_copy(cfg)
        local origin = {}
        for k, v in pairs(self.origin) do
            origin[k] = v
        end
        for k, v in pairs(fit_why) do
            origin[k] = v
        end
        if line then
            resolved.optim.lr = lr
            resolved.optim.lr_scaling = { rule = "none" }
            origin["optim.lr"] = line
            origin["optim.lr_scaling.rule"] = string.format("was %q (base_batch_size %d), " ..
                "applied to optim.lr above", cfg.optim.lr_scaling.rule,
                cfg.optim.lr_scaling.base_batch_size)
            origin["optim.lr_scaling.base_batch_size"] = nil
        end
        config_text = function(run_dir)
            return config.serialize(resolved, { origin = origin,
                header = "The resolved config of this run (lutra " .. core.version() ..
                    "), from " .. (self.recipe or "a script") .. ".\nTrain it again: lutra " ..
                    "train " .. run_dir .. "/config.lua" })
        end
    end
    for _, l in ipairs(precision_lines(cfg.precision)) do
        log:info(l)
    end

    -- the data, the trainer
    self.train_loader, self.train_set = data.loader(cfg, "train", train_set)
    self.test_loader, self.test_set = data.loader(cfg, "test", test_set)
    local batches = self.train_loader:batches()
    local acc = cfg.optim.accumulate
    self.steps_per_epoch = (batches + acc - 1) // acc
    self.max_iters = cfg.runner.max_iters or cfg.runner.max_epochs * self.steps_per_epoch
    self.max_epochs = cfg.runner.max_epochs
    log:info(string.format("data %s: %d training, %d test samples; batch %d × accumulate %d " ..
        "= effective batch %d; %d iterations per epoch, %d in all", cfg.data.dataset,
        self.train_set:size(), self.test_set:size(), cfg.data.batch_size, acc,
        config.effective_batch(cfg), self.steps_per_epoch, self.max_iters))
    local p = cfg.precision
    local mode = p.mode
    if (p.fp32_warmup_iters or 0) > 0 then
        mode = "fp32"
    end
    -- a real out-of-memory (the device had less than it said) with memory.on_oom =
    -- "reduce": halve the micro-batch, double accumulate, build again
    local make = self.opts.make_trainer or trainer_mod.Trainer
    while true do
        local built, t = pcall(make, {
            model = self.model,
            input_shape = data.input_shape(cfg, cfg.data.batch_size),
            optim = optimizer_of(cfg.optim, lr),
            schedule = runner.schedule(cfg.schedule, self.max_iters, self.steps_per_epoch),
            precision = trainer_precision(p, mode),
            checkpoint = cfg.memory.checkpoint,
        })
        if built then
            self.trainer = t
            break
        end
        local b = cfg.data.batch_size
        if cfg.memory.on_oom ~= "reduce" or b % 2 ~= 0 or
            not tostring(t):find("out of memory", 1, true) then
            error(t, 0)
        end
        log:info(string.format("memory: out of memory building the step (%s); micro-batch " ..
            "%d -> %d, accumulate %d -> %d (memory.on_oom = \"reduce\")", tostring(t), b,
            b // 2, cfg.optim.accumulate, cfg.optim.accumulate * 2))
        cfg.data.batch_size, cfg.optim.accumulate = b // 2, cfg.optim.accumulate * 2
        self.train_loader, self.train_set = data.loader(cfg, "train", self.train_set)
    end
    local plan = self.trainer.plan
    if cfg.memory.checkpoint and plan and plan.checkpointing then
        log:info(runner.checkpoint_line(plan:checkpointing()))
    end
    local pr = self.trainer:plan_report()
    log:info(string.format("model %s: %d parameters; step planned in %s: %s (params %s, " ..
        "grads %s, optimizer %s, activations %s, temporaries %s, workspace %s, data %s)",
        type(cfg.model) == "table" and cfg.model.type or "function", self.model:num_parameters(),
        self.trainer.precision, bytes(pr.total), bytes(pr.params), bytes(pr.grads),
        bytes(pr.optimizer), bytes(pr.activations), bytes(pr.temporaries), bytes(pr.workspace),
        bytes(pr.data)))
    log:info(runner.eval_line(eval))

    if cfg.load_from then
        local note = checkpoint.load_weights(self.model, checkpoint.load(cfg.load_from),
            cfg.load_from)
        if note then
            log:warn(note)
        end
        log:info("weights loaded from " .. cfg.load_from)
    end
    local from, file
    if cfg.resume_from then
        local note
        from, file, note = resume.find(cfg.resume_from, self.wd or workdir.at(cfg.work_dir))
        if note then
            log:info(note)
        end
        if from then
            self.resume_flags = self:check_resume(from, file)
            local at = file.state.iter
            if at >= self.max_iters then
                -- nothing to train: no run folder, nothing written
                self.nothing_to_do = string.format("nothing to do: %s is at iteration %d, and " ..
                    "the run ends at %d (runner.max_iters or max_epochs)", from, at, self.max_iters)
                return self
            end
        end
    end
    if write then
        local stale = self.wd:clean_stale()
        if stale > 0 then
            log:info(string.format("removed %d temporary file%s that killed runs left in %s",
                stale, stale == 1 and "" or "s", cfg.work_dir))
        end
        self.run_dir, self.run_name = self.wd:new_run()
        log:attach(self.run_dir)
        log:info("run folder " .. self.run_dir)
        local ok, err = core.write_atomic(self.run_dir .. "/config.lua", config_text(self.run_dir))
        if not ok then
            error(err, 0)
        end
    end
    if from then
        self:apply_resume(from, file)
    end
    return self
end

-- ---- checkpoints --------------------------------------------------------------------------------

-- The position a checkpoint keeps (besides the trainer's counters).
function Runner:position()
    local e, i = self.train_loader:position()
    return { iter = self.iter, epoch = self.epoch, loader_epoch = e, loader_iter = i,
        skipped = self.skipped, best = self.best, max_iters = self.max_iters,
        effective_batch = config.effective_batch(self.cfg), run = self.run_name }
end

-- runner:save_checkpoint([name]): weights + trainer state + position in the run's folder
-- (epoch_N / iter_N.safetensors by default). In this order, so that a kill at any moment
-- leaves a checkpoint to resume: the new file (written atomically), last_checkpoint
-- pointing at it, then the oldest of this run's checkpoints (those it resumed from
-- included) beyond runner.max_keep_ckpts deleted. Returns the path.
function Runner:save_checkpoint(name)
    local cfg = self.cfg
    name = name or self:checkpoint_name()
    local path = self.run_dir .. "/" .. name
    checkpoint.save(path, self.trainer, self:position())
    self.wd:set_last_checkpoint(path)
    for i = #self.ckpts, 1, -1 do
        if self.ckpts[i] == path then
            table.remove(self.ckpts, i)
        end
    end
    self.ckpts[#self.ckpts + 1] = path
    local keep = cfg.runner.max_keep_ckpts
    while keep >= 0 and #self.ckpts > math.max(keep, 1) do
        os.remove(table.remove(self.ckpts, 1))
    end
    return path
end

-- runner:checkpoint_name(): the file name of a checkpoint now: epoch_N with epoch
-- checkpoints, iter_N else.
function Runner:checkpoint_name()
    return self.cfg.runner.checkpoint_interval == "epoch" and self.max_epochs and
        string.format("epoch_%d.safetensors", self.epoch) or
        string.format("iter_%d.safetensors", self.iter)
end

-- runner:check_resume(path, file): raises when the checkpoint does not fit the recipe
-- (runner.opts.resume_force accepts what can be accepted); returns what was accepted.
function Runner:check_resume(path, file)
    resume.position(path, file)
    local flags, accepted = resume.check(path, file, self.model, self.trainer, {
        effective_batch = config.effective_batch(self.cfg),
        precision = self.cfg.precision,
    }, self.opts.resume_force)
    for _, line in ipairs(accepted) do
        self.log:warn("--resume-force: " .. line .. "; training as the recipe says")
    end
    return flags
end

-- The checkpoints of the run that `path` ended: those in its folder up to its number (a
-- resumed run rotates them as its own), oldest first; none outside the work dir.
local function lineage(self, path)
    local folder, name = workdir.normalize(path):match("^(.*)/([^/]*)$")
    local at, kind = workdir.checkpoint_number(name or "")
    if not (folder and at and self.wd) or folder:match("^(.*)/[^/]*$") ~= self.wd.dir then
        return {}
    end
    local list = {}
    for _, n in ipairs(core.list_dir(folder) or {}) do
        local k, kk = workdir.checkpoint_number(n)
        if k and kk == kind and k <= at then
            list[#list + 1] = { path = folder .. "/" .. n, n = k }
        end
    end
    table.sort(list, function(a, b) return a.n < b.n end)
    for i, c in ipairs(list) do
        list[i] = c.path
    end
    return list
end

-- runner:apply_resume(path, file): weights, optimizer state and position from a checked
-- checkpoint (check_resume).
function Runner:apply_resume(path, file)
    local s = file.state
    local flags = self.resume_flags or {}
    if s.precision and s.precision ~= self.trainer.precision and not flags.precision then
        self.trainer:set_precision(s.precision)
    end
    local note = checkpoint.load_weights(self.model, file, path)
    if note then
        self.log:warn(note)
    end
    if flags.moments then
        util.call(self.trainer.handle.set_steps, self.trainer.handle, s.steps or 0)
        self.trainer.iter = s.iter
    else
        self.trainer:load_optimizer_state(file.tensors, s)
    end
    if s.loss_scale and self.trainer.precision == "fp16" and not flags.precision then
        local p = self.cfg.precision
        self.trainer:set_loss_scale { scale = s.loss_scale, dynamic = p.loss_scale == "dynamic",
            growth_factor = p.growth_factor, backoff_factor = p.backoff_factor,
            growth_interval = p.growth_interval }
        util.call(self.trainer.handle.set_clean_steps, self.trainer.handle, s.clean_steps or 0)
    end
    util.call(self.train_loader.seek, self.train_loader, s.loader_epoch, s.loader_iter)
    self.iter, self.epoch = s.iter, s.epoch
    self.trainer.iter = s.iter
    self.skipped, self.best = s.skipped or 0, s.best
    self.ckpts = lineage(self, path)
    self.log:info(string.format("resumed from %s: iteration %d, epoch %d", path, s.iter,
        s.epoch))
end

-- ---- evaluation ---------------------------------------------------------------------------------

-- runner:evaluate(): loss and accuracy over the test split ({loss =, accuracy =, count =,
-- seconds =}); logs them, writes a metrics line, keeps the best weights. Returns nil when
-- a signal stopped it midway.
function Runner:evaluate()
    local t0 = core.clock()
    local loader = self.test_loader
    util.call(loader.seek, loader, 0, 0)
    self.eval_seconds = self.eval_seconds or 0
    local acc
    for _ = 1, loader:batches() do
        if core.interrupted() then
            return nil
        end
        local b = loader:next()
        acc = self.trainer:evaluate_batch(b.x, b.y, acc)
    end
    local m = trainer_mod.metrics(acc)
    m.seconds = core.clock() - t0
    self.eval_seconds = self.eval_seconds + m.seconds
    self.last_eval_iter = self.iter
    self.log:info(string.format("%siter %d: test accuracy %s loss %s (%d samples, %.1f s)",
        self.max_epochs and string.format("epoch %d ", self.epoch) or "", self.iter,
        m.accuracy and string.format("%.4f", m.accuracy) or "-", num(m.loss), m.count,
        m.seconds))
    self.log:metrics { mode = "val", iter = self.iter, epoch = self.epoch, loss = m.loss,
        accuracy = m.accuracy, samples = m.count, time = m.seconds }
    self.last_metrics = m
    self:add_points { val_loss = m.loss, val_accuracy = m.accuracy }
    self:write_curves()
    local metric = self.cfg.runner.save_best
    if metric and self.opts.write ~= false and m[metric] ~= nil then
        local lower = metric:match("loss$") ~= nil
        local v = m[metric]
        if not self.best or (lower and v < self.best.value) or (not lower and v > self.best.value) then
            self.best = { metric = metric, value = v, iter = self.iter }
            checkpoint.save_weights(self.run_dir .. "/best_" .. metric .. ".safetensors",
                self.model, { [metric] = tostring(v), iter = tostring(self.iter),
                    run = self.run_name })
        end
    end
    self:call_hooks("after_eval", m)
    return m
end

-- ---- curves ---------------------------------------------------------------------------------

-- runner:add_points(t): one point at the current iteration for each named curve in t.
function Runner:add_points(t)
    self.curves = self.curves or {}
    for name, v in pairs(t) do
        local c = self.curves[name] or { x = {}, y = {} }
        self.curves[name] = c
        c.x[#c.x + 1], c.y[#c.y + 1] = self.iter, v
    end
end

local CHARTS = {
    { file = "loss.png", title = "loss", series = { { "loss", "train", 0x1f77b4 },
        { "val_loss", "test", 0xd62728 } } },
    { file = "lr.png", title = "learning rate", series = { { "lr", "lr", 0x2ca02c } } },
    { file = "memory.png", title = "process memory (mib)", series = {
        { "rss", "rss", 0x9467bd }, { "peak", "peak", 0x8c564b } } },
}

-- runner:write_curves(): loss.png, lr.png and memory.png in the work dir (libpng,
-- atomically). A chart that cannot be written is a warning, not a failure.
function Runner:write_curves()
    if self.opts.write == false or not self.curves then
        return
    end
    for _, chart in ipairs(CHARTS) do
        local series = {}
        for _, s in ipairs(chart.series) do
            local c = self.curves[s[1]]
            if c and #c.x > 0 then
                series[#series + 1] = { label = s[2], x = c.x, y = c.y, color = s[3] }
            end
        end
        if #series > 0 then
            local ok, err = pcall(core.plot_png, self.run_dir .. "/" .. chart.file, {
                title = chart.title, x_label = "iteration", series = series })
            if not ok and not self.plot_warned then
                self.plot_warned = true
                self.log:warn("curves not drawn: " .. tostring(err))
            end
        end
    end
end

-- ---- the loop -----------------------------------------------------------------------------------

-- A copy of a loader batch (its buffers are refilled by the next call), into tensors
-- kept for reuse in slot k.
local function keep_copy(self, k, b)
    self.copies = self.copies or {}
    local c = self.copies[k]
    if not c or c.x:shape()[1] ~= b.size then
        c = { x = core.tensor(b.x:shape(), b.x:dtype()), y = core.tensor(b.y:shape(), b.y:dtype()) }
        self.copies[k] = c
    end
    c.x:copy(b.x)
    c.y:copy(b.y)
    return { c.x, c.y }
end

-- The micro-batches of the next step: optim.accumulate of them, fewer at the end of an
-- epoch (a step never spans two epochs). Returns the list, the first batch, and whether
-- the epoch ended.
function Runner:next_micro_batches()
    local acc, list, first = self.cfg.optim.accumulate, {}, nil
    for k = 1, acc do
        local b = self.train_loader:next()
        first = first or b
        if k == acc or b.last then
            list[k] = { b.x, b.y }
            return list, first, b.last
        end
        list[k] = keep_copy(self, k, b)
    end
end

-- Reacts to a skipped step (a gradient that was not finite): the loss scaler's job in
-- fp16, with collapse detection; the NaN guard's in fp32 and bf16.
function Runner:check_skipped(r)
    local p, mode = self.cfg.precision, self.trainer.precision
    if not r.skipped then
        self.skipped_in_row = 0
        if mode == "fp16" and p.loss_scale == "dynamic" and self.trainer:loss_scale() < p.min_scale then
            self:collapse(string.format("the loss scale fell to %s, under precision.min_scale %s",
                num(self.trainer:loss_scale()), num(p.min_scale)))
        end
        return
    end
    self.skipped, self.skipped_in_row = self.skipped + 1, self.skipped_in_row + 1
    if mode == "fp16" then
        local scale = self.trainer:loss_scale()
        if self.skipped_in_row >= p.max_skipped then
            self:collapse(string.format("%d skipped steps in a row (scale %g)",
                self.skipped_in_row, scale))
        elseif p.loss_scale == "dynamic" and scale < p.min_scale then
            self:collapse(string.format("the loss scale fell to %s, under precision.min_scale %s",
                num(scale), num(p.min_scale)))
        end
        return
    end
    local what = r.loss ~= r.loss and "the loss is nan" or
        ((r.loss == math.huge or r.loss == -math.huge) and "the loss is inf" or
            "the gradient is not finite")
    if self.cfg.runner.on_nan == "skip" then
        self.log:warn(string.format("iter %d: %s in %s; step skipped (runner.on_nan = \"skip\")",
            self.iter, what, mode))
    else
        self.stop = { reason = "nan", code = runner.EXIT.failure, message = string.format(
            "iter %d: %s in %s; stopping (runner.on_nan = \"stop\"); the weights of the last " ..
            "good step are saved", self.iter, what, mode) }
    end
end

-- fp16 scale collapse: precision.on_collapse says stop, or go on in bf16 or fp32.
function Runner:collapse(why)
    local to = self.cfg.precision.on_collapse
    if to == "stop" then
        local last = self.ckpts[#self.ckpts]
        self.stop = { reason = "collapse", code = runner.EXIT.failure, message = string.format(
            "iter %d: the fp16 loss scale collapsed: %s; stopping (precision.on_collapse = " ..
            "\"stop\")%s", self.iter, why, last and "; the last good checkpoint is " .. last or "") }
        return
    end
    self.trainer:set_precision(to)
    self.skipped_in_row = 0
    self.log:warn(string.format("iter %d: the fp16 loss scale collapsed: %s; switching to %s " ..
        "(re-planned; weights, optimizer moments and step count carried over)", self.iter, why, to))
    self.log:metrics { mode = "event", iter = self.iter, event = "precision", precision = to,
        reason = why }
end

-- runner:step(): one optimizer step with everything around it (hooks, logging, the
-- policies, evaluation and checkpoints at their intervals). Returns the step's result.
function Runner:step()
    self:setup()
    local cfg, log = self.cfg, self.log
    local t0 = core.clock()
    local batches, first, epoch_end = self:next_micro_batches()
    local t1 = core.clock()
    local r = self.trainer:step(batches, first.epoch, first.sample_base)
    local now = core.clock()
    self.iter = r.iter
    local rows = 0
    for _, b in ipairs(batches) do
        rows = rows + b[1]:shape()[1]
    end
    self.window = self.window or { t = t0, samples = 0, good = 0, loss = 0, in_step = 0,
        in_loader = 0 }
    local w = self.window
    w.samples = w.samples + rows
    w.in_step = w.in_step + (now - t1) -- inside trainer:step: the C step (and its Lua call)
    w.in_loader = w.in_loader + (t1 - t0) -- the C loader handing out the micro-batches
    if not r.skipped then
        w.good, w.loss = w.good + 1, w.loss + r.loss
    end
    self.samples_per_s = self.samples_per_s and 0.9 * self.samples_per_s + 0.1 * rows /
        math.max(now - t0, 1e-9) or rows / math.max(now - t0, 1e-9)
    self.last = r
    self:check_skipped(r)

    local p = cfg.precision
    if (p.fp32_warmup_iters or 0) > 0 and self.iter == p.fp32_warmup_iters and
        self.trainer.precision == "fp32" and p.mode ~= "fp32" then
        self.trainer:set_precision(p.mode)
        log:info(string.format("iter %d: fp32 warmup over; training in %s from here (re-planned;" ..
            " optimizer state carried over)", self.iter, p.mode))
    end
    if epoch_end then
        self.epoch = first.epoch + 1
    end
    self:call_hooks("after_step", r)

    local elapsed = now - self.t_start
    local done = self.iter - self.start_iter
    local eta = done > 0 and elapsed / done * (self.max_iters - self.iter) or nil
    local epoch_iter = (self.iter - 1) % self.steps_per_epoch + 1
    local log_line = self.iter % cfg.runner.log_interval == 0 or self.iter == self.max_iters
    local rss, peak, gpu
    if log_line or log:wants_progress() then -- /proc is read only when shown
        rss, peak = logger.rss()
        if self.device ~= "cpu" then -- what the card holds now (all of its users)
            local free, total = core.device_memory()
            gpu = total - free
        end
    end
    log:progress { epoch = math.min(first.epoch + 1, self.max_epochs or math.huge),
        max_epochs = self.max_epochs, iter = self.iter, max_iters = self.max_iters,
        epoch_iter = epoch_iter, epoch_iters = self.steps_per_epoch, loss = r.loss, lr = r.lr,
        samples_per_s = self.samples_per_s, rss = rss, peak = peak, eta = eta }
    if log_line then
        local secs = now - w.t
        local mean = w.good > 0 and w.loss / w.good or r.loss
        local fp16 = self.trainer.precision == "fp16"
        log:info(string.format("%siter %d/%d loss %s lr %s grad_norm %s %.0f samples/s " ..
            "mem %s (peak %s)%s%s eta %s", self.max_epochs and string.format("epoch %d/%d ",
                first.epoch + 1, self.max_epochs) or "", self.iter, self.max_iters, num(mean),
            num(r.lr), num(r.grad_norm), w.samples / math.max(secs, 1e-9), bytes(rss),
            bytes(peak), gpu and " gpu " .. bytes(gpu) or "", (fp16 or self.skipped > 0) and string.format(" scale %g skipped %d",
                self.trainer:loss_scale(), self.skipped) or "", logger.duration(eta)))
        self:add_points { loss = mean, lr = r.lr, rss = rss and rss / 2 ^ 20,
            peak = peak and peak / 2 ^ 20 }
        log:metrics { mode = "train", iter = self.iter, epoch = first.epoch + 1, loss = mean,
            last_loss = r.loss, lr = r.lr, grad_norm = r.grad_norm,
            samples_per_s = w.samples / math.max(secs, 1e-9), time = elapsed,
            loss_scale = self.trainer:loss_scale(), skipped = self.skipped,
            precision = self.trainer.precision, mem_rss = rss, mem_peak = peak, mem_gpu = gpu,
            outside_step = 1 - w.in_step / math.max(secs, 1e-9),
            loader_share = w.in_loader / math.max(secs, 1e-9) }
        self.window = { t = core.clock(), samples = 0, good = 0, loss = 0, in_step = 0,
            in_loader = 0 }
    end

    local ri = cfg.runner
    local stopping = self.stop ~= nil or core.interrupted()
    local t_aux = core.clock() -- evaluation and checkpoints stay out of the rate's window
    if epoch_end then
        local secs = now - (self.epoch_t0 or self.t_start)
        self.epoch_seconds = self.epoch_seconds or {}
        self.epoch_seconds[#self.epoch_seconds + 1] = secs
        log:info(string.format("epoch %d done in %.1f s", self.epoch, secs))
        log:metrics { mode = "epoch", epoch = self.epoch, iter = self.iter, time = secs }
        if not stopping and ri.eval_interval == "epoch" then
            self:evaluate()
        end
        self:call_hooks("after_epoch")
        if not stopping and ri.checkpoint_interval == "epoch" and self.opts.write ~= false and
            self.iter < self.max_iters then
            self:save_checkpoint()
        end
        self.epoch_t0 = core.clock() -- the next epoch's time leaves this evaluation out
    else
        if not stopping and type(ri.eval_interval) == "number" and ri.eval_interval > 0 and
            self.iter % ri.eval_interval == 0 and self.iter < self.max_iters then
            self:evaluate()
        end
    end
    if not stopping and type(ri.checkpoint_interval) == "number" and
        ri.checkpoint_interval > 0 and self.iter % ri.checkpoint_interval == 0 and
        self.opts.write ~= false and self.iter < self.max_iters then
        self:save_checkpoint()
    end
    self.window.t = self.window.t + (core.clock() - t_aux)
    return r
end

-- runner:train(): runs to the end (or to a stop) and returns the exit code: 0 done, 1
-- stopped by the NaN guard or a scale collapse, 130 / 143 after SIGINT / SIGTERM.
-- Raises on a failure at run time (the caller logs it and exits 1).
function Runner:train()
    self:setup()
    local log, cfg = self.log, self.cfg
    if self.nothing_to_do then
        log:info(self.nothing_to_do)
        return runner.EXIT.ok
    end
    self.t_start = core.clock()
    self.start_iter = self.iter
    log:info(string.format("training %d iterations%s (setup took %.2f s)",
        self.max_iters - self.iter, self.max_epochs and string.format(", %d epochs",
            self.max_epochs) or "", self.t_start - self.t_setup))
    self:call_hooks("before_run")
    local last_epoch = -1
    while self.iter < self.max_iters do
        if self.epoch ~= last_epoch then
            last_epoch = self.epoch
            self:call_hooks("before_epoch")
        end
        self:step()
        local sig = core.interrupted()
        if sig then
            self.stop = { reason = sig, code = runner.EXIT[sig] or runner.EXIT.failure }
        end
        if self.stop then
            break
        end
    end
    local code, stop = 0, self.stop
    local write = self.opts.write ~= false
    if stop and (stop.reason == "SIGINT" or stop.reason == "SIGTERM") then
        code = stop.code
        local path = write and self.iter > 0 and self:save_checkpoint() or nil
        log:info(string.format("interrupted (%s) at iteration %d after the step finished%s",
            stop.reason, self.iter, path and string.format("; weights and trainer state saved " ..
                "to %s (resume with --resume-from %s)", path, path) or ""))
    else
        if stop then
            code = stop.code
            if stop.message then
                log:info((code == 0 and "" or "error: ") .. stop.message)
            elseif code == 0 then
                log:info(string.format("stopped at iteration %d: %s", self.iter,
                    tostring(stop.reason)))
            end
        end
        if code == 0 and self.last_eval_iter ~= self.iter then
            self:evaluate()
        end
        -- a finished run's last checkpoint: --resume-from auto then has nothing to do
        local ci = cfg.runner.checkpoint_interval
        if write and code == 0 and self.iter > 0 and ci ~= 0 and
            self.ckpts[#self.ckpts] ~= self.run_dir .. "/" .. self:checkpoint_name() then
            self:save_checkpoint()
        end
        if write then
            local path = self.run_dir .. "/final.safetensors"
            checkpoint.save_weights(path, self.model, { iter = tostring(self.iter),
                run = self.run_name })
            log:info("weights saved to " .. path)
        end
    end
    local late = core.interrupted() -- a signal during the final evaluation or save
    if code == 0 and late then
        code = runner.EXIT[late] or runner.EXIT.failure
    end
    local train_secs = core.clock() - self.t_start -- the final evaluation and save included
    local eval_secs = self.eval_seconds or 0 -- every evaluation, the final one included
    local m = self.last_metrics
    local per_epoch = ""
    if self.epoch_seconds and #self.epoch_seconds > 0 then
        local sum = 0
        for _, s in ipairs(self.epoch_seconds) do
            sum = sum + s
        end
        per_epoch = string.format(", %.1f s per epoch", sum / #self.epoch_seconds)
    end
    log:info(string.format("%s: %d iterations in %.1f s (%.1f s of it evaluating)%s%s%s",
        code == 0 and "done" or "stopped", self.iter - self.start_iter, train_secs,
        eval_secs, per_epoch, m and m.accuracy and
        string.format("; test accuracy %.4f", m.accuracy) or "", self.best and
        string.format(" (best %s %.4f at iteration %d)", self.best.metric, self.best.value,
            self.best.iter) or ""))
    log:metrics { mode = "end", iter = self.iter, epoch = self.epoch, time = train_secs,
        eval_time = eval_secs, code = code, accuracy = m and m.accuracy,
        skipped = self.skipped }
    self.train_seconds = train_secs
    self:write_curves()
    self:call_hooks("after_run", code)
    return code
end

-- runner:close(): closes the logs, frees the trainer and releases the work dir.
function Runner:close()
    if self.log then
        self.log:close()
    end
    if self.trainer then
        self.trainer:close()
    end
    if self.wd then
        self.wd:close()
    end
end

return runner
