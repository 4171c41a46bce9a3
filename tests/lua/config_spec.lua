-- Specs of lutra.config: inheritance (_base_, _delete_, relative paths), globals and
-- returned tables, overrides, aliases and mmcv/mmengine conventions, every error message
-- form, and the serialize/write round trip. Run from the repository root:
--     LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted tests/lua/config_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local config = require("lutra.config")

local F = "tests/lua/fixtures/"

local function load(name, overrides)
    return config.load(F .. name, overrides)
end

-- The message of the error fn raises (asserting it raises).
local function error_of(fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok, "expected an error")
    return err
end

local function load_error(name, overrides)
    return error_of(config.load, F .. name, overrides)
end

local function contains(list, pattern)
    for _, s in ipairs(list) do
        if s:find(pattern, 1, true) then
            return true
        end
    end
    return false
end

describe("config.load", function()
    it("merges bases in order, the file over them", function()
        local cfg, _, origin = load("child.lua")
        assert.equal(32, cfg.data.batch_size)
        assert.is_false(cfg.data.shuffle) -- from base_data.lua
        assert.equal(0.05, cfg.optim.lr)
        assert.equal(0.9, cfg.optim.momentum) -- from base_optim.lua
        assert.equal(0, cfg.optim.paramwise.bias_decay_mult)
        assert.is_nil(cfg.optim.paramwise.norm_decay_mult) -- unset: no change
        assert.equal("step", cfg.schedule.type)
        assert.same({256, 128}, cfg.model.hidden)
        assert.equal(F .. "child.lua", origin["data.batch_size"])
        assert.equal(F .. "base_data.lua", origin["data.shuffle"])
        assert.equal(F .. "base_optim.lua", origin["optim.momentum"])
        assert.equal("default", origin["optim.accumulate"])
    end)

    it("fills every default", function()
        local cfg = load("minimal.lua")
        assert.equal("fashion_mnist", cfg.data.dataset)
        assert.equal("/usr/share/datasets/fashion-mnist", cfg.data.root)
        assert.equal(128, cfg.data.batch_size)
        assert.equal(128, cfg.data.val_batch_size)
        assert.same({1024, 1024}, cfg.model.hidden)
        assert.equal("sgd", cfg.optim.type)
        assert.equal(0.01, cfg.optim.lr)
        assert.equal(0, cfg.optim.weight_decay)
        assert.is_nil(cfg.optim.betas) -- adamw only
        assert.is_nil(cfg.optim.clip_grad)
        assert.equal("none", cfg.optim.lr_scaling.rule)
        assert.equal("fp32", cfg.precision.mode)
        assert.is_nil(cfg.precision.loss_scale) -- fp16 only
        assert.same({"batch"}, cfg.memory.fit)
        assert.equal("auto", cfg.device)
        assert.equal("work_dirs/minimal", cfg.work_dir)
        assert.same({}, cfg.hooks)
    end)

    it("replaces a table marked _delete_ = true", function()
        local cfg = load("delete.lua")
        assert.equal("adamw", cfg.optim.type)
        assert.equal(1e-3, cfg.optim.lr)
        assert.is_nil(cfg.optim.momentum)
        assert.is_nil(cfg.optim.paramwise.bias_decay_mult) -- the base's 0 is gone
        assert.equal(0.01, cfg.optim.weight_decay)
        assert.same({0.9, 0.999}, cfg.optim.betas)
        assert.equal(32, cfg.data.batch_size) -- other tables still merge
    end)

    it("finds bases relative to the file", function()
        local cfg = load("sub/leaf.lua")
        assert.same({64}, cfg.model.hidden)
        assert.equal(32, cfg.data.batch_size)
        assert.equal("work_dirs/leaf", cfg.work_dir)
    end)

    it("reads a returned table, and merges it over the globals", function()
        local cfg = load("returned.lua")
        assert.same({300, 300}, cfg.model.hidden)
        assert.equal(50, cfg.runner.max_iters)
        cfg = load("mixed.lua")
        assert.same({20}, cfg.model.hidden)
        assert.equal(0.1, cfg.model.dropout)
        assert.equal(5, cfg.runner.max_iters)
    end)

    it("lets a file's max_iters replace a base's max_epochs", function()
        local cfg, _, origin = load("iters_over_epochs.lua")
        assert.equal(100, cfg.runner.max_iters)
        assert.is_nil(cfg.runner.max_epochs)
        assert.is_nil(origin["runner.max_epochs"])
    end)

    it("drops keys that do not apply, with a note naming the file", function()
        local cfg, notes = load("adamw_switch.lua")
        assert.equal("adamw", cfg.optim.type)
        assert.is_nil(cfg.optim.momentum)
        assert.equal(0.01, cfg.optim.weight_decay)
        assert.is_true(contains(notes, F .. "base_optim.lua: optim.momentum has no effect " ..
            'unless optim.type is "sgd"; ignored'))
    end)

    it("gives recipes math, string, table and os.getenv, copied", function()
        local cfg = load("sandbox_ok.lua")
        assert.same({10, 5}, cfg.model.hidden)
        assert.equal(3, cfg.runner.max_iters)
        assert.equal("runs/home", cfg.work_dir)
        assert.is_function(math.floor)
    end)

    it("runs recipes in a sandbox", function()
        local err = load_error("sandbox_io.lua")
        assert.equal(F .. "sandbox_io.lua:3: attempt to index a nil value (global 'io')", err)
        assert.is_table(io) -- the real one is untouched
    end)

    it("lets a recipe require a model registry from its folder", function()
        local cfg = load("uses_registry.lua")
        assert.same({type = "tiny", width = 16}, cfg.model)
        local models = require("lutra.models")
        assert.same({kind = "tiny", width = 16}, models.build(cfg.model))
    end)

    it("keeps a model function as it is", function()
        local cfg = load("model_fn.lua")
        assert.is_function(cfg.model)
        assert.same({kind = "custom"}, require("lutra.models").build(cfg.model))
    end)
end)

