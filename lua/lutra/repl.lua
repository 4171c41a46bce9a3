-- The REPL (`lutra` alone, or `lutra repl`): Lua with lutra loaded, line editing and
-- history through libedit (lutra.readline, in the binary) on a terminal, plain lines
-- otherwise (a here-doc, a pipe). Expressions are printed — tensors and modules
-- pretty-printed, tables shown a few levels deep — and errors are shown without leaving.
-- Ctrl-C stops the code that runs (a long loop of steps) and returns to the prompt;
-- Ctrl-D leaves. Helpers for experimenting: recipe, build, step, train, evaluate, mem.
local core = require "lutra.core"

local repl = {}

local HELP = [[
helpers:
  cfg = recipe(path [, {key = value} or {"k=v", ...}])  load a recipe (resolved config)
  r = build(cfg or path [, overrides])  model, data and trainer of a recipe (no work dir)
  step([n])          n optimizer steps (default 1) of the last build; returns the result
  train([n])         steps to the end of the schedule (or n), logging as lutra train does
  evaluate()         test loss and accuracy of the last build
  mem([trainer])     memory by category (planned arenas), checkpointing, what evaluation
                     takes beyond the step, and the process's RSS
  r.model, r.trainer, r.cfg   the pieces; lutra, nn, optim, F are globals
Ctrl-C stops what runs; Ctrl-D leaves.]]

-- ---- printing ---------------------------------------------------------------------------------

local show

local function is_identifier(k)
    return type(k) == "string" and k:match("^[%a_][%w_]*$")
end

