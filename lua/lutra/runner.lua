-- The training loop a recipe describes. runner.new(cfg) takes a resolved config
-- (lutra.config); setup() builds the run from lutra.setup's pieces (the context, the work
-- dir and its logs, the device, the lr, the model, the data, the memory fit, the trainer,
-- a resume); train() runs iteration- or epoch-based training: one trainer:step (one C
-- call) per optimizer step, then the hooks (lutra.hooks). Everything around a step is one
-- of lutra's policies, a hook table in lutra/policy/ on the same events as users' hooks,
-- installed by setup() in this order before any user hook:
--   guard       a gradient that was not finite: the NaN guard (runner.on_nan) in fp32 and
--               bf16, the loss scale's collapse in fp16 (precision.on_collapse)
--   warmup      the first precision.fp32_warmup_iters steps in fp32
--   log         train.log and the console (lines, progress bar), metrics.jsonl
--   curves      loss, lr and memory curves as PNG
--   evaluate    evaluation at its interval and at the end; best_<metric>.safetensors
--   checkpoint  checkpoints at their interval and at the end, their rotation,
--               final.safetensors, the save after SIGINT or SIGTERM; resuming
-- A run stops cleanly on SIGINT or SIGTERM after the current step: logs flushed, weights
-- and trainer state saved, 130 or 143; so it does, exiting 0, when runner.new's
-- opts.stop_requested() turns true (a C host's lt_run_stop, per run where a signal is per
-- process). runner:request_stop(reason) ends the run after the current step.
--
-- What a runner keeps, for hooks and scripts: cfg, log, device, lr, model, trainer,
-- train_loader / train_set, test_loader / test_set, steps_per_epoch, max_iters, max_epochs,
-- iter (optimizer steps done, skipped ones included), epoch (epochs completed), skipped,
-- last (the last step's result), last_metrics (the last evaluation's), best ({metric =,
-- value =, iter =}), ckpts (this run's checkpoints, oldest first), run_dir, run_name,
-- stop ({reason =, code =, message =}).
local categories = require "lutra.categories"
local core = require "lutra.core"
local config = require "lutra.config"
local data = require "lutra.data"
local dist = require "lutra.dist"
local checkpoint = require "lutra.checkpoint"
local logger = require "lutra.logger"
local workdir = require "lutra.workdir"
local resume = require "lutra.resume"
local hooks = require "lutra.hooks"
local setup = require "lutra.setup"
local guard = require "lutra.policy.guard"
local warmup = require "lutra.policy.warmup"
local log_policy = require "lutra.policy.log"
local curves = require "lutra.policy.curves"
local evaluate = require "lutra.policy.evaluate"
local saving = require "lutra.policy.checkpoint"

local runner = {}

local Runner = {}
Runner.__index = Runner
runner.Runner = Runner

local EXIT = setup.EXIT
runner.EXIT = EXIT
runner.config_error = setup.config_error
runner.is_config_error = setup.is_config_error
-- the pieces other verbs and specs call by these names
runner.schedule = setup.schedule
runner.lr_scaling = setup.lr_scaling
runner.check_device = setup.device
runner.fit_memory = setup.fit_memory
runner.checkpoint_line = setup.checkpoint_line
runner.eval_line = setup.eval_line
runner.fit_eval_batch = setup.fit_eval

-- lutra's policies, in the order setup() installs them (before any user hook; each for
-- the events this run needs, by its config when setup() starts); read-only.
runner.POLICIES = { guard, warmup, log_policy, curves, evaluate, saving }