describe("the example recipes", function()
    it("resolve", function()
        local mlp = config.load("examples/fmnist_mlp.lua")
        assert.same({1024, 1024}, mlp.model.hidden)
        assert.equal(0.2, mlp.model.dropout)
        assert.equal("cosine", mlp.schedule.type)
        assert.equal("work_dirs/fmnist_mlp", mlp.work_dir)
        local cnn = config.load("examples/fmnist_cnn.lua")
        assert.equal("cnn", cnn.model.type)
        assert.equal(0.9, cnn.optim.momentum) -- from _base_/sgd.lua
        assert.is_number(cnn.runner.max_epochs)
    end)
end)

describe("conventions", function()
    it("reads samples_per_gpu, accumulative_counts and case-folded choices", function()
        local cfg = load("aliases.lua")
        assert.equal(16, cfg.data.batch_size)
        assert.is_nil(cfg.data.samples_per_gpu)
        assert.equal(4, cfg.optim.accumulate)
        assert.equal("sgd", cfg.optim.type)
        assert.equal(16 * 4, config.effective_batch(cfg))
        assert.equal(16 * 4 * 2, config.effective_batch(cfg, 2))
    end)

    it("refuses an alias and its key together", function()
        assert.equal(F .. "alias_both.lua: data.samples_per_gpu and data.batch_size are " ..
            "both set (samples_per_gpu is an alias of batch_size)", load_error("alias_both.lua"))
    end)

    it("reads mmcv's fp16 = {loss_scale = 512.0} as a static scale, with a note", function()
        local cfg, notes = load("fp16_static.lua")
        assert.equal("fp16", cfg.precision.mode)
        assert.equal(512.0, cfg.precision.loss_scale)
        assert.is_nil(cfg.precision.init_scale) -- dynamic only
        assert.equal(20, cfg.precision.max_skipped)
        assert.is_true(contains(notes, F .. "fp16_static.lua: fp16 = {loss_scale = 512.0} " ..
            'read as precision = {mode = "fp16", loss_scale = 512.0}: a static scale, as in mmcv'))
    end)

    it("reads fp16 = {loss_scale = \"dynamic\"} as a dynamic scale", function()
        local cfg = load("fp16_dynamic.lua")
        assert.equal("fp16", cfg.precision.mode)
        assert.equal("dynamic", cfg.precision.loss_scale)
        assert.equal(65536.0, cfg.precision.init_scale)
        assert.equal(2.0, cfg.precision.growth_factor)
        assert.equal(0.5, cfg.precision.backoff_factor)
        assert.equal(2000, cfg.precision.growth_interval)
    end)

    it("reads mmcv's loss_scale table as dynamic settings", function()
        local cfg = load("fp16_table.lua")
        assert.equal("dynamic", cfg.precision.loss_scale)
        assert.equal(1024.0, cfg.precision.init_scale)
        assert.equal(4.0, cfg.precision.growth_factor)
        assert.equal(0.25, cfg.precision.backoff_factor)
        assert.equal(500, cfg.precision.growth_interval)
    end)

    it("refuses fp16 and precision in the same file", function()
        assert.equal(F .. "fp16_and_precision.lua: fp16 and precision are both set; set one",
            load_error("fp16_and_precision.lua"))
    end)

    it("reads fp16 = {} as mmcv's static 512", function()
        local cfg, notes = load("fp16_default.lua")
        assert.equal(512.0, cfg.precision.loss_scale)
        assert.is_true(contains(notes, "(its default)"))
    end)

    it("refuses a loss scale that is not a finite positive number", function()
        assert.equal(F .. "fp16_bad.lua: fp16.loss_scale must be > 0, got -1",
            load_error("fp16_bad.lua"))
        local base = {"precision.mode=fp16"}
        local function with(v)
            return load_error("minimal.lua", {base[1], "precision.loss_scale=" .. v})
        end
        assert.equal("--set 'precision.loss_scale=0': precision.loss_scale must be > 0, got 0",
            with("0"))
        assert.equal("--set 'precision.loss_scale=1/0': precision.loss_scale must be a " ..
            "finite number, got inf", with("1/0"))
        assert.equal("--set 'precision.loss_scale=0/0': precision.loss_scale must be a " ..
            "finite number, got nan", with("0/0"))
        assert.equal("--set 'precision.loss_scale=dynamc': precision.loss_scale must be a " ..
            'number or "dynamic", got "dynamc" (did you mean "dynamic"?)', with("dynamc"))
        assert.equal("--set 'precision.loss_scale=true': precision.loss_scale must be a " ..
            'number or "dynamic", got boolean', with("true"))
    end)

    it("maps auto_scale_lr to optim.lr_scaling, noting the effective batch", function()
        local cfg, notes = load("auto_scale.lua")
        assert.same({rule = "linear", base_batch_size = 256}, cfg.optim.lr_scaling)
        assert.is_true(contains(notes, F .. "auto_scale_lr.lua: auto_scale_lr read as " ..
            'optim.lr_scaling = {rule = "linear", base_batch_size = 256}; lutra scales lr on ' ..
            "the effective batch (batch_size × accumulate × world size), which counts " ..
            "accumulation; mmengine's auto_scale_lr does not") or
            contains(notes, "auto_scale_lr read as optim.lr_scaling"))
        assert.near(0.1 * 64 / 256, config.scaled_lr(cfg), 1e-12)
        assert.near(0.1 * 128 / 256, config.scaled_lr(cfg, 2), 1e-12)
        local off = load("auto_scale.lua", {"auto_scale_lr={enable = false}"})
        assert.same({rule = "none"}, off.optim.lr_scaling)
        assert.equal(0.1, config.scaled_lr(off))
    end)

    it("checks auto_scale_lr's own keys", function()
        assert.equal("--set 'auto_scale_lr={enable = true}': auto_scale_lr.base_batch_size " ..
            "is required when auto_scale_lr.enable is true",
            load_error("minimal.lua", {"auto_scale_lr={enable = true}"}))
        assert.equal("--set 'auto_scale_lr={enabled = true}': unknown key " ..
            "'auto_scale_lr.enabled' (did you mean 'auto_scale_lr.enable'?)",
            load_error("minimal.lua", {"auto_scale_lr={enabled = true}"}))
    end)
end)

