-- The runner's checkpoints (a policy: a hook table, see lutra.hooks): a checkpoint
-- (weights, optimizer state and the run's position, lutra.checkpoint) in the run's folder
-- every runner.checkpoint_interval iterations or epochs (none once the run is stopping,
-- nor at the last iteration), rotated to runner.max_keep_ckpts; when training ends, the
-- last one (so that --resume-from auto has nothing left to do) and final.safetensors;
-- after SIGINT or SIGTERM, a checkpoint to resume from. runner.ckpts lists this run's
-- checkpoints, oldest first. Also resuming one: checking it against the recipe and
-- putting back its weights, optimizer state, loss scale and position.
local core = require "lutra.core"
local util = require "lutra.util"
local config = require "lutra.config"
local dist = require "lutra.dist"
local checkpoint = require "lutra.checkpoint"
local hooks = require "lutra.hooks"
local paths = require "lutra.paths"
local workdir = require "lutra.workdir"
local resume = require "lutra.resume"

local saving = { name = "checkpoint", late = { after_epoch = true } }


-- saving.position(runner): what a checkpoint keeps of the run besides the trainer's
-- counters.
function saving.position(runner)
    local e, i = runner.train_loader:position()
    return { iter = runner.iter, epoch = runner.epoch, loader_epoch = e, loader_iter = i,
        skipped = runner.skipped, best = runner.best, max_iters = runner.max_iters,
        effective_batch = config.effective_batch(runner.cfg, dist.size()), run = runner.run_name }
end

-- saving.name(runner): the file name of a checkpoint now: epoch_N with epoch checkpoints,
-- iter_N else.
function saving.name(runner)
    return runner.cfg.runner.checkpoint_interval == "epoch" and runner.max_epochs and
        string.format("epoch_%d.safetensors", runner.epoch) or
        string.format("iter_%d.safetensors", runner.iter)
end

-- saving.save(runner [, name = saving.name(runner)]): weights, trainer state and position
-- in the run's folder. In this order, so that a kill at any moment leaves a checkpoint to
-- resume: the new file (written atomically), last_checkpoint pointing at it, then the
-- oldest of this run's checkpoints (those it resumed from included) beyond
-- runner.max_keep_ckpts deleted. Returns the path (nil without a work dir: the REPL, a
-- data-parallel rank other than 0); raises when it cannot be written.
function saving.save(runner, name)
    if runner.opts.write == false then
        return nil
    end
    name = name or saving.name(runner)
    local path = runner.run_dir .. "/" .. name
    checkpoint.save(path, runner.trainer, saving.position(runner))
    runner.wd:set_last_checkpoint(path)
    local ckpts = runner.ckpts
    for i = #ckpts, 1, -1 do
        if ckpts[i] == path then
            table.remove(ckpts, i)
        end
    end
    ckpts[#ckpts + 1] = path
    local keep = runner.cfg.runner.max_keep_ckpts
    while keep >= 0 and #ckpts > math.max(keep, 1) do
        os.remove(table.remove(ckpts, 1))
    end
    return path
end

-- Whether the run saves checkpoints on its own (a work dir), and one now is before its end.
local function may_save(runner)
    return runner.opts.write ~= false and not runner.stopping and runner.iter < runner.max_iters
end

-- after_epoch (after the users' hooks): runner.checkpoint_interval = "epoch".
function saving:after_epoch(runner)
    if may_save(runner) and runner.cfg.runner.checkpoint_interval == "epoch" then
        saving.save(runner)
    end
end

-- needs: between steps only with an interval in iterations.
saving.needs = hooks.between_steps_every("checkpoint_interval")

-- between_steps: every runner.checkpoint_interval iterations.
function saving:between_steps(runner)
    local every = hooks.every(runner, "checkpoint_interval")
    if every and runner.iter % every == 0 and may_save(runner) then
        saving.save(runner)
    end
end

-- finish: after a signal or a host's stop request, a checkpoint to resume from; after a
-- run that ends well, its last checkpoint (unless it was just saved) and final.safetensors
-- (after any other stop, the final weights alone).
function saving:finish(runner, code)
    local write, log = runner.opts.write ~= false, runner.log
    local why = runner:interruption()
    if why then
        local path = write and runner.iter > 0 and saving.save(runner) or nil
        -- a stop seen before this run's first step (start_iter: where its stepping began)
        local stepped = runner.start_iter ~= nil and runner.iter > runner.start_iter
        log:info(string.format("interrupted (%s) at iteration %d %s%s", why, runner.iter,
            stepped and "after the step finished" or "before the first step",
            path and string.format("; weights and trainer state saved to %s (resume with " ..
                "--resume-from %s)", path, path) or ""))
        return
    end
    if not write then
        return
    end
    local ci = runner.cfg.runner.checkpoint_interval
    if code == 0 and runner.iter > 0 and ci ~= 0 and
        runner.ckpts[#runner.ckpts] ~= runner.run_dir .. "/" .. saving.name(runner) then
        saving.save(runner)
    end
    local path = runner.run_dir .. "/final.safetensors"
    checkpoint.save_weights(path, runner.model, { iter = tostring(runner.iter),
        run = runner.run_name })
    log:info("weights saved to " .. path)
end

-- ---- resuming ---------------------------------------------------------------------------------

-- saving.check_resume(runner, path, file): raises when the checkpoint does not fit the
-- recipe (runner.opts.resume_force accepts what can be accepted, with a warning each);
-- returns what was accepted (lutra.resume.check's flags).
function saving.check_resume(runner, path, file)
    resume.position(path, file)
    local flags, accepted = resume.check(path, file, runner.model, runner.trainer, {
        effective_batch = config.effective_batch(runner.cfg, dist.size()),
        precision = runner.cfg.precision,
    }, runner.opts.resume_force)
    for _, line in ipairs(accepted) do
        runner.log:warn("--resume-force: " .. line .. "; training as the recipe says")
    end
    return flags
end

-- The checkpoints of the run that `path` ended: those in its folder up to its number (a
-- resumed run rotates them as its own), oldest first; none outside the work dir.
local function lineage(runner, path)
    local folder, name = paths.normalize(path):match("^(.*)/([^/]*)$")
    local at, kind = workdir.checkpoint_number(name or "")
    if not (folder and at and runner.wd) or folder:match("^(.*)/[^/]*$") ~= runner.wd.dir then
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

-- saving.apply_resume(runner, path, file): weights, optimizer state, loss scale and
-- position from a checked checkpoint (check_resume's flags in runner.resume_flags).
function saving.apply_resume(runner, path, file)
    local s, trainer = file.state, runner.trainer
    local flags = runner.resume_flags or {}
    if s.precision and s.precision ~= trainer.precision and not flags.precision then
        trainer:set_precision(s.precision)
    end
    local note = checkpoint.load_weights(runner.model, file, path)
    if note then
        runner.log:warn(note)
    end
    if flags.moments then
        util.call(trainer.handle.set_steps, trainer.handle, s.steps or 0)
        trainer.iter = s.iter
    else
        trainer:load_optimizer_state(file.tensors, s)
    end
    if s.loss_scale and trainer.precision == "fp16" and not flags.precision then
        local p = runner.cfg.precision
        trainer:set_loss_scale { scale = s.loss_scale, dynamic = p.loss_scale == "dynamic",
            growth_factor = p.growth_factor, backoff_factor = p.backoff_factor,
            growth_interval = p.growth_interval }
        util.call(trainer.handle.set_clean_steps, trainer.handle, s.clean_steps or 0)
    end
    util.call(runner.train_loader.seek, runner.train_loader, s.loader_epoch, s.loader_iter)
    runner.iter, runner.epoch = s.iter, s.epoch
    trainer.iter = s.iter
    runner.skipped, runner.best = s.skipped or 0, s.best
    runner.ckpts = lineage(runner, path)
    runner.log:info(string.format("resumed from %s: iteration %d, epoch %d", path, s.iter,
        s.epoch))
end

return saving
