-- Specs of lutra.config: inheritance (_base_, _delete_, relative paths), globals and
-- returned tables, the sandbox, overrides, aliases and mmcv/mmengine conventions
-- (lutra.compat), and every error message form. Run from the repository root:
--     LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted tests/lua/config_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local H = dofile("tests/lua/spec_helpers.lua")

local config = require("lutra.config")
local serialize = require("lutra.serialize")

local F = "tests/lua/fixtures/"

local function load(name, overrides)
    return config.load(F .. name, overrides)
end

local error_of = H.error_of

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
        -- the recipe replaced string.rep and removed string.format: its copy only
        assert.equal("xx", ("x"):rep(2))
        assert.equal("3", string.format("%d", 3))
        assert.matches("work_dir = \"runs/home\"", serialize.text(cfg))
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

    it("runs a recipe's modules in its sandbox, once per load", function()
        local cfg = load("sandbox/uses_helper.lua")
        assert.same({24, 1}, cfg.model.hidden) -- helper ran once (math.loads is 1)
        assert.same({24, 1}, load("sandbox/uses_helper.lua").model.hidden) -- a new load
        assert.is_nil(math.loads)
        assert.equal("xx", ("x"):rep(2)) -- the module's string.rep was the load's copy
    end)

    it("hands recipes read-only views of lutra's modules", function()
        assert.equal(F .. "sandbox/writes_module.lua:3: lutra.models is read-only in a " ..
            "recipe (setting 'build')", load_error("sandbox/writes_module.lua"))
        assert.is_function(require("lutra.models").build)
    end)

    it("gives a recipe's classes and layers no way to lutra's real classes", function()
        assert.equal("mlp", load("sandbox/reaches_parent.lua").model.type)
        assert.is_nil(rawget(require("lutra.nn").Linear, "super"))
    end)

    it("builds a model class a module derives from lutra.nn's Module", function()
        local cfg = load("sandbox/model_from_module.lua")
        local m = require("lutra.models").build(cfg.model, cfg)
        assert.equal("Net", getmetatable(m).__name)
        assert.equal(2, m.fc.weight:shape()[1]) -- seed 0 + 2 outputs
    end)

    it("keeps a model function as it is", function()
        local cfg = load("model_fn.lua")
        assert.is_function(cfg.model)
        assert.same({kind = "custom"}, require("lutra.models").build(cfg.model))
    end)
end)

-- A recipe written to a fresh folder (with files beside it: name -> text); its path.
local scratch_n = 0
local function scratch(text, beside)
    scratch_n = scratch_n + 1
    local dir = string.format("%s/lutra-config-spec-%d-%d", os.getenv("TMPDIR") or "/tmp",
        math.random(1, 1 << 30), scratch_n)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    for name, body in pairs(beside or {}) do
        local f = assert(io.open(dir .. "/" .. name, "w"))
        f:write(body)
        f:close()
    end
    local f = assert(io.open(dir .. "/recipe.lua", "w"))
    f:write(text)
    f:close()
    return dir .. "/recipe.lua", dir
end

describe("the sandbox", function()
    local function escape_error(text, beside)
        local path = scratch('model = {type = "mlp"}\nrunner = {max_iters = 1}\n' .. text,
            beside)
        return error_of(config.load, path), path
    end

    it("has no io, os, package or debug to require", function()
        for _, name in ipairs({"os", "io", "package", "debug"}) do
            local err = escape_error(string.format('require("%s").exit(5)', name))
            assert.matches("recipe%.lua:3: require '" .. name .. "': not available in a " ..
                "recipe", err)
        end
        assert.matches("require 'lutra.core': not available in a recipe",
            escape_error('require("lutra.core").write_atomic("/tmp/x", "y")'))
        assert.matches("require 'lutra.runner': not available", escape_error(
            'require("lutra.runner")'))
        assert.matches("require 'nope': no .*/nope%.lua or .*/nope/init%.lua",
            escape_error('require("nope")'))
        assert.matches("attempt to call a nil value %(global 'dofile'%)",
            escape_error('dofile("/etc/passwd")'))
        assert.matches("attempt to call a nil value %(global 'collectgarbage'%)",
            escape_error('collectgarbage()'))
    end)

    it("keeps the string metatable and lutra's tables out of reach", function()
        assert.matches("attempt to index a nil value", escape_error(
            'getmetatable("").__index.format = function() error("x") end'))
        assert.equal("3", string.format("%d", 3))
        assert.matches("lutra.nn.Linear is read%-only in a recipe %(setting 'forward'%)",
            escape_error('require("lutra.nn").Linear.forward = nil'))
        assert.matches("recipe%.lua:3: lutra is read%-only in a recipe %(setting 'nn'%)",
            escape_error('require("lutra").nn = 1'))
        assert.matches("rawset: lutra's modules are read%-only", escape_error(
            'rawset(require("lutra.models"), "build", nil)'))
        assert.matches("cannot change a protected metatable", escape_error(
            'setmetatable(require("lutra.models"), {})'))
        -- a recipe reads what it needs
        local path = scratch('local models = require("lutra.models")\n' ..
            'assert(type(models.build) == "function" and models.names()[1] == "cnn")\n' ..
            'assert(getmetatable(models) == "lutra.models (read-only)")\n' ..
            'model = {type = "mlp"}\nrunner = {max_iters = 1}\n')
        assert.equal("mlp", config.load(path).model.type)
    end)

    it("runs a module beside the recipe in the sandbox too", function()
        local err = escape_error('require("helper")', {["helper.lua"] =
            'string.rep = nil\nio.open("/tmp/x", "w")\n'})
        assert.matches("helper%.lua:2: attempt to index a nil value %(global 'io'%)", err)
        assert.equal("xx", ("x"):rep(2))
    end)

    it("stops a recipe stuck in a loop when interrupted, pcall or not", function()
        local saved = config.interrupted
        config.interrupted = function() return "SIGINT" end
        local ok, err = pcall(config.load, F .. "sandbox/loops.lua")
        config.interrupted = saved
        assert.is_false(ok)
        assert.equal("interrupted while evaluating " .. F .. "sandbox/loops.lua", err)
        assert.is_nil(debug.gethook()) -- the count hook is gone
    end)
end)

