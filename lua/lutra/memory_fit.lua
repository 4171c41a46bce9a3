-- The memory policy (DESIGN.md, "Policies": memory.target, memory.fit) as pure functions:
-- what to change in a config so that its training step and its evaluation fit
-- memory.target of the capacity, and why. Nothing here plans, reads the device or writes
-- the config it is given: a "plan probe" the caller passes plans a candidate config (in
-- lutra.setup: lutra.trainer's planner with no memory limit for that call, so that plans
-- which do not fit are measured rather than refused), and the caller says the capacity.
-- The caller writes the new config where it wants (lutra.setup: into the run's config).
local dist = require "lutra.dist"
local logger = require "lutra.logger"

local memory_fit = {}

local bytes = logger.bytes

-- A copy of cfg to try changes on: the groups a fit changes (data, optim, precision,
-- memory) are copied one level deep, the rest is shared (never written).
local function candidate(cfg)
    local c = {}
    for k, v in pairs(cfg) do
        c[k] = v
    end
    for _, group in ipairs { "data", "optim", "precision", "memory" } do
        local copy = {}
        for k, v in pairs(cfg[group]) do
            copy[k] = v
        end
        c[group] = copy
    end
    return c
end

-- "memory.target 0.75 of memory.limit (34M)": what the budget is a fraction of, and the
-- process's own bytes it leaves out ("... less the process's 86M").
local function target_of(cfg, opts)
    return string.format("memory.target %g of %s (%s)%s", cfg.memory.target, opts.capacity_name,
        bytes(opts.capacity), (opts.baseline or 0) > 0 and
        string.format(" less the process's %s", bytes(opts.baseline)) or "")
end

-- The bytes plans may take: memory.target of the capacity, less what the process holds
-- besides them (opts.baseline: measured; 0 where it does not count). Raises when the
-- process alone holds more.
local function budget_of(cfg, opts)
    local budget = math.floor(cfg.memory.target * opts.capacity) - (opts.baseline or 0)
    if budget <= 0 then
        error(string.format("memory: memory.target %g of %s (%s) is less than the process " ..
            "holds before any plan (%s: the program and its libraries, the Lua state, the " ..
            "data sets); raise memory.limit, or set memory.process = false to hold the plans " ..
            "alone to it", cfg.memory.target, opts.capacity_name or "the capacity",
            bytes(opts.capacity), bytes(opts.baseline)), 0)
    end
    return budget
end

-- Calls probe(c); raises the planner's message when it refused the candidate.
local function planned(probe, c)
    local report, err = probe(c)
    if not report then
        error(err, 0)
    end
    return report
end

-- memory_fit.fit(cfg, probe, opts): the step for the recipe's micro-batch and precision,
-- and while it needs more than memory.target of the capacity, memory.fit's ways in order:
-- "batch" halves the micro-batch and doubles accumulate (the effective batch, hence the
-- lr, stays), "precision" trains an fp32 recipe in bf16, "checkpoint" turns activation
-- checkpointing on. The evaluation counts too (what it needs beyond the step's memory,
-- which it borrows), at a batch no larger than the test split (opts.test_size, when
-- known) nor data.val_samples: when the step fits and the two do not, the evaluation
-- batch halves (never to grow again: a smaller step lends it less), as evaluation's
-- results do not depend on it.
--   probe(c): plans candidate config c (its data.batch_size, optim.accumulate,
--     precision.mode, memory.checkpoint, and the evaluation at data.val_batch_size rows);
--     returns lutra.trainer.plan's summary ({report = {total =, ...}, eval_extra =}) or
--     nil and the planner's message.
--   opts: {capacity = bytes, capacity_name = what they are ("memory.limit"), test_size =
--     rows of the test split or nil, baseline = bytes the process holds besides the plans
--     (measured; left out of the budget; default 0)}.
-- Returns the fitted config (a new table; cfg is not written; untouched groups shared) and
-- {lines = the log lines (none when nothing changed), origin = {key = why} for the
-- resolved config, eval = {batch =, extra =}: the evaluation's batch and the bytes it
-- needs beyond the step's}. Raises, with the bytes, when nothing it may change fits, and
-- with the probe's message when the probe refuses.
function memory_fit.fit(cfg, probe, opts)
    local m, p = cfg.memory, cfg.precision
    local budget = budget_of(cfg, opts)
    -- an evaluation batch is never larger than the test split it reads
    local val0 = math.min(cfg.data.val_batch_size, opts.test_size or math.huge)
    if cfg.data.val_samples > 0 then
        val0 = math.min(val0, cfg.data.val_samples)
    end
    local c = candidate(cfg)
    local d, o, cp, cm = c.data, c.optim, c.precision, c.memory
    d.val_batch_size = val0
    -- the step and its evaluation, in bytes, and the evaluation's part beyond the step
    local function measure()
        local plan = planned(probe, c)
        return plan.report.total + plan.eval_extra, plan.eval_extra
    end
    -- from a measure, halving the evaluation batch while that alone brings the two under
    local function need(total, extra)
        while total > budget and total - extra <= budget and extra > 0 and d.val_batch_size > 1 do
            d.val_batch_size = (d.val_batch_size + 1) // 2
            total, extra = measure()
        end
        return total, extra
    end
    local first, first_extra = measure()
    local needed, eval_extra = need(first, first_extra)
    for _, way in ipairs(m.fit) do
        if needed <= budget then
            break
        end
        if way == "batch" then
            while needed > budget and d.batch_size % 2 == 0 do
                d.batch_size, o.accumulate = d.batch_size // 2, o.accumulate * 2
                needed, eval_extra = need(measure())
            end
        elseif way == "precision" and cp.mode == "fp32" then
            cp.mode = "bf16"
            needed, eval_extra = need(measure())
        elseif way == "checkpoint" and not cm.checkpoint then
            cm.checkpoint = true
            needed, eval_extra = need(measure())
        end
    end
    local target = target_of(cfg, opts)
    if needed > budget then
        error(string.format("memory: the step and its evaluation need %s (micro-batch %d, " ..
            "%s, evaluation batch %d), over %s = %s, " ..
            "and memory.fit {%s} cannot bring it under (a larger memory.limit or " ..
            "memory.target, or a smaller model, may)", bytes(needed), d.batch_size, cp.mode,
            d.val_batch_size, target, bytes(budget), table.concat(m.fit, ", ")), 0)
    end
    local lines, why = {}, {}
    local val = d.val_batch_size
    if d.batch_size ~= cfg.data.batch_size or cp.mode ~= p.mode or cm.checkpoint ~= m.checkpoint or
        val ~= val0 then
        local said = string.format("memory: the step and its evaluation need %s, over %s = %s",
            bytes(first), target, bytes(budget))
        if val ~= val0 then
            said = said .. string.format("; evaluation batch %d -> %d", val0, val)
            why["data.val_batch_size"] = string.format("memory: was %d", cfg.data.val_batch_size)
        end
        if d.batch_size ~= cfg.data.batch_size then
            said = said .. string.format("; micro-batch %d -> %d, accumulate %d -> %d " ..
                "(effective batch %d kept)", cfg.data.batch_size, d.batch_size,
                cfg.optim.accumulate, o.accumulate, d.batch_size * o.accumulate * dist.size())
            why["data.batch_size"] = string.format("memory.fit: was %d", cfg.data.batch_size)
            why["optim.accumulate"] = string.format("memory.fit: was %d", cfg.optim.accumulate)
        end
        if cp.mode ~= p.mode then
            said = said .. string.format("; precision %s -> %s", p.mode, cp.mode)
            why["precision.mode"] = string.format("memory.fit: was %q", p.mode)
        end
        if cm.checkpoint ~= m.checkpoint then
            said = said .. "; activation checkpointing on"
            why["memory.checkpoint"] = "memory.fit: was false"
        end
        lines[1] = said .. string.format("; now %s", bytes(needed))
    end
    if val == val0 then -- the recipe's value stays (it may be larger than the split)
        d.val_batch_size = cfg.data.val_batch_size
    end
    return c, { lines = lines, origin = why, eval = { batch = val, extra = eval_extra } }
end

-- memory_fit.fit_eval(cfg, probe, opts): the evaluation batch of a model evaluated alone
-- (lutra eval): data.val_batch_size, at most the test split, halved until the program
-- fits memory.target of the capacity.
--   probe(c): plans the evaluation of candidate config c at c.data.val_batch_size rows;
--     returns its bytes by category ({total =, ...}) or nil and the planner's message.
--   opts: {capacity =, capacity_name =, test_size =} as fit's (test_size required).
-- Returns the fitted config (a new table, data.val_batch_size the batch chosen) and
-- {lines = the line saying what changed (none when nothing did), origin = {key = why}}.
-- Raises, with the bytes, when even one row does not fit, and with the probe's message
-- when the probe refuses.
function memory_fit.fit_eval(cfg, probe, opts)
    local budget = budget_of(cfg, opts)
    local val0 = math.min(cfg.data.val_batch_size, opts.test_size)
    local c = candidate(cfg)
    local d = c.data
    d.val_batch_size = val0
    local needed
    while true do
        needed = planned(probe, c).total
        if needed <= budget or d.val_batch_size == 1 then
            break
        end
        d.val_batch_size = (d.val_batch_size + 1) // 2
    end
    local target = target_of(cfg, opts)
    if needed > budget then
        error(string.format("memory: evaluation needs %s even one row at a time, over %s = %s",
            bytes(needed), target, bytes(budget)), 0)
    end
    local lines, why = {}, {}
    if d.val_batch_size ~= val0 then
        lines[1] = string.format("memory: evaluation batch %d -> %d to fit %s = %s", val0,
            d.val_batch_size, target, bytes(budget))
        why["data.val_batch_size"] = string.format("memory: was %d", cfg.data.val_batch_size)
    end
    return c, { lines = lines, origin = why }
end

-- memory_fit.divisors(n): the divisors of n (an integer >= 1), ascending. Cannot fail.
function memory_fit.divisors(n)
    local low, high = {}, {}
    for d = 1, math.floor(math.sqrt(n)) do
        if n % d == 0 then
            low[#low + 1] = d
            if d ~= n // d then
                table.insert(high, 1, n // d)
            end
        end
    end
    table.move(high, 1, #high, #low + 1, low)
    return low
end

-- memory_fit.largest(candidates, fits): the largest of candidates (ascending, at least
-- one) for which fits(c) is true, or nil when none is, assuming that what fits is a
-- prefix of the list (a step's bytes grow with its micro-batch). The largest is tried
-- first (on a large card it fits, and one call answers), then bisection: about
-- log2(#candidates) + 1 calls. Raises what fits raises.
function memory_fit.largest(candidates, fits)
    local lo, hi = 0, #candidates -- candidates[1..lo] fit, candidates[hi + 1..] do not
    if fits(candidates[hi]) then
        return candidates[hi]
    end
    hi = hi - 1
    while lo < hi do
        local mid = (lo + hi + 1) // 2
        if fits(candidates[mid]) then
            lo = mid
        else
            hi = mid - 1
        end
    end
    return candidates[lo]
end

-- The precisions and checkpointing settings memory_fit.answers tries, in its rows' order.
memory_fit.PRECISIONS = { "fp32", "bf16", "fp16" }

-- memory_fit.answers(cfg, probe, opts): for each precision (PRECISIONS) without and with
-- activation checkpointing, the largest micro-batch whose step fits memory.target of the
-- capacity with the accumulation that keeps the effective batch (data.batch_size ×
-- optim.accumulate): the micro-batches tried are the effective batch's divisors.
--   probe(c): plans the step of candidate config c (its data.batch_size,
--     optim.accumulate, precision.mode, memory.checkpoint); returns {report = {total =,
--     ...}} or nil and the planner's message.
--   opts: {capacity = bytes, baseline = as fit's}.
-- Returns the rows, each {precision =, checkpoint = boolean, micro_batch =, accumulate =,
-- planned = the step's bytes at that micro-batch, of_capacity = planned / capacity, fits =
-- boolean, capacity =, budget = memory.target of it less the baseline, in bytes}; a row that does not fit (fits = false) is micro-batch 1 with its bytes, and
-- a row the planner refuses has error = its message instead of the numbers. Also returns
-- how many plans it made. Does not write cfg.
function memory_fit.answers(cfg, probe, opts)
    local budget = budget_of(cfg, opts)
    local effective = cfg.data.batch_size * cfg.optim.accumulate
    local batches = memory_fit.divisors(effective)
    local rows, plans = {}, 0
    for _, mode in ipairs(memory_fit.PRECISIONS) do
        for _, checkpoint in ipairs { false, true } do
            local c = candidate(cfg)
            c.precision.mode, c.memory.checkpoint = mode, checkpoint
            local totals = {}
            local function fits(b)
                c.data.batch_size, c.optim.accumulate = b, effective // b
                plans = plans + 1
                totals[b] = planned(probe, c).report.total
                return totals[b] <= budget
            end
            local row = { precision = mode, checkpoint = checkpoint, capacity = opts.capacity,
                budget = budget }
            local ok, best = pcall(memory_fit.largest, batches, fits)
            if not ok then
                row.error = tostring(best)
            else
                -- none fits: micro-batch 1, which the search planned last
                row.fits = best ~= nil
                best = best or 1
                row.micro_batch, row.accumulate = best, effective // best
                row.planned, row.of_capacity = totals[best], totals[best] / opts.capacity
            end
            rows[#rows + 1] = row
        end
    end
    return rows, plans
end

-- memory_fit.apply(into, fitted, origin): writes the keys origin names ("data.batch_size")
-- from the fitted config into `into`, in place. Cannot fail for origin tables fit and
-- fit_eval return.
function memory_fit.apply(into, fitted, origin)
    for key in pairs(origin) do
        local group, name = key:match("^([%w_]+)%.([%w_]+)$")
        into[group][name] = fitted[group][name]
    end
end

return memory_fit
