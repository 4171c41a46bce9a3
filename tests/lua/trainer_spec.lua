-- lutra.Trainer end to end: a small MLP learns synthetic data through trainer:step,
-- accumulation equals one big batch, plan reports, schedules, precision, and errors.
local lutra = require "lutra"
local nn, optim = lutra.nn, lutra.optim

local D, C = 16, 4

-- n points around C well separated centres (from the seed): x f32 (n, D), y i32 (n) =
-- row % C. `held_out` draws the noise from another stream.
local function blobs(n, seed, held_out)
    lutra.manual_seed(seed)
    local centres = lutra.randn(C, D) * 3
    if held_out then
        lutra.randn(1)
    end
    local noise = lutra.randn(n, D)
    local x, y = lutra.zeros(n, D), lutra.zeros({ n }, "i32")
    for i = 1, n do
        local c = i % C
        y[i] = c
        x[i] = centres[c + 1] + noise[i]
    end
    return x, y
end

local function mlp(dropout)
    return nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Dropout(dropout or 0), nn.Linear(32, C))
end

-- Trains epochs over x, y in batches of `batch`; returns the first and last loss and
-- how many steps were skipped (an fp16 overflow), which only `may_skip` allows.
local function fit(trainer, x, y, batch, epochs, may_skip)
    local first, last, skipped = nil, nil, 0
    for e = 0, epochs - 1 do
        for s = 1, x:size(1) - batch + 1, batch do
            local r = trainer:step({ x:narrow(1, s, batch), y:narrow(1, s, batch) }, e)
            if r.skipped then
                assert.is_true(may_skip, "a step was skipped")
                skipped = skipped + 1
            else
                first, last = first or r.loss, r.loss
            end
        end
    end
    return first, last, skipped
end