describe("files that are not recipes", function()
    it("name a folder given as a recipe or a base", function()
        assert.equal("tests/lua/fixtures: is a directory, not a recipe file",
            error_of(config.load, "tests/lua/fixtures"))
        assert.equal(F .. "base_is_dir.lua: _base_ 'sub' is a directory (" .. F .. "sub), " ..
            "not a recipe file", load_error("base_is_dir.lua"))
    end)

    it("refuse Lua bytecode", function()
        local path, dir = scratch("-- unused\n")
        local luac = dir .. "/recipe.luac"
        assert(os.execute("luac5.4 -o '" .. luac .. "' '" .. F .. "minimal.lua'"))
        assert.equal(luac .. ": is Lua bytecode, not a recipe source (lutra reads recipes " ..
            "as text)", error_of(config.load, luac))
        local f = assert(io.open(path, "w"))
        f:write('_base_ = "recipe.luac"\n')
        f:close()
        assert.equal(luac .. ": is Lua bytecode, not a recipe source (lutra reads recipes " ..
            "as text)", error_of(config.load, path))
        f = assert(io.open(path, "w"))
        f:write('require("./recipe.luac")\n')
        f:close()
        assert.matches("recipe%.luac: is Lua bytecode, not a module source",
            error_of(config.load, path))
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

    it("notes what each alias was read as", function()
        local _, notes = load("aliases.lua")
        assert.is_true(contains(notes, F .. "aliases.lua: data.samples_per_gpu read as " ..
            "data.batch_size"))
        assert.is_true(contains(notes, F .. "aliases.lua: optim.accumulative_counts read as " ..
            "optim.accumulate"))
        _, notes = load("minimal.lua", {"data.samples_per_gpu=4"})
        assert.is_true(contains(notes, "--set 'data.samples_per_gpu=4': " ..
            "data.samples_per_gpu read as data.batch_size"))
    end)

    it("name lutra's key for an mmcv/mmengine key it spells differently", function()
        assert.equal(F .. "foreign_key.lua: unknown key 'total_epochs' (lutra's is " ..
            "'runner.max_epochs')", load_error("foreign_key.lua"))
        for key, lutra in pairs({optimizer = "optim", optim_wrapper = "optim",
                optimizer_config = "optim.clip_grad"}) do
            assert.equal(string.format("--set '%s={}': unknown key '%s' (lutra's is '%s')",
                key, key, lutra), load_error("minimal.lua", {key .. "={}"}))
        end
        -- mmcv's loader-worker count is an alias of data.workers
        local cfg = config.load(F .. "minimal.lua", {"data.workers_per_gpu=2"})
        assert.equal(2, cfg.data.workers)
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
        assert.equal("--set 'precision.loss_scale': precision.loss_scale must be a " ..
            "finite number, got inf", load_error("minimal.lua", {base[1],
                ["precision.loss_scale"] = math.huge}))
        assert.equal("--set 'precision.loss_scale': precision.loss_scale must be a " ..
            "finite number, got nan", load_error("minimal.lua", {base[1],
                ["precision.loss_scale"] = 0 / 0}))
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

    it("label a dedicated flag's key with the flag", function()
        local cfg, _, origin = load("minimal.lua", {seed = 3, threads = 2})
        assert.equal(3, cfg.seed)
        assert.equal("--seed", origin.seed)
        assert.equal("--threads", origin.threads)
        assert.matches("seed = 3 %-%- %-%-seed\n", serialize.text(cfg, {origin = origin}))
        assert.equal("--seed: seed must be >= 0, got -1", load_error("minimal.lua", {seed = -1}))
    end)

    it("keep threads in lutra.core's range, from a flag or a recipe", function()
        assert.equal("--threads: threads must be in [0, 4096], got 100000",
            load_error("minimal.lua", {threads = 100000}))
        assert.equal(F .. "threads.lua: threads must be in [0, 4096], got 5000",
            load_error("threads.lua"))
        assert.equal(4096, load("minimal.lua", {threads = 4096}).threads)
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
        -- (earlier specs may have registered more types than the built-in ones)
        assert.matches("^%-%-set 'model.type=mpl': model.type must be one of \"cnn\", " ..
            '"gpt", "mlp".*, got "mpl" %(did you mean "mlp"%?%)$',
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