describe("config.parse_override", function()
    local function value(text)
        local _, v = config.parse_override("k=" .. text)
        return v
    end

    it("reads Lua literals, else strings", function()
        assert.equal(300, value("300"))
        assert.equal("integer", math.type(value("300")))
        assert.equal(1e-3, value("1e-3"))
        assert.equal(65536.0, value("2^16"))
        assert.is_true(value("true"))
        assert.is_false(value("false"))
        assert.is_nil(value("nil"))
        assert.same({512, 512}, value("{512, 512}"))
        assert.same({a = {1, "x"}}, value('{a = {1, "x"}}'))
        assert.equal("x y", value('"x y"'))
        assert.equal("adamw", value("adamw"))
        assert.equal("cuda:0", value("cuda:0"))
        assert.equal("runs/a-1", value("runs/a-1"))
        assert.equal("/data/fmnist", value("/data/fmnist"))
        assert.equal("math.huge", value("math.huge"))
        assert.equal("", value(""))
    end)

    it("returns the key and trims spaces", function()
        local k, v = config.parse_override(" runner.max_iters = 300 ")
        assert.equal("runner.max_iters", k)
        assert.equal(300, v)
    end)

    it("names the override in its errors", function()
        assert.equal("--set 'optim.lr': expected key=value",
            error_of(config.parse_override, "optim.lr"))
        assert.equal("--set '=3': the key is empty", error_of(config.parse_override, "=3"))
        assert.equal("--set 'optim..lr=3': empty name in key 'optim..lr'",
            error_of(config.parse_override, "optim..lr=3"))
        assert.equal("--set 'optim.betas.2=0.9': '2' in key 'optim.betas.2' is not a name",
            error_of(config.parse_override, "optim.betas.2=0.9"))
        local err = error_of(config.parse_override, "model.hidden={512,")
        assert.matches("^%-%-set 'model.hidden={512,': the value is not a Lua literal: ", err)
        err = error_of(config.parse_override, 'work_dir="abc')
        assert.matches("^%-%-set 'work_dir=\"abc': the value is not a Lua literal", err)
        assert.equal("--set: an override must be a string key=value, got number",
            error_of(config.parse_override, 3))
    end)
end)

