-- lutra.nn: modules as in PyTorch. A Module declares parameters, buffers (state such as
-- batch-norm running statistics) and child modules by assignment, and they are named as
-- PyTorch names them ("0.weight" for the first child of a Sequential). `forward` is Lua:
-- called on symbols it traces, called on tensors it runs op by op; calling the module
-- itself on tensors runs a traced and planned program, cached per input shape and mode.
-- Initialisation is PyTorch's defaults, from the context's seed, one stream per tensor.
local util = require "lutra.util"
local F = require "lutra.ops"
local T = require "lutra.tensor"
local trace = require "lutra.trace"

local raise, is_tensor = util.raise, util.is_tensor

local nn = {}

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
-- is not called for you; call cls.super.__init(self, ...) when extending a layer) and
-- cls:forward(...); cls(...) makes an instance.
function nn.class(name, parent)
    parent = parent or Module
    local cls = { __name = name, super = parent }
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
-- rebuilt after a module changes); on symbols or other values: m:forward(...).
function Module.__call(self, ...)
    local n = select("#", ...)
    local args = { ... }
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

-- ---- argument helpers -----------------------------------------------------------------------

local function check_int(what, name, v, min)
    if math.tointeger(v) == nil or v < min then
        raise(string.format("%s: %s must be an integer >= %d, got %s", what, name, min,
            tostring(v)))
    end
    return math.tointeger(v)
end

local function pair(what, name, v, min)
    if type(v) == "table" then
        return { check_int(what, name, v[1], min), check_int(what, name, v[2], min) }
    end
    v = check_int(what, name, v, min)
    return { v, v }
end

local function pair_str(p)
    return p[1] == p[2] and tostring(p[1]) or "(" .. p[1] .. ", " .. p[2] .. ")"
end

-- ---- containers -----------------------------------------------------------------------------

local Sequential = nn.class("Sequential")
nn.Sequential = Sequential

-- Sequential(m1, m2, ...): children named "0", "1", ...; seq[1] is the first.
function Sequential:__init(...)
    for i = 1, select("#", ...) do
        local m = select(i, ...)
        if not is_module(m) then
            raise(string.format("Sequential: argument %d is a %s, not a module", i, type(m)))
        end
        self[tostring(i - 1)] = m
    end
end