-- runner.new(cfg [, opts]): a runner for a resolved config. opts: {notes = the config's
-- notes, origin = its origin map, recipe = the recipe's path, hooks = more hook tables,
-- console = a file for the console (default stdout), tty = draw a progress bar (default:
-- whether stdout is a terminal), quiet = no console output, write = false: no work dir
-- (the REPL), logger = the log to use (a lutra.logger; default a new one), make_trainer =
-- what builds the trainer (default lutra.Trainer; tests put an out-of-memory there),
-- resume_force = accept what --resume-force accepts, stop_requested = a function that
-- returns true once the run is to stop at the next step boundary, with a checkpoint}.
-- Nothing is built until setup() (train() calls it). Raises on a hook that is not one.
function runner.new(cfg, opts)
    opts = opts or {}
    local self = setmetatable({
        cfg = cfg,
        opts = opts,
        notes = opts.notes or {},
        origin = opts.origin or {},
        recipe = opts.recipe,
        hook_set = hooks.new(),
        iter = 0,
        epoch = 0,
        skipped = 0,
        skipped_in_row = 0,
        best = nil,
        ckpts = {},
        last_eval_iter = -1,
        stop = nil,
    }, Runner)
    self.hooks = self.hook_set.users
    for _, h in ipairs(cfg.hooks or {}) do
        self:add_hook(h)
    end
    for _, h in ipairs(opts.hooks or {}) do
        self:add_hook(h)
    end
    return self
end

-- runner:add_hook(h): appends a user hook (lutra.hooks); raises when h is not one.
function Runner:add_hook(h)
    self.hook_set:add(h)
end

-- runner:request_stop(reason [, code = 0]): ends the run after the current step.
function Runner:request_stop(reason, code)
    self.stop = self.stop or { reason = reason, code = code or 0 }
end

-- runner:signal(): the signal ("SIGINT", "SIGTERM") that stopped the run, or nil.
function Runner:signal()
    local s = self.stop
    return s and (s.reason == "SIGINT" or s.reason == "SIGTERM") and s.reason or nil
end

-- What stops a run from outside at the next step boundary, finishing with a checkpoint
-- as after a signal: a signal, or the host's stop request.
local HOST_STOP = "stop requested"

-- runner:interruption(): what interrupted the run from outside ("SIGINT", "SIGTERM", or
-- "stop requested" by opts.stop_requested), or nil.
function Runner:interruption()
    local s = self.stop
    return self:signal() or (s and s.reason == HOST_STOP and s.reason) or nil
end

-- The interruption that has arrived and not yet stopped the run: a signal, else the
-- host's request; nil for none.
local function local_interruption(self)
    local sig = core.interrupted()
    if sig then
        return sig, EXIT[sig] or EXIT.failure
    end
    local asked = self.opts.stop_requested
    if asked and asked() then
        return HOST_STOP, EXIT.ok
    end
end

-- What stops a data-parallel rank that another rank's stop (a hook's request_stop, the
-- NaN guard) stops.
local RANK_STOP = "another rank stopped"

-- The same, agreed by every rank of a data-parallel job, every rank calling it at the
-- same points (a signal reaches the ranks at different steps; a hook may stop one rank
-- only): SIGINT over SIGTERM over the host's stop over a stop a rank has made (with the
-- largest of their exit codes).
local AGREED = { "SIGINT", "SIGTERM", HOST_STOP }
local function pending_interruption(self)
    local why, code = local_interruption(self)
    if not dist.active() then
        return why, code
    end
    local flags = {}
    for i, name in ipairs(AGREED) do
        flags[i] = why == name and 1 or 0
    end
    flags[4], flags[5] = self.stop and 1 or 0, self.stop and self.stop.code or 0
    flags = dist.max(flags, "the ranks' agreement to stop")
    for i, name in ipairs(AGREED) do
        if flags[i] > 0 then -- a signal's code, or a rank's own stop's beside the host's
            return name, name == HOST_STOP and math.tointeger(flags[5]) or EXIT[name]
        end
    end
    if flags[4] > 0 then
        return RANK_STOP, math.tointeger(flags[5])
    end
end

