-- Sweeps: one base recipe under several sets of overrides, each trained (or only planned)
-- in turn, compared in a table (lutra.sweep_report). A sweep file is evaluated like a
-- recipe (lutra.sandbox: globals, or a returned table merged over them) and sets
--   base      the recipe, relative to the sweep file
--   variants  a list of override tables ({["data.batch_size"] = 128, name = "b128"}), or
--   grid      key -> list of values: every combination, keys in sorted order, the first
--             key changing slowest
--   name      the sweep's name (default: the file's name without .lua)
-- and any other key is a recipe key every variant gets (runner = {max_iters = 300}).
-- Layers, last wins: the base recipe, the sweep's recipe keys, --set, the variant's keys.
--
-- A sweep writes into WORK_DIR/<time it starts>/ (WORK_DIR: --work-dir, the sweep's
-- work_dir, else work_dirs/<name>), holding the work dir's lock while it runs: each
-- variant trains through lutra.runner, as `lutra train` does, with NN_<variant name>/ as
-- its work dir (its run folder inside), and after each variant sweep.json, sweep.csv and
-- sweep.png are written whole. A variant that fails (a config error, an out-of-memory
-- the memory policy cannot fix, the NaN guard) is a row with its reason and the sweep
-- goes on; a signal stops it, and --resume (opts.resume) carries on in the newest sweep
-- folder of WORK_DIR, keeping the rows of the variants that finished.
local core = require "lutra.core"
local config = require "lutra.config"
local dist = require "lutra.dist"
local sandbox = require "lutra.sandbox"
local paths = require "lutra.paths"
local layers = require "lutra.layers"
local overrides = require "lutra.overrides"
local describe = require "lutra.describe"
local tables = require "lutra.tables"
local workdir = require "lutra.workdir"
local setup = require "lutra.setup"
local logger = require "lutra.logger"
local runner = require "lutra.runner"
local trainer_mod = require "lutra.trainer"
local report = require "lutra.sweep_report"

local sweep = {}

local fail = describe.raise_at

-- The metatable of what sweep.spec returns, so that sweep.run knows one.
local Spec = {}

-- The keys of a sweep that are not recipe keys.
local OWN = { base = true, variants = true, grid = true, name = true }

-- ---- the spec -------------------------------------------------------------------------------

-- A variant's value as its name shows it.
local function value_text(v)
    if type(v) == "string" then
        return v
    elseif type(v) == "number" then
        return (describe.format_number(v):gsub("%.0$", ""))
    end
    return describe.literal(v)
end

