-- The runner's guard against a gradient that was not finite (a policy: a hook table, see
-- lutra.hooks). In fp16 the loss scaler skips such a step and backs off; the guard
-- counts skipped steps and watches for a collapse: precision.max_skipped skipped in a
-- row, or a dynamic scale under precision.min_scale; precision.on_collapse then stops
-- the run or goes on in bf16 or fp32. In fp32 and bf16 it is the NaN guard: a NaN or inf
-- loss (or gradient) skips the step with a warning or stops the run (runner.on_nan).
-- Keeps runner.skipped and runner.skipped_in_row; a stop is runner.stop with
-- code 1 (EXIT.failure).
local logger = require "lutra.logger"
local EXIT = require("lutra.setup").EXIT

local guard = { name = "guard" }

local num = logger.num

-- fp16 scale collapse: precision.on_collapse says stop, or go on in bf16 or fp32.
local function collapse(runner, why)
    local to = runner.cfg.precision.on_collapse
    if to == "stop" then
        local last = runner.ckpts[#runner.ckpts]
        runner.stop = { reason = "collapse", code = EXIT.failure, message = string.format(
            "iter %d: the fp16 loss scale collapsed: %s; stopping (precision.on_collapse = " ..
            "\"stop\")%s", runner.iter, why, last and "; the last good checkpoint is " .. last or "") }
        return
    end
    runner.trainer:set_precision(to)
    runner.skipped_in_row = 0
    runner.log:warn(string.format("iter %d: the fp16 loss scale collapsed: %s; switching to %s " ..
        "(re-planned; weights, optimizer moments and step count carried over)", runner.iter,
        why, to))
    runner.log:metrics { mode = "event", iter = runner.iter, event = "precision", precision = to,
        reason = why }
end

-- after_step: reacts to the step's result r (skipped or not).
function guard:after_step(runner, r)
    local p, mode = runner.cfg.precision, runner.trainer.precision
    if not r.skipped then
        runner.skipped_in_row = 0
        if mode == "fp16" and p.loss_scale == "dynamic" and
            runner.trainer:loss_scale() < p.min_scale then
            collapse(runner, string.format("the loss scale fell to %s, under " ..
                "precision.min_scale %s", num(runner.trainer:loss_scale()), num(p.min_scale)))
        end
        return
    end
    runner.skipped, runner.skipped_in_row = runner.skipped + 1, runner.skipped_in_row + 1
    if mode == "fp16" then
        local scale = runner.trainer:loss_scale()
        if runner.skipped_in_row >= p.max_skipped then
            collapse(runner, string.format("%d skipped steps in a row (scale %g)",
                runner.skipped_in_row, scale))
        elseif p.loss_scale == "dynamic" and scale < p.min_scale then
            collapse(runner, string.format("the loss scale fell to %s, under " ..
                "precision.min_scale %s", num(scale), num(p.min_scale)))
        end
        return
    end
    local what = r.loss ~= r.loss and "the loss is nan" or
        ((r.loss == math.huge or r.loss == -math.huge) and "the loss is inf" or
            "the gradient is not finite")
    if runner.cfg.runner.on_nan == "skip" then
        runner.log:warn(string.format("iter %d: %s in %s; step skipped (runner.on_nan = " ..
            "\"skip\")", runner.iter, what, mode))
    else
        runner.stop = { reason = "nan", code = EXIT.failure, message = string.format(
            "iter %d: %s in %s; stopping (runner.on_nan = \"stop\"); the weights of the last " ..
            "good step are saved", runner.iter, what, mode) }
    end
end

return guard
