-- lutra.runner end to end on a small synthetic data set in Fashion-MNIST's files (written
-- once per run under TMPDIR and given to the runner as data.root): the run folder it
-- writes in the work dir, the policies (lr scaling, accumulation with a short last
-- micro-batch, fp32 warmup, fp16 scale collapse, the NaN guard), hooks, resume, memory
-- fitting and memory that stays flat over many steps; the hook set (policies around
-- users' hooks), memory fitting as a pure function, per-call memory limits; then
-- lutra.resume (what a checkpoint must match, its counters) and lutra.workdir (which
-- folders can be work dirs, run folders, stale temporaries). Only learning the real Fashion-MNIST needs Debian's
-- dataset-fashion-mnist (pending without it; LUTRA_SPEC_FMNIST_DIR=/elsewhere checks that
-- the rest still runs).
local lutra = require "lutra"
local core = require "lutra.core"
local config = require "lutra.config"
local runner = require "lutra.runner"
local logger = require "lutra.logger"
local resume = require "lutra.resume"
local workdir = require "lutra.workdir"

local FMNIST_DIR = os.getenv("LUTRA_SPEC_FMNIST_DIR") or core.FMNIST_DIR
local HAVE_DATA = core.is_file(FMNIST_DIR .. "/train-images-idx3-ubyte.gz")
local RECIPE = "examples/fmnist_mlp.lua"
local TMP = os.getenv("TMPDIR") or "/tmp"

-- A fresh work dir under TMPDIR.
local function work_dir(name)
    local dir = string.format("%s/lutra-runner-spec-%d-%s", TMP, core.getpid(), name)
    os.execute("rm -rf '" .. dir .. "'")
    return dir
end

-- A synthetic Fashion-MNIST folder, 512 training and 200 test images
-- (tests/lua/fixtures/synthetic_fmnist.lua).
local function synthetic_fmnist()
    local dir = work_dir("data")
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    dofile("tests/lua/fixtures/synthetic_fmnist.lua").write(dir, 512, 200)
    return dir
end

local DATA_DIR = synthetic_fmnist()

-- A small, quick run of the default recipe: 512 training and 200 test samples (of the
-- synthetic set, or of real_dir), a narrow MLP, the given overrides on top.
local function small(name, overrides, real_dir)
    local o = { "data.train_samples=512", "data.val_samples=200", "model.hidden={64}",
        "runner.max_iters=8", "runner.log_interval=4", "runner.eval_interval=0",
        "runner.checkpoint_interval=0", "schedule.warmup_iters=0", "data.batch_size=32",
        -- limits here hold the plans alone: the fits under test are measured in plans'
        -- bytes, which this process's own memory would swamp
        "memory.process=false",
        "data.root=" .. string.format("%q", real_dir or DATA_DIR) }
    for _, s in ipairs(overrides or {}) do
        o[#o + 1] = s
    end
    o.work_dir = work_dir(name)
    local cfg, notes, origin = config.load(RECIPE, o)
    return cfg, { notes = notes, origin = origin, quiet = true, recipe = RECIPE }
end

local function read(path)
    local f = assert(io.open(path, "r"))
    local text = f:read("a")
    f:close()
    return text
end

local function lines(path)
    local out = {}
    for l in read(path):gmatch("[^\n]+") do
        out[#out + 1] = l
    end
    return out
end

-- Trains; returns the exit code and the runner (r.run_dir: the run's folder).
local function run(cfg, opts)
    local r = runner.new(cfg, opts)
    local code = r:train()
    r.log:close() -- the trainer stays open for the checks (collected later)
    r.wd:close() -- the work dir's lock
    return code, r
end

-- The tensors of a safetensors file without its metadata (which names the run): names
-- and shapes in order, and the data bytes.
local function tensors_of(path)
    local text = read(path)
    local n = string.unpack("<I8", text)
    local f = core.load_safetensors(path)
    local shapes = {}
    for i, name in ipairs(f.names) do
        shapes[i] = name .. " " .. table.concat(f.tensors[name]:shape(), "x")
    end
    return table.concat(shapes, ", ") .. "\n" .. text:sub(9 + n)
end

-- Whether two weights files hold the same tensors, bit for bit.
local function same_weights(a, b)
    return tensors_of(a) == tensors_of(b)
end

local with_data = HAVE_DATA and it or pending

describe("runner", function()
    it("scales lr on the effective batch and says so", function()
        local cfg = config.load(RECIPE, { "optim.lr=2e-4", "data.batch_size=16",
            "optim.accumulate=2", 'optim.lr_scaling={rule="linear", base_batch_size=16}' })
        local lr, line = runner.lr_scaling(cfg)
        assert.near(4e-4, lr, 1e-12)
        assert.equal("lr 0.0002 -> 0.0004: linear rule, effective batch 32 / base 16", line)
        cfg = config.load(RECIPE, { 'optim.lr_scaling={rule="sqrt", base_batch_size=32}' })
        lr, line = runner.lr_scaling(cfg)
        assert.near(0.1 * math.sqrt(4), lr, 1e-12)
        assert.truthy(line:find("sqrt rule, effective batch 128 / base 32", 1, true))
        assert.is_nil(select(2, runner.lr_scaling(config.load(RECIPE))))
    end)

    it("builds the schedule in iterations: warmup, then the decay", function()
        local s = runner.schedule({ type = "cosine", warmup_iters = 10, warmup_ratio = 0.1,
            min_lr = 0 }, 100, 10):with_base(1.0)
        assert.near(0.1, s:lr(0), 1e-9)
        assert.near(0.5 * (1 + math.cos(math.pi * 0.5)), s:lr(50), 1e-9)
        assert.near(0, s:lr(100), 1e-9)
        local st = runner.schedule({ type = "step", by_epoch = true, step_size = 2, gamma = 0.5,
            warmup_iters = 0, warmup_ratio = 0.1 }, 100, 10):with_base(1.0)
        assert.near(1, st:lr(19), 1e-12)
        assert.near(0.5, st:lr(20), 1e-12)
    end)

    it("trains, writes its run folder in the work dir and learns", function()
        local cfg, opts = small("files", { "runner.max_iters=40", "model.hidden={128}",
            "optim.lr=0.05" })
        local code, r = run(cfg, opts)
        assert.equal(0, code)
        -- the work dir holds the run's folder, named after its start time, and the lock
        local dir = r.run_dir
        assert.truthy(r.run_name:match("^%d%d%d%d%d%d%d%d_%d%d%d%d%d%d$"), r.run_name)
        assert.equal(cfg.work_dir .. "/" .. r.run_name, dir)
        local top = core.list_dir(cfg.work_dir)
        table.sort(top)
        assert.same({ r.run_name, "lutra.lock" }, top)
        for _, f in ipairs { "config.lua", "train.log", "metrics.jsonl", "final.safetensors",
            "best_accuracy.safetensors", "loss.png", "lr.png", "memory.png" } do
            assert.is_true(core.is_file(dir .. "/" .. f), f)
        end
        assert.truthy(read(dir .. "/config.lua"):find("Train it again: lutra train " .. dir ..
            "/config.lua", 1, true))
        -- config.lua loads back to the same config
        local again = config.load(dir .. "/config.lua")
        assert.same(cfg.model, again.model)
        assert.equal(cfg.optim.lr, again.optim.lr)
        -- every metrics line is one JSON object; train lines carry scale and skipped
        local modes = {}
        for _, l in ipairs(lines(dir .. "/metrics.jsonl")) do
            local m = assert(core.json_decode(l))
            modes[m.mode] = (modes[m.mode] or 0) + 1
            if m.mode == "train" then
                assert.is_number(m.loss_scale)
                assert.equal(0, m.skipped)
            end
        end
        assert.equal(10, modes.train)
        assert.equal(1, modes.val)
        -- the synthetic classes are easy: a model that learns gets them all but a few
        assert.is_true(r.last_metrics.accuracy > 0.9, "accuracy " .. r.last_metrics.accuracy)
        -- final weights: PyTorch names and layouts
        local f = core.load_safetensors(dir .. "/final.safetensors")
        assert.same({ "1.weight", "1.bias", "4.weight", "4.bias" }, f.names)
        assert.same({ 128, 784 }, f.tensors["1.weight"]:shape())
        assert.equal("pt", f.meta.format)
        assert.equal(r.run_name, f.meta.run)
        assert.truthy(read(dir .. "/train.log"):find("weights saved to", 1, true))
    end)

    with_data("learns the real Fashion-MNIST (needs dataset-fashion-mnist)", function()
        local cfg, opts = small("real", { "runner.max_iters=40", "model.hidden={128}",
            "optim.lr=0.05" }, FMNIST_DIR)
        local code, r = run(cfg, opts)
        assert.equal(0, code)
        assert.equal(512, r.train_set:size())
        assert.equal(200, r.test_set:size())
        assert.equal(FMNIST_DIR, cfg.data.root)
        assert.is_true(r.last_metrics.accuracy > 0.6, "accuracy " .. r.last_metrics.accuracy)
    end)

    it("accumulates micro-batches, a short last one in its own plan", function()
        -- 100 samples in batches of 16: 6 full and one of 4; accumulate 4: steps of 4 and 3
        local cfg, opts = small("accumulate", { "data.train_samples=100", "data.batch_size=16",
            "optim.accumulate=4", "runner.max_iters=4" })
        local code, r = run(cfg, opts)
        assert.equal(0, code)
        assert.equal(2, r.steps_per_epoch)
        assert.equal(2, r.epoch)
        assert.is_not_nil(r.trainer.variants[4])
        assert.equal(4, r.trainer.handle:steps())
    end)

    it("trains the first iterations in fp32, then in the recipe's precision", function()
        local cfg, opts = small("warmup", { 'precision={mode="bf16", fp32_warmup_iters=3}' })
        local seen = {}
        opts.hooks = { { after_step = function(_, r) seen[r.iter] = r.trainer.precision end } }
        local code, r = run(cfg, opts)
        assert.equal(0, code)
        assert.equal("fp32", seen[2])
        assert.equal("bf16", seen[3])
        assert.equal("bf16", r.trainer.precision)
        assert.equal(8, r.trainer.handle:steps()) -- the step count carried over
        assert.truthy(read(r.run_dir .. "/train.log"):find("fp32 warmup over; training in bf16",
            1, true))
    end)

    it("switches precision when the fp16 scale collapses, or stops", function()
        local cfg, opts = small("collapse", {
            'precision={mode="fp16", loss_scale=3e38, max_skipped=3, on_collapse="fp32"}' })
        local code, r = run(cfg, opts)
        assert.equal(0, code)
        assert.equal("fp32", r.trainer.precision)
        assert.equal(3, r.skipped)
        assert.equal(5, r.trainer.handle:steps())
        local log = read(r.run_dir .. "/train.log")
        assert.truthy(log:find("3 skipped steps in a row", 1, true))
        assert.truthy(log:find("switching to fp32", 1, true))
        local last = core.json_decode(lines(r.run_dir .. "/metrics.jsonl")[2])
        assert.equal(3, last.skipped)

        cfg, opts = small("collapse-stop", { 'precision={mode="fp16", loss_scale="dynamic", ' ..
            'init_scale=3e38, min_scale=1e38, max_skipped=50}' })
        code, r = run(cfg, opts)
        assert.equal(1, code)
        assert.equal("collapse", r.stop.reason)
        assert.truthy(r.stop.message:find("under precision.min_scale", 1, true))
        assert.is_true(core.is_file(r.run_dir .. "/final.safetensors"))
    end)

    it("stops or skips on a NaN loss in fp32 (runner.on_nan)", function()
        local cfg, opts = small("nan", { "optim.lr=1e38", "optim.momentum=0",
            "optim.nesterov=false" })
        local code, r = run(cfg, opts)
        assert.equal(1, code)
        assert.equal("nan", r.stop.reason)
        assert.truthy(r.stop.message:find("stopping (runner.on_nan = \"stop\")", 1, true))
        cfg, opts = small("nan-skip", { "optim.lr=1e38", "optim.momentum=0",
            "optim.nesterov=false", 'runner.on_nan="skip"' })
        code, r = run(cfg, opts)
        assert.equal(0, code)
        assert.is_true(r.skipped >= 1)
        assert.equal(8, r.iter) -- skipped steps count as iterations
    end)

    it("calls hooks in order, survives a failing hook, and stops on request", function()
        local cfg, opts = small("hooks", { "runner.eval_interval=4" })
        local events = {}
        local function note(name)
            return function(_, _, x)
                events[#events + 1] = name .. (type(x) == "table" and x.iter and
                    ":" .. x.iter or "")
            end
        end
        opts.hooks = {
            { name = "recorder", before_run = note("before_run"), after_eval = note("eval"),
                after_run = note("after_run") },
            { name = "broken", after_step = function() error("hook bug") end },
            { name = "stopper", after_step = function(_, r, res)
                if res.iter == 6 then
                    r:request_stop("enough")
                end
            end },
        }
        local code, r = run(cfg, opts)
        assert.equal(0, code)
        assert.equal(6, r.iter)
        assert.same({ "before_run", "eval", "eval", "after_run" }, events)
        local log = read(r.run_dir .. "/train.log")
        assert.truthy(log:find("hook broken after_step failed: .*hook bug"))
        assert.has_error(function()
            runner.new(cfg, { hooks = { { after_stp = function() end } } })
        end, "hook 1 has none of before_run, before_epoch, after_step, after_eval, after_epoch, "
            .. "after_run")
    end)

    it("resumes a checkpoint and ends where an uninterrupted run ends, bit for bit", function()
        local base = { "data.train_samples=300", "runner.max_iters=24",
            "runner.checkpoint_interval=12", "model.dropout=0.3" }
        local cfg, opts = small("resume-a", base)
        local code, ra = run(cfg, opts)
        assert.equal(0, code)
        local a = ra.run_dir
        -- the run's checkpoints at 12 and at its end, the last named relative to the
        -- work dir
        assert.is_true(core.is_file(a .. "/iter_12.safetensors"))
        assert.equal(ra.run_name .. "/iter_24.safetensors\n", read(cfg.work_dir ..
            "/last_checkpoint"))
        base[#base + 1] = "resume_from=" .. string.format("%q", a .. "/iter_12.safetensors")
        local cfg2, opts2 = small("resume-b", base)
        local r
        code, r = run(cfg2, opts2)
        assert.equal(0, code)
        assert.equal(24, r.iter)
        assert.is_true(same_weights(a .. "/final.safetensors", r.run_dir .. "/final.safetensors"))
        -- a checkpoint outside the work dir is not the resumed run's to rotate: it keeps
        -- only its own, at its end
        assert.same({ r.run_dir .. "/iter_24.safetensors" }, r.ckpts)
        assert.is_true(core.is_file(a .. "/iter_12.safetensors"))
    end)

    it("resumes an fp16 run with its dynamic scaler mid-interval", function()
        -- growth every 5 clean steps, a checkpoint at 12 (2 clean steps after the growth
        -- at 10): the unbroken run grows at 15, and so must the resumed one
        local base = { "data.train_samples=300", "runner.max_iters=16",
            "runner.checkpoint_interval=12",
            'precision={mode="fp16", loss_scale="dynamic", init_scale=256, growth_interval=5}' }
        local function scale_at_16(dir)
            for line in io.lines(dir .. "/metrics.jsonl") do
                if line:find('"iter": ?16[,}]') and line:find('"mode": ?"train"') then
                    return tonumber(line:match('"loss_scale": ?([%d.e+]+)'))
                end
            end
        end
        local cfg, opts = small("resume-fp16-a", base)
        local code, ra = run(cfg, opts)
        assert.equal(0, code)
        local a = ra.run_dir
        base[#base + 1] = "resume_from=" .. string.format("%q", a .. "/iter_12.safetensors")
        local cfg2, opts2 = small("resume-fp16-b", base)
        local r
        code, r = run(cfg2, opts2)
        assert.equal(0, code)
        assert.equal(256 * 2 ^ 3, scale_at_16(a))
        assert.equal(scale_at_16(a), scale_at_16(r.run_dir))
        assert.is_true(same_weights(a .. "/final.safetensors", r.run_dir .. "/final.safetensors"))
    end)

    it("fits memory.target by halving the micro-batch, keeping the effective batch", function()
        local cfg = small("fit-probe")
        local trainer_mod = require "lutra.trainer"
        local models = require "lutra.models"
        local data = require "lutra.data"
        local function need(batch)
            return trainer_mod.plan { model = models.build(cfg.model, cfg),
                input_shape = data.input_shape(cfg, batch),
                loader_bytes = data.loader_bytes(cfg, batch),
                optim = lutra.optim.SGD { lr = 0.1, momentum = 0.9 } }.report.total
        end
        -- a limit that micro-batch 8 fits under 0.75 of, and 16 does not
        local limit = math.ceil(need(8) / 0.75) + 1
        assert.is_true(need(16) > 0.75 * limit)
        local cfg2, opts = small("fit", { "memory.limit=" .. limit })
        local code, r = run(cfg2, opts)
        assert.equal(0, code)
        assert.equal(8, r.iter)
        assert.equal(8, cfg2.data.batch_size)
        assert.equal(4, cfg2.optim.accumulate)
        local log = read(r.run_dir .. "/train.log")
        assert.truthy(log:find("micro-batch 32 -> 8, accumulate 1 -> 4 (effective batch 32 kept)",
            1, true))
        assert.truthy(read(r.run_dir .. "/config.lua"):find("memory.fit: was 32", 1, true))
        -- nothing it may change fits: an error with the bytes
        local cfg3, opts3 = small("fit-none", { "memory.limit=" .. limit, "memory.fit={}" })
        local ok, err = pcall(run, cfg3, opts3)
        assert.is_false(ok)
        assert.truthy(tostring(err):find("memory.fit {} cannot bring it under", 1, true))
    end)

    it("plans evaluation too, halving its batch first when the two do not fit", function()
        local cfg = small("eval-probe", { "data.val_batch_size=200" })
        core.set_memory_limit(0) -- what an earlier run left
        local trainer_mod = require "lutra.trainer"
        local models = require "lutra.models"
        local data = require "lutra.data"
        local planned = trainer_mod.plan({ model = models.build(cfg.model, cfg),
            input_shape = data.input_shape(cfg, 32), loader_bytes = data.loader_bytes(cfg, 32),
            optim = lutra.optim.SGD { lr = 0.1, momentum = 0.9 } }, 200)
        assert.is_true(planned.eval_extra > 0)
        -- the step fits under 0.75 of this limit, the step and evaluation at 200 do not
        local limit = math.ceil((planned.report.total + planned.eval_extra / 4) / 0.75)
        local cfg2, opts = small("eval-fit", { "data.val_batch_size=200",
            "memory.limit=" .. limit, "runner.eval_interval=4" })
        local code, r = run(cfg2, opts)
        assert.equal(0, code)
        assert.equal(32, cfg2.data.batch_size)
        assert.is_true(cfg2.data.val_batch_size < 200)
        local log = read(r.run_dir .. "/train.log")
        assert.truthy(log:find("evaluation batch 200 -> " .. cfg2.data.val_batch_size, 1, true))
        assert.truthy(log:find("evaluation (batch " .. cfg2.data.val_batch_size .. "): ", 1,
            true))
        assert.truthy(log:find("test accuracy", 1, true))
        assert.truthy(read(r.run_dir .. "/config.lua"):find("memory: was 200", 1, true))
        assert.equal(8, r.iter)
    end)

    it("fits memory.target by activation checkpointing, with the plain run's weights", function()
        local deep = { "model.hidden={256,256,256}", "model.dropout=0.3" }
        local cfg = small("ckpt-probe", deep)
        core.set_memory_limit(0) -- what an earlier run left
        local trainer_mod = require "lutra.trainer"
        local models = require "lutra.models"
        local data = require "lutra.data"
        local function need(ck)
            return trainer_mod.plan { model = models.build(cfg.model, cfg),
                input_shape = data.input_shape(cfg, 32), checkpoint = ck,
                loader_bytes = data.loader_bytes(cfg, 32),
                optim = lutra.optim.SGD { lr = 0.1, momentum = 0.9 } }.report.total
        end
        -- a limit that fits the checkpointed step under 0.75 of it, and not the plain one
        local limit = math.ceil(need(true) / 0.75) + 1
        assert.is_true(need(false) > 0.75 * limit)
        local plain_cfg, plain_opts = small("ckpt-plain", deep)
        local plain_code, plain = run(plain_cfg, plain_opts)
        assert.equal(0, plain_code)
        local over = { 'memory.fit={"checkpoint"}', "memory.limit=" .. limit }
        local cfg2, opts = small("ckpt-fit", { deep[1], deep[2], over[1], over[2] })
        local code, r = run(cfg2, opts)
        assert.equal(0, code)
        assert.is_true(cfg2.memory.checkpoint)
        assert.equal(32, cfg2.data.batch_size)
        local log = read(r.run_dir .. "/train.log")
        assert.truthy(log:find("; activation checkpointing on; now", 1, true))
        assert.truthy(log:find("activation checkpointing: %d+ segments, %d+ forward nodes"))
        assert.truthy(read(r.run_dir .. "/config.lua"):find(
            "checkpoint = true, -- memory.fit: was false", 1, true))
        assert.is_true(same_weights(plain.run_dir .. "/final.safetensors",
            r.run_dir .. "/final.safetensors"))
        assert.equal(8, r.iter)
    end)

    it("halves the micro-batch on a real out-of-memory (memory.on_oom = reduce)", function()
        local cfg, opts = small("oom")
        opts.make_trainer = function(t)
            if t.input_shape[1] > 8 then
                error("lutra.core: allocating 64.0 MiB on the GPU: cudaMalloc: out of memory", 0)
            end
            return lutra.Trainer(t)
        end
        local code, r = run(cfg, opts)
        assert.equal(0, code)
        assert.equal(8, r.iter)
        assert.equal(8, cfg.data.batch_size)
        assert.equal(4, cfg.optim.accumulate)
        assert.truthy(read(r.run_dir .. "/train.log"):find("micro-batch 16 -> 8", 1, true))
        local cfg2, opts2 = small("oom-error", { 'memory.on_oom="error"' })
        opts2.make_trainer = opts.make_trainer
        local ok, err = pcall(run, cfg2, opts2)
        assert.is_false(ok)
        assert.truthy(tostring(err):find("cudaMalloc: out of memory", 1, true))
    end)

    it("keeps the process's memory flat over many steps", function()
        local cfg, opts = small("memory", { "runner.max_iters=400", "runner.log_interval=50",
            "data.train_samples=256", "data.batch_size=32" })
        local at = {}
        opts.hooks = { { after_step = function(_, _, res)
            if res.iter == 40 or res.iter == 400 then
                collectgarbage("collect")
                at[res.iter] = logger.rss()
            end
        end } }
        assert.equal(0, (run(cfg, opts)))
        local grew = at[400] - at[40]
        assert.is_true(grew < 1024 * 1024, string.format("RSS grew by %d bytes from step 40 to 400",
            grew))
    end)
end)

describe("the runner's policies and setup pieces", function()
    local hooks = require "lutra.hooks"
    local memory_fit = require "lutra.memory_fit"
    local setup = require "lutra.setup"

    it("runs policies before users' hooks (late ones after), users' in protected calls", function()
        local set, calls, warned = hooks.new(), {}, {}
        local function policy(name, late)
            return { late = late and { after_step = true } or nil, after_step = function(_, _, x)
                calls[#calls + 1] = name .. ":" .. x
            end }
        end
        set:add_policy(policy("first"))
        set:add_policy(policy("log", true))
        set:add { name = "user", after_step = function(_, _, x)
            calls[#calls + 1] = "user:" .. x
            error("user bug")
        end }
        set:add_policy(policy("second"))
        local runner = { log = { warn = function(_, m) warned[#warned + 1] = m end } }
        set:fire("after_step", runner, 7)
        assert.same({ "first:7", "second:7", "user:7", "log:7" }, calls)
        assert.equal(1, #warned)
        assert.truthy(warned[1]:find("hook user after_step failed: .*user bug"))
        -- a policy left out where its needs says so
        local picky = hooks.new()
        picky:add_policy({ needs = function(_, r, e) return r == runner and e ~= "after_step" end,
            after_step = function() calls[#calls + 1] = "unneeded" end,
            after_eval = function() calls[#calls + 1] = "needed" end }, runner)
        picky:fire("after_step", runner, 1)
        picky:fire("after_eval", runner, {})
        assert.equal("needed", table.remove(calls))
        -- a policy's error is the run's: not caught
        set:add_policy { between_steps = function() error("disk full", 0) end }
        assert.has_error(function() set:fire("between_steps", runner) end, "disk full")
        -- users' hooks never see the policies' own events
        local quiet = hooks.new()
        quiet:add { after_run = function() calls[#calls + 1] = "after_run" end,
            between_steps = function() calls[#calls + 1] = "between_steps" end }
        quiet:fire("between_steps", runner)
        quiet:fire("finish", runner, 0)
        quiet:fire("after_run", runner, 0)
        assert.same({ "first:7", "second:7", "user:7", "log:7", "after_run" }, calls)
    end)

    it("fails the run when a checkpoint cannot be written", function()
        local cfg, opts = small("ckpt-fail", { "runner.checkpoint_interval=4" })
        opts.hooks = { { before_run = function(_, r) r.run_dir = r.run_dir .. "/missing/x" end } }
        local r = runner.new(cfg, opts)
        local ok, err = pcall(r.train, r)
        r:close()
        assert.is_false(ok)
        assert.truthy(tostring(err):find("missing/x/iter_4.safetensors", 1, true), tostring(err))
    end)

    it("fits memory as a pure function of the config and a plan probe", function()
        local cfg = config.load(RECIPE, { "data.batch_size=32", "data.val_batch_size=200",
            "data.val_samples=0" })
        local seen = {}
        -- a step of 1000 bytes per row (half in bf16), an evaluation of 10 per row
        local function probe(c)
            seen[#seen + 1] = c.data.batch_size
            local per = c.precision.mode == "bf16" and 500 or 1000
            return { report = { total = per * c.data.batch_size }, eval_extra =
                10 * c.data.val_batch_size }
        end
        local opts = { capacity = 20000, capacity_name = "memory.limit", test_size = 100 }
        local fitted, why = memory_fit.fit(cfg, probe, opts)
        assert.equal(32, cfg.data.batch_size) -- not written
        assert.equal(8, fitted.data.batch_size)
        assert.equal(4, fitted.optim.accumulate)
        assert.equal(200, fitted.data.val_batch_size) -- unchanged: the recipe's
        assert.same({ 32, 16, 8 }, seen)
        assert.equal("memory: the step and its evaluation need 32.2K, over memory.target 0.75 " ..
            "of memory.limit (19.5K) = 14.6K; micro-batch 32 -> 8, accumulate 1 -> 4 (effective " ..
            "batch 32 kept); now 8.8K", why.lines[1])
        assert.same({ ["data.batch_size"] = "memory.fit: was 32",
            ["optim.accumulate"] = "memory.fit: was 1" }, why.origin)
        assert.same({ batch = 100, extra = 1000 }, why.eval)
        -- precision first, then the evaluation batch halves when the step alone fits
        cfg.memory.fit = { "precision" }
        opts.capacity = 22000 -- 16500 bytes: the bf16 step (16000) and 50 evaluation rows
        fitted, why = memory_fit.fit(cfg, probe, opts)
        assert.equal("bf16", fitted.precision.mode)
        assert.equal(32, fitted.data.batch_size)
        assert.equal(50, fitted.data.val_batch_size)
        assert.equal("memory: was 200", why.origin["data.val_batch_size"])
        assert.equal("fp32", cfg.precision.mode)
        -- nothing fits: the error names the bytes; a probe's refusal is raised as it is
        cfg.memory.fit = {}
        assert.has_error(function() memory_fit.fit(cfg, probe, opts) end)
        assert.has_error(function()
            memory_fit.fit(cfg, function() return nil, "no kernel" end, opts)
        end, "no kernel")
        -- evaluation alone halves its batch until it fits
        fitted, why = memory_fit.fit_eval(cfg, function(c)
            return { total = 100 * c.data.val_batch_size }
        end, { capacity = 4000, capacity_name = "memory.limit", test_size = 100 })
        assert.equal(25, fitted.data.val_batch_size)
        assert.equal(200, cfg.data.val_batch_size)
        assert.equal("memory: evaluation batch 100 -> 25 to fit memory.target 0.75 of " ..
            "memory.limit (3.9K) = 2.9K", why.lines[1])
    end)

    it("plans with a memory limit per call, leaving the context's as it is", function()
        local trainer_mod = require "lutra.trainer"
        local cfg = config.load(RECIPE, { "model.hidden={16}", "optim.clip_grad={max_norm=1}" })
        local model = setup.model(cfg)
        local t = setup.trainer_config(cfg, model, 0.1)
        assert.equal(1, t.optim.max_grad_norm) -- every verb's optimizer clips
        core.set_memory_limit(1000)
        local refused, err = pcall(trainer_mod.plan, t)
        local ok, planned = pcall(trainer_mod.plan, t, 10, { memory_limit = math.maxinteger })
        local limit = core.memory_limit()
        local _, err999 = pcall(trainer_mod.plan, t, nil, { memory_limit = 999 })
        core.set_memory_limit(0)
        assert.is_false(refused)
        assert.truthy(tostring(err):find("but the memory limit is 1000 B", 1, true))
        assert.is_true(ok, planned)
        assert.is_true(planned.report.total > 1000 and planned.eval_extra >= 0)
        assert.equal(1000, limit)
        assert.truthy(tostring(err999):find("but the memory limit is 999 B", 1, true))
    end)
end)

describe("lutra.Trainer on other micro-batch sizes", function()
    it("plans a short batch once and equals one big batch", function()
        local nn, optim = lutra.nn, lutra.optim
        local function weights_after(split)
            lutra.manual_seed(5)
            local model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
            local tr = lutra.Trainer { model = model, input_shape = { split[1], 6 },
                optim = optim.AdamW { lr = 0.01 } }
            lutra.manual_seed(6)
            local x, y = lutra.randn(10, 6), lutra.zeros({ 10 }, "i32")
            for i = 1, 10 do
                y[i] = i % 3
            end
            for _ = 1, 3 do
                local batches, first = {}, 1
                for _, n in ipairs(split) do
                    batches[#batches + 1] = { x:narrow(1, first, n), y:narrow(1, first, n) }
                    first = first + n
                end
                tr:step(batches)
            end
            return model[3].weight:values(), tr
        end
        local whole = weights_after({ 10 })
        local parts, tr = weights_after({ 4, 4, 2 })
        for i = 1, #whole do
            assert.near(whole[i], parts[i], 1e-5)
        end
        assert.equal(2, tr.handle:plan_count())
    end)
end)

describe("lutra.resume", function()
    -- A model with a (10, 4) weight and a (10) bias, its trainer (SGD with momentum: one
    -- moment per parameter), and a checkpoint table that fits them; each case changes it.
    local nn = lutra.nn
    local model = nn.Sequential(nn.Linear(4, 10))
    local trainer = lutra.Trainer { model = model, input_shape = { 2, 4 },
        optim = lutra.optim.SGD { lr = 0.1, momentum = 0.9 } }
    local want = { effective_batch = 32, precision = { mode = "fp32" } }
    local function fitting()
        return { state = { iter = 12, epoch = 1, loader_epoch = 1, loader_iter = 2,
            effective_batch = 32, precision = "fp32" }, tensors = {
            ["0.weight"] = lutra.zeros(10, 4), ["0.bias"] = lutra.zeros(10),
            ["optimizer.momentum_buffer.0.weight"] = lutra.zeros(10, 4),
            ["optimizer.momentum_buffer.0.bias"] = lutra.zeros(10) } }
    end

    it("finds nothing to object to in a checkpoint that fits", function()
        assert.same({ "momentum_buffer" }, trainer:moment_names())
        local fatal, soft, flags = resume.differences(fitting(), model, trainer, want)
        assert.same({}, fatal)
        assert.same({}, soft)
        assert.same({}, flags)
    end)

    it("lists a moment of another shape, even one of as many elements", function()
        local file = fitting()
        file.tensors["optimizer.momentum_buffer.0.bias"] = lutra.zeros(5, 2)
        local fatal, soft, flags = resume.differences(file, model, trainer, want)
        assert.same({}, fatal)
        assert.same({ "optimizer.momentum_buffer.0.bias is (5, 2) in the checkpoint, the " ..
            "parameter is (10,)" }, soft)
        assert.is_true(flags.moments)
        file.tensors["optimizer.momentum_buffer.0.weight"] = nil
        soft = select(2, resume.differences(file, model, trainer, want))
        assert.equal("optimizer.momentum_buffer.0.weight is not in the checkpoint (another " ..
            "optimizer?)", soft[1])
        -- --resume-force accepts the moments; without it, the error lists them
        local ok, err = pcall(resume.check, "c.safetensors", file, model, trainer, want)
        assert.is_false(ok)
        assert.truthy(err:find("c.safetensors does not fit this recipe:\n  optimizer.momentum_" ..
            "buffer.0.weight is not in", 1, true))
        assert.truthy(err:find("\n--resume-force resumes anyway", 1, true))
        local accepted_flags, accepted = resume.check("c.safetensors", file, model, trainer, want,
            true)
        assert.is_true(accepted_flags.moments)
        assert.equal(2, #accepted)
    end)

    it("lists the effective batch and the precision; fp32 inside the fp32 warmup fits", function()
        local file = fitting()
        file.state.effective_batch, file.state.precision = 64, "fp16"
        local fatal, soft, flags = resume.differences(file, model, trainer, want)
        assert.same({}, fatal)
        assert.same({ "effective batch 64 in the checkpoint, 32 in the recipe",
            "precision fp16 in the checkpoint, fp32 in the recipe" }, soft)
        assert.is_true(flags.batch and flags.precision)
        file = fitting()
        local bf16 = { effective_batch = 32, precision = { mode = "bf16", fp32_warmup_iters = 20 } }
        assert.same({}, select(2, resume.differences(file, model, trainer, bf16)))
        bf16.precision.fp32_warmup_iters = 12 -- the warmup ended at the checkpoint
        assert.same({ "precision fp32 in the checkpoint, bf16 in the recipe" },
            select(2, resume.differences(file, model, trainer, bf16)))
        -- what an fp16 collapse switches to fits an fp16 recipe
        local fp16 = { effective_batch = 32, precision = { mode = "fp16", on_collapse = "bf16" } }
        file.state.precision = "bf16"
        assert.same({}, select(2, resume.differences(file, model, trainer, fp16)))
    end)

    it("refuses parameters that do not match, --resume-force or not", function()
        local file = fitting()
        file.tensors["0.weight"] = lutra.zeros(10, 3)
        file.tensors["0.bias"] = nil
        file.tensors["2.weight"] = lutra.zeros(3)
        local fatal = resume.differences(file, model, trainer, want)
        assert.same({ "parameter 0.weight is (10, 3) in the checkpoint, (10, 4) in the model",
            "parameter 0.bias is not in the checkpoint",
            "the checkpoint's 2.weight is not a parameter of the model" }, fatal)
        local ok, err = pcall(resume.check, "c.safetensors", file, model, trainer, want, true)
        assert.is_false(ok)
        assert.truthy(err:find("  parameter 0.weight is (10, 3) in the checkpoint, (10, 4) in " ..
            "the model", 1, true))
        assert.truthy(err:find("the model's parameters must match to resume", 1, true))
    end)

    it("checks the position's counters, naming the checkpoint and the field", function()
        local function position_error(field, value)
            local file = fitting()
            file.state[field] = value
            local ok, err = pcall(resume.position, "/runs/a/iter_12.safetensors", file)
            assert.is_false(ok, field)
            return err
        end
        assert.equal("/runs/a/iter_12.safetensors: the checkpoint's iter is 1e+300, not a count",
            position_error("iter", 1e300))
        assert.equal("/runs/a/iter_12.safetensors: the checkpoint's loader_iter is negative (-3)",
            position_error("loader_iter", -3))
        assert.equal("/runs/a/iter_12.safetensors: the checkpoint's epoch is -1.0, not a count",
            position_error("epoch", -1.0))
        assert.equal('/runs/a/iter_12.safetensors: the checkpoint\'s iter is "12", not a count',
            position_error("iter", "12"))
        assert.equal("/runs/a/iter_12.safetensors: the checkpoint's loader_epoch is missing, " ..
            "not a count", position_error("loader_epoch", nil))
        assert.truthy(position_error("iter", 0 / 0):find("the checkpoint's iter is .*nan, not " ..
            "a count"))
        assert.equal("/runs/a/iter_12.safetensors: a weights file, not a checkpoint (no trainer " ..
            "state); use --load-from to start from its weights",
            select(2, pcall(resume.position, "/runs/a/iter_12.safetensors", { tensors = {} })))
        -- whole floats (JSON's numbers) become integers
        local file = fitting()
        file.state.iter = 12.0
        assert.equal(12, resume.position("c.safetensors", file))
        assert.equal("integer", math.type(file.state.iter))
    end)
end)

describe("lutra.workdir", function()
    local root = work_dir("workdir")

    it("refuses an empty path and the root folder, takes the rest", function()
        assert.truthy(workdir.check(""):find("work_dir is empty", 1, true))
        assert.truthy(workdir.check(nil):find("work_dir is empty", 1, true))
        for _, r in ipairs { "/", "//", "/./", "/.." } do
            assert.equal(string.format("work_dir %q is the root folder: give a folder of its own",
                r), workdir.check(r))
        end
        for _, ok in ipairs { ".", "runs/x", "/tmp/x", "./runs", "x/" } do
            assert.is_nil(workdir.check(ok), ok)
        end
        assert.has_error(function() workdir.open("/") end,
            'work_dir "/" is the root folder: give a folder of its own')
    end)

    it("makes a new folder for each run, two in one second included", function()
        local wd = workdir.open(root .. "/new/deeper/")
        assert.equal(root .. "/new/deeper", wd.dir)
        local a_path, a = wd:new_run()
        local b_path, b = wd:new_run()
        assert.are_not.equal(a_path, b_path)
        assert.is_true(core.is_dir(a_path) and core.is_dir(b_path))
        assert.truthy(a:match("^%d%d%d%d%d%d%d%d_%d%d%d%d%d%d$"), a)
        if b:sub(1, #a) == a then -- the same second: a suffix
            assert.equal(a .. "_2", b)
        end
        -- the lock keeps a second holder out, naming this process; closing releases it
        local ok, err = pcall(workdir.open, root .. "/new/deeper")
        assert.is_false(ok)
        assert.truthy(err:find("is in use by another run (pid " .. core.getpid() .. "; lock file "
            .. root .. "/new/deeper/lutra.lock)", 1, true))
        wd:close()
        workdir.open(root .. "/new/deeper"):close()
    end)

    it("lists runs oldest first and their checkpoints newest first", function()
        local dir = root .. "/list"
        for _, d in ipairs { dir, dir .. "/20261207_061830_10", dir .. "/20261207_061830",
            dir .. "/20261207_061829", dir .. "/20261207_061830_2", dir .. "/notes" } do
            assert(core.mkdir(d))
        end
        for _, f in ipairs { "/20261207_999999", "/20261207_061830/iter_5.safetensors",
            "/20261207_061830/iter_40.safetensors", "/20261207_061830_2/iter_45.safetensors",
            "/20261207_061830_2/final.safetensors", "/20261207_061830_2/iter_x.safetensors" } do
            assert(io.open(dir .. f, "w")):close()
        end
        local wd = workdir.at(dir)
        assert.same({ "20261207_061829", "20261207_061830", "20261207_061830_2",
            "20261207_061830_10" }, wd:runs())
        assert.same({ dir .. "/20261207_061830_2/iter_45.safetensors",
            dir .. "/20261207_061830/iter_40.safetensors",
            dir .. "/20261207_061830/iter_5.safetensors" }, wd:checkpoints())
        -- last_checkpoint: relative to the work dir, or why there is none
        assert.equal(dir .. "/last_checkpoint does not exist", select(2, wd:last_checkpoint()))
        local f = assert(io.open(dir .. "/last_checkpoint", "w"))
        f:write("20261207_061830/iter_9.safetensors\n")
        f:close()
        assert.equal(dir .. "/last_checkpoint names 20261207_061830/iter_9.safetensors, which " ..
            "does not exist", select(2, wd:last_checkpoint()))
        wd:set_last_checkpoint(dir .. "/20261207_061830/iter_40.safetensors")
        assert.equal("20261207_061830/iter_40.safetensors\n", read(dir .. "/last_checkpoint"))
        assert.equal(dir .. "/20261207_061830/iter_40.safetensors", wd:last_checkpoint())
    end)

    it("removes the temporaries of dead writers, keeps a live one's", function()
        local dir = root .. "/stale"
        local run = dir .. "/20261207_061830"
        assert(core.mkdir(dir) and core.mkdir(run))
        local dead = 999999
        while core.pid_alive(dead) do
            dead = dead - 1
        end
        local names = {
            dead = { run .. "/iter_3.safetensors.tmp-" .. dead .. "-abcdef",
                dir .. "/last_checkpoint.tmp-" .. dead .. "-Xy12Z9" },
            live = { run .. "/iter_4.safetensors.tmp-" .. core.getpid() .. "-abcdef",
                run .. "/iter_5.safetensors.tmp-1-abcdef", -- init: alive
                run .. "/notes.tmp-x-abcdef" }, -- not a pid: not ours to remove
        }
        for _, list in pairs(names) do
            for _, p in ipairs(list) do
                assert(io.open(p, "w")):close()
            end
        end
        assert.equal(2, workdir.at(dir):clean_stale())
        for _, p in ipairs(names.dead) do
            assert.is_false(core.is_file(p), p)
        end
        for _, p in ipairs(names.live) do
            assert.is_true(core.is_file(p), p)
        end
        os.execute("rm -rf '" .. root .. "'")
    end)
end)

-- the work dirs and the synthetic data set go when this file's specs are done
teardown(function()
    os.execute(string.format("rm -rf '%s'/lutra-runner-spec-%d-*", TMP, core.getpid()))
end)
