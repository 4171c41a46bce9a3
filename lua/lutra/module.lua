-- The Module class of lutra.nn, as PyTorch's: a Module declares parameters, buffers
-- (state such as batch-norm running statistics) and child modules by assignment, and they
-- are named as PyTorch names them ("0.weight" for the first child of a Sequential).
-- `forward` is Lua: called on symbols it traces, called on tensors it runs op by op;
-- calling the module itself on tensors runs a traced and planned program, cached per
-- input shape and mode. Also parameters and their initialisation (PyTorch's defaults,
-- from the context's seed, one stream per tensor). The layers are lutra.nn's.
local util = require "lutra.util"
local trace = require "lutra.trace"

local raise, is_tensor = util.raise, util.is_tensor

local nn = {} -- what lutra.nn re-exports: Module, class, Parameter, init, version

-- Every change to any module's structure bumps this; cached programs built before are
-- rebuilt. Modes (train/eval) are part of a program's key instead.
local version = 0
local function changed()
    version = version + 1
end

function nn.version()
    return version
end

-- ---- parameters and initialisation ---------------------------------------------------------

local marked = setmetatable({}, { __mode = "k" }) -- tensors that are parameters

-- Parameter(t): marks t as a parameter, so that assigning it to a module registers it.
function nn.Parameter(t)
    if not is_tensor(t) then
        raise("Parameter: want a tensor, got " .. type(t))
    end
    marked[t] = true
    return t
end

local init = {}
nn.init = init

-- fan_in of a weight: dim 2 times the product of dims 3.. (linear (out, in), conv (O, C, kh, kw))
local function fan_in(t)
    local shape = t:shape()
    if #shape < 2 then
        raise("init: fan_in needs a tensor of at least 2 dims, got " .. util.shape_str(shape))
    end
    local n = shape[2]
    for i = 3, #shape do
        n = n * shape[i]
    end
    return n
end
init.fan_in = fan_in

function init.uniform_(t, lo, hi)
    return util.call(t.uniform, t, util.next_stream(), lo or 0, hi or 1)
end

function init.normal_(t, mean, std)
    return util.call(t.normal, t, util.next_stream(), mean or 0, std or 1)
end

function init.constant_(t, v)
    return t:fill(v)
end

function init.zeros_(t)
    return t:fill(0)
end

function init.ones_(t)
    return t:fill(1)
end

-- kaiming_uniform_(t, a = 0): U(-b, b), b = sqrt(6 / ((1 + a^2) fan_in)) (leaky_relu gain).
function init.kaiming_uniform_(t, a)
    a = a or 0
    local bound = math.sqrt(6 / ((1 + a * a) * fan_in(t)))
    return init.uniform_(t, -bound, bound)
end

-- ---- the Module class ------------------------------------------------------------------------

local Module = { __name = "Module" }
nn.Module = Module

local function is_module(v)
    return type(v) == "table" and rawget(v, "_modules") ~= nil
end
nn.is_module = is_module

local function put(self, kind, k, v)
    local map = rawget(self, kind)
    if map[k] == nil then
        local order = rawget(self, "_order")[kind]
        order[#order + 1] = k
    end
    map[k] = v
end

local function drop(self, kind, k)
    local map = rawget(self, kind)
    if map[k] == nil then
        return false
    end
    map[k] = nil
    local order = rawget(self, "_order")[kind]
    for i, name in ipairs(order) do
        if name == k then
            table.remove(order, i)
            break
        end
    end
    return true
end

-- Lookup: parameters, buffers, children (m[1] is child "0"), plain fields, then the class.
function Module.__index(self, k)
    local v = rawget(self, "_parameters")[k]
    if v ~= nil then
        return v
    end
    v = rawget(self, "_buffers")[k]
    if v ~= nil then
        return v
    end
    local modules = rawget(self, "_modules")
    v = modules[k]
    if v ~= nil then
        return v
    end
    v = rawget(self, "_attrs")[k]
    if v ~= nil then
        return v
    end
    if math.type(k) == "integer" then
        return modules[tostring(k - 1)]
    end
    return getmetatable(self)[k]
end

-- Assignment registers: a module as a child, a parameter tensor (nn.Parameter, or any
-- tensor assigned over a parameter) as a parameter, a tensor over a buffer as that buffer;
-- nil removes; anything else is a plain field.
function Module.__newindex(self, k, v)
    if math.type(k) == "integer" then
        k = tostring(k - 1)
    end
    local params, buffers = rawget(self, "_parameters"), rawget(self, "_buffers")
    if is_module(v) then
        drop(self, "_parameters", k)
        drop(self, "_buffers", k)
        rawget(self, "_attrs")[k] = nil
        put(self, "_modules", k, v)
        changed()
    elseif is_tensor(v) and (params[k] ~= nil or marked[v]) then
        drop(self, "_modules", k)
        drop(self, "_buffers", k)
        rawget(self, "_attrs")[k] = nil
        marked[v] = true
        put(self, "_parameters", k, v)
        changed()
    elseif is_tensor(v) and buffers[k] ~= nil then
        put(self, "_buffers", k, v)
        changed()
    elseif v == nil then
        local dropped = drop(self, "_parameters", k)
        dropped = drop(self, "_buffers", k) or dropped
        dropped = drop(self, "_modules", k) or dropped
        rawget(self, "_attrs")[k] = nil
        if dropped then
            changed()
        end
    else
        local what = params[k] ~= nil and "parameter" or buffers[k] ~= nil and "buffer"
            or rawget(self, "_modules")[k] ~= nil and "child module"
        if what then
            raise(string.format("cannot assign a %s to %s '%s' (want %s or nil)", type(v), what,
                k, what == "child module" and "a module" or "a tensor"))
        end
        rawget(self, "_attrs")[k] = v
    end
end

local function construct(cls, ...)
    local self = setmetatable({
        _parameters = {},
        _buffers = {},
        _modules = {},
        _attrs = {},
        _order = { _parameters = {}, _buffers = {}, _modules = {} },
        training = true,
    }, cls)
    self:__init(...)
    return self
end

local metamethods = { "__index", "__newindex", "__call", "__tostring", "__len" }

-- class(name [, parent = Module]): a new module class. Define cls:__init(...) (the parent's
-- is not called for you; call Parent.__init(self, ...) when extending a layer, e.g.
-- nn.Linear.__init(self, 4, 2)) and cls:forward(...); cls(...) makes an instance. The
-- parent is kept in the class's metatable alone: no field of a class or an instance leads
-- to a lutra class table, which a recipe (holding read-only views of them) could change.
function nn.class(name, parent)
    parent = parent or Module
    local cls = { __name = name }
    for _, mm in ipairs(metamethods) do
        cls[mm] = rawget(parent, mm)
    end
    return setmetatable(cls, { __index = parent, __call = construct })
end

setmetatable(Module, { __call = construct })

-- Module:extend(name): a subclass, as nn.class(name, Module).
function Module.extend(parent, name)
    return nn.class(name, parent)
end

function Module:__init()
end

function Module:forward()
    raise(getmetatable(self).__name .. ": forward is not defined")
end

function Module:register_parameter(name, t)
    if t ~= nil then
        nn.Parameter(t)
    end
    self[name] = t
end

-- register_buffer(name, t): a non-trainable tensor saved with the weights and read by the
-- graph as state (running statistics).
function Module:register_buffer(name, t)
    if not is_tensor(t) then
        raise("register_buffer: want a tensor, got " .. type(t))
    end
    drop(self, "_parameters", name)
    drop(self, "_modules", name)
    rawget(self, "_attrs")[name] = nil
    put(self, "_buffers", name, t)
    changed()
end

function Module:add_module(name, m)
    if not is_module(m) then
        raise("add_module: want a module, got " .. type(m))
    end
    self[name] = m
end

-- for name, child in m:named_children() do ... end
function Module:named_children()
    local order, modules, i = rawget(self, "_order")._modules, rawget(self, "_modules"), 0
    return function()
        i = i + 1
        local name = order[i]
        if name ~= nil then
            return name, modules[name]
        end
    end
end

function Module:children()
    local list = {}
    for _, m in self:named_children() do
        list[#list + 1] = m
    end
    return list
end

-- Pairs (dotted name, module) in pre-order, this module first (name ""), each once.
local function walk(self)
    local list, seen = {}, {}
    local function visit(m, prefix)
        if seen[m] then
            return
        end
        seen[m] = true
        list[#list + 1] = { prefix, m }
        for name, child in m:named_children() do
            visit(child, prefix == "" and name or prefix .. "." .. name)
        end
    end
    visit(self, "")
    return list
end

local function iterate(list)
    local i = 0
    return function()
        i = i + 1
        local e = list[i]
        if e ~= nil then
            return e[1], e[2]
        end
    end
end

function Module:named_modules()
    return iterate(walk(self))
end

-- Pairs (dotted name, tensor) of one kind over the tree, each tensor once.
local function members(self, kind)
    local list, seen = {}, {}
    for _, e in ipairs(walk(self)) do
        local prefix, m = e[1], e[2]
        local map = rawget(m, kind)
        for _, name in ipairs(rawget(m, "_order")[kind]) do
            local t = map[name]
            if not seen[t] then
                seen[t] = true
                list[#list + 1] = { prefix == "" and name or prefix .. "." .. name, t, m, name }
            end
        end
    end
    return list
end

-- for name, p in m:named_parameters() do ... end, in PyTorch's order and names.
function Module:named_parameters()
    return iterate(members(self, "_parameters"))
end

function Module:parameters()
    local list = {}
    for _, e in ipairs(members(self, "_parameters")) do
        list[#list + 1] = e[2]
    end
    return list
end

-- Entries {name, tensor, owning module, local name} of every parameter, for optimizers.
function Module:parameter_entries()
    return members(self, "_parameters")
end

function Module:named_buffers()
    return iterate(members(self, "_buffers"))
end

function Module:buffers()
    local list = {}
    for _, e in ipairs(members(self, "_buffers")) do
        list[#list + 1] = e[2]
    end
    return list
end

function Module:num_parameters()
    local n = 0
    for _, p in ipairs(self:parameters()) do
        n = n + p:numel()
    end
    return n
end

-- state_dict(): name -> tensor for every parameter and buffer, and the names in
-- PyTorch's order (each module's parameters, then its buffers).
function Module:state_dict()
    local map, names = {}, {}
    for _, e in ipairs(walk(self)) do
        local prefix, m = e[1], e[2]
        for _, kind in ipairs { "_parameters", "_buffers" } do
            for _, name in ipairs(rawget(m, "_order")[kind]) do
                local full = prefix == "" and name or prefix .. "." .. name
                if map[full] == nil then
                    map[full] = rawget(m, kind)[name]
                    names[#names + 1] = full
                end
            end
        end
    end
    return map, names
end

-- load_state_dict(map [, strict = true]): copies each tensor of map into the module's
-- tensor of that name (shapes must match). Strict: every name on both sides.
function Module:load_state_dict(map, strict)
    local own, names = self:state_dict()
    local missing = {}
    for _, name in ipairs(names) do
        local src, dst = map[name], own[name]
        if src == nil then
            missing[#missing + 1] = name
        else
            local a, b = util.shape_str(dst:shape()), util.shape_str(src:shape())
            if a ~= b then
                raise(string.format("load_state_dict: %s is %s in the model but %s in the "
                    .. "weights", name, a, b))
            end
            dst:copy(src)
        end
    end
    if strict ~= false then
        if #missing > 0 then
            raise("load_state_dict: missing " .. table.concat(missing, ", "))
        end
        for name in pairs(map) do
            if own[name] == nil then
                raise("load_state_dict: unexpected " .. tostring(name))
            end
        end
    end
    return self
end

-- train([mode = true]) and eval(): the mode of this module and every descendant.
function Module:train(mode)
    if mode == nil then
        mode = true
    end
    for _, e in ipairs(walk(self)) do
        rawset(e[2], "training", mode and true or false)
    end
    return self
end

function Module:eval()
    return self:train(false)
end

-- apply(fn): fn(m) for every module, children first.
function Module:apply(fn)
    for _, child in ipairs(self:children()) do
        child:apply(fn)
    end
    fn(self)
    return self
end

function Module:extra_repr()
    return ""
end

function Module.__tostring(self)
    local name, extra = getmetatable(self).__name, self:extra_repr()
    local order = rawget(self, "_order")._modules
    if #order == 0 then
        return name .. "(" .. extra .. ")"
    end
    local lines = { name .. "(" }
    if extra ~= "" then
        lines[2] = "  " .. extra
    end
    for _, key in ipairs(order) do
        local child = tostring(rawget(self, "_modules")[key]):gsub("\n", "\n  ")
        lines[#lines + 1] = "  (" .. key .. "): " .. child
    end
    lines[#lines + 1] = ")"
    return table.concat(lines, "\n")
end

function Module.__len(self)
    return #rawget(self, "_order")._modules
end

-- The modes of every module, as part of a cached program's key.
local function mode_key(self)
    local parts = {}
    for _, e in ipairs(walk(self)) do
        parts[#parts + 1] = rawget(e[2], "training") and "t" or "e"
    end
    return table.concat(parts)
end

-- m(...) on tensors: a traced, planned program for these shapes and modes (built once,
-- rebuilt after a module changes); on symbols or other values, or inside a model's forward
-- being traced (a submodule on constants alone, as a position embedding on fixed ids, is
-- part of that graph: its parameters train), m:forward(...).
function Module.__call(self, ...)
    local n = select("#", ...)
    local args = { ... }
    if util.building then
        return self:forward(...)
    end
    for i = 1, n do
        if not is_tensor(args[i]) then
            return self:forward(...)
        end
    end
    if n == 0 then
        return self:forward()
    end
    local key = { mode_key(self) }
    for i = 1, n do
        key[#key + 1] = args[i]:dtype() .. util.shape_str(args[i]:shape())
    end
    key = table.concat(key, "|")
    local cache = rawget(self, "_programs")
    if cache == nil or cache.version ~= version then
        cache = { version = version, programs = {} }
        rawset(self, "_programs", cache)
    end
    local prog = cache.programs[key]
    if prog == nil then
        prog = trace.trace(self, args):program()
        cache.programs[key] = prog
    end
    return trace.run(prog, args)
end

-- fan_in(t): the fan-in PyTorch's default initialisations use, for the layers.
nn.fan_in = fan_in

-- check_int(what, name, v, min): v as an integer >= min, or raises "what: name must be
-- an integer >= min, got v" at the caller's caller (a layer's constructor's line).
function nn.check_int(what, name, v, min)
    if math.tointeger(v) == nil or v < min then
        raise(string.format("%s: %s must be an integer >= %d, got %s", what, name, min,
            tostring(v)))
    end
    return math.tointeger(v)
end

return nn
