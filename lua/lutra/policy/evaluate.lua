-- The runner's evaluation (a policy: a hook table, see lutra.hooks): loss and accuracy
-- over the test split at runner.eval_interval (iterations, or "epoch"; none once the run
-- is stopping) and when training ends, unless the last step was just evaluated; each
-- evaluation fires after_eval (the log's line, the curves, the best weights below, then
-- users' hooks). With runner.save_best = "<metric>" the weights of the best evaluation so
-- far (lowest for a loss, highest else) are kept as best_<metric>.safetensors and in
-- runner.best. Also the evaluation pass `lutra eval` runs.
local core = require "lutra.core"
local util = require "lutra.util"
local trainer_mod = require "lutra.trainer"
local checkpoint = require "lutra.checkpoint"
local hooks = require "lutra.hooks"
local dist = require "lutra.dist"

local evaluate = { name = "evaluate" }


-- Every rank's sums of a data-parallel evaluation (each rank evaluated its shard).
local function sum_ranks(acc)
    acc = acc or { sum = 0, count = 0, correct = 0, rows = 0 }
    local s = dist.sum({ acc.sum, acc.count, acc.correct, acc.rows, acc.classify and 1 or 0 },
        "the evaluation's sums")
    return { sum = s[1], count = s[2], correct = math.tointeger(s[3]) or s[3],
        rows = math.tointeger(s[4]) or s[4], classify = s[5] > 0 }
end

-- evaluate.pass(loader, evaluator): one pass over the loader's batches through
-- evaluator:evaluate_batch (a lutra.Trainer, or lutra.trainer.evaluator's); returns the
-- metrics ({loss =, accuracy =, count =}), or nil when a signal arrived midway. In a
-- data-parallel job each rank evaluates its shard and the sums are every rank's.
function evaluate.pass(loader, evaluator)
    local acc
    for _ = 1, loader:batches() do
        if core.interrupted() and not dist.active() then -- ranks stop between steps, together
            return nil
        end
        local b = loader:next()
        if b.size > 0 then
            acc = evaluator:evaluate_batch(b.x, b.y, acc)
        end
    end
    return trainer_mod.metrics(dist.active() and sum_ranks(acc) or acc)
end

-- evaluate.run(runner): evaluates the runner's model on the test split from its start,
-- keeps the time (runner.eval_seconds), runner.last_eval_iter and runner.last_metrics,
-- and fires after_eval. Returns the metrics with seconds =, or nil when a signal stopped
-- it midway. Raises what a policy on after_eval raised.
function evaluate.run(runner)
    local t0 = core.clock()
    local loader = runner.test_loader
    util.call(loader.seek, loader, 0, 0)
    runner.eval_seconds = runner.eval_seconds or 0
    local m = evaluate.pass(loader, runner.trainer)
    if not m then
        return nil
    end
    m.seconds = core.clock() - t0
    runner.eval_seconds = runner.eval_seconds + m.seconds
    runner.last_eval_iter, runner.last_metrics = runner.iter, m
    runner.hook_set:fire("after_eval", runner, m)
    return m
end

-- after_eval: the best weights so far, by runner.save_best.
function evaluate:after_eval(runner, m)
    local metric = runner.cfg.runner.save_best
    if not metric or runner.opts.write == false or m[metric] == nil then
        return
    end
    local lower, v, best = metric:match("loss$") ~= nil, m[metric], runner.best
    if not best or (lower and v < best.value) or (not lower and v > best.value) then
        runner.best = { metric = metric, value = v, iter = runner.iter }
        checkpoint.save_weights(runner.run_dir .. "/best_" .. metric .. ".safetensors",
            runner.model, { [metric] = tostring(v), iter = tostring(runner.iter),
                run = runner.run_name })
    end
end

-- after_epoch: runner.eval_interval = "epoch".
function evaluate:after_epoch(runner)
    if not runner.stopping and runner.cfg.runner.eval_interval == "epoch" then
        evaluate.run(runner)
    end
end

-- needs: between steps only with an interval in iterations.
evaluate.needs = hooks.between_steps_every("eval_interval")

-- between_steps: every runner.eval_interval iterations, except on a step that ended an
-- epoch, and before the last iteration (finish evaluates that one).
function evaluate:between_steps(runner)
    local every = hooks.every(runner, "eval_interval")
    if every and runner.iter % every == 0 and not runner.epoch_end and
        not runner.stopping and runner.iter < runner.max_iters then
        evaluate.run(runner)
    end
end

-- finish: a run that ends well ends evaluated (one a host stopped ends at its step
-- boundary, without).
function evaluate:finish(runner, code)
    if code == 0 and not runner:interruption() and runner.last_eval_iter ~= runner.iter then
        evaluate.run(runner)
    end
end

return evaluate
