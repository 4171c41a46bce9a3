-- The runner's log (a policy: a hook table, see lutra.hooks): what a run says on the
-- console and in train.log, and writes to metrics.jsonl, through runner.log
-- (lutra.logger): the start of training, the progress bar after each step, a line and a
-- "train" metrics object every runner.log_interval iterations (the window's mean loss,
-- samples/s, memory measured and planned, the time shares outside the step and in the
-- loader), the end of each epoch, each evaluation, why the run stopped, and the summary.
-- The window the rates are measured over is the runner's (runner:step measures, this
-- reports and restarts it).
local core = require "lutra.core"
local data = require "lutra.data"
local logger = require "lutra.logger"

local log = { name = "log", late = { after_step = true } }

local num, bytes = logger.num, logger.bytes

-- before_run: how much there is to train.
function log:before_run(runner)
    runner.log:info(string.format("training %d iterations%s (setup took %.2f s)",
        runner.max_iters - runner.iter, runner.max_epochs and string.format(", %d epochs",
            runner.max_epochs) or "", runner.t_start - runner.t_setup))
end

-- after_step (after the users' hooks): the progress bar; at the log interval and at the
-- end, the line, the curves' points and the metrics object, and a new window.
function log:after_step(runner, r)
    local cfg, lg = runner.cfg, runner.log
    local now, epoch = runner.t_step_end, runner.step_epoch
    local elapsed = now - runner.t_start
    local done = runner.iter - runner.start_iter
    local eta = done > 0 and elapsed / done * (runner.max_iters - runner.iter) or nil
    local log_line = runner.iter % cfg.runner.log_interval == 0 or runner.iter == runner.max_iters
    local rss, peak, gpu
    if log_line or lg:wants_progress() then -- /proc is read only when shown
        rss, peak = logger.rss()
        if runner.device ~= "cpu" then -- what the card holds now (all of its users)
            local free, total = core.device_memory()
            gpu = total - free
        end
    end
    lg:progress { epoch = math.min(epoch, runner.max_epochs or math.huge),
        max_epochs = runner.max_epochs, iter = runner.iter, max_iters = runner.max_iters,
        epoch_iter = (runner.iter - 1) % runner.steps_per_epoch + 1,
        epoch_iters = runner.steps_per_epoch, loss = r.loss, lr = r.lr,
        samples_per_s = runner.samples_per_s, rss = rss, peak = peak, eta = eta }
    if not log_line then
        return
    end
    local w, trainer = runner.window, runner.trainer
    local secs = now - w.t
    local mean = w.good > 0 and w.loss / w.good or r.loss
    local rate = w.samples / math.max(secs, 1e-9)
    local fp16 = trainer.precision == "fp16"
    -- the plan beside what it is measured against: the process's memory on the CPU (which
    -- also holds the program, its libraries, the Lua state and the data sets), the card's
    -- used memory on a GPU (which also holds the CUDA context and other processes')
    local planned = trainer:plan_report().total + (runner.eval_extra or 0)
    local mem = gpu and string.format("mem %s (peak %s) gpu %s (planned %s + runtime)",
        bytes(rss), bytes(peak), bytes(gpu), bytes(planned)) or
        string.format("mem %s (peak %s, planned %s + process%s)", bytes(rss), bytes(peak),
            bytes(planned), (runner.process_bytes or 0) > 0 and
            " " .. bytes(runner.process_bytes) or "")
    lg:info(string.format("%siter %d/%d loss %s lr %s grad_norm %s %.0f samples/s " ..
        "%s%s eta %s", runner.max_epochs and string.format("epoch %d/%d ",
            epoch, runner.max_epochs) or "", runner.iter, runner.max_iters, num(mean),
        num(r.lr), num(r.grad_norm), rate, mem, (fp16 or runner.skipped > 0) and
            string.format(" scale %g skipped %d", trainer:loss_scale(), runner.skipped) or "",
        logger.duration(eta)))
    runner:add_points { loss = mean, lr = r.lr, rss = rss and rss / 2 ^ 20,
        peak = peak and peak / 2 ^ 20 }
    lg:metrics { mode = "train", iter = runner.iter, epoch = epoch, loss = mean,
        last_loss = r.loss, lr = r.lr, grad_norm = r.grad_norm, samples_per_s = rate,
        time = elapsed, loss_scale = trainer:loss_scale(), skipped = runner.skipped,
        precision = trainer.precision, mem_rss = rss, mem_peak = peak, mem_gpu = gpu,
        mem_planned = planned, mem_process = runner.process_bytes,
        outside_step = 1 - w.in_step / math.max(secs, 1e-9),
        loader_share = w.in_loader / math.max(secs, 1e-9) }
    runner:reset_window(core.clock())
end

-- after_eval: the evaluation's line and metrics object.
function log:after_eval(runner, m)
    runner.log:info(string.format("%siter %d: test accuracy %s loss %s (%d samples, %.1f s)",
        runner.max_epochs and string.format("epoch %d ", runner.epoch) or "", runner.iter,
        m.accuracy and string.format("%.4f", m.accuracy) or "-", num(m.loss), m.count,
        m.seconds))
    runner.log:metrics { mode = "val", iter = runner.iter, epoch = runner.epoch, loss = m.loss,
        accuracy = m.accuracy, samples = m.count, time = m.seconds }
end

-- after_epoch: how long the epoch took (from the end of the last one's evaluation and
-- checkpoint, or the start of training, to the end of its last step).
function log:after_epoch(runner)
    local secs = runner.t_step_end - (runner.epoch_t0 or runner.t_start)
    runner.epoch_seconds = runner.epoch_seconds or {}
    runner.epoch_seconds[#runner.epoch_seconds + 1] = secs
    runner.log:info(string.format("epoch %d done in %.1f s", runner.epoch, secs))
    local bad = data.skipped(runner.cfg)
    if bad > runner.bad_files then
        runner.log:warn(string.format("%d more file%s could not be decoded and %s skipped " ..
            "(data.on_bad_file = \"skip\"); %d in all", bad - runner.bad_files,
            bad - runner.bad_files == 1 and "" or "s",
            bad - runner.bad_files == 1 and "was" or "were", bad))
        runner.bad_files = bad
    end
    runner.log:metrics { mode = "epoch", epoch = runner.epoch, iter = runner.iter, time = secs,
        bad_files = bad }
end

-- finish: why a run that no signal or stop request interrupted stopped early (the guard's
-- message, or the reason a hook gave runner:request_stop).
function log:finish(runner, code)
    local stop = runner.stop
    if not stop or runner:interruption() then
        return
    end
    if stop.message then
        runner.log:info((code == 0 and "" or "error: ") .. stop.message)
    elseif code == 0 then
        runner.log:info(string.format("stopped at iteration %d: %s", runner.iter,
            tostring(stop.reason)))
    end
end

-- after_run: the summary line and the "end" metrics object.
function log:after_run(runner, code)
    local secs = runner.train_seconds
    local eval_secs = runner.eval_seconds or 0 -- every evaluation, the final one included
    local m, best = runner.last_metrics, runner.best
    local per_epoch = ""
    if runner.epoch_seconds and #runner.epoch_seconds > 0 then
        local sum = 0
        for _, s in ipairs(runner.epoch_seconds) do
            sum = sum + s
        end
        per_epoch = string.format(", %.1f s per epoch", sum / #runner.epoch_seconds)
    end
    runner.log:info(string.format("%s: %d iterations in %.1f s (%.1f s of it evaluating)%s%s%s",
        code == 0 and "done" or "stopped", runner.iter - runner.start_iter, secs, eval_secs,
        per_epoch, m and m.accuracy and string.format("; test accuracy %.4f", m.accuracy) or "",
        best and string.format(" (best %s %.4f at iteration %d)", best.metric, best.value,
            best.iter) or ""))
    runner.log:metrics { mode = "end", iter = runner.iter, epoch = runner.epoch, time = secs,
        eval_time = eval_secs, code = code, accuracy = m and m.accuracy,
        skipped = runner.skipped }
end

return log
