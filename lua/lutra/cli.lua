-- The command line: `lutra COMMAND ...` parsed into a verb and its options, each verb's
-- help text, and the exit codes (0 ok, 1 failure at run time, 2 usage or config error,
-- 130 after Ctrl-C, 143 after SIGTERM). lua/main.c calls cli.main(arg) and exits with
-- what it returns; nothing here calls os.exit, so tests can call main directly.
local core = require "lutra.core"
local config = require "lutra.config"
local serialize = require "lutra.serialize"
local suggest = require "lutra.suggest"
local overrides = require "lutra.overrides"
local sandbox = require "lutra.sandbox"
local runner = require "lutra.runner"
local dist = require "lutra.dist"
local setup = require "lutra.setup"
local help = require "lutra.cli_help"

local cli = {}

local EXIT = setup.EXIT
cli.EXIT = EXIT

-- Where messages go; tests replace these.
cli.out = io.stdout
cli.err = io.stderr

local function say(...)
    cli.out:write(...)
    cli.out:write("\n")
end

local function complain(msg)
    local w = dist.world()
    -- one write: the ranks share the terminal
    cli.err:write((w.size > 1 and string.format("lutra (rank %d): ", w.rank) or "lutra: ") ..
        msg .. "\n")
    cli.err:flush()
end

-- ---- help ---------------------------------------------------------------------------------------

local USAGE, HELP = help.usage, help.verbs

local function version_text()
    local plugin = core.cuda_plugin()
    return string.format("lutra %s\n  %s\n  CPU backend: %s\n  CUDA plugin: %s\n  ranks: %s",
        core.version(), _VERSION, core.backend_info(), plugin or "not built (no nvcc at build " ..
            "time; training runs on the CPU)", core.dist_built() and "MPI (mpirun -np N lutra " ..
            "train RECIPE)" or "not built (no mpicc at build time: one process only)")
end

-- ---- argument parsing -----------------------------------------------------------------------

-- The options each verb takes: name -> "value" | "flag" | "list"; every verb also takes
-- the override flags (overrides.OVERRIDE_FLAGS: --set k=v ... and its aliases).
local SPECS = {
    train = { ["--work-dir"] = "value", ["--seed"] = "value", ["--threads"] = "value",
        ["--device"] = "value", ["--gpu-ids"] = "value", ["--load-from"] = "value",
        ["--resume-from"] = "value", ["--resume-force"] = "flag", ["--quiet"] = "flag" },
    eval = { ["--load-from"] = "value", ["--threads"] = "value", ["--device"] = "value",
        ["--gpu-ids"] = "value" },
    plan = { ["--device"] = "value", ["--gpu-ids"] = "value", ["--threads"] = "value",
        ["--fit"] = "flag", ["--memory"] = "value", ["--json"] = "flag", ["--explain"] = "flag",
        ["--world-size"] = "value" },
}
SPECS.generate = { ["--load-from"] = "value", ["--prompt"] = "value", ["--tokens"] = "value",
    ["--temperature"] = "value", ["--top-k"] = "value", ["--seed"] = "value",
    ["--threads"] = "value", ["--device"] = "value", ["--gpu-ids"] = "value" }
SPECS.sweep = { ["--plan-only"] = "flag", ["--work-dir"] = "value", ["--resume"] = "flag" }
for _, spec in pairs(SPECS) do
    for _, flag in ipairs(overrides.OVERRIDE_FLAGS) do
        spec[flag] = "list"
    end
end

-- A usage error: a message the CLI prints with a pointer to the help, exit 2.
local UsageError = {}
UsageError.__index = UsageError
UsageError.__tostring = function(e)
    return e.msg
end

local function usage_error(msg)
    error(setmetatable({ msg = msg }, UsageError), 0)
end