describe("Trainer", function()
    local x, y = blobs(512, 1)
    local tx, ty = blobs(200, 1, true) -- the same centres, other noise

    it("trains an MLP on synthetic data until the loss is a small fraction", function()
        lutra.manual_seed(2)
        local model = mlp(0.1)
        local trainer = lutra.Trainer {
            model = model,
            input_shape = { 32, D },
            optim = optim.SGD { lr = 0.05, momentum = 0.9, weight_decay = 1e-4,
                paramwise = { bias_decay_mult = 0 } },
        }
        local first, last = fit(trainer, x, y, 32, 3)
        assert.is_true(last < first / 10, string.format("loss %g -> %g", first, last))
        assert.equal(48, trainer.iter)
        local ev = trainer:evaluate(tx, ty, { batch_size = 64 }) -- 3 full batches and 8 rows
        assert.equal(200, ev.count)
        assert.is_true(ev.accuracy >= 0.95, "accuracy " .. ev.accuracy)
        assert.is_true(ev.loss < first / 4)
        local out = trainer:predict(tx:narrow(1, 1, 10))
        assert.same({ 10, C }, out:shape())
        -- the module's tensors are views of the trainer's weights: calling it agrees
        model:eval()
        local direct = model(tx:narrow(1, 1, 10)):values()
        for i, v in ipairs(out:values()) do
            assert.near(v, direct[i], 1e-5)
        end
    end)

    it("times each node of its step when made profiling", function()
        lutra.set_profile(true)
        local ok, trainer = pcall(lutra.Trainer, { model = mlp(0), input_shape = { 32, D },
            optim = optim.SGD { lr = 0.05 } })
        lutra.set_profile(false)
        assert(ok, trainer)
        trainer:step { x:narrow(1, 1, 32), y:narrow(1, 1, 32) }
        local nodes = trainer:profile(true)
        local ops, total = {}, 0
        for _, n in ipairs(nodes) do
            ops[n.op .. (n.backward and " backward" or "")] = true
            assert.is_true(n.seconds >= 0)
            total = total + n.seconds
        end
        assert.is_true(ops.linear and ops["linear backward"] and ops.cross_entropy, "ops")
        assert.is_true(total > 0)
        for _, n in ipairs(trainer:profile()) do
            assert.equal(0, n.seconds) -- reset
        end
        local plain = lutra.Trainer { model = mlp(0), input_shape = { 32, D },
            optim = optim.SGD { lr = 0.05 } }
        assert.same({}, plain:profile())
    end)

    it("reports planned bytes by category, equal to what it allocated", function()
        local trainer = lutra.Trainer { model = mlp(), input_shape = { 8, D },
            optim = optim.AdamW { lr = 1e-3 } }
        local plan, mem = trainer:plan_report(), trainer:memory()
        local sum = 0
        for _, cat in ipairs { "params", "param_copies", "grads", "optimizer", "activations",
            "temporaries", "workspace", "data", "state", "runtime" } do
            assert.is_number(plan[cat], cat)
            assert.equal(plan[cat], mem[cat], cat)
            sum = sum + plan[cat]
        end
        assert.equal(sum, plan.total)
        assert.equal(2 * plan.params, plan.optimizer) -- AdamW: two moments
        assert.equal(plan.params, plan.grads)
        assert.is_true(plan.live_peak.activations <= plan.activations)
        assert.is_true(plan.nodes > 0)
    end)

    it("accumulates micro-batches into the same step as one big batch", function()
        local function weights_after(micro)
            lutra.manual_seed(3)
            local model = mlp()
            local trainer = lutra.Trainer { model = model, input_shape = { micro, D },
                optim = optim.SGD { lr = 0.1, momentum = 0.9 } }
            for s = 0, 3 do
                local batches = {}
                for k = 0, 16 // micro - 1 do
                    local first = s * 16 + k * micro + 1
                    batches[#batches + 1] = { x:narrow(1, first, micro), y:narrow(1, first, micro) }
                end
                local r = trainer:step(batches)
                assert.equal(16, r.count)
            end
            return model[1].weight:values()
        end
        local whole, parts = weights_after(16), weights_after(4)
        for i = 1, #whole do
            assert.near(whole[i], parts[i], 1e-5)
        end
    end)

    it("gives the same run for the same seed, dropout included", function()
        local function losses()
            lutra.manual_seed(9)
            local trainer = lutra.Trainer { model = mlp(0.3), input_shape = { 32, D },
                optim = optim.SGD { lr = 0.05 } }
            local list = {}
            for s = 1, 4 do
                list[s] = trainer:step({ x:narrow(1, s * 32 - 31, 32), y:narrow(1, s * 32 - 31, 32) }).loss
            end
            return list
        end
        assert.same(losses(), losses())
    end)

    it("checkpoints activations: less planned, the same losses and weights", function()
        local function run(checkpoint)
            lutra.manual_seed(9)
            local model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Dropout(0.3),
                nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, C))
            local cfg = { model = model, input_shape = { 32, D }, checkpoint = checkpoint,
                optim = optim.SGD { lr = 0.05, momentum = 0.9 } }
            local planned = require("lutra.trainer").plan(cfg)
            local trainer = lutra.Trainer(cfg)
            local list = {}
            for s = 1, 4 do -- two micro-batches a step, the second short (a plan of its own)
                list[s] = trainer:step({ { x:narrow(1, s * 48 - 47, 32), y:narrow(1, s * 48 - 47, 32) },
                    { x:narrow(1, s * 48 - 15, 16), y:narrow(1, s * 48 - 15, 16) } }).loss
            end
            return list, model[8].weight:values(), planned
        end
        local plain_losses, plain_w, plain = run(false)
        local losses, w, ck = run(true)
        assert.same(plain_losses, losses)
        assert.same(plain_w, w)
        assert.equal(1, plain.segments)
        assert.is_true(ck.segments >= 2 and ck.recomputed > 0)
        assert.is_true(ck.report.activations < plain.report.activations)
        assert.equal(plain.nodes + ck.recomputed, ck.nodes)
        assert.has_error(function()
            lutra.Trainer { model = mlp(), input_shape = { 32, D }, optim = optim.SGD { lr = 1 },
                checkpoint = 1 }
        end, "Trainer: checkpoint must be true or false, got 1")
    end)

    it("says a closed trainer and its closed programs are closed, at the caller's line", function()
        local t = lutra.Trainer { model = mlp(), input_shape = { 32, D },
            optim = optim.SGD { lr = 0.1 } }
        local bx, by = x:narrow(1, 1, 32), y:narrow(1, 1, 32)
        t:step({ bx, by })
        local prog = t:eval_program(bx, by)
        t:close()
        t:close() -- again: nothing
        local line = debug.getinfo(1, "l").currentline + 1
        local ok, err = pcall(function() t:step({ bx, by }) end)
        assert.is_false(ok)
        assert.equal("tests/lua/trainer_spec.lua:" .. line .. ": Trainer:step: the trainer was closed",
            err)
        ok, err = pcall(require("lutra.trace").run, prog, { bx, by })
        assert.is_false(ok)
        assert.truthy(err:find("forward program: it was closed", 1, true))
    end)

    it("sets the schedule's lr before each step, counting iterations", function()
        local sched = optim.schedules.warmup { iters = 2, start_factor = 0.5,
            main = optim.schedules.step { step_size = 3, gamma = 0.1 } }
        local trainer = lutra.Trainer { model = mlp(), input_shape = { 32, D },
            optim = optim.SGD { lr = 0.2 }, schedule = sched }
        local want = { 0.1, 0.15, 0.2, 0.02, 0.02 }
        for i = 1, 5 do
            local r = trainer:step({ x:narrow(1, 1, 32), y:narrow(1, 1, 32) })
            assert.near(want[i], r.lr, 1e-9)
            assert.equal(i, r.iter)
            assert.near(want[i], trainer:lr(), 1e-7)
        end
    end)

    it("trains in bf16 and fp16 with loss scaling", function()
        for _, mode in ipairs { "bf16", "fp16" } do
            lutra.manual_seed(4)
            local trainer = lutra.Trainer { model = mlp(), input_shape = { 32, D },
                optim = optim.AdamW { lr = 1e-2 }, precision = { mode = mode } }
            local first, last, skipped = fit(trainer, x, y, 32, 1, mode == "fp16")
            assert.is_true(last < first / 2, mode .. string.format(": loss %g -> %g", first, last))
            if mode == "fp16" then
                -- the gradients are f16 between the f16 ops: at the starting scale, 2^16,
                -- they overflow; the scaler backs off until they fit
                assert.is_true(skipped >= 1)
                assert.is_true(trainer:loss_scale() < 65536)
            end
        end
    end)

    it("raises config and data errors at the caller's line", function()
        local trainer = lutra.Trainer { model = mlp(), input_shape = { 32, D },
            optim = { type = "SGD", lr = 0.1 } }
        local line = debug.getinfo(1, "l").currentline + 1
        local ok, err = pcall(function() local _ = trainer:step({ lutra.zeros(32, 8), y:narrow(1, 1, 32) }) end)
        assert.is_false(ok)
        assert.equal("tests/lua/trainer_spec.lua:" .. line .. ": step: x (input 1) is f32 (32, 8), "
            .. "the graph wants f32 (32, 16)", err)
        assert.has_error(function()
            lutra.Trainer { model = mlp(), input_shap = { 32, D }, optim = optim.SGD { lr = 1 } }
        end, "Trainer: unknown option 'input_shap' (it takes: model, inputs, input_shape, "
            .. "input_dtype, targets, loss, optim, schedule, precision, checkpoint, loader_bytes)")
        assert.has_error(function()
            lutra.Trainer { model = mlp(), input_shape = { 32, D } }
        end, "Trainer: optim is required (lutra.optim.SGD{lr = ...} or AdamW{...})")
        assert.has_error(function()
            lutra.Trainer { model = mlp(), input_shape = { 32, 5 }, optim = optim.SGD { lr = 1 } }
        end, "linear: input (32, 5) has 5 features but weight (32, 16) expects 16")
        assert.has_error(function()
            trainer:step(x)
        end, "step: want a list of micro-batches {{x, y}, ...} or one micro-batch {x, y}, got a tensor")
    end)
end)
