-- The recipe sandbox: where lutra.config evaluates recipe files and the modules they
-- require. A recipe sees the safe base library (pairs, type, pcall, error, load of text
-- ...), copies of math, string, table and utf8, os.getenv/time/clock/date, and a require
-- that loads only lutra's model-building modules and Lua files beside the recipe, into
-- the same sandbox. No io, os.exit, package, debug, dofile, loadfile, collectgarbage,
-- bytecode, and no metatable lutra shares: getmetatable(s) of a string, a tensor or a
-- lutra table is nil (a recipe sees the metatables it set), and lutra's modules are
-- read-only views. A recipe describes a run; a `lutra run` script is plain Lua.
--
-- One sandbox serves one config.load: its recipe files and their modules share the
-- library copies and the module cache (a module runs once per load). The sandbox also
-- remembers, for the life of the process, which files it ran and which functions their
-- modules returned, so that lutra.serialize can write a config.lua that rebuilds a model
-- registered or defined there (see sandbox.loaded and sandbox.export_of).
local paths = require "lutra.paths"

local sandbox = {}

local function read_all(path)
    local f = io.open(path, "rb")
    if not f then
        return nil
    end
    local text = f:read("a")
    f:close()
    return text
end

-- The absolute form of path (the process's working folder before a relative one), or
-- nil when the folder cannot be found. Cannot fail.
function sandbox.absolute(path)
    if path:sub(1, 1) == "/" then
        return paths.normalize(path)
    end
    local pwd = os.getenv("PWD")
    local text = read_all(path)
    -- $PWD is the shell's word for it; trust it when it names the same file
    if pwd and pwd:sub(1, 1) == "/" and text and read_all(pwd .. "/" .. path) == text then
        return paths.normalize(pwd .. "/" .. path)
    end
    local ok, p = pcall(io.popen, "pwd")
    local dir = ok and p and p:read("l")
    if ok and p then
        p:close()
    end
    return dir and dir:sub(1, 1) == "/" and paths.normalize(dir .. "/" .. path) or nil
end

-- "file", "directory" or nil (missing or unreadable), and the reason when nil.
function sandbox.kind(path)
    local f, err = io.open(path, "rb")
    if not f then
        return nil, err
    end
    local _, rerr, code = f:read(0)
    f:close()
    if code == 21 or (rerr and rerr:find("directory", 1, true)) then -- EISDIR
        return "directory"
    end
    return "file"
end

-- The text of a recipe or module file; raises "path: <what is wrong>" for a missing
-- file, a folder, or Lua bytecode (recipes are read as text only). A leading "#!" line
-- becomes a comment, keeping line numbers.
function sandbox.source(path, what)
    local f, err = io.open(path, "rb")
    if not f then
        error(err, 0)
    end
    local text, rerr, code = f:read("a")
    f:close()
    if not text then
        if code == 21 then
            error(string.format("%s: is a directory, not a %s file", path, what), 0)
        end
        error(string.format("%s: %s", path, tostring(rerr)), 0)
    elseif text:sub(1, 4) == "\27Lua" then
        error(string.format("%s: is Lua bytecode, not a %s source (lutra reads %ss as " ..
            "text)", path, what, what), 0)
    end
    if text:sub(1, 1) == "#" then
        text = "--" .. text
    end
    return text
end

-- ---- read-only views of lutra's modules ---------------------------------------------------

-- The lutra modules a recipe may require: they build models and describe data, and
-- neither write files nor change the process's settings (lutra.core, the runner, the
-- checkpoint and logger modules do).
sandbox.MODULES = {"lutra", "lutra.data", "lutra.models", "lutra.nn", "lutra.ops",
    "lutra.optim", "lutra.tensor"}
local ALLOWED = {}
for _, name in ipairs(sandbox.MODULES) do
    ALLOWED[name] = true
end

-- What `require "lutra"` shows a recipe: the model-building part of the module.
local LUTRA_NAMES = {"nn", "F", "optim", "zeros", "ones", "full", "rand", "randn", "tensor",
    "is_tensor", "is_symbol", "op", "version", "VERSION"}

local real_of = setmetatable({}, {__mode = "k"}) -- view or wrapper -> the real value
local view_of = setmetatable({}, {__mode = "k"}) -- real table -> its view
local wrapper_of = setmetatable({}, {__mode = "k"}) -- real function -> its wrapper

-- The arguments with views and wrappers replaced by what they stand for, so that lutra's
-- functions get their own tables (nn.class(name, nn.Module) sees the real Module).
local function unwrap(...)
    local n = select("#", ...)
    local args = {...}
    for i = 1, n do
        local r = real_of[args[i]]
        if r ~= nil then
            args[i] = r
        end
    end
    return table.unpack(args, 1, n)
end

local view

local function wrap(v, name)
    if type(v) == "table" then
        return view(v, name)
    elseif type(v) == "function" then
        local w = wrapper_of[v]
        if not w then
            w = function(...)
                return v(unwrap(...)) -- a tail call: the caller's frame stays the caller
            end
            wrapper_of[v], real_of[w] = w, v
        end
        return w
    end
    return v