-- Makes what pending_interruption answered the run's stop. A lone run keeps a stop it
-- has unless a signal came (its exit code wins); a data-parallel rank takes the agreed
-- reason and code, keeping its own reason (and message) only where the agreement says
-- "another rank stopped" and it had stopped itself, so that every rank finishes alike.
local function settle_stop(self, why, code)
    if not why then
        return
    end
    if not dist.active() then
        if not self.stop or EXIT[why] then
            self.stop = { reason = why, code = code }
        end
        return
    end
    local own = why == RANK_STOP and self.stop
    self.stop = { reason = own and own.reason or why, code = code,
        message = own and own.message or nil }
end

-- ---- setup ------------------------------------------------------------------------------------

-- The run's log, and its first lines: the build, the recipe, the config's notes. Until
-- the run's folder exists (once nothing can stop the run before its first step), the log
-- keeps its file lines.
local function open_log(self, write)
    local log = self.opts.logger or logger.new { console = self.opts.console, tty = self.opts.tty,
        quiet = self.opts.quiet, pending = write }
    log:info(string.format("lutra %s (%s; %s)", core.version(), _VERSION, core.backend_info()))
    if self.recipe then
        log:info(write and string.format("recipe %s -> work dir %s", self.recipe,
            self.cfg.work_dir) or string.format("recipe %s (nothing written)", self.recipe))
    end
    for _, n in ipairs(self.notes) do
        log:info("note: " .. n)
    end
    return log
end

-- Logs each line of a list.
local function log_lines(log, lines)
    for _, l in ipairs(lines) do
        log:info(l)
    end
end

-- The loaders, and the run's length in iterations.
local function open_data(self)
    local cfg = self.cfg
    -- files left out at opening, counted before the loaders' workers start decoding
    local skipped = data.skipped(cfg)
    self.bad_files = skipped -- what the log has reported
    self.train_loader = data.loader(cfg, "train", self.train_set)
    self.test_loader = data.loader(cfg, "test", self.test_set)
    local acc = cfg.optim.accumulate
    self.steps_per_epoch = (self.train_loader:batches() + acc - 1) // acc
    self.max_iters = cfg.runner.max_iters or cfg.runner.max_epochs * self.steps_per_epoch
    self.max_epochs = cfg.runner.max_epochs
    local workers = data.workers(cfg)
    local ranks = dist.size() > 1 and string.format(" × %d ranks", dist.size()) or ""
    self.log:info(string.format("data %s (%s): %d training, %d test samples%s; batch %d × " ..
        "accumulate %d%s = effective batch %d; %d iterations per epoch, %d in all; %d loader " ..
        "worker%s", cfg.data.dataset, self.train_set:origin(), self.train_set:size(),
        self.test_set:size(), skipped > 0 and string.format(" (%d bad files skipped)", skipped)
        or "", cfg.data.batch_size, acc, ranks, config.effective_batch(cfg, dist.size()),
        self.steps_per_epoch, self.max_iters, workers, workers == 1 and "" or "s"))
end

-- The categories the log's step line names even when empty (in lutra.categories' order);
-- the others (half copies of the weights in mixed precision, state) only when the step
-- has them.
local ALWAYS_SHOWN = { params = true, grads = true, optimizer = true, activations = true,
    temporaries = true, workspace = true, data = true }