describe("overrides", function()
    it("apply after the files, in order, and record their origin", function()
        local cfg, _, origin = load("child.lua", {"runner.max_iters=300", "data.batch_size=8",
            "data.batch_size=9", "optim.type=adamw", "model.hidden={512,512}"})
        assert.equal(300, cfg.runner.max_iters)
        assert.is_nil(cfg.runner.max_epochs)
        assert.equal(9, cfg.data.batch_size)
        assert.equal("adamw", cfg.optim.type)
        assert.same({512, 512}, cfg.model.hidden)
        assert.equal("--set 'runner.max_iters=300'", origin["runner.max_iters"])
        assert.equal("--set 'data.batch_size=9'", origin["data.batch_size"])
    end)

    it("merge nested tables and read aliases and fp16", function()
        local cfg = load("child.lua", {"optim={lr = 0.2}", "data.samples_per_gpu=4",
            "fp16.loss_scale=256", "optim.accumulative_counts=2"})
        assert.equal(0.2, cfg.optim.lr)
        assert.equal(0.9, cfg.optim.momentum)
        assert.equal(4, cfg.data.batch_size)
        assert.equal(2, cfg.optim.accumulate)
        assert.equal("fp16", cfg.precision.mode)
        assert.equal(256, cfg.precision.loss_scale)
    end)

    it("remove a key with nil, switch a section off with false", function()
        local cfg = load("child.lua", {"optim.momentum=nil", "data.samples_per_gpu=nil",
            "optim.clip_grad={max_norm = 1}", "optim.clip_grad=false"})
        assert.equal(0, cfg.optim.momentum)
        assert.equal(128, cfg.data.batch_size)
        assert.is_nil(cfg.optim.clip_grad)
    end)

    it("accept key -> value pairs from programs", function()
        local cfg = load("child.lua", {["optim.lr"] = 0.3, ["runner.max_iters"] = 7})
        assert.equal(0.3, cfg.optim.lr)
        assert.equal(7, cfg.runner.max_iters)
    end)

    it("check paramwise custom keys", function()
        local cfg = load("minimal.lua", {'optim.paramwise.custom_keys={["head."] = ' ..
            '{lr_mult = 10}}'})
        assert.same({["head."] = {lr_mult = 10}}, cfg.optim.paramwise.custom_keys)
        assert.equal("--set 'optim.paramwise.custom_keys={head = {lr = 1}}': " ..
            "optim.paramwise.custom_keys must map name substrings to {lr_mult = n, " ..
            'decay_mult = n} (n >= 0), got "head" = {lr = 1}', load_error("minimal.lua",
                {"optim.paramwise.custom_keys={head = {lr = 1}}"}))
    end)

    it("name the override in validation errors", function()
        assert.equal("--set 'optim.lr=abc': optim.lr must be a number, got string",
            load_error("child.lua", {"optim.lr=abc"}))
        assert.equal("--set 'optim.lrr=1': unknown key 'optim.lrr' (did you mean 'optim.lr'?)",
            load_error("child.lua", {"optim.lrr=1"}))
        assert.equal("--set 'optim.batch_size=8': unknown key 'optim.batch_size' " ..
            "(did you mean 'data.batch_size'?)", load_error("child.lua", {"optim.batch_size=8"}))
        assert.equal("--set 'runner.max_iters=1.5': runner.max_iters must be an integer, " ..
            "got 1.5", load_error("child.lua", {"runner.max_iters=1.5"}))
    end)
end)

