-- Helpers the Lua library shares: errors that point at the user's line, type tests,
-- option checking, and the random-stream counters behind initialisation and dropout.
-- Library files require "lutra.core" and each other, never "lutra" (it is being loaded).
local core = require "lutra.core"

local util = {}

-- The directory of the library's files ("lua/lutra/"), to tell its frames from the user's.
local libdir = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or ""

local function in_library(source)
    return source:sub(1, 1) == "@" and source:sub(2, #libdir + 1) == libdir
end

-- While util.track_lines runs a function: "file.lua:12: " of the last line of user code
-- that ran. A user's `return self.fc(x)` is a tail call, which removes their frame from
-- the stack before the op fails, so the stack alone cannot say where they were.
local last_user_line = nil

-- "file.lua:12: " for the user's code that called into lutra: the last user line run
-- under util.track_lines, else the innermost Lua frame outside the library, else "".
function util.where()
    if last_user_line then
        return last_user_line
    end
    for level = 2, 200 do
        local info = debug.getinfo(level, "Sl")
        if not info then
            break
        end
        if info.what ~= "C" and info.currentline > 0 and not in_library(info.source) then
            return info.short_src .. ":" .. info.currentline .. ": "
        end
    end
    return ""
end

-- Runs f(...) with a line hook noting the last line of user code that runs (tracing
-- runs user code once, so the hook's cost is paid once). Restores the previous hook;
-- errors pass through unchanged.
function util.track_lines(f, ...)
    local hook, mask, count = debug.gethook()
    local saved = last_user_line
    debug.sethook(function(_, line)
        local info = debug.getinfo(2, "S")
        if info.what ~= "C" and not in_library(info.source) then
            last_user_line = info.short_src .. ":" .. line .. ": "
        end
    end, "l")
    local r = table.pack(pcall(f, ...))
    debug.sethook(hook, mask, count)
    last_user_line = saved
    if not r[1] then
        error(r[2], 0)
    end
    return table.unpack(r, 2, r.n)
end

-- Raises msg at the user's line. Messages already placed (see util.placed) pass as they are.
function util.raise(msg)
    if type(msg) == "string" and not util.placed(msg) then
        msg = util.where() .. msg
    end
    error(msg, 0)
end

-- Whether msg already starts with a Lua location ("model.lua:12: ").
function util.placed(msg)
    return msg:match("^[^%s:]+%.lua:%d+: ") ~= nil
end

-- Calls f(...) and re-raises any error at the user's line.
function util.call(f, ...)
    local r = table.pack(pcall(f, ...))
    if not r[1] then
        util.raise(r[2])
    end
    return table.unpack(r, 2, r.n)
end

-- ---- types --------------------------------------------------------------------------------

function util.is_tensor(v)
    return getmetatable(v) == core.Tensor
end

function util.is_symbol(v)
    return getmetatable(v) == core.Symbol
end

-- "(8, 784)", as the core writes shapes.
function util.shape_str(shape)
    if #shape == 1 then
        return "(" .. shape[1] .. ",)"
    end
    return "(" .. table.concat(shape, ", ") .. ")"
end

-- Checks that every key of `opts` is in `known` (a list); raises naming `what` otherwise.
function util.check_options(what, opts, known)
    if opts == nil then
        return {}
    end
    if type(opts) ~= "table" then
        util.raise(what .. ": options must be a table, got " .. type(opts))
    end
    local set = {}
    for _, k in ipairs(known) do
        set[k] = true
    end
    for k in pairs(opts) do
        if not set[k] then
            util.raise(string.format("%s: unknown option '%s' (it takes: %s)", what, tostring(k),
                table.concat(known, ", ")))
        end
    end
    return opts
end

-- ---- random streams --------------------------------------------------------------------------
-- Every random draw made from Lua (initialisation, rand, randn) takes the next stream
-- number, and every Dropout the next layer id; both restart when the seed is set, so the
-- same seed and the same program give the same numbers.

local counters = { stream = 0, layer = 0 }

function util.next_stream()
    counters.stream = counters.stream + 1
    return counters.stream
end

function util.next_layer()
    counters.layer = counters.layer + 1
    return counters.layer
end

function util.manual_seed(seed)
    core.set_seed(seed)
    counters.stream, counters.layer = 0, 0
end

-- The traces being built, by graph userdata (lutra/trace.lua registers them), so that an
-- op on a symbol can turn the tensors it meets into values of the symbol's graph; and
-- the one whose model's forward is running (util.building), so that an op on its
-- parameters and constants alone is traced too.
util.traces = setmetatable({}, { __mode = "k" })
util.building = nil

return util