-- seq:add(m): appends m (Torch7's name); returns seq.
function Sequential:add(m)
    self:add_module(tostring(#self), m)
    return self
end

function Sequential:forward(x)
    for _, m in self:named_children() do
        x = m(x)
    end
    return x
end

-- ---- layers -----------------------------------------------------------------------------------

local Linear = nn.class("Linear")
nn.Linear = Linear

-- Linear(in_features, out_features [, bias = true]): weight (out, in), bias (out), both
-- U(-1/sqrt(in), 1/sqrt(in)) as PyTorch's kaiming_uniform(a = sqrt(5)).
function Linear:__init(in_features, out_features, bias)
    self.in_features = check_int("Linear", "in_features", in_features, 1)
    self.out_features = check_int("Linear", "out_features", out_features, 1)
    self.weight = nn.Parameter(T.zeros(out_features, in_features))
    init.kaiming_uniform_(self.weight, math.sqrt(5))
    if bias ~= false then
        local bound = 1 / math.sqrt(in_features)
        self.bias = nn.Parameter(T.zeros(out_features))
        init.uniform_(self.bias, -bound, bound)
    end
end

function Linear:forward(x)
    return F.linear(x, self.weight, self.bias)
end

function Linear:extra_repr()
    return string.format("in_features=%d, out_features=%d, bias=%s", self.in_features,
        self.out_features, tostring(self.bias ~= nil))
end

local Conv2d = nn.class("Conv2d")
nn.Conv2d = Conv2d

-- Conv2d(in, out, kernel [, opts]) with opts = {stride = 1, padding = 0, dilation = 1,
-- groups = 1, bias = true}, or Conv2d(in, out, kernel, stride, padding, dilation, groups,
-- bias) as PyTorch. Weight (out, in/groups, kh, kw); init as Linear with fan_in =
-- in/groups * kh * kw.
function Conv2d:__init(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                       bias)
    local opts = type(stride) == "table" and util.check_options("Conv2d", stride,
        { "stride", "padding", "dilation", "groups", "bias" }) or {
        stride = stride, padding = padding, dilation = dilation, groups = groups, bias = bias }
    self.in_channels = check_int("Conv2d", "in_channels", in_channels, 1)
    self.out_channels = check_int("Conv2d", "out_channels", out_channels, 1)
    self.kernel_size = pair("Conv2d", "kernel_size", kernel_size, 1)
    self.stride = pair("Conv2d", "stride", opts.stride or 1, 1)
    self.padding = pair("Conv2d", "padding", opts.padding or 0, 0)
    self.dilation = pair("Conv2d", "dilation", opts.dilation or 1, 1)
    self.groups = check_int("Conv2d", "groups", opts.groups or 1, 1)
    if in_channels % self.groups ~= 0 or out_channels % self.groups ~= 0 then
        raise(string.format("Conv2d: groups %d must divide in_channels %d and out_channels %d",
            self.groups, in_channels, out_channels))
    end
    local k = self.kernel_size
    self.weight = nn.Parameter(T.zeros(out_channels, in_channels // self.groups, k[1], k[2]))
    init.kaiming_uniform_(self.weight, math.sqrt(5))
    if opts.bias ~= false then
        local bound = 1 / math.sqrt(fan_in(self.weight))
        self.bias = nn.Parameter(T.zeros(out_channels))
        init.uniform_(self.bias, -bound, bound)
    end
end

function Conv2d:forward(x)
    return F.conv2d(x, self.weight, self.bias, {
        stride = self.stride, padding = self.padding, dilation = self.dilation,
        groups = self.groups })
end

function Conv2d:extra_repr()
    local s = string.format("%d, %d, kernel_size=%s, stride=%s", self.in_channels,
        self.out_channels, pair_str(self.kernel_size), pair_str(self.stride))
    if self.padding[1] ~= 0 or self.padding[2] ~= 0 then
        s = s .. ", padding=" .. pair_str(self.padding)
    end
    if self.dilation[1] ~= 1 or self.dilation[2] ~= 1 then
        s = s .. ", dilation=" .. pair_str(self.dilation)
    end
    if self.groups ~= 1 then
        s = s .. ", groups=" .. self.groups
    end
    return self.bias == nil and s .. ", bias=false" or s
end

local function pool_class(name, fn, extra)
    local cls = nn.class(name)
    -- (kernel [, stride = kernel [, padding = 0]]) or (kernel, {stride =, padding =, ...})
    function cls:__init(kernel_size, stride, padding)
        local opts = type(stride) == "table" and util.check_options(name, stride,
            { "stride", "padding", extra }) or { stride = stride, padding = padding }
        self.kernel_size = pair(name, "kernel_size", kernel_size, 1)
        self.stride = pair(name, "stride", opts.stride or kernel_size, 1)
        self.padding = pair(name, "padding", opts.padding or 0, 0)
        if extra then
            self[extra] = opts[extra]
        end
    end

    function cls:forward(x)
        local opts = { stride = self.stride, padding = self.padding }
        if extra then
            opts[extra] = self[extra]
        end
        return fn(x, self.kernel_size, opts)
    end

    function cls:extra_repr()
        return string.format("kernel_size=%s, stride=%s, padding=%s", pair_str(self.kernel_size),
            pair_str(self.stride), pair_str(self.padding))
    end
    return cls
end

nn.MaxPool2d = pool_class("MaxPool2d", F.max_pool2d)
nn.AvgPool2d = pool_class("AvgPool2d", F.avg_pool2d, "count_include_pad")

local AdaptiveAvgPool2d = nn.class("AdaptiveAvgPool2d")
nn.AdaptiveAvgPool2d = AdaptiveAvgPool2d

-- AdaptiveAvgPool2d(1): global average pooling, (N, C, H, W) -> (N, C, 1, 1).
function AdaptiveAvgPool2d:__init(output_size)
    if not (output_size == 1 or (type(output_size) == "table" and output_size[1] == 1
            and output_size[2] == 1)) then
        raise("AdaptiveAvgPool2d: lutra supports output size 1 only, got "
            .. tostring(output_size))
    end
    self.output_size = 1
end

function AdaptiveAvgPool2d:forward(x)
    return F.adaptive_avg_pool2d(x, 1)
end

function AdaptiveAvgPool2d:extra_repr()
    return "output_size=1"
end

local BatchNorm2d = nn.class("BatchNorm2d")
nn.BatchNorm2d = BatchNorm2d
BatchNorm2d.is_norm = true -- optimizers' norm_decay_mult applies to its parameters

-- BatchNorm2d(num_features [, opts]) with opts = {eps = 1e-5, momentum = 0.1, affine =
-- true}: weight 1, bias 0; buffers running_mean 0, running_var 1.
function BatchNorm2d:__init(num_features, opts)
    opts = util.check_options("BatchNorm2d", opts, { "eps", "momentum", "affine" })
    self.num_features = check_int("BatchNorm2d", "num_features", num_features, 1)
    self.eps = opts.eps or 1e-5
    self.momentum = opts.momentum or 0.1
    if opts.affine ~= false then
        self.weight = nn.Parameter(T.ones(num_features))
        self.bias = nn.Parameter(T.zeros(num_features))
    end
    self:register_buffer("running_mean", T.zeros(num_features))
    self:register_buffer("running_var", T.ones(num_features))
end

function BatchNorm2d:forward(x)
    return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
        self.training, self.momentum, self.eps)
end

function BatchNorm2d:extra_repr()
    return string.format("%d, eps=%g, momentum=%g, affine=%s", self.num_features, self.eps,
        self.momentum, tostring(self.weight ~= nil))
end

local LayerNorm = nn.class("LayerNorm")
nn.LayerNorm = LayerNorm
LayerNorm.is_norm = true

-- LayerNorm(normalized_shape [, opts]) with opts = {eps = 1e-5, elementwise_affine = true}:
-- over the last dim (normalized_shape is D or {D}); weight 1, bias 0.
function LayerNorm:__init(normalized_shape, opts)
    opts = util.check_options("LayerNorm", opts, { "eps", "elementwise_affine" })
    local d = type(normalized_shape) == "table" and normalized_shape or { normalized_shape }
    if #d ~= 1 then
        raise("LayerNorm: lutra normalises over the last dim only, got shape "
            .. util.shape_str(d))
    end
    self.normalized_shape = check_int("LayerNorm", "normalized_shape", d[1], 1)
    self.eps = opts.eps or 1e-5
    if opts.elementwise_affine ~= false then
        self.weight = nn.Parameter(T.ones(d[1]))
        self.bias = nn.Parameter(T.zeros(d[1]))
    end
end

function LayerNorm:forward(x)
    return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
end

function LayerNorm:extra_repr()
    return string.format("(%d,), eps=%g, elementwise_affine=%s", self.normalized_shape, self.eps,
        tostring(self.weight ~= nil))
end

local Dropout = nn.class("Dropout")
nn.Dropout = Dropout

-- Dropout(p = 0.5): each instance draws its own masks (its own layer id).
function Dropout:__init(p)
    p = p or 0.5
    if type(p) ~= "number" or p < 0 or p >= 1 then
        raise("Dropout: p must be a number in [0, 1), got " .. tostring(p))
    end
    self.p = p
    self.layer = util.next_layer()
end

function Dropout:forward(x)
    return F.dropout(x, self.p, self.training, self.layer)
end

function Dropout:extra_repr()
    return string.format("p=%g", self.p)
end

local Embedding = nn.class("Embedding")
nn.Embedding = Embedding

-- Embedding(num_embeddings, embedding_dim): weight (num, dim) N(0, 1); ids are i32 from 0.
function Embedding:__init(num_embeddings, embedding_dim)
    self.num_embeddings = check_int("Embedding", "num_embeddings", num_embeddings, 1)
    self.embedding_dim = check_int("Embedding", "embedding_dim", embedding_dim, 1)
    self.weight = nn.Parameter(T.zeros(num_embeddings, embedding_dim))
    init.normal_(self.weight, 0, 1)
end

function Embedding:forward(ids)
    return F.embedding(ids, self.weight)
end

function Embedding:extra_repr()
    return self.num_embeddings .. ", " .. self.embedding_dim
end

local Flatten = nn.class("Flatten")
nn.Flatten = Flatten

-- Flatten(start_dim = 2, end_dim = -1): 1-based dims, so the default keeps the batch dim
-- (PyTorch's start_dim=1).
function Flatten:__init(start_dim, end_dim)
    self.start_dim = start_dim or 2
    self.end_dim = end_dim or -1
end

function Flatten:forward(x)
    return F.flatten(x, self.start_dim, self.end_dim)
end

function Flatten:extra_repr()
    return string.format("start_dim=%d, end_dim=%d", self.start_dim, self.end_dim)
end

-- Modules without parameters around one function of x.
local function activation(name, fn)
    local cls = nn.class(name)
    function cls:forward(x)
        return fn(x)
    end
    nn[name] = cls
end

activation("ReLU", F.relu)
activation("GELU", F.gelu)
activation("Sigmoid", F.sigmoid)
activation("Tanh", F.tanh)
activation("Identity", function(x)
    return x
end)

for _, name in ipairs { "Softmax", "LogSoftmax" } do
    local fn = name == "Softmax" and F.softmax or F.log_softmax
    local cls = nn.class(name)
    -- (dim = -1): the last dim only.
    function cls:__init(dim)
        self.dim = dim or -1
    end

    function cls:forward(x)
        return fn(x, self.dim)
    end
    nn[name] = cls
end

-- The functional ops, as torch.nn.functional: nn.relu, nn.cross_entropy, ...
nn.functional = F
for k, f in pairs(F) do
    if nn[k] == nil then
        nn[k] = f
    end
end

return nn
