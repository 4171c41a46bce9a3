-- lutra.nn: the layers and containers of PyTorch's torch.nn (Sequential, Linear, Conv2d,
-- pooling, normalisation, dropout, embedding ...), built on the Module class
-- (lua/lutra/module.lua, re-exported here: nn.Module, nn.class, nn.Parameter, nn.init), and
-- the functional ops as nn.functional.
local util = require "lutra.util"
local F = require "lutra.ops"
local T = require "lutra.tensor"
local module = require "lutra.module"

local raise = util.raise

local nn = {
    Module = module.Module,
    class = module.class,
    Parameter = module.Parameter,
    init = module.init,
    version = module.version,
    is_module = module.is_module,
}
local init, fan_in, is_module = module.init, module.fan_in, module.is_module
local check_int = module.check_int

-- ---- argument helpers -----------------------------------------------------------------------

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

-- LayerNorm(normalized_shape [, opts]) with opts = {eps = 1e-5, elementwise_affine = true,
-- bias = true}: over the last dim (normalized_shape is D or {D}); weight 1, bias 0 (bias =
-- false: a weight alone, as PyTorch's).
function LayerNorm:__init(normalized_shape, opts)
    opts = util.check_options("LayerNorm", opts, { "eps", "elementwise_affine", "bias" })
    local d = type(normalized_shape) == "table" and normalized_shape or { normalized_shape }
    if #d ~= 1 then
        raise("LayerNorm: lutra normalises over the last dim only, got shape "
            .. util.shape_str(d))
    end
    self.normalized_shape = check_int("LayerNorm", "normalized_shape", d[1], 1)
    self.eps = opts.eps or 1e-5
    if opts.elementwise_affine ~= false then
        self.weight = nn.Parameter(T.ones(d[1]))
        if opts.bias ~= false then
            self.bias = nn.Parameter(T.zeros(d[1]))
        end
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

-- The GPT modules: CausalSelfAttention, MLP, TransformerBlock, GPT.
require("lutra.transformer").install(nn)

-- The functional ops, as torch.nn.functional: nn.relu, nn.cross_entropy, ...
nn.functional = F
for k, f in pairs(F) do
    if nn[k] == nil then
        nn[k] = f
    end
end

return nn