end

-- A read-only view of a lutra table: reads (through its __index too) give views and
-- wrappers; writes raise; calling it calls the table.
function view(t, name)
    local v = view_of[t]
    if v then
        return v
    end
    v = setmetatable({}, {
        __index = function(_, k)
            return wrap(t[k], name .. "." .. tostring(k))
        end,
        __newindex = function(_, k)
            error(string.format("%s is read-only in a recipe (setting '%s')", name,
                tostring(k)), 2)
        end,
        __call = function(_, ...)
            return t(unwrap(...))
        end,
        __pairs = function()
            local k
            return function()
                local x
                k, x = next(t, k)
                return k, wrap(x, name .. "." .. tostring(k))
            end
        end,
        __len = function()
            return #t
        end,
        __tostring = function()
            return tostring(t)
        end,
        __metatable = name .. " (read-only)",
    })
    view_of[t], real_of[v] = v, t
    return v
end

-- A require the sandbox refuses: raised as {msg =}, placed at the recipe's line.
local Refusal = {}

local function refuse(fmt, ...)
    error(setmetatable({msg = string.format(fmt, ...)}, Refusal), 0)
end

local lutra_view

local function lutra_module(name)
    if not ALLOWED[name] then
        refuse("require '%s': not available in a recipe (a recipe requires %s and Lua " ..
            "files beside it; a `lutra run` script may require any module)", name,
            table.concat(sandbox.MODULES, ", "))
    elseif name ~= "lutra" then
        return view(require(name), name)
    end
    if not lutra_view then
        local api, part = require("lutra"), {}
        for _, k in ipairs(LUTRA_NAMES) do
            part[k] = api[k]
        end
        lutra_view = view(part, "lutra")
    end
    return lutra_view
end

-- ---- what the process remembers ------------------------------------------------------------

local loaded = {} -- path -> true: files the sandbox ran (recipes and modules)
local exports = setmetatable({}, {__mode = "k"}) -- function -> {path =, field =}

-- Whether the sandbox ran the file at path (a recipe or a module), so that a config.lua
-- may require it. Cannot fail.
function sandbox.loaded(path)
    return loaded[path] == true
end

-- Where a function can be found again: {path = the file, field = the key of the table the
-- file returned or set (nil: the file returned the function itself)}, or nil. The first
-- file that held it wins (a module before the recipe that took it from there).
function sandbox.export_of(fn)
    return exports[fn]
end

-- Notes the functions of a file's result (itself, or its string-keyed entries).
function sandbox.note_exports(value, path)
    if type(value) == "function" then
        exports[value] = exports[value] or {path = path}
    elseif type(value) == "table" and real_of[value] == nil then
        for k, x in pairs(value) do
            if type(k) == "string" and type(x) == "function" and not exports[x] then
                exports[x] = {path = path, field = k}
            end
        end
    end
end

-- ---- the sandbox ---------------------------------------------------------------------------

-- The error an interrupt raises inside the sandbox; pcall in a recipe cannot keep it.
local INTERRUPT = setmetatable({}, {__tostring = function() return "interrupted" end})

local BASICS = {"assert", "error", "ipairs", "next", "pairs", "print", "rawequal", "rawget",
    "rawlen", "select", "tonumber", "tostring", "type", "_VERSION"}

local function copy(t)
    local out = {}
    for k, v in pairs(t) do
        out[k] = v
    end
    return out
end

local Sandbox = {}
Sandbox.__index = Sandbox