-- The trainer (fp32 first during the fp32 warmup), and what its plan takes.
local function build_trainer(self, eval)
    local cfg, log = self.cfg, self.log
    local reduced, again, agreed
    local rebuild = true
    repeat
        if rebuild then
            self.trainer, again = setup.trainer(cfg, self.model, self.lr, { log = log,
                mode = warmup.first_mode(cfg.precision), make = self.opts.make_trainer,
                schedule = setup.schedule(cfg.schedule, self.max_iters, self.steps_per_epoch) })
            reduced = reduced or again
        end
        -- the ranks' slices of a batch must be the same size: when another rank's memory
        -- (memory.on_oom = "reduce") took a smaller micro-batch, this one takes it too; every
        -- rank goes round as often as the one that goes round most
        agreed, rebuild = true, false
        if dist.active() then
            local b = cfg.data.batch_size
            local least = dist.least(b, "the ranks' micro-batch")
            rebuild = least < b
            if rebuild then
                local effective = b * cfg.optim.accumulate
                log:info(string.format("memory: another rank's step fits micro-batch %d: %d " ..
                    "-> %d, accumulate %d -> %d", least, b, least, cfg.optim.accumulate,
                    effective // least))
                cfg.data.batch_size, cfg.optim.accumulate = least, effective // least
                self.trainer:close()
                reduced = true
            end
            agreed = dist.least(rebuild and 0 or 1, "the ranks' micro-batch") == 1
        end
    until agreed
    if reduced then -- a smaller micro-batch: the training loader again
        self.train_loader:close()
        self.train_loader = data.loader(cfg, "train", self.train_set)
    end
    local plan = self.trainer.plan
    if cfg.memory.checkpoint and plan and plan.checkpointing then
        log:info(setup.checkpoint_line(plan:checkpointing()))
    end
    local pr = self.trainer:plan_report()
    -- every category the step has, so that the parts add up to the total
    local parts = {}
    for _, c in ipairs(categories.NAMES) do
        if pr[c] and (pr[c] > 0 or ALWAYS_SHOWN[c]) then
            parts[#parts + 1] = c .. " " .. logger.bytes(pr[c])
        end
    end
    log:info(string.format("model %s: %d parameters; step planned in %s: %s (%s)",
        type(cfg.model) == "table" and cfg.model.type or "function", self.model:num_parameters(),
        self.trainer.precision, logger.bytes(pr.total), table.concat(parts, ", ")))
    log:info(setup.eval_line(eval))
    if dist.active() then
        log:info(dist.line(plan:grad_buckets(dist.world().bucket_bytes)))
    end
    self.eval_extra = eval.extra -- what evaluation adds to the step's plan
end

-- The checkpoint --resume-from names, checked against the recipe: its path and file, or
-- nil. Sets nothing_to_do when it is at or past the run's end.
local function find_resume(self)
    local cfg = self.cfg
    local from, file, note = resume.find(cfg.resume_from, self.wd or workdir.at(cfg.work_dir))
    if note then
        self.log:info(note)
    end
    if from then
        self.resume_flags = saving.check_resume(self, from, file)
        local at = file.state.iter
        if at >= self.max_iters then
            self.nothing_to_do = string.format("nothing to do: %s is at iteration %d, and " ..
                "the run ends at %d (runner.max_iters or max_epochs)", from, at, self.max_iters)
        end
    end
    return from, file
end

-- The run's folder in the work dir (stale temporaries of killed runs removed first), the
-- logs attached to it, config.lua written.
local function open_run_folder(self, config_text)
    local stale = self.wd:clean_stale()
    if stale > 0 then
        self.log:info(string.format("removed %d temporary file%s that killed runs left in %s",
            stale, stale == 1 and "" or "s", self.cfg.work_dir))
    end
    self.run_dir, self.run_name = self.wd:new_run()
    self.log:attach(self.run_dir)
    self.log:info("run folder " .. self.run_dir)
    local ok, err = core.write_atomic(self.run_dir .. "/config.lua", config_text(self.run_dir))
    if not ok then
        error(err, 0)
    end
end

-- runner:setup(): builds everything (context, work dir, logs, model, data, trainer,
-- resume) and logs what the run will do; nothing_to_do says why a resumed run has nothing
-- to train. Raises on failures (lutra.setup's config error for a bad work dir or model);
-- called by train() and step(). Does nothing once it has succeeded; after a failure it
-- refuses to run again: a second attempt would add the policies twice and take the work
-- dir's lock the first attempt still holds.
function Runner:setup()
    if self.built then
        return self
    end
    if self.setup_began then
        error("the run failed while building (runner:setup raised); make a new runner", 0)
    end
    self.setup_began = true
    local cfg = self.cfg
    self.t_setup = core.clock()
    for _, p in ipairs(runner.POLICIES) do -- before users' hooks, for what this run needs
        self.hook_set:add_policy(p, self)
    end
    setup.context(cfg)
    local write = self.opts.write ~= false
    if write then
        local why = workdir.check(cfg.work_dir)
        if why then
            error(setup.config_error(why), 0)
        end
        -- the lock first: a second run on this work dir stops here, having written nothing
        self.wd = workdir.open(cfg.work_dir)
    end
    self.log = open_log(self, write)
    self.device = setup.device(cfg, self.log)
    local lr, lr_line = setup.lr_scaling(cfg)
    self.lr = lr
    if lr_line then
        self.log:info(lr_line)
    end
    self.model = setup.model(cfg)
    -- the data sets first: the evaluation batch the memory policy plans is at most the test
    -- split
    self.train_set, self.test_set = data.dataset(cfg, "train"), data.dataset(cfg, "test")
    local lines, fit_why, eval, process = setup.fit_memory(cfg, self.model, lr, self.device,
        self.test_set:size())
    self.process_bytes = process -- what the process held besides the plans (0: not counted)
    log_lines(self.log, lines)
    if dist.active() then -- every rank takes what fits every one (their memory may differ)
        log_lines(self.log, dist.agree_fit(cfg))
    end
    local config_text = write and setup.resolved_config(cfg, { lr = lr, lr_line = lr_line,
        origin = self.origin, fit = fit_why, recipe = self.recipe })
    log_lines(self.log, setup.precision_lines(cfg.precision))
    open_data(self)
    build_trainer(self, eval)
    local out = self.trainer.trace.outputs[1]:shape()
    data.check_model(self.train_set, out)
    data.check_model(self.test_set, out)
    if cfg.load_from then
        local note = checkpoint.load_weights(self.model, checkpoint.load(cfg.load_from),
            cfg.load_from)
        if note then
            self.log:warn(note)
        end
        self.log:info("weights loaded from " .. cfg.load_from)
    end
    local from, file
    if cfg.resume_from then
        from, file = find_resume(self)
    end
    if dist.active() then -- every rank, resuming or not: they must agree
        dist.agree_resume(from, file and file.state.iter)
    end
    if self.nothing_to_do then -- nothing to train: no run folder, nothing written
        self.built = true
        return self
    end
    if write then
        open_run_folder(self, config_text)
    end
    if from then
        saving.apply_resume(self, from, file)
    end
    self.built = true
    return self
end

-- ---- the loop ---------------------------------------------------------------------------------

-- A copy of a loader batch (its buffers are refilled by the next call), into tensors kept
-- for reuse in slot k.
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

-- runner:next_micro_batches(): the micro-batches of the next step: optim.accumulate of
-- them, fewer at the end of an epoch (a step never spans two epochs). Returns the list,
-- the first batch, and whether the epoch ended.
-- Each micro-batch carries its first sample's place in the epoch (a data-parallel rank's
-- slices of consecutive batches are not consecutive), which keys dropout. A rank's slice
-- of a short last batch may be empty: it is left out of the list (the rank still takes
-- part in the step's sums).
function Runner:next_micro_batches()
    local acc, list, first = self.cfg.optim.accumulate, {}, nil
    for k = 1, acc do
        local b = self.train_loader:next()
        first = first or b
        local last = k == acc or b.last
        if b.size > 0 then
            local mb = last and { b.x, b.y } or keep_copy(self, k, b)
            mb.sample_base = b.sample_base
            list[#list + 1] = mb
        end
        if last then
            return list, first, b.last
        end
    end
end

-- runner:reset_window(t): starts the window the log's samples/s, loss mean and time
-- shares are measured over, at time t.
function Runner:reset_window(t)
    self.window = { t = t, samples = 0, good = 0, loss = 0, in_step = 0, in_loader = 0 }
end

-- Adds a step to the window: its samples, its time in the loader (t0 to t1) and in
-- trainer:step (t1 to now), its loss when it was not skipped; and the smoothed rate.
local function measure(self, batches, r, t0, t1, now)
    local rows = 0
    for _, b in ipairs(batches) do
        rows = rows + b[1]:shape()[1]
    end
    rows = rows * dist.size() -- a data-parallel job's rate: every rank's rows (as many)
    if not self.window then
        self:reset_window(t0)
    end
    local w = self.window
    w.samples = w.samples + rows
    w.in_step = w.in_step + (now - t1) -- inside trainer:step: the C step (and its Lua call)
    w.in_loader = w.in_loader + (t1 - t0) -- the C loader handing out the micro-batches
    if not r.skipped then
        w.good, w.loss = w.good + 1, w.loss + r.loss
    end
    local rate = rows / math.max(now - t0, 1e-9)
    self.samples_per_s = self.samples_per_s and 0.9 * self.samples_per_s + 0.1 * rate or rate
end

-- A data-parallel step's all-reduce: how it overlapped the backward (said once), and the
-- time the steps waited for the ranks (said when the run ends).
local function note_collectives(self, r)
    self.comm_wait = (self.comm_wait or 0) + r.comm_wait_seconds
    if not self.comm_said then
        self.comm_said = true
        self.log:info(string.format("all-reduce: %d of %d gradient bucket%s started while the " ..
            "backward ran; then the step waited %.2f ms for the ranks", r.comm_early,
            r.comm_buckets, r.comm_buckets == 1 and "" or "s", r.comm_wait_seconds * 1000))
    end
end

-- runner:step(): one optimizer step, then its hooks: after_step (the guard, the warmup,
-- users' hooks, the log), after_epoch when the step ended one (the epoch's line and
-- evaluation, users' hooks, its checkpoint), between_steps (evaluation and checkpoints at
-- their intervals, unless the run is stopping). Returns the step's result.
function Runner:step()
    self:setup()
    -- stepped by hand (a script, the REPL) rather than by train(): time from the first step
    self.t_start = self.t_start or core.clock()
    self.start_iter = self.start_iter or self.iter
    local t0 = core.clock()
    local batches, first, epoch_end = self:next_micro_batches()
    local t1 = core.clock()
    local r = self.trainer:step(batches, first.epoch, first.sample_base)
    local now = core.clock()
    measure(self, batches, r, t0, t1, now)
    if r.comm_buckets then
        note_collectives(self, r)
    end
    self.iter, self.last, self.t_step_end = r.iter, r, now
    self.step_epoch, self.epoch_end = first.epoch + 1, epoch_end -- the step's epoch, 1-based
    if epoch_end then
        self.epoch = first.epoch + 1
    end
    self.hook_set:fire("after_step", self, r)
    -- called whatever self.stop says: in a data-parallel job every rank takes part, and
    -- takes the agreed stop at once
    local why, code = pending_interruption(self)
    if dist.active() then
        settle_stop(self, why, code)
    end
    self.stopping = why ~= nil or self.stop ~= nil
    local t_aux = core.clock() -- evaluation and checkpoints stay out of the rate's window
    if epoch_end then
        self.hook_set:fire("after_epoch", self)
        self.epoch_t0 = core.clock() -- the next epoch's time leaves this evaluation out
    end
    self.hook_set:fire("between_steps", self)
    self.window.t = self.window.t + (core.clock() - t_aux)
    return r
end

-- runner:start(): fires before_run, once; the run's time counts from here. Builds the
-- run first (setup).
function Runner:start()
    self:setup()
    if self.started then
        return
    end
    self.started = true
    self.t_start, self.start_iter = core.clock(), self.iter
    self.hook_set:fire("before_run", self)
end

-- runner:advance([n]): up to n more steps (nil: to the end), before_epoch fired before
-- each epoch's first; stops early at a signal or the host's stop request, seen between
-- steps (also before the first). Returns true when the run is over: its last iteration
-- done, or stopped (runner.stop).
function Runner:advance(n)
    self:start()
    local done = 0
    while self.iter < self.max_iters and (n == nil or done < n) do
        -- before each step, after the hooks of the last (which may have stopped the run)
        local why, code = pending_interruption(self)
        settle_stop(self, why, code)
        if self.stop then
            break
        end
        if self.epoch ~= self.fired_epoch then
            self.fired_epoch = self.epoch
            self.hook_set:fire("before_epoch", self)
        end
        self:step()
        done = done + 1
    end
    settle_stop(self, pending_interruption(self)) -- a signal during the last step
    return self.stop ~= nil or self.iter >= self.max_iters
end

-- runner:finish(): ends a run that advance() said is over: finish (the stop's message,
-- the final evaluation, checkpoint and weights) and after_run (the summary, the curves,
-- users' hooks); returns the exit code: 0 done or stopped by the host's request, 1
-- stopped by the NaN guard or a scale collapse, 130 / 143 after SIGINT / SIGTERM.
function Runner:finish()
    local code = self.stop and self.stop.code or EXIT.ok
    self.hook_set:fire("finish", self, code)
    -- a signal during the final evaluation or save (the ranks of a job finish with the
    -- code they agreed on)
    local late = not dist.active() and core.interrupted()
    if code == 0 and late then
        code = EXIT[late] or EXIT.failure
    end
    self.train_seconds = core.clock() - self.t_start -- the final evaluation and save included
    if self.comm_wait then
        self.log:info(string.format("data parallel: the steps waited %.1f s for the other " ..
            "ranks after their backward (%.1f%% of the run's %.1f s)", self.comm_wait,
            100 * self.comm_wait / math.max(self.train_seconds, 1e-9), self.train_seconds))
    end
    self.hook_set:fire("after_run", self, code)
    self.finished = code
    return code
end

-- runner:train(): runs to the end (or to a stop), then finish(); returns its exit code.
-- Raises on a failure at run time (the caller logs it and exits 1).
function Runner:train()
    self:setup()
    if self.nothing_to_do then
        self.log:info(self.nothing_to_do)
        return EXIT.ok
    end
    self:advance()
    return self:finish()
end

-- ---- what policies do, as methods ------------------------------------------------------------

-- runner:evaluate(): loss and accuracy over the test split ({loss =, accuracy =, count =,
-- seconds =}), logged, in metrics.jsonl and the curves, the best weights kept
-- (lutra.policy.evaluate). Returns nil when a signal stopped it midway.
function Runner:evaluate()
    return evaluate.run(self)
end

-- runner:save_checkpoint([name]): a checkpoint in the run's folder, last_checkpoint and
-- the rotation (lutra.policy.checkpoint). Returns the path.
function Runner:save_checkpoint(name)
    return saving.save(self, name)
end

-- runner:checkpoint_name(): the file name of a checkpoint now (epoch_N or iter_N).
function Runner:checkpoint_name()
    return saving.name(self)
end

-- runner:position(): what a checkpoint keeps of the run besides the trainer's counters.
function Runner:position()
    return saving.position(self)
end

-- runner:check_resume(path, file) / runner:apply_resume(path, file): resuming a checkpoint
-- (lutra.policy.checkpoint).
function Runner:check_resume(path, file)
    return saving.check_resume(self, path, file)
end

function Runner:apply_resume(path, file)
    return saving.apply_resume(self, path, file)
end

-- runner:add_points(t) / runner:write_curves(): a point at the current iteration for each
-- named curve in t; the PNGs (lutra.policy.curves).
function Runner:add_points(t)
    curves.add_points(self, t)
end

function Runner:write_curves()
    curves.write(self)
end

-- runner:close(): closes the logs and the loaders (their worker threads stop), frees the
-- trainer and releases the work dir. The data sets stay with the runner.
function Runner:close()
    if self.log then
        self.log:close()
    end
    if self.train_loader then
        self.train_loader:close()
    end
    if self.test_loader then
        self.test_loader:close()
    end
    if self.trainer then
        self.trainer:close()
    end
    if self.wd then
        self.wd:close()
    end
end

return runner