-- A table a few levels deep, at most `limit` entries per level.
local function show_table(t, depth, seen)
    if seen[t] then
        return "<cycle>"
    end
    if depth > 2 then
        return "{...}"
    end
    seen[t] = true
    local parts, n, limit = {}, 0, 12
    local len = #t
    for i = 1, len do
        n = n + 1
        if n > limit then
            break
        end
        parts[#parts + 1] = show(t[i], depth + 1, seen)
    end
    local keys = {}
    for k in pairs(t) do
        if not (math.type(k) == "integer" and k >= 1 and k <= len) then
            keys[#keys + 1] = k
        end
    end
    table.sort(keys, function(a, b)
        return tostring(a) < tostring(b)
    end)
    for _, k in ipairs(keys) do
        n = n + 1
        if n > limit then
            break
        end
        local name = is_identifier(k) and k or "[" .. show(k, depth + 1, seen) .. "]"
        parts[#parts + 1] = name .. " = " .. show(t[k], depth + 1, seen)
    end
    seen[t] = nil
    local total = len + #keys
    if total > limit then
        parts[#parts + 1] = string.format("... (%d entries)", total)
    end
    return "{" .. table.concat(parts, ", ") .. "}"
end

-- show(v): how the REPL prints a value.
function show(v, depth, seen)
    depth, seen = depth or 0, seen or {}
    local mt = getmetatable(v)
    if type(v) == "string" then
        return depth == 0 and v or string.format("%q", v)
    elseif type(v) == "number" then
        return math.type(v) == "integer" and tostring(v) or string.format("%.6g", v)
    elseif type(v) == "table" then
        if mt and mt.__tostring then
            local s = tostring(v)
            if depth == 0 and v.num_parameters then -- a module: its size too
                local ok, n = pcall(v.num_parameters, v)
                if ok then
                    s = s .. string.format("\n-- %d parameters", n)
                end
            end
            return s
        end
        return show_table(v, depth, seen)
    elseif mt and mt.__tostring then
        return tostring(v)
    end
    return tostring(v)
end
repl.show = show

-- ---- helpers --------------------------------------------------------------------------------------

local function helpers(env, out)
    local state = {}
    local lutra = require "lutra"
    local config = require "lutra.config"

    local function overrides_of(o)
        if o == nil then
            return nil
        end
        if type(o) == "string" then
            return { o }
        end
        return o
    end

    function env.recipe(path, overrides)
        local cfg, notes = config.load(path, overrides_of(overrides))
        for _, n in ipairs(notes) do
            out("note: " .. n)
        end
        state.recipe = path
        return cfg
    end

    function env.build(cfg, overrides)
        local path
        if type(cfg) == "string" then
            path = cfg
            cfg = env.recipe(cfg, overrides)
        end
        local runner = require "lutra.runner"
        if state.runner then
            state.runner:close()
        end
        local r = runner.new(cfg, { recipe = path, write = false, tty = false })
        r:setup()
        state.runner = r
        return r
    end

    local function current()
        if not state.runner then
            error("nothing built yet: r = build(\"examples/fmnist_mlp.lua\")", 0)
        end
        return state.runner
    end

    function env.step(n)
        local r, res = current(), nil
        for _ = 1, n or 1 do
            res = r:step()
        end
        return res
    end

    function env.train(n)
        local r = current()
        if n then
            r.max_iters = math.min(r.max_iters, r.iter + n)
        end
        return r:train()
    end

    function env.evaluate()
        return current():evaluate()
    end

    function env.mem(tr)
        tr = tr or (state.runner and state.runner.trainer)
        local logger = require "lutra.logger"
        local lines = {}
        if tr then
            local m = tr:memory()
            for _, c in ipairs { "params", "param_copies", "grads", "optimizer", "activations",
                "temporaries", "workspace", "data", "state", "runtime" } do
                if (m[c] or 0) > 0 then
                    lines[#lines + 1] = string.format("  %-13s %8s", c, logger.bytes(m[c]))
                end
            end
            lines[#lines + 1] = string.format("  %-13s %8s", "total", logger.bytes(m.total))
            local segments, recomputed = tr.plan:checkpointing()
            if segments > 1 then
                lines[#lines + 1] = require("lutra.runner").checkpoint_line(segments, recomputed)
            end
            local n, extra = 0, 0
            for _, prog in pairs(tr.programs or {}) do
                n = n + 1
                extra = extra + core.mem_extra(m, prog.forward:memory())
            end
            if n > 0 then
                lines[#lines + 1] = string.format("%d evaluation and prediction program%s: %s " ..
                    "beyond the step's memory", n, n > 1 and "s" or "", logger.bytes(extra))
            end
        end
        local rss, peak = logger.rss()
        lines[#lines + 1] = string.format("process RSS %s (peak %s)", logger.bytes(rss),
            logger.bytes(peak))
        out((tr and "trainer memory by category:\n" or "") .. table.concat(lines, "\n"))
    end

    function env.help()
        out(HELP)
    end

    env.lutra, env.nn, env.optim, env.F = lutra, lutra.nn, lutra.optim, lutra.F
end

-- ---- the loop ---------------------------------------------------------------------------------------

-- Compiles the text as an expression (printed) or else as statements; returns the
-- function, or nil and the message, and whether more lines could complete it.
local function compile(text, env)
    local fn = load("return " .. text, "=stdin", "t", env)
    if fn then
        return fn
    end
    local err
    fn, err = load(text, "=stdin", "t", env)
    if fn then
        return fn
    end
    return nil, err, err:match("<eof>$") ~= nil
end

-- main([opts]): runs the REPL until end of input; returns 0. opts: {input = a function
-- returning the next line or nil (tests), output = a function taking a string}.
function repl.main(opts)
    opts = opts or {}
    local tty = core.isatty(0) and core.isatty(1)
    local rl = tty and not opts.input and select(2, pcall(require, "lutra.readline")) or nil
    if type(rl) ~= "table" then
        rl = nil
    end
    local out = opts.output or function(s)
        io.stdout:write(s, "\n")
        io.stdout:flush()
    end
    local history = rl and os.getenv("HOME") and os.getenv("HOME") .. "/.lutra_history"
    if rl then
        rl.stifle_history(1000)
        if history then
            rl.read_history(history)
        end
    end
    local read = opts.input or function(prompt)
        if rl then
            return rl.readline(prompt)
        end
        if tty then
            io.stdout:write(prompt)
            io.stdout:flush()
        end
        return io.read("l")
    end
    local env = setmetatable({}, { __index = _G })
    helpers(env, out)
    if tty or opts.banner then
        out(string.format("lutra %s (%s; %s) — help() for the helpers, Ctrl-D to leave",
            core.version(), _VERSION, core.backend_info()))
    end
    while true do
        local ok, line = pcall(read, "lutra> ")
        if not ok then -- Ctrl-C at the prompt
            core.clear_interrupt()
            out("")
            goto continue
        end
        if line == nil and core.interrupted() then -- libedit gives up the line on Ctrl-C
            core.clear_interrupt()
            out("")
            goto continue
        end
        if line == nil then
            if tty then
                out("")
            end
            break
        end
        do
            local text = line
            local fn, err, more = compile(text, env)
            while not fn and more do
                local next_line = read(">> ")
                if next_line == nil then
                    break
                end
                text = text .. "\n" .. next_line
                fn, err, more = compile(text, env)
            end
            if rl and text:match("%S") then
                rl.add_history(text)
            end
            if not fn then
                out("error: " .. err)
            else
                core.clear_interrupt()
                core.break_on_interrupt(true)
                local r = table.pack(xpcall(fn, function(e)
                    return tostring(e)
                end))
                core.break_on_interrupt(false)
                if core.interrupted() then
                    core.clear_interrupt()
                end
                if not r[1] then
                    out("error: " .. r[2])
                elseif r.n > 1 then
                    local parts = {}
                    for i = 2, r.n do
                        parts[#parts + 1] = show(r[i])
                    end
                    out(table.concat(parts, "\t"))
                end
            end
        end
        ::continue::
    end
    if rl and history then
        rl.write_history(history)
    end
    return 0
end

return repl