-- sandbox.new({interrupted = function() -> truthy after a signal, texts = {[path] =
-- text}}): a fresh sandbox for one load; texts gives the text of recipes that are not
-- files (a host's recipe string), read instead of the path. Cannot fail.
function sandbox.new(opts)
    opts = opts or {}
    local self = setmetatable({modules = {}, loading = {}, own = setmetatable({}, {
        __mode = "k"}), interrupted = opts.interrupted or function() return false end,
        texts = opts.texts or {}}, Sandbox)
    local own, lib = self.own, {}
    for _, name in ipairs(BASICS) do
        lib[name] = _G[name]
    end
    lib.math, lib.table, lib.utf8 = copy(math), copy(table), copy(utf8)
    lib.string = copy(string)
    lib.string.dump = nil -- no bytecode, in or out
    lib.os = {getenv = os.getenv, time = os.time, clock = os.clock, date = os.date}
    -- metatables: a recipe sees those it set, and the __metatable field of the others
    function lib.setmetatable(t, mt)
        local r = setmetatable(t, mt)
        if mt ~= nil then
            own[mt] = true
        end
        return r
    end
    function lib.getmetatable(v)
        local mt = debug.getmetatable(v)
        if mt == nil then
            return nil
        end
        local shown = rawget(mt, "__metatable")
        if shown ~= nil then
            return shown
        end
        return own[mt] and mt or nil
    end
    function lib.rawset(t, k, v)
        if real_of[t] ~= nil then
            error("rawset: lutra's modules are read-only in a recipe", 2)
        end
        return rawset(t, k, v)
    end
    -- an interrupt passes through a recipe's pcall
    local function passed(ok, ...)
        if not ok and (... == INTERRUPT or self.interrupted()) then
            error((...), 0)
        end
        return ok, ...
    end
    function lib.pcall(f, ...)
        return passed(pcall(f, ...))
    end
    function lib.xpcall(f, handler, ...)
        return passed(xpcall(f, function(e)
            if e == INTERRUPT then
                return e
            end
            return handler(e)
        end, ...))
    end
    self.lib = lib
    return self
end

-- The environment of one file: the library, and require and load bound to the file.
-- root: the folder module names are looked up in; dir: the file's own folder.
function Sandbox:env(root, dir)
    local bound = setmetatable({}, {__index = self.lib})
    local env = setmetatable({}, {__index = bound})
    bound.require = function(name)
        local ok, v = pcall(self.require, self, name, root, dir)
        if ok then
            return v
        elseif getmetatable(v) == Refusal then
            error(v.msg, 2) -- at the line that called require
        end
        error(v, 0)
    end
    bound.load = function(chunk, chunkname, _, fenv)
        return load(chunk, chunkname, "t", fenv == nil and env or fenv)
    end
    return env
end

-- Runs the file at path in env; returns what it returns. Raises its errors.
function Sandbox:run(path, env, what, ...)
    local text = self.texts[path] or sandbox.source(path, what)
    local chunk, msg = load(text, "@" .. path, "t", env)
    if not chunk then
        error(msg, 0)
    end
    loaded[path] = true
    return chunk(...)
end

local function module_name_ok(name)
    return name:match("^[%w_%-]+$") or name:match("^[%w_%-]+[%w_%-%.]*[%w_%-]$")
end

-- require(name) as a recipe sees it: lutra's modules (read-only views); a module beside
-- the recipe, "name.sub" being root/name/sub.lua or root/name/sub/init.lua; or a path
-- ("../shared/nets.lua", "/abs/models.lua"), relative to the requiring file's folder.
-- A module runs once per load in an environment of its own (its globals are its own);
-- require returns what it returns, or when it returns nothing, its globals.
function Sandbox:require(name, root, dir)
    if type(name) ~= "string" then
        refuse("require: the module name must be a string, got %s", type(name))
    end
    if name == "lutra" or name:sub(1, 6) == "lutra." then
        return lutra_module(name)
    end
    local candidates
    local by_path = name:find("/", 1, true) or name:match("%.lua$")
    if by_path then
        candidates = {paths.join(dir, name)}
    elseif module_name_ok(name) then
        local base = paths.join(root, (name:gsub("%.", "/")))
        candidates = {base .. ".lua", base .. "/init.lua"}
    else
        refuse("require '%s': not a module name", name)
    end
    local path
    for _, p in ipairs(candidates) do
        if sandbox.kind(p) == "file" then
            path = p
            break
        end
    end
    if not path then
        local std = ({io = 1, os = 1, package = 1, debug = 1, string = 1, math = 1,
            table = 1, utf8 = 1, coroutine = 1})[name]
        refuse("require '%s': %s", name, std and
            "not available in a recipe (the sandbox has no io, os, package or debug; it " ..
            "gives copies of math, string, table, utf8 and os.getenv/time/clock/date as " ..
            "globals)" or "no " .. table.concat(candidates, " or ") ..
            " (a recipe requires lutra's modules and Lua files beside it)")
    end
    local cached = self.modules[path]
    if cached then
        return cached.value
    elseif self.loading[path] then
        refuse("require '%s': %s requires itself (a cycle)", name, path)
    end
    self.loading[path] = true
    local env = self:env(by_path and paths.dirname(path) or root, paths.dirname(path))
    local r = table.pack(pcall(self.run, self, path, env, "module", name, path))
    self.loading[path] = nil
    if not r[1] then
        error(r[2], 0)
    end
    local value = r[2]
    if value == nil then
        value = {}
        for k, v in pairs(env) do
            value[k] = v
        end
    end
    sandbox.note_exports(value, path)
    self.modules[path] = {value = value}
    return value
end

-- Evaluates a recipe file: returns its globals (a table) and what it returned. Raises
-- "path: ..." for a file that cannot be read, its own errors ("path:3: ..."), and
-- "interrupted while evaluating path" when self.interrupted() turns true meanwhile (the
-- check runs every 1000 instructions, in the recipe and the modules it requires).
function Sandbox:evaluate(path)
    local dir = paths.dirname(path)
    local env = self:env(dir, dir)
    local check = self.interrupted
    local hook, mask, count = debug.gethook()
    debug.sethook(function()
        if check() then
            error(INTERRUPT, 0)
        end
    end, "", 1000)
    local r = table.pack(pcall(self.run, self, path, env, "recipe"))
    if type(hook) == "function" then
        debug.sethook(hook, mask, count)
    else
        debug.sethook()
    end
    if not r[1] then
        if r[2] == INTERRUPT or check() then
            error("interrupted while evaluating " .. path, 0)
        end
        error(type(r[2]) == "string" and r[2] or tostring(r[2]), 0)
    end
    return env, r[2]
end

return sandbox
