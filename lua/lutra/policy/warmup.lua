-- The runner's fp32 warmup (a policy: a hook table, see lutra.hooks): a recipe in fp16
-- or bf16 with precision.fp32_warmup_iters = N trains its first N iterations in fp32
-- (the trainer is built in fp32), then switches to its precision, re-planned, with the
-- optimizer state carried over.
local warmup = { name = "warmup" }

-- warmup.first_mode(p): the precision a run's trainer is built in, from its precision
-- group: fp32 during the warmup, else the recipe's. Cannot fail.
function warmup.first_mode(p)
    return (p.fp32_warmup_iters or 0) > 0 and "fp32" or p.mode
end

-- needs: a run without precision.fp32_warmup_iters has nothing to switch.
function warmup:needs(runner)
    return (runner.cfg.precision.fp32_warmup_iters or 0) > 0
end

-- after_step (installed only with a warmup): at the warmup's last iteration, the switch to
-- the recipe's precision.
function warmup:after_step(runner)
    local p, trainer = runner.cfg.precision, runner.trainer
    if runner.iter == (p.fp32_warmup_iters or 0) and
        trainer.precision == "fp32" and p.mode ~= "fp32" then
        trainer:set_precision(p.mode)
        runner.log:info(string.format("iter %d: fp32 warmup over; training in %s from here " ..
            "(re-planned; optimizer state carried over)", runner.iter, p.mode))
    end
end

return warmup