local function sorted_keys(t)
    local keys = {}
    for k in pairs(t) do
        keys[#keys + 1] = k
    end
    table.sort(keys)
    return keys
end

-- sweep.variant_name(o): the name of a variant without one: its keys' last parts and
-- values in key order ("batch_size=128 mode=bf16"), "base" for no overrides. Cannot fail.
function sweep.variant_name(o)
    local parts = {}
    for _, k in ipairs(sorted_keys(o)) do
        parts[#parts + 1] = k:match("([^.]+)$") .. "=" .. value_text(o[k])
    end
    return #parts > 0 and table.concat(parts, " ") or "base"
end

-- sweep.folder_name(index, name): a variant's work dir in the sweep folder, "03_b128":
-- characters other than letters, digits and . = + - _ become "_". Cannot fail.
function sweep.folder_name(index, name)
    local safe = name:gsub("[^%w%.=+%-_]+", "_"):sub(1, 60)
    return string.format("%02d_%s", index, safe)
end

-- sweep.grid(where, grid): the variants of a grid, as override tables: every combination,
-- keys sorted, the first key changing slowest. Raises "where: ..." on a key without a
-- non-empty list of values.
function sweep.grid(where, grid)
    for k, values in pairs(grid) do -- before sorting: keys of mixed types do not compare
        if type(k) ~= "string" or type(values) ~= "table" or #values == 0 or
            not tables.is_list(values) then
            fail(where, string.format("grid[%s] must be a non-empty list of values",
                describe.show(k)))
        end
    end
    local combos = { {} }
    for _, k in ipairs(sorted_keys(grid)) do
        local values = grid[k]
        local more = {}
        for _, c in ipairs(combos) do
            for _, v in ipairs(values) do
                local o = tables.deep_copy(c)
                o[k] = tables.deep_copy(v)
                more[#more + 1] = o
            end
        end
        combos = more
    end
    return combos
end

-- Checks a variant's override table (what: "variants[3]" or "grid combination 3");
-- returns its name and its overrides (name taken out).
local function check_variant(where, what, v)
    if type(v) ~= "table" then
        fail(where, string.format("%s must be a table of overrides, got %s", what, type(v)))
    end
    local o = {}
    for k, x in pairs(v) do
        if k ~= "name" then
            if type(k) ~= "string" or overrides.key_problem(k) then
                fail(where, string.format("%s: %s is not a recipe key (write " ..
                    "[\"data.batch_size\"] = 128)", what, describe.show(k)))
            end
            o[k] = x
        end
    end
    if v.name ~= nil and (type(v.name) ~= "string" or v.name == "") then
        fail(where, string.format("%s.name must be a non-empty string", what))
    end
    return v.name or sweep.variant_name(o), o
end

-- sweep.spec(t [, path]): a sweep from its table (what a sweep file sets; path: the file,
-- which base is relative to; without it the working folder): {where =, name =, base =,
-- common = the recipe keys, variants = {{index =, name =, overrides =}, ...}}. Raises
-- "<path or lutra.sweep>: ..." on a malformed sweep.
function sweep.spec(t, path)
    local where = path or "lutra.sweep"
    if type(t) ~= "table" then
        fail(where, "a sweep is a table (base =, variants = or grid =), got " .. type(t))
    end
    if type(t.base) ~= "string" or t.base == "" then
        fail(where, "base must name the recipe the variants change (a path relative to " ..
            "the sweep file), got " .. describe.show(t.base))
    end
    if (t.variants == nil) == (t.grid == nil) then
        fail(where, "give variants (a list of override tables) or grid (key -> list of " ..
            "values), one of the two")
    end
    if t.name ~= nil and (type(t.name) ~= "string" or not t.name:match("^[%w_.%-]+$")) then
        fail(where, "name must be a word (letters, digits, _ . -), got " .. describe.show(t.name))
    end
    local list = t.variants
    if list ~= nil and (type(list) ~= "table" or #list == 0 or not tables.is_list(list)) then
        fail(where, "variants must be a non-empty list of override tables")
    end
    if t.grid ~= nil and (type(t.grid) ~= "table" or next(t.grid) == nil) then
        fail(where, "grid must be a table of key -> list of values")
    end
    local what = list and "variants[%d]" or "grid combination %d"
    list = list or sweep.grid(where, t.grid)
    local variants = {}
    for i, v in ipairs(list) do
        local name, o = check_variant(where, string.format(what, i), v)
        variants[i] = { index = i, name = name, overrides = o }
    end
    local common = {}
    for k, v in pairs(t) do
        if not OWN[k] then
            common[k] = tables.deep_copy(v)
        end
    end
    local stem = path and (path:match("([^/]+)$"):gsub("%.lua$", "")) or "sweep"
    return setmetatable({ where = where, name = t.name or stem, variants = variants,
        common = common, base = paths.join(path and paths.dirname(path) or "", t.base) }, Spec)
end

-- sweep.load(path): the sweep a file describes (sweep.spec). Raises "path: ..." as a
-- recipe's load does.
function sweep.load(path)
    path = paths.normalize(path)
    local box = sandbox.new({ interrupted = function() return config.interrupted() end })
    local env, ret = box:evaluate(path)
    local t = {}
    for k, v in pairs(env) do
        t[k] = v
    end
    if ret ~= nil then
        if type(ret) ~= "table" then
            fail(path, "a sweep file returns a table or nothing, got " .. type(ret))
        end
        t = layers.merge_into(t, ret, nil, "")
    end
    return sweep.spec(t, path)
end

-- ---- a variant's config -----------------------------------------------------------------------

-- sweep.config(spec, variant, sets [, work_dir]): the variant's resolved config, notes and
-- origins (as config.load returns them): the base recipe, the sweep's recipe keys, sets
-- (--set strings), the variant's keys, then work_dir. Raises as config.load does, the
-- variant's keys named "<sweep> variant N (name)".
function sweep.config(spec, variant, sets, work_dir)
    local raw, origin, notes = config.read(spec.base, nil)
    raw = overrides.apply(raw, origin, notes, tables.deep_copy(spec.common), spec.where)
    raw = overrides.apply(raw, origin, notes, sets)
    local keys = tables.deep_copy(variant.overrides)
    keys.work_dir = work_dir
    raw = overrides.apply(raw, origin, notes, keys, string.format("%s variant %d (%s)",
        spec.where, variant.index, variant.name))
    return config.resolve(raw, origin, notes, paths.normalize(spec.base)), notes, origin
end

-- ---- running one variant ------------------------------------------------------------------

-- A message on one line, without its traceback.
local function one_line(msg)
    return (tostring(msg):gsub("\nstack traceback:.*", ""):gsub("%s*\n%s*", " "))
end


-- The row's fields that come from the config and the plan.
local function planned(row, cfg, lr, precision, pr)
    row.batch_size, row.accumulate = cfg.data.batch_size, cfg.optim.accumulate
    row.effective_batch, row.lr, row.precision = config.effective_batch(cfg, dist.size()), lr,
        precision
    row.planned_total = pr.total
    for _, c in ipairs(report.CATEGORIES) do
        row["planned_" .. c] = pr[c] or 0
    end
    row.capacity = setup.capacity(cfg, core.device()) -- as lutra plan and the policy say
    row.planned_util = pr.total / row.capacity
end

-- Plans a variant as `lutra plan` does (the memory policy's choices included), without
-- data or a trainer.
local function plan_variant(row, cfg)
    local lr = setup.lr_scaling(cfg)
    setup.context(cfg)
    local device = setup.device(cfg)
    local model = setup.model(cfg)
    setup.fit_memory(cfg, model, lr, device)
    local plan = trainer_mod.plan(setup.trainer_config(cfg, model, lr))
    planned(row, cfg, lr, plan.precision, plan.report)
    row.status = "ok"
end

-- The process's peak resident memory is measured per variant: Linux resets it when "5"
-- is written to /proc/self/clear_refs. Returns whether it did.
local function reset_peak()
    local f = io.open("/proc/self/clear_refs", "w")
    if not f then
        return false
    end
    local ok = f:write("5")
    return f:close() and ok ~= nil
end

-- The train windows' samples/s (median) and the last window's mean loss, from a run's
-- metrics.jsonl.
local function from_metrics(run_dir)
    local f = run_dir and io.open(run_dir .. "/metrics.jsonl", "r")
    if not f then
        return nil
    end
    local rates, loss = {}, nil
    for line in f:lines() do
        local ok, m = pcall(core.json_decode, line)
        if ok and type(m) == "table" and m.mode == "train" then
            rates[#rates + 1], loss = m.samples_per_s, m.loss
        end
    end
    f:close()
    table.sort(rates)
    local n = #rates
    local median = n > 0 and (n % 2 == 1 and rates[(n + 1) // 2] or
        (rates[n // 2] + rates[n // 2 + 1]) / 2) or nil
    return median, loss
end

-- Trains a variant through lutra.runner; fills the row and returns the runner's exit code
-- (130 / 143: a signal stopped it, and the row does not count).
local function train_variant(row, cfg, notes, origin, base)
    local gpu = { name = "sweep", after_step = function(self, run)
        if run.device ~= "cpu" then -- what the card holds (all of its users)
            local free, total = core.device_memory()
            self.peak = math.max(self.peak or 0, total - free)
        end
    end }
    local own_peak = reset_peak()
    local r = {}
    local ok, code = xpcall(function()
        r = runner.new(cfg, { notes = notes, origin = origin, recipe = base, quiet = true,
            hooks = { gpu } })
        return r:train()
    end, function(e)
        return type(e) == "string" and debug.traceback(e, 2) or e
    end)
    if not ok then
        if r.log then
            r.log:file_only("error: " .. one_line(code))
        end
        row.status = (setup.is_config_error(code) and "config error: " or "error: ") ..
            one_line(code)
        code = setup.is_config_error(code) and setup.EXIT.usage or setup.EXIT.failure
    elseif code == 0 then
        row.status = "ok"
    else
        row.status = r.stop and (r.stop.message or tostring(r.stop.reason)) or
            "stopped (exit " .. code .. ")"
    end
    row.run_dir = r.run_dir
    if r.trainer then
        planned(row, r.cfg, r.lr, r.trainer.precision, r.trainer:plan_report())
        local _, peak = logger.rss()
        row.measured_peak = gpu.peak or (own_peak and peak) or nil
        row.measured_util = row.measured_peak and row.measured_peak / row.capacity
    end
    row.samples_per_s, row.loss = from_metrics(r.run_dir)
    row.loss = row.loss or (r.last and r.last.loss)
    row.accuracy = r.last_metrics and r.last_metrics.accuracy
    row.seconds = r.train_seconds
    if r.close then
        r:close()
    end
    collectgarbage()
    return code
end

-- ---- the sweep ----------------------------------------------------------------------------

-- v with every function replaced by "<function>": what a sweep's text may hold of it.
local function without_functions(v)
    if type(v) == "function" then
        return "<function>"
    elseif type(v) ~= "table" then
        return v
    end
    local t = {}
    for k, x in pairs(v) do
        t[k] = without_functions(x)
    end
    return t
end

-- The variants as sweep.json keeps them: index, name and the overrides as Lua text
-- (exact for every number; a function, which JSON cannot hold, as "<function>").
local function described(variants)
    local out = {}
    for i, v in ipairs(variants) do
        out[i] = { index = v.index, name = v.name,
            overrides = describe.literal(without_functions(v.overrides)) }
    end
    return out
end

-- What makes two sweeps the same sweep for --resume: the base, the sweep's recipe keys,
-- the variants, planning only or training, and the --set strings (in any order).
local function fingerprint(spec, plan_only, sets)
    local s = {}
    for i, x in ipairs(sets) do
        s[i] = x
    end
    table.sort(s)
    return describe.literal(without_functions({ base = spec.base, common = spec.common,
        variants = described(spec.variants), plan_only = plan_only or false, sets = s }))
end

-- The newest sweep folder of the work dir whose sweep.json is this sweep's (same
-- fingerprint), for --resume; raises a config error naming the newest sweep when none is.
local function resume_state(wd, fp)
    local runs, newest = wd:runs(), nil
    for i = #runs, 1, -1 do
        local folder = wd.dir .. "/" .. runs[i]
        local f = io.open(folder .. "/sweep.json", "r")
        if f then
            local text = f:read("a")
            f:close()
            local state, err = core.json_decode(text)
            if type(state) ~= "table" or type(state.rows or {}) ~= "table" then
                error(setup.config_error(folder .. "/sweep.json: not a sweep's state (" ..
                    one_line(err or "not an object") .. ")"), 0)
            end
            if state.fingerprint == fp then
                state.rows = state.rows or {}
                return folder, state
            end
            newest = newest or folder
        end
    end
    if newest then
        error(setup.config_error(string.format("--resume: no sweep in %s is this one (the " ..
            "newest, %s, has another base, recipe keys, variants, --set or --plan-only); " ..
            "start a new sweep without --resume", wd.dir, newest)), 0)
    end
    error(setup.config_error(string.format("--resume: no sweep to resume in %s (no folder " ..
        "with a sweep.json)", wd.dir)), 0)
end

-- sweep.run(spec [, opts]): runs a sweep (a path to a sweep file, a table as a sweep file
-- sets, or sweep.spec's result) and returns its rows, one per variant in order ({index =,
-- name =, status = "ok" or the reason, batch_size =, accumulate =, effective_batch =, lr
-- =, precision =, planned_total =, planned_<category> =, capacity =, planned_util =,
-- measured_peak =, measured_util =, samples_per_s =, speedup =, loss =, accuracy =,
-- accuracy_delta =, seconds =, run_dir =}; bytes as integers), the sweep folder, and the
-- exit code (0 every variant tried, 130 / 143 a signal stopped the sweep).
-- opts: {plan_only = plan without data or training, work_dir = the work dir, resume =
-- carry on in the newest sweep folder, sets = --set strings for every variant, out = a
-- file for the progress lines and the table (default io.stdout), quiet = print nothing}.
-- Raises a config error (lutra.setup) on a malformed sweep or a --resume that does not
-- match, "path: reason" when a file cannot be written.
function sweep.run(spec, opts)
    opts = opts or {}
    local ok, s = pcall(function()
        if type(spec) == "string" then
            return sweep.load(spec)
        end
        return getmetatable(spec) == Spec and spec or sweep.spec(spec)
    end)
    if not ok then
        local sig = core.interrupted() -- Ctrl-C while the sweep file or its base loads
        error(setup.is_config_error(s) and s or setup.config_error(s, sig and setup.EXIT[sig]), 0)
    end
    spec = s
    local out = opts.out or io.stdout
    local function say(fmt, ...)
        if not opts.quiet then
            out:write(string.format(fmt, ...), "\n")
            out:flush()
        end
    end
    local dir = opts.work_dir or spec.common.work_dir or "work_dirs/" .. spec.name
    local why = workdir.check(dir)
    if why then
        error(setup.config_error(why), 0)
    end
    local wd = workdir.open(dir)
    local folder, state
    local done, code = pcall(function()
        local sets = opts.sets or {}
        if opts.resume then
            -- without --set, the --set the sweep ran with: the variants still to run get it
            if #sets == 0 then
                for i = #wd:runs(), 1, -1 do
                    local f = io.open(wd.dir .. "/" .. wd:runs()[i] .. "/sweep.json", "r")
                    if f then
                        local st = core.json_decode(f:read("a"))
                        f:close()
                        if type(st) == "table" and type(st.sets) == "table" and
                            st.fingerprint == fingerprint(spec, opts.plan_only, st.sets) then
                            sets = st.sets
                            break
                        end
                    end
                end
            end
            folder, state = resume_state(wd, fingerprint(spec, opts.plan_only, sets))
            sets = state.sets or {}
        else
            state = { sweep = spec.where, name = spec.name, base = spec.base,
                plan_only = opts.plan_only or false, sets = sets,
                variants = described(spec.variants),
                fingerprint = fingerprint(spec, opts.plan_only, sets), rows = {} }
        end
        -- the base recipe with the sweep's keys and --set must load: else every variant fails
        local common_ok, err = pcall(sweep.config, spec, { index = 0, name = "common",
            overrides = {} }, sets)
        if not common_ok then
            error(setup.config_error(string.format("%s: the base recipe with the sweep's " ..
                "recipe keys and --set does not load: %s", spec.where, one_line(err))), 0)
        end
        folder = folder or wd:new_run()
        report.write(folder, state) -- the state --resume looks for, from the start
        local rows, n = {}, #spec.variants
        for _, r in ipairs(state.rows) do
            rows[r.index] = r
        end
        say("sweep %s: %d variant%s of %s%s -> %s", spec.where, n, n == 1 and "" or "s",
            spec.base, opts.plan_only and " (planned only)" or "", folder)
        for _, v in ipairs(spec.variants) do
            local sig = core.interrupted()
            if sig then
                return setup.EXIT[sig]
            end
            if rows[v.index] then
                say("variant %d/%d %s: done before (%s)", v.index, n, v.name, rows[v.index].status)
            else
                local row = { index = v.index, name = v.name }
                local t0 = core.clock()
                local vdir = not opts.plan_only and folder .. "/" ..
                    sweep.folder_name(v.index, v.name) or nil
                local loaded, cfg, notes, origin = pcall(sweep.config, spec, v, sets, vdir)
                local rc = 0
                if not loaded then
                    row.status = "config error: " .. one_line(cfg)
                elseif opts.plan_only then
                    local planned_ok, err = pcall(plan_variant, row, cfg)
                    if not planned_ok then
                        row.status = (setup.is_config_error(err) and "config error: " or
                            "error: ") .. one_line(err)
                    end
                else
                    rc = train_variant(row, cfg, notes, origin, spec.base)
                end
                local sig_now = core.interrupted()
                if sig_now or rc == setup.EXIT.SIGINT or rc == setup.EXIT.SIGTERM then
                    rc = sig_now and setup.EXIT[sig_now] or rc
                    say("variant %d/%d %s: interrupted; --resume carries on from this variant",
                        v.index, n, v.name)
                    return rc
                end
                say("variant %d/%d %s: %s (%.1f s)%s", v.index, n, v.name, row.status,
                    core.clock() - t0, row.run_dir and ", run folder " .. row.run_dir or "")
                rows[v.index] = row
                state.rows[#state.rows + 1] = row
                table.sort(state.rows, function(a, b) return a.index < b.index end)
                local note = report.write(folder, state)
                if note then
                    say("%s", note)
                end
            end
        end
        return setup.EXIT.ok
    end)
    wd:close()
    if not done then
        error(code, 0)
    end
    if state and #state.rows > 0 then
        say("")
        say("%s", report.text(state.rows))
        say("written: %s/sweep.csv, sweep.json, sweep.png", folder)
    end
    return state and state.rows or {}, folder, code
end

return sweep