-- Parses args[first..] for `verb`: returns {positional = {...}, options = {name = value},
-- sets = {"k=v", ...}}. Raises a usage error on an unknown or incomplete option.
function cli.parse(verb, args, first)
    local spec = SPECS[verb]
    local out = { positional = {}, options = {}, sets = {} }
    local i = first
    while i <= #args do
        local a = args[i]
        local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
        name = name or a
        if a == "--help" or a == "-h" then
            out.help = true
        elseif a:sub(1, 2) == "--" then
            local kind = spec[name]
            if not kind then
                local names = {}
                for k in pairs(spec) do
                    names[#names + 1] = k
                end
                table.sort(names)
                local hint = suggest.closest(name, names)
                usage_error(string.format("%s: unknown option '%s'%s", verb, name,
                    hint and " (did you mean '" .. hint .. "'?)" or ""))
            elseif kind == "flag" then
                out.options[name] = true
            elseif kind == "value" then
                local v = inline
                if v == nil then
                    i = i + 1
                    v = args[i]
                end
                if v == nil or (inline == nil and v:sub(1, 2) == "--") then
                    usage_error(string.format("%s: %s needs a value", verb, name))
                end
                out.options[name] = v
            else -- list: key=value words until the next option
                if inline then
                    out.sets[#out.sets + 1] = inline
                end
                local n = 0
                while args[i + 1] and args[i + 1]:sub(1, 2) ~= "--" and args[i + 1]:find("=", 1, true) do
                    i = i + 1
                    n = n + 1
                    out.sets[#out.sets + 1] = args[i]
                end
                if n == 0 and not inline then
                    usage_error(string.format("%s: %s needs key=value overrides", verb, name))
                end
            end
        else
            out.positional[#out.positional + 1] = a
        end
        i = i + 1
    end
    return out
end

-- A number option's value (an integer when `integer`) within [lo, hi] (nil: unbounded
-- on that side), or a usage error ("--top-k wants an integer >= 0, got '-1'").
local function number_option(verb, name, v, lo, hi, integer)
    local n = tonumber(v)
    if integer then
        n = math.tointeger(n)
    end
    if n == nil or n ~= n or (lo and n < lo) or (hi and n > hi) then
        local range = lo and hi and string.format(" in [%s, %s]", lo, hi) or
            lo and string.format(" >= %s", lo) or hi and string.format(" <= %s", hi) or ""
        usage_error(string.format("%s: %s wants %s%s, got '%s'", verb, name,
            integer and "an integer" or "a number", range, v))
    end
    return n
end

-- An integer option's value, or a usage error; its range is the recipe key's, checked
-- with the recipe ("--threads: threads must be in [0, 4096], got 100000").
local function integer_option(verb, name, v)
    return number_option(verb, name, v, nil, nil, true)
end

-- The overrides of a parsed command line: --set strings, then the dedicated options.
local function overrides_of(verb, p)
    local o = {}
    for i, s in ipairs(p.sets) do
        o[i] = s
    end
    local opt = p.options
    if opt["--seed"] then
        o.seed = integer_option(verb, "--seed", opt["--seed"])
    end
    if opt["--threads"] then
        o.threads = integer_option(verb, "--threads", opt["--threads"])
    end
    o.device = opt["--device"]
    local id = opt["--gpu-ids"]
    if id then -- mmcv's spelling: --gpu-ids 0
        if o.device then
            usage_error(verb .. ": --gpu-ids and --device both choose the device; give one")
        elseif not id:match("^%d+$") then
            usage_error(string.format("%s: --gpu-ids takes one GPU number (lutra trains on " ..
                "one GPU), got '%s'", verb, id))
        end
        o.device = "cuda:" .. id
    end
    o.work_dir = opt["--work-dir"]
    o.load_from = opt["--load-from"]
    o.resume_from = opt["--resume-from"]
    return o
end

-- The recipe argument: exactly one positional.
local function recipe_of(verb, p)
    if #p.positional == 0 then
        usage_error(verb .. ": which recipe? (lutra " .. verb .. " RECIPE; lutra " .. verb ..
            " --help)")
    elseif #p.positional > 1 then
        usage_error(string.format("%s: one recipe, got %d arguments ('%s' ...); overrides go " ..
            "after --set", verb, #p.positional, p.positional[2]))
    end
    return p.positional[1]
end

-- Loads the recipe; a config error is a usage-class error (exit 2). A signal while the
-- recipe is evaluated stops it ("interrupted while evaluating RECIPE"): exit 130 or 143,
-- as after a run.
local function load_recipe(path, sets)
    local ok, cfg, notes, origin = pcall(config.load, path, sets)
    if not ok then
        local sig = core.interrupted()
        error(setup.config_error(cfg, sig and EXIT[sig]), 0)
    end
    return cfg, notes, origin
end

-- ---- verbs ------------------------------------------------------------------------------------

local verbs = {}

-- The command line of a verb that takes a recipe (or a sweep) first, or nil after its
-- help was asked for and printed.
local function parse_verb(verb, args)
    local p = cli.parse(verb, args, 2)
    if p.help then
        say(HELP[verb])
        return nil
    end
    return p
end

function verbs.train(args)
    local p = parse_verb("train", args)
    if not p then
        return EXIT.ok
    end
    local path = recipe_of("train", p)
    local cfg, notes, origin = load_recipe(path, overrides_of("train", p))
    if dist.launched() then
        local ok, err = pcall(dist.join, cfg)
        if not ok then
            error(setup.config_error(err), 0)
        end
    end
    -- in a data-parallel job rank 0 alone speaks and writes the run's files
    local writes = dist.writes()
    local r = runner.new(cfg, { notes = notes, origin = origin, recipe = path,
        quiet = p.options["--quiet"] or not writes, write = writes,
        resume_force = p.options["--resume-force"] })
    local ok, code = xpcall(r.train, function(e)
        if type(e) ~= "string" then
            return e
        end
        return debug.traceback(e, 2)
    end, r)
    if not ok then
        local msg = tostring(code)
        if r.log then
            r.log:file_only("error: " .. msg:gsub("\nstack traceback:.*", ""))
        end
        if dist.active() then -- the job ends at once (lua/main.c): nothing waits on the ranks
            if r.log then
                r.log:close()
            end
        else
            r:close()
        end
        -- the traceback is for bugs; a message that names its place is enough
        complain(os.getenv("LUTRA_TRACEBACK") and msg or (msg:gsub("\nstack traceback:.*", "")))
        return setup.is_config_error(code) and EXIT.usage or EXIT.failure
    end
    r:close()
    return code
end

function verbs.eval(args)
    local p = parse_verb("eval", args)
    if not p then
        return EXIT.ok
    end
    local path = recipe_of("eval", p)
    local weights = p.options["--load-from"]
    if not weights then
        usage_error("eval: --load-from WEIGHTS is required (a .safetensors file)")
    end
    -- train's pieces: the context, the device, the model; the weights before the data
    local cfg = load_recipe(path, overrides_of("eval", p))
    local data = require "lutra.data"
    local checkpoint = require "lutra.checkpoint"
    local trainer = require "lutra.trainer"
    local evaluate = require "lutra.policy.evaluate"
    setup.context(cfg)
    local device = setup.device(cfg)
    local model = setup.model(cfg)
    local note = checkpoint.load_weights(model, checkpoint.load(weights), weights)
    if note then
        complain("warning: " .. note)
    end
    local t0 = core.clock()
    local test_set = data.dataset(cfg, "test")
    local batch, line = setup.fit_eval(cfg, model, device, test_set:size())
    if line then
        say(line)
    end
    cfg.data.val_batch_size = batch
    local m = evaluate.pass(data.loader(cfg, "test", test_set), trainer.evaluator(model, data.loss(cfg)))
    if not m then
        return EXIT[core.interrupted()] or EXIT.failure
    end
    say(string.format("%s on %s test: accuracy %s loss %.4f (%d samples, %.1f s)", weights,
        cfg.data.dataset, m.accuracy and string.format("%.4f", m.accuracy) or "-", m.loss, m.count,
        core.clock() - t0))
    return EXIT.ok
end

function verbs.generate(args)
    local p = parse_verb("generate", args)
    if not p then
        return EXIT.ok
    end
    local path = recipe_of("generate", p)
    local opt = p.options
    local weights = opt["--load-from"]
    if not weights then
        usage_error("generate: --load-from WEIGHTS is required (a .safetensors file)")
    end
    local tokens = number_option("generate", "--tokens", opt["--tokens"] or "200", 0, 1e9, true)
    local temperature = number_option("generate", "--temperature", opt["--temperature"] or "1", 0)
    local top_k = number_option("generate", "--top-k", opt["--top-k"] or "0", 0, nil, true)
    local seed = number_option("generate", "--seed", opt["--seed"] or "0", 0, 0xffffffff, true)
    local cfg = load_recipe(path, overrides_of("generate", p))
    local checkpoint = require "lutra.checkpoint"
    local generate = require "lutra.generate"
    setup.context(cfg)
    setup.device(cfg)
    local model = setup.model(cfg)
    local window = math.tointeger(model.block_size)
    if not window then
        error(setup.config_error(string.format("generate: %s: the model (%s) has no " ..
            "block_size: generation needs a causal token model such as model = {type = " ..
            "\"gpt\"}", path, tostring(cfg.model.type))), 0)
    end
    local data_window = cfg.data and math.tointeger(cfg.data.block_size)
    if data_window and data_window < window then
        window = data_window -- positions past the training windows were never trained
    end
    local note = checkpoint.load_weights(model, checkpoint.load(weights), weights)
    if note then
        complain("warning: " .. note)
    end
    local prog, vocab = generate.program(model, window)
    local bytes = generate.bytes_of(cfg.data or {})
    local ok, ids = pcall(generate.prompt_ids, opt["--prompt"] or "\n", bytes, vocab)
    if not ok then
        prog.forward:close()
        usage_error(tostring(ids):gsub("^[^:]*:%d+: ", ""))
    elseif #ids == 0 then
        prog.forward:close()
        usage_error("generate: --prompt is empty: give at least one token")
    end
    local function write(id, first)
        if bytes then
            cli.out:write(string.char(id))
        else
            cli.out:write(first and "" or " ", tostring(id))
        end
    end
    for i, id in ipairs(ids) do
        write(id, i == 1)
    end
    cli.out:flush()
    local t0 = core.clock()
    local ok_run, new = pcall(generate.run, prog, { prompt_ids = ids, tokens = tokens,
        temperature = temperature, top_k = top_k, seed = seed, interrupted = core.interrupted,
        limit = bytes and 256 or nil,
        emit = function(id)
            write(id)
            cli.out:flush()
        end })
    prog.forward:close()
    if not ok_run then
        cli.out:write("\n")
        error(new, 0)
    end
    cli.out:write("\n")
    local dt = core.clock() - t0
    cli.err:write(string.format("generated %d tokens in %.1f s (%.0f tokens/s; the window " ..
        "of %d recomputed for each)\n", #new, dt, #new / math.max(dt, 1e-9), window))
    local sig = core.interrupted()
    return sig and EXIT[sig] or EXIT.ok
end

local categories = require "lutra.categories"

-- "1,234,567"
local function grouped(n)
    local s = tostring(math.tointeger(n) or n)
    local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
    return (out:gsub("^,", ""))
end

-- `lutra plan --fit`: memory_fit.answers for the recipe against capacity (--memory, else
-- the device's or memory.limit), as a table or (--json) a JSON array of the rows.
local function plan_fit(path, cfg, model, lr, device, p, t0)
    local logger = require "lutra.logger"
    local memory_fit = require "lutra.memory_fit"
    local capacity, what = setup.capacity(cfg, device)
    -- this process counts against this machine's memory, not against a card asked about
    local baseline = setup.process_bytes(cfg, device)
    if p.options["--memory"] then
        capacity, what, baseline = p.memory, "--memory " .. p.options["--memory"], 0
    end
    local rows, plans = memory_fit.answers(cfg, setup.step_probe(model, lr),
        { capacity = capacity, baseline = baseline })
    if p.options["--json"] then
        say(core.json_encode(rows))
        return EXIT.ok
    end
    local effective = config.effective_batch(cfg, dist.size())
    say(string.format("the largest micro-batch whose step fits memory.target %g of %s (%s)%s " ..
        "= %s on %s, keeping the effective batch %d (micro-batch × accumulate%s), for %s:",
        cfg.memory.target, what, logger.bytes(capacity), baseline > 0 and
        string.format(" less this process's %s", logger.bytes(baseline)) or "",
        logger.bytes(math.floor(cfg.memory.target * capacity) - baseline), device, effective,
        dist.size() > 1 and " × " .. dist.size() .. " ranks" or "", path))
    local fmt = "%-9s  %-13s  %11s  %10s  %8s  %11s"
    say(string.format(fmt, "precision", "checkpointing", "micro-batch", "accumulate", "planned",
        "of capacity"))
    local none = false
    for _, r in ipairs(rows) do
        local ck = r.checkpoint and "on" or "off"
        if r.error then
            say(string.format("%-9s  %-13s  refused: %s", r.precision, ck, r.error))
        else
            none = none or not r.fits
            say(string.format(fmt, r.precision, ck, r.fits and r.micro_batch or "none",
                r.fits and r.accumulate or "-", logger.bytes(r.planned),
                string.format("%.1f%%", 100 * r.of_capacity)))
        end
    end
    if none then
        say("none: even micro-batch 1 needs more than the target (planned: its step)")
    end
    say(string.format("answered in %.0f ms: the config, the model and %d plans",
        (core.clock() - t0) * 1000, plans))
    return EXIT.ok
end

function verbs.plan(args)
    local p = parse_verb("plan", args)
    if not p then
        return EXIT.ok
    end
    local path = recipe_of("plan", p)
    local fit = p.options["--fit"]
    if fit and p.options["--explain"] then
        usage_error("plan: --explain goes with the plan's bytes, not with --fit")
    end
    for _, flag in ipairs { "--memory", "--json" } do
        if p.options[flag] and not fit then
            usage_error(string.format("plan: %s goes with --fit (lutra plan RECIPE --fit %s)",
                flag, flag == "--memory" and "--memory 16GiB" or "--json"))
        end
    end
    if p.options["--memory"] then
        local field = require "lutra.field"
        p.memory = field.parse_size(p.options["--memory"]) or usage_error(string.format(
            "plan: --memory wants a size such as 16GiB, 512MiB or a number of bytes, got '%s'",
            p.options["--memory"]))
    end
    if p.options["--world-size"] then
        dist.set_planned_size(number_option("plan", "--world-size", p.options["--world-size"], 1,
            4096, true))
    end
    local t0 = core.clock()
    local cfg, notes, origin = load_recipe(path, overrides_of("plan", p))
    local tc = core.clock()
    local trainer = require "lutra.trainer"
    local logger = require "lutra.logger"
    -- train's pieces, without data or a trainer
    local lr, line = setup.lr_scaling(cfg)
    setup.context(cfg)
    local device, notice = setup.device(cfg)
    local model = setup.model(cfg)
    if fit then
        return plan_fit(path, cfg, model, lr, device, p, t0)
    end
    local t1 = core.clock()
    -- what `lutra train` would choose to fit memory.target (planned for the device)
    local fitted, why, eval, process = setup.fit_memory(cfg, model, lr, device)
    for k, v in pairs(why) do
        origin[k] = v
    end
    say("-- resolved config of " .. path)
    cli.out:write(serialize.text(cfg, { origin = origin }))
    for _, n in ipairs(notes) do
        say("-- note: " .. n)
    end
    if line then
        say("-- " .. line)
    end
    for _, l in ipairs(fitted) do
        say("-- " .. l)
    end
    local mode = cfg.precision.mode
    local batch = cfg.data.batch_size
    local plan = trainer.plan(setup.trainer_config(cfg, model, lr), nil,
        dist.size() > 1 and { bucket_bytes = dist.bucket_bytes(cfg) } or nil)
    local t2 = core.clock()
    local ops, names, n_ops = {}, {}, 0
    for name, n in pairs(plan.ops) do
        names[#names + 1] = name
        n_ops = n_ops + n
    end
    table.sort(names)
    for _, name in ipairs(names) do
        ops[#ops + 1] = string.format("%s %d", name, plan.ops[name])
    end
    say("")
    say(string.format("graph: %d forward ops (%s); %s parameters in %d tensors", n_ops,
        table.concat(ops, ", "), grouped(plan.graph.param_numel), plan.graph.params))
    say(string.format("step: %d nodes (forward and backward); micro-batch %d, accumulate %d, " ..
        "precision %s", plan.nodes, batch, cfg.optim.accumulate, mode))
    if cfg.memory.checkpoint then
        say(setup.checkpoint_line(plan.segments, plan.recomputed))
    end
    if plan.blocked + plan.aliased > 0 then say(setup.layout_line(plan.blocked, plan.aliased)) end
    if dist.size() > 1 then
        local n, largest = plan.buckets, plan.largest_bucket
        say(string.format("data parallel: %d ranks, effective batch %d (micro-batch %d × " ..
            "accumulate %d × %d ranks); each step all-reduces the gradient (%s) in %d " ..
            "bucket%s of at most %s (dist.bucket_mb), started as the backward finishes them",
            dist.size(), config.effective_batch(cfg, dist.size()), batch, cfg.optim.accumulate,
            dist.size(), logger.bytes(plan.report.grads or 0), n, n == 1 and "" or "s",
            logger.bytes(largest)))
    end
    local free, total, runtime = core.device_memory()
    if device == "cpu" then
        say(string.format("device: cpu (%s%s of RAM, %s available)",
            notice and notice .. "; " or "", logger.bytes(total), logger.bytes(free)))
    else
        say(string.format("device: %s (%s, %s free; its context and libraries take %s: " ..
            "runtime)", core.device_info(), logger.bytes(total), logger.bytes(free),
            logger.bytes(runtime)))
    end
    say(string.format("memory the step allocates (%s, micro-batch %d):", mode, batch))
    for _, c in ipairs(categories.NAMES) do
        local b = plan.report[c] or 0
        say(string.format("  %-13s %10s  %15s B%s", c, logger.bytes(b), grouped(b),
            p.options["--explain"] and "  " .. categories.LEGEND[c] or ""))
    end
    say(string.format("  %-13s %10s  %15s B", "total", logger.bytes(plan.report.total),
        grouped(plan.report.total)))
    if p.options["--explain"] then
        say("  process       " .. categories.PROCESS)
    end
    say(setup.eval_line(eval))
    if process > 0 then -- the CPU with memory.process: the budget's third part
        say(string.format("process: %s now (measured: the program and its libraries, the Lua " ..
            "state; a run adds the data sets it opens); in all %s", logger.bytes(process),
            logger.bytes(plan.report.total + eval.extra + process)))
    end
    say(string.format("planned in %.1f ms: config %.1f ms, model %.1f ms, trace and plan %.1f ms",
        (t2 - t0) * 1000, (tc - t0) * 1000, (t1 - tc) * 1000, (t2 - t1) * 1000))
    return EXIT.ok
end

function verbs.sweep(args)
    local p = parse_verb("sweep", args)
    if not p then
        return EXIT.ok
    end
    if #p.positional ~= 1 then
        usage_error(#p.positional == 0 and "sweep: which sweep file? (lutra sweep SWEEP.lua)" or
            string.format("sweep: one sweep file, got %d arguments ('%s' ...); overrides go " ..
                "after --set", #p.positional, p.positional[2]))
    end
    local _, _, code = require("lutra.sweep").run(p.positional[1], { sets = p.sets,
        plan_only = p.options["--plan-only"], work_dir = p.options["--work-dir"],
        resume = p.options["--resume"], out = cli.out })
    return code
end

function verbs.run(args)
    local first = 2
    if args[2] == "--help" or args[2] == "-h" then
        say(HELP.run)
        return EXIT.ok
    end
    local script = args[first]
    if not script then
        usage_error("run: which script? (lutra run SCRIPT.lua [args])")
    end
    local chunk, err = loadfile(script)
    if not chunk then
        complain(err)
        -- a file that cannot be read is a wrong argument; a syntax error, the script's own
        return sandbox.kind(script) == "file" and EXIT.failure or EXIT.usage
    end
    local script_arg = { [0] = script }
    for i = first + 1, #args do
        script_arg[#script_arg + 1] = args[i]
    end
    _G.arg = script_arg
    _G.lutra = require "lutra"
    local ok, ret = xpcall(chunk, function(e)
        return debug.traceback(tostring(e), 2)
    end, table.unpack(script_arg))
    if not ok then
        complain(ret)
        return EXIT.failure
    end
    if type(ret) == "number" then
        -- an exit status is one byte: 300 would exit 44, so it is refused, not wrapped
        local code = math.tointeger(ret)
        if not code or code < 0 or code > 255 then
            complain(string.format("%s returned %s: an exit status must be an integer from " ..
                "0 to 255", script, ret))
            return EXIT.failure
        end
        return code
    end
    local sig = core.interrupted()
    return sig and EXIT[sig] or EXIT.ok
end

function verbs.repl(args)
    if args[2] == "--help" or args[2] == "-h" then
        say(HELP.repl)
        return EXIT.ok
    end
    return require("lutra.repl").main()
end

function verbs.help(args)
    local topic = args[2]
    if topic and HELP[topic] then
        say(HELP[topic])
    else
        say(USAGE)
    end
    return EXIT.ok
end

-- ---- main -------------------------------------------------------------------------------------

-- main(arg): runs the command line (arg[1] the verb) and returns the exit code. Errors
-- are printed as "lutra: message" on stderr.
function cli.main(args)
    args = args or {}
    local verb = args[1]
    if verb == nil then
        verb = "repl"
    elseif verb == "--help" or verb == "-h" then
        say(USAGE)
        return EXIT.ok
    elseif verb == "--version" or verb == "-V" or verb == "version" then
        say(version_text())
        return EXIT.ok
    elseif not verbs[verb] and verb:match("%.lua$") then
        table.insert(args, 1, "run") -- lutra script.lua: the host's old form
        verb = "run"
    end
    local fn = verbs[verb]
    local launched, size = dist.launched()
    if fn and launched and (size or 2) > 1 and verb ~= "train" then
        complain(string.format("lutra %s runs in one process; of the commands only lutra " ..
            "train runs as the ranks of an MPI job (mpirun -np N lutra train RECIPE)", verb))
        return EXIT.usage
    end
    if not fn then
        local names = {}
        for k in pairs(verbs) do
            names[#names + 1] = k
        end
        table.sort(names)
        local hint = suggest.closest(verb, names)
        complain(string.format("unknown command '%s'%s; try lutra --help", verb,
            hint and " (did you mean '" .. hint .. "'?)" or ""))
        return EXIT.usage
    end
    local ok, code = pcall(fn, args)
    if ok then
        return code
    end
    if getmetatable(code) == UsageError then
        complain(code.msg)
        complain("see lutra " .. verb .. " --help")
        return EXIT.usage
    elseif setup.is_config_error(code) then
        complain(code.msg)
        return code.code
    end
    complain(tostring(code))
    local sig = core.interrupted()
    return sig and EXIT[sig] or EXIT.failure
end

return cli
