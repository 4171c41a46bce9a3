-- The Lua half of the C host API (core/lutra_host.h, lua/host.c): a run that a C program
-- drives — its recipe loaded with overrides, built, advanced n steps or to its end,
-- evaluated, checkpointed, its last step's numbers read — with lutra.runner doing the
-- work, as it does for `lutra train`. lua/host.c calls these functions under lua_pcall;
-- an error they raise is the run's failure, which host.fail writes to the run's log.
local config = require "lutra.config"
local data = require "lutra.data"
local runner = require "lutra.runner"
local sources = require "lutra.data_sources"

local host = {}

-- host.register(names, name, train, test, caller_thread): a host's two data sets,
-- selected by a recipe as data.dataset = "host:" .. name (lutra.data_sources.register_host),
-- noted in the run's table of names (name -> spec) for host.forget. The data sets lutra.data
-- keeps from an earlier registration are dropped: a recipe now gets these.
function host.register(names, name, train, test, caller_thread)
    names[name] = sources.register_host(name, train, test, caller_thread)
    data.forget()
end

-- host.forget(names): the run's host:NAME data sets out of the registry and out of
-- lutra.data's keeping, so that a later run in the same Lua state cannot select them and
-- they can be collected (their sources' release runs as they go).
function host.forget(names)
    for name, spec in pairs(names) do
        sources.unregister_host(name, spec)
        names[name] = nil
    end
    data.forget()
end

-- The numbers of the run's last step, and where the run stands: what struct
-- lt_run_stats holds (lua/host.c reads these fields).
function host.stats(r)
    local last = r.last or {}
    return {
        iter = r.iter,
        max_iters = r.max_iters or 0,
        epoch = r.epoch,
        loss = last.loss,
        lr = last.lr,
        grad_norm = last.grad_norm,
        loss_scale = last.loss_scale,
        skipped = r.skipped,
        last_skipped = last.skipped == true,
        samples_per_s = r.samples_per_s,
        memory = r.trainer and r.trainer:memory(),
        done = r.finished ~= nil,
    }
end

-- host.load(path, text, sets, opts): a runner for the recipe at path (text: its text, when
-- it is not a file) with the overrides `sets` ("key=value" strings). opts: quiet (no
-- console lines), stop_requested (a function: true once the host asked the run to stop),
-- on_step (a function called with host.stats after each step), has_on_step (whether
-- the host set a callback: without one no numbers are built). Raises naming the file and
-- the key on a bad recipe or override.
function host.load(path, text, sets, opts)
    local cfg, notes, origin = config.load(path, sets, text)
    local on_step, has_on_step = opts.on_step, opts.has_on_step
    return runner.new(cfg, {
        notes = notes,
        origin = origin,
        recipe = path,
        quiet = opts.quiet,
        stop_requested = opts.stop_requested,
        hooks = { { name = "host step callback",
            after_step = function(_, r)
                if has_on_step() then -- the numbers are built for a callback only
                    on_step(host.stats(r))
                end
            end } },
    })
end

-- The error a call on a run that has ended gets.
local function check_open(r)
    if r.failed then
        error("the run failed: " .. r.failed, 0)
    elseif r.finished ~= nil then
        error(string.format("the run has ended (at iteration %d); load a recipe into a new " ..
            "run to train again", r.iter), 0)
    end
end

-- host.build(r): builds the run (model, data, plan, trainer, work dir, a resume).
function host.build(r)
    check_open(r)
    r:setup()
end

-- host.steps(r, n): n more optimizer steps (n < 0: to the end); when the run is then over
-- (its end, or a stop), its finish: the final evaluation, checkpoint and weights. Raises
-- when the run has ended, or when it stopped for a failure (the NaN guard's message).
function host.steps(r, n)
    check_open(r)
    r:setup()
    if r.nothing_to_do then
        r.log:info(r.nothing_to_do)
        r.finished = 0
        return
    end
    if r:advance(n >= 0 and n or nil) then
        local code = r:finish()
        if code ~= 0 then
            error(r.stop and r.stop.message or
                string.format("the run stopped at iteration %d (exit code %d)", r.iter, code), 0)
        end
    end
end

-- Refuses a run whose build failed: building it again would fail on its half-built
-- state (policies added twice, the work dir's lock taken twice).
local function check_built(r)
    if r.failed and not r.built then
        error("the run failed while building: " .. r.failed, 0)
    end
end

-- host.evaluate(r): loss, accuracy (nil for regression) and the samples counted, over the
-- test split.
function host.evaluate(r)
    check_built(r)
    r:setup()
    local m = r:evaluate()
    if not m then
        error("the evaluation was interrupted", 0)
    end
    return m.loss, m.accuracy, m.count
end

-- host.save(r): a checkpoint of the run now, in its folder; returns the path.
function host.save(r)
    check_built(r)
    r:setup()
    if not r.run_dir then
        error("the run has no folder to save into (a resumed run with nothing to do)", 0)
    end
    return r:save_checkpoint()
end

-- host.run_dir(r): the run's folder, or nil before it exists.
function host.run_dir(r)
    return r.run_dir
end

-- host.fail(r, msg, marks): a failed call's message on the run's log ("error: ..."). marks
-- (a failure of build or steps), or a build that failed in any call: the run is marked
-- failed — a failed step may be half done, and a failed build cannot be resumed — and
-- it may then be evaluated, saved and closed when it was built, not stepped. A failed
-- evaluation or save of a built run leaves it as it was.
function host.fail(r, msg, marks)
    if r and r.log then
        r.log:info("error: " .. msg)
    end
    if r and (marks or (r.setup_began and not r.built)) then
        r.failed = r.failed or msg
    end
end

-- host.close(r): the logs and loaders closed, the trainer freed, the work dir released.
function host.close(r)
    r:close()
end

return host