describe("errors", function()
    it("name an unknown key, its file and the closest key", function()
        assert.equal(F .. "unknown_key.lua: unknown key 'optim.lrr' (did you mean 'optim.lr'?)",
            load_error("unknown_key.lua"))
    end)

    it("name the base file that set a bad key", function()
        assert.equal(F .. "unknown_key.lua: unknown key 'optim.lrr' (did you mean 'optim.lr'?)",
            load_error("unknown_in_base.lua"))
    end)

    it("name an unknown top-level key, without a guess when nothing is close", function()
        assert.equal("--set 'default_scope=\"mmdet\"': unknown key 'default_scope'",
            load_error("minimal.lua", {'default_scope="mmdet"'}))
    end)

    it("give the key, the expected type and the type got", function()
        assert.equal(F .. "wrong_type.lua: optim.lr must be a number, got string",
            load_error("wrong_type.lua"))
        assert.equal("--set 'optim=3': optim must be a table, got number",
            load_error("minimal.lua", {"optim=3"}))
        assert.equal("--set 'model.hidden={1, \"x\"}': model.hidden[2] must be an integer, " ..
            "got string", load_error("minimal.lua", {'model.hidden={1, "x"}'}))
        assert.equal("--set 'memory.fit=\"batch\"': memory.fit must be a list, got string",
            load_error("minimal.lua", {'memory.fit="batch"'}))
    end)

    it("give the range and the value for an out-of-range value", function()
        assert.equal(F .. "out_of_range.lua: optim.momentum must be in [0, 1), got 1.5",
            load_error("out_of_range.lua"))
        assert.equal("--set 'data.batch_size=0': data.batch_size must be in [1, 16777216], got 0",
            load_error("minimal.lua", {"data.batch_size=0"}))
        assert.equal("--set 'optim.betas={0.9}': optim.betas must have 2 elements, got 1",
            load_error("minimal.lua", {"optim.type=adamw", "optim.betas={0.9}"}))
    end)

    it("list the choices and guess the one meant", function()
        assert.equal(F .. 'bad_choice.lua: optim.type must be one of "sgd", "adamw", got ' ..
            '"adamm" (did you mean "adamw"?)', load_error("bad_choice.lua"))
        assert.equal("--set 'memory.fit={\"batch\", \"precison\"}': memory.fit[2] must be " ..
            'one of "batch", "precision", "checkpoint", got "precison" (did you mean ' ..
            '"precision"?)', load_error("minimal.lua", {'memory.fit={"batch", "precison"}'}))
        assert.equal("--set 'memory.fit={\"batch\", \"batch\"}': memory.fit[2] repeats " ..
            '"batch"', load_error("minimal.lua", {'memory.fit={"batch", "batch"}'}))
        assert.equal("--set 'device=gpu': device must be \"auto\", \"cpu\", \"cuda\" or " ..
            '"cuda:N", got "gpu" (did you mean "cuda"?)', load_error("minimal.lua",
                {"device=gpu"}))
        -- (earlier specs may have registered more types than cnn and mlp)
        assert.matches("^%-%-set 'model.type=mpl': model.type must be one of \"cnn\", " ..
            '"mlp".*, got "mpl" %(did you mean "mlp"%?%)$',
            load_error("minimal.lua", {"model.type=mpl"}))
    end)

    it("name a missing base and where it was looked for", function()
        assert.equal(F .. "missing_base.lua: _base_ 'foo.lua' not found (looked in " ..
            "tests/lua/fixtures/)", load_error("missing_base.lua"))
    end)

    it("give the file and line of a syntax error or a run error", function()
        assert.matches("^tests/lua/fixtures/syntax_error%.lua:3: unexpected symbol near '='",
            load_error("syntax_error.lua"))
        assert.matches("^tests/lua/fixtures/runtime_error%.lua:3: attempt to perform " ..
            "arithmetic on a nil value", load_error("runtime_error.lua"))
    end)

    it("name a missing recipe", function()
        assert.equal(F .. "nope.lua: No such file or directory", load_error("nope.lua"))
    end)

    it("show a _base_ cycle", function()
        assert.equal(F .. "cycle_b.lua: _base_ cycle: " .. F .. "cycle_a.lua -> " .. F ..
            "cycle_b.lua -> " .. F .. "cycle_a.lua", load_error("cycle_a.lua"))
    end)

    it("check cross-field rules", function()
        assert.equal(F .. "both_lengths.lua: runner.max_iters and runner.max_epochs are both " ..
            "set; set exactly one", load_error("both_lengths.lua"))
        assert.equal(F .. "nesterov.lua: optim.nesterov needs optim.momentum > 0 and " ..
            "optim.dampening = 0", load_error("nesterov.lua"))
        assert.equal(F .. "minimal.lua: runner.max_iters or runner.max_epochs must be set",
            load_error("minimal.lua", {"runner.max_iters=nil"}))
        assert.equal("--set 'schedule.type': schedule.step_size is required when " ..
            'schedule.type is "step"', load_error("minimal.lua", {["schedule.type"] = "step"}))
        assert.equal("--set 'schedule={type = \"multistep\", milestones = {30, 20}}': " ..
            "schedule.milestones must be increasing, got 30 then 20", load_error(
                "minimal.lua", {'schedule={type = "multistep", milestones = {30, 20}}'}))
    end)

    it("note a warmup longer than the run", function()
        local _, notes = load("minimal.lua", {"schedule.warmup_iters=20"})
        assert.is_true(contains(notes, "schedule.warmup_iters (20) >= runner.max_iters (10)"))
    end)

    it("refuse a recipe returning something other than a table", function()
        local tmp = os.tmpname()
        local f = assert(io.open(tmp, "w"))
        f:write("return 3\n")
        f:close()
        assert.equal(tmp .. ": a recipe returns a table or nothing, got number",
            error_of(config.load, tmp))
        os.remove(tmp)
    end)
end)

