-- lutra.sweep and lutra.sweep_report: a grid's variants (every combination, the first key
-- changing slowest), variants' names and folders, malformed sweeps, the layers a
-- variant's config is made of, the report's comparisons and CSV, and lutra.sweep{...}
-- returning its rows (planned only, and trained on a small synthetic data set).
local lutra = require "lutra"
local core = require "lutra.core"
local sweep = require "lutra.sweep"
local report = require "lutra.sweep_report"
local H = dofile("tests/lua/spec_helpers.lua")

local TMP = os.getenv("TMPDIR") or "/tmp"

-- A fresh folder under TMPDIR.
local function fresh(name)
    local dir = string.format("%s/lutra-sweep-spec-%d-%s", TMP, core.getpid(), name)
    os.execute("rm -rf '" .. dir .. "'")
    return dir
end

describe("a sweep's variants", function()
    it("expands a grid in sorted key order, the first key slowest", function()
        local v = sweep.grid("s.lua", { ["precision.mode"] = { "fp32", "bf16" },
            ["data.batch_size"] = { 64, 128, 256 } })
        assert.are.equal(6, #v)
        assert.are.same({ ["data.batch_size"] = 64, ["precision.mode"] = "fp32" }, v[1])
        assert.are.same({ ["data.batch_size"] = 64, ["precision.mode"] = "bf16" }, v[2])
        assert.are.same({ ["data.batch_size"] = 128, ["precision.mode"] = "fp32" }, v[3])
        assert.are.same({ ["data.batch_size"] = 256, ["precision.mode"] = "bf16" }, v[6])
    end)

    it("refuses a grid key without values", function()
        assert.matches("s.lua: grid%[\"optim.lr\"%] must be a non%-empty list",
            H.error_of(sweep.grid, "s.lua", { ["optim.lr"] = {} }))
    end)

    it("names a variant by its keys' last parts and values, unless it has a name", function()
        assert.are.equal("batch_size=128 mode=bf16",
            sweep.variant_name { ["precision.mode"] = "bf16", ["data.batch_size"] = 128 })
        assert.are.equal("lr=0.05", sweep.variant_name { ["optim.lr"] = 0.05 })
        assert.are.equal("base", sweep.variant_name {})
        local s = sweep.spec { base = "r.lua", variants = { { name = "big", ["data.batch_size"] = 512 },
            { ["optim.lr"] = 0.1 } } }
        assert.are.equal("big", s.variants[1].name)
        assert.are.same({ ["data.batch_size"] = 512 }, s.variants[1].overrides)
        assert.are.equal("lr=0.1", s.variants[2].name)
        assert.are.equal("02_lr=0.1", sweep.folder_name(2, s.variants[2].name))
        assert.are.equal("03_b128_bf16_x", sweep.folder_name(3, "b128 bf16/x"))
    end)

    it("keeps recipe keys for every variant and base relative to the sweep file", function()
        local s = sweep.spec({ base = "../r.lua", grid = { ["optim.lr"] = { 0.1 } },
            runner = { max_iters = 3 } }, "sweeps/mine.lua")
        assert.are.equal("r.lua", s.base)
        assert.are.equal("mine", s.name)
        assert.are.same({ runner = { max_iters = 3 } }, s.common)
    end)

    it("says what is wrong with a malformed sweep", function()
        assert.matches("lutra.sweep: base must name the recipe",
            H.error_of(sweep.spec, { variants = { {} } }))
        assert.matches("give variants .* or grid",
            H.error_of(sweep.spec, { base = "r.lua" }))
        assert.matches("give variants .* or grid",
            H.error_of(sweep.spec, { base = "r.lua", variants = { {} }, grid = { a = { 1 } } }))
        assert.matches("variants%[2%] must be a table of overrides",
            H.error_of(sweep.spec, { base = "r.lua", variants = { {}, 3 } }))
        assert.matches("variants%[1%]: 1 is not a recipe key",
            H.error_of(sweep.spec, { base = "r.lua", variants = { { 128 } } }))
    end)

    it("layers the base, the sweep's keys, --set and the variant's keys, in that order", function()
        local s = sweep.spec { base = "examples/fmnist_mlp.lua", runner = { max_iters = 7 },
            optim = { lr = 0.3 }, variants = { { name = "x", ["optim.lr"] = 0.2 } } }
        local cfg, _, origin = sweep.config(s, s.variants[1], { "runner.max_iters=9",
            "optim.lr=0.4" }, "wd/01_x")
        assert.are.equal(9, cfg.runner.max_iters)
        assert.are.equal(0.2, cfg.optim.lr)
        assert.are.equal("wd/01_x", cfg.work_dir)
        assert.are.equal("lutra.sweep variant 1 (x)", origin["optim.lr"])
        assert.matches("lutra.sweep variant 1 %(x%): unknown key 'optim.lrr'",
            H.error_of(sweep.config, s, { index = 1, name = "x", overrides = { ["optim.lrr"] = 1 } }, {}))
    end)
end)

describe("the sweep's report", function()
    it("compares against the first variant that ran, and writes CSV", function()
        local rows = { { index = 1, name = "a", status = "config error: x" },
            { index = 2, name = "b", status = "ok", samples_per_s = 100, accuracy = 0.5 },
            { index = 3, name = "c, d", status = "ok", samples_per_s = 150, accuracy = 0.6 } }
        report.compare(rows)
        assert.is_nil(rows[1].speedup)
        assert.are.equal(1, rows[2].speedup)
        assert.are.equal(1.5, rows[3].speedup)
        assert.is_true(math.abs(rows[3].accuracy_delta - 0.1) < 1e-12)
        local csv = report.csv(rows)
        local lines = {}
        for l in csv:gmatch("[^\n]+") do
            lines[#lines + 1] = l
        end
        assert.are.equal(4, #lines)
        assert.matches("^index,name,status,", lines[1])
        assert.matches('^3,"c, d",ok,', lines[4])
        assert.matches("config error: x", report.text(rows))
    end)
end)

describe("lutra.sweep{...}", function()
    it("plans every variant and returns the rows", function()
        local wd = fresh("plan")
        local rows, folder, code = lutra.sweep({ base = "examples/fmnist_mlp.lua",
            grid = { ["data.batch_size"] = { 32, 64 }, ["precision.mode"] = { "fp32", "bf16" } },
            device = "cpu" }, { plan_only = true, work_dir = wd, quiet = true })
        assert.are.equal(0, code)
        assert.are.equal(4, #rows)
        assert.are.equal("batch_size=32 mode=bf16", rows[2].name)
        for _, r in ipairs(rows) do
            assert.are.equal("ok", r.status)
            assert.is_true(r.planned_total > 0 and r.planned_activations > 0)
        end
        assert.is_true(rows[3].planned_total > rows[1].planned_total)
        assert.is_true(rows[2].planned_param_copies > 0)
        assert.is_true(core.is_file(folder .. "/sweep.csv"))
        os.execute("rm -rf '" .. wd .. "'")
    end)

    it("trains every variant, a failing one a row with its reason", function()
        local data_dir = fresh("data")
        assert(os.execute("mkdir -p '" .. data_dir .. "'"))
        dofile("tests/lua/fixtures/synthetic_fmnist.lua").write(data_dir, 128, 40)
        local wd = fresh("train")
        local rows, _, code = lutra.sweep({ base = "examples/fmnist_mlp.lua",
            data = { root = data_dir, train_samples = 128, val_samples = 40, batch_size = 32 },
            model = { hidden = { 16 } }, device = "cpu", schedule = { warmup_iters = 0 },
            runner = { max_iters = 4, log_interval = 2, eval_interval = 0,
                checkpoint_interval = 0 },
            variants = { { name = "fp32" }, { name = "bf16", ["precision.mode"] = "bf16" },
                { name = "bad", ["model.hidden"] = "wide" } } }, { work_dir = wd, quiet = true })
        assert.are.equal(0, code)
        assert.are.equal(3, #rows)
        for i = 1, 2 do
            assert.are.equal("ok", rows[i].status)
            assert.is_true(rows[i].samples_per_s > 0 and rows[i].loss > 0)
            assert.is_number(rows[i].accuracy)
            assert.is_true(core.is_dir(rows[i].run_dir))
        end
        assert.are.equal(1, rows[1].speedup)
        assert.matches("^config error: .*model.hidden", rows[3].status)
        os.execute("rm -rf '" .. wd .. "' '" .. data_dir .. "'")
    end)
end)