describe("config.merge", function()
    it("merges maps, replaces lists and honours _delete_", function()
        local a = {x = {y = 1, z = {1, 2, 3}}, w = {k = 1}}
        local b = {x = {z = {9}}, w = {_delete_ = true, j = 2}}
        local m = config.merge(a, b)
        assert.same({x = {y = 1, z = {9}}, w = {j = 2}}, m)
        assert.same({x = {y = 1, z = {1, 2, 3}}, w = {k = 1}}, a) -- inputs untouched
        assert.same({l = {}}, config.merge({l = {1, 2}}, {l = {}}))
    end)
end)

describe("config.serialize", function()
    local function roundtrip(name, overrides)
        local cfg, _, origin = load(name, overrides)
        local text = config.serialize(cfg, {origin = origin, header = "resolved from " .. name})
        local tmp = os.tmpname()
        local f = assert(io.open(tmp, "w"))
        f:write(text)
        f:close()
        local again = config.load(tmp)
        os.remove(tmp)
        return cfg, again, text
    end

    it("round-trips through load", function()
        for _, name in ipairs({"minimal.lua", "child.lua", "full.lua", "fp16_static.lua",
                "auto_scale.lua", "delete.lua"}) do
            local cfg, again = roundtrip(name)
            assert.same(cfg, again)
        end
    end)

    it("writes the full fixture's values exactly", function()
        local cfg, again, text = roundtrip("full.lua")
        assert.equal(2 * 1024 ^ 3, again.memory.limit)
        assert.equal("integer", math.type(again.memory.limit))
        assert.equal(1024.0, again.precision.init_scale)
        assert.same({type = "print", ["odd-key"] = true}, again.hooks[2])
        assert.equal(cfg.work_dir, again.work_dir)
        assert.matches('%["odd%-key"%] = true', text)
        assert.matches("^%-%- resolved from full.lua\n", text)
    end)

    it("is deterministic and keeps the schema's order", function()
        local cfg = load("full.lua")
        local a, b = config.serialize(cfg), config.serialize(load("full.lua"))
        assert.equal(a, b)
        local pos = {}
        for _, k in ipairs({"data", "model", "optim", "schedule", "precision", "memory",
                "runner", "device", "seed", "work_dir", "hooks"}) do
            pos[#pos + 1] = assert(a:find("\n" .. k .. " = ") or (a:find("^" .. k .. " = ")
                and 0), k)
        end
        for i = 2, #pos do
            assert.is_true(pos[i - 1] < pos[i])
        end
        assert.matches("model = {\n    type = \"cnn\",", a)
    end)

    it("writes a model function as a comment", function()
        local cfg = load("model_fn.lua")
        local text = config.serialize(cfg)
        assert.matches("%-%- model: a function %(" .. F:gsub("%p", "%%%0") ..
            "model_fn.lua:2%), not serialisable", text)
    end)
end)

describe("config.write", function()
    it("writes the file atomically, leaving no temporary behind", function()
        local dir = os.tmpname()
        os.remove(dir)
        assert.is_true(os.execute("mkdir -p '" .. dir .. "'"))
        local cfg = load("child.lua")
        config.write(cfg, dir .. "/config.lua")
        config.write(cfg, dir .. "/config.lua") -- over an existing file
        local ls = io.popen("ls -A '" .. dir .. "'")
        local names = ls:read("a")
        ls:close()
        assert.equal("config.lua\n", names)
        assert.same(cfg, config.load(dir .. "/config.lua"))
        os.execute("rm -rf '" .. dir .. "'")
    end)

    it("raises when the folder does not exist", function()
        local err = error_of(config.write, load("minimal.lua"), "/nonexistent/dir/config.lua")
        assert.matches("^/nonexistent/dir/config%.lua%.tmp%d+: No such file or directory", err)
    end)
end)
