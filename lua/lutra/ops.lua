-- The functional ops (lutra.F, also reachable as lutra.nn.relu, ...): each works on
-- concrete tensors (it runs now) and on symbols (it records a node while tracing), through
-- one generic core call, core.op(name, inputs, attrs). Dims are 1-based, negative from the
-- end. Errors are raised at the line of the user's code that called in.
--
-- Most ops are plain: F.<op>(inputs..., attrs), generated at the end of this file from
-- the op table the binding exposes (core.op_names, core.op_info). The functions written
-- here are those whose Lua API differs on purpose (PyTorch's names, argument orders,
-- numbers for tensors, positional attributes); each says how.
local core = require "lutra.core"
local util = require "lutra.util"

local is_tensor, is_symbol, raise = util.is_tensor, util.is_symbol, util.raise

local F = {}

-- The trace an op belongs to, and the input that says so: the graph of a symbol input;
-- else, while a model is being traced, the trace whose parameters (or buffers) an input
-- is. An op on a parameter and constants alone (a position embedding of fixed ids) is
-- part of the graph: run eagerly, its result would be a constant and the parameter would
-- never train. Nil: run it now.
local function trace_of(inputs)
    for i = 1, #inputs do
        if is_symbol(inputs[i]) then
            return util.traces[inputs[i]:graph()], i
        end
    end
    local building = util.building
    if building then
        for i = 1, #inputs do
            if is_tensor(inputs[i]) and building.values[inputs[i]] then
                return building, i
            end
        end
    end
end

-- op(name, inputs [, attrs]): the generic op. When an input is a symbol, or a parameter of
-- the model being traced, the tensors among the inputs (parameters, constants) become
-- values of that graph.
function F.op(name, inputs, attrs)
    local trace, i = trace_of(inputs)
    if i then
        if trace then -- counted for summaries (lutra plan)
            trace.op_counts[name] = (trace.op_counts[name] or 0) + 1
        end
        local mapped = {}
        for k = 1, #inputs do
            local v = inputs[k]
            if is_tensor(v) then
                if not trace then
                    raise(name .. ": input " .. k .. " is a tensor, and the graph of input "
                        .. i .. " is not being traced by lutra")
                end
                v = trace:value(v)
            end
            mapped[k] = v
        end
        inputs = mapped
    end
    return util.call(core.op, name, inputs, attrs)
end

local op = F.op

local function check_array(what, x)
    if not (is_tensor(x) or is_symbol(x)) then
        raise(string.format("%s: want a tensor or a symbol, got %s", what, type(x)))
    end
    return x
end

-- A 0-dim tensor holding v, of x's dtype (while tracing it becomes a graph constant).
local function scalar(v, x)
    local t = core.tensor({}, x:dtype())
    t:fill(v)
    return t
end

-- ---- arithmetic -----------------------------------------------------------------------------
-- b may be a number, or a tensor or symbol whose shape is a's or a suffix of a's (the op
-- takes tensors only: a number becomes a 0-dim tensor, or a scale).

function F.add(a, b)
    if type(a) == "number" then
        a, b = b, a
    end
    check_array("add", a)
    return op("add", { a, type(b) == "number" and scalar(b, a) or b })
end

function F.sub(a, b)
    if type(a) == "number" then
        return F.add(F.scale(check_array("sub", b), -1), a)
    end
    check_array("sub", a)
    return op("sub", { a, type(b) == "number" and scalar(b, a) or b })
end

function F.mul(a, b)
    if type(a) == "number" then
        a, b = b, a
    end
    check_array("mul", a)
    if type(b) == "number" then
        return F.scale(a, b)
    end
    return op("mul", { a, b })
end

function F.div(a, b)
    if type(b) ~= "number" then
        raise("div: lutra divides by numbers only, got " .. type(b))
    end
    return F.scale(check_array("div", a), 1 / b)
end

-- scale(x, alpha), cast(x, dtype), concat(list, dim = 1): the attribute is an argument
-- (x * alpha, x:to(dtype), torch.cat(list, dim)); concat's inputs come as a list.
function F.scale(x, alpha)
    return op("scale", { x }, { alpha = alpha })
end

function F.cast(x, dtype)
    return op("cast", { x }, { dtype = dtype })
end

function F.concat(list, dim)
    return op("concat", list, { dim = dim or 1 })
end

-- matmul(a, b) and transpose(x) (swaps the last two dims) are plain (generated below).

-- ---- shapes -----------------------------------------------------------------------------------

-- reshape(x, shape) or reshape(x, d1, d2, ...): one dim may be -1. A tensor gets a view
-- of the same storage (not the op's copy); a symbol a reshape node.
function F.reshape(x, ...)
    local shape = ...
    if type(shape) ~= "table" then
        shape = { ... }
    end
    if is_tensor(x) then
        return x:reshape(shape)
    end
    return op("reshape", { check_array("reshape", x) }, { shape = shape })
end
F.view = F.reshape

-- permute(x, dims) or permute(x, d1, d2, ...): x.permute(*dims) with 1-based dims
-- (negative from the end), each of x's dims named once: out dim i is x's dim dims[i].
-- The result is a contiguous copy, for a tensor as for a symbol.
function F.permute(x, ...)
    local dims = ...
    if type(dims) ~= "table" then
        dims = { ... }
    end
    return op("permute", { check_array("permute", x) }, { dims = dims })
end

-- narrow(x, dim, start, length): x.narrow(dim, start, length) with 1-based dim and start
-- (negative from the end: start -1 is the last position), as a contiguous copy for a
-- tensor as for a symbol (Tensor:narrow along dim 1 is a view). A range outside the dim
-- is an error in those 1-based terms.
function F.narrow(x, dim, start, length)
    local shape = check_array("narrow", x):shape()
    local n = #shape
    for _, a in ipairs { { "dim", dim }, { "start", start }, { "length", length } } do
        if math.type(a[2]) ~= "integer" then
            raise(string.format("narrow: %s must be an integer, got %s", a[1], tostring(a[2])))
        end
    end
    local d = dim < 0 and n + 1 + dim or dim
    if d < 1 or d > n then
        raise(string.format("narrow: dim %d is out of range for shape %s", dim,
            util.shape_str(shape)))
    end
    local size = shape[d]
    local first = start < 0 and size + 1 + start or start
    if first < 1 or length < 0 or first + length - 1 > size then
        raise(string.format("narrow: positions %d .. %d are out of range for dim %d of size %d",
            first, first + length - 1, dim, size))
    end
    return op("narrow", { x }, { dim = dim, start = first, length = length })
end

-- split(x, size, dim = 1): torch.split with one size: the pieces of x along dim, each
-- `size` long but the last, which may be shorter; returned as values ({F.split(...)} for
-- a list). chunk(x, n, dim = 1): torch.chunk: pieces of ceil(len / n), so fewer than n
-- when len is not divisible. Both narrow x (copies).
function F.split(x, size, dim)
    dim = dim or 1
    local shape = check_array("split", x):shape()
    if math.type(size) ~= "integer" or size < 1 then
        raise("split: size must be a positive integer, got " .. tostring(size))
    end
    local d = math.type(dim) == "integer" and dim < 0 and #shape + 1 + dim or dim
    local len = shape[d]
    if len == nil then
        raise(string.format("split: dim %s is out of range for shape %s", tostring(dim),
            util.shape_str(shape)))
    end
    local pieces = {}
    for first = 1, len, size do
        pieces[#pieces + 1] = F.narrow(x, dim, first, math.min(size, len - first + 1))
    end
    return table.unpack(pieces)
end

function F.chunk(x, n, dim)
    if math.type(n) ~= "integer" or n < 1 then
        raise("chunk: n must be a positive integer, got " .. tostring(n))
    end
    local shape = check_array("chunk", x):shape()
    local d = math.type(dim) == "integer" and dim < 0 and #shape + 1 + dim or dim or 1
    local len = shape[d] or 0
    return F.split(x, math.max(1, (len + n - 1) // n), dim)
end

-- ---- indexing ----------------------------------------------------------------------------------
-- PyTorch's argument orders, dims 1-based; ids are i32 tensors holding 0-based positions,
-- as embedding's ids and cross_entropy's targets (data keeps PyTorch's numbering).

-- index_select(x, dim, ids (n)): x's positions ids along dim (torch.index_select).
function F.index_select(x, dim, ids)
    return op("index_select", { check_array("index_select", x), ids }, { dim = dim })
end

-- gather(x, dim, ids): torch.gather; ids has x's number of dims.
function F.gather(x, dim, ids)
    return op("gather", { check_array("gather", x), ids }, { dim = dim })
end

-- masked_fill(x, mask, value): value where the u8 mask (eq's result, or triu / tril of
-- u8 ones) is nonzero; the mask broadcasts from the right, its dims x's or 1.
function F.masked_fill(x, mask, value)
    return op("masked_fill", { check_array("masked_fill", x), mask }, { value = value })
end

-- triu(x, diagonal = 0), tril(x, diagonal = 0): torch.triu / torch.tril over the last
-- two dims.
function F.triu(x, diagonal)
    return op("triu", { check_array("triu", x) }, { diagonal = diagonal or 0 })
end

function F.tril(x, diagonal)
    return op("tril", { check_array("tril", x) }, { diagonal = diagonal or 0 })
end

-- flatten(x, start_dim = 1, end_dim = -1): merges dims start_dim .. end_dim (1-based).
function F.flatten(x, start_dim, end_dim)
    local shape = check_array("flatten", x):shape()
    local n = #shape
    local s, e = start_dim or 1, end_dim or -1
    if s < 0 then
        s = n + 1 + s
    end
    if e < 0 then
        e = n + 1 + e
    end
    if s < 1 or e > n or s > e then
        raise(string.format("flatten: dims %s .. %s do not fit shape %s", tostring(start_dim),
            tostring(end_dim), util.shape_str(shape)))
    end
    local new, merged = {}, 1
    for i = 1, n do
        if i < s or i > e then
            new[#new + 1] = shape[i]
        else
            merged = merged * shape[i]
            if i == e then
                new[#new + 1] = merged
            end
        end
    end
    return F.reshape(x, new)
end

-- ---- activations ------------------------------------------------------------------------------
-- relu, gelu, sigmoid and tanh are plain (generated below).

local function last_dim_only(what, x, dim)
    if dim ~= nil then
        local n = #x:shape()
        if not (dim == -1 or dim == n) then
            raise(string.format("%s: lutra works on the last dim only, got dim %d of %d", what,
                dim, n))
        end
    end
end

-- softmax(x, dim = -1), log_softmax(x, dim = -1): over the last dim. PyTorch's `dim` is
-- accepted when it names the last dim (the op has no attribute for it).
function F.softmax(x, dim)
    last_dim_only("softmax", check_array("softmax", x), dim)
    return op("softmax", { x })
end

function F.log_softmax(x, dim)
    last_dim_only("log_softmax", check_array("log_softmax", x), dim)
    return op("log_softmax", { x })
end

-- ---- layers ------------------------------------------------------------------------------------
-- Plain (generated below): linear(x (..., in), weight (out, in) [, bias (out)]) ->
-- (..., out); conv2d(x (N, C, H, W), weight (O, C/groups, KH, KW) [, bias (O)] [, opts]),
-- opts = {stride = 1, padding = 0, dilation = 1, groups = 1}, each an integer or {h, w}.

-- max_pool2d(x, kernel [, opts]): opts = {stride = kernel, padding = 0}. The kernel is an
-- argument and the stride defaults to it, as PyTorch's (the op requires both). Returns y
-- only: the op's second output, where each window's maximum lies, is its backward's.
function F.max_pool2d(x, kernel, opts)
    opts = util.check_options("max_pool2d", opts, { "stride", "padding" })
    local y = op("max_pool2d", { x },
        { kernel = kernel, stride = opts.stride or kernel, padding = opts.padding })
    return y
end

-- avg_pool2d(x, kernel [, opts]): opts = {stride = kernel, padding = 0,
-- count_include_pad = true}, as max_pool2d.
function F.avg_pool2d(x, kernel, opts)
    opts = util.check_options("avg_pool2d", opts, { "stride", "padding", "count_include_pad" })
    return op("avg_pool2d", { x }, {
        kernel = kernel,
        stride = opts.stride or kernel,
        padding = opts.padding,
        count_include_pad = opts.count_include_pad,
    })
end

-- adaptive_avg_pool2d(x, 1): (N, C, H, W) -> (N, C, 1, 1), PyTorch's name for the op
-- global_avg_pool. Other output sizes are not supported.
function F.adaptive_avg_pool2d(x, size)
    if not (size == 1 or (type(size) == "table" and size[1] == 1 and size[2] == 1)) then
        raise("adaptive_avg_pool2d: lutra supports output size 1 only, got " .. tostring(size))
    end
    return op("global_avg_pool", { x })
end

local function filled(n, v, like)
    local t = core.tensor({ n }, like:dtype())
    t:fill(v)
    return t
end

-- batch_norm(x (N, C, H, W), running_mean, running_var [, weight [, bias [, training =
-- false [, momentum = 0.1 [, eps = 1e-5]]]]]): PyTorch's name and argument order for the
-- op batch_norm2d, which takes the inputs in another order, always an affine pair and
-- trains by default; returns y only. Training normalises with the batch's statistics and updates the
-- running ones in place.
function F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
    local c = running_mean:shape()[1]
    weight = weight or filled(c, 1, running_mean)
    bias = bias or filled(c, 0, running_mean)
    local y = op("batch_norm2d", { x, weight, bias, running_mean, running_var },
        { training = training or false, momentum = momentum, eps = eps })
    return y
end

-- layer_norm(x (..., D), normalized_shape (D or {D}) [, weight [, bias [, eps = 1e-5]]]):
-- over the last dim. PyTorch's arguments: weight and bias are optional (the op needs
-- both), and only y is returned.
function F.layer_norm(x, normalized_shape, weight, bias, eps)
    local d = type(normalized_shape) == "table" and normalized_shape or { normalized_shape }
    if #d ~= 1 then
        raise("layer_norm: lutra normalises over the last dim only, got shape "
            .. util.shape_str(d))
    end
    local like = weight or check_array("layer_norm", x)
    weight = weight or filled(d[1], 1, like)
    bias = bias or filled(d[1], 0, like)
    local y = op("layer_norm", { x, weight, bias }, { eps = eps })
    return y
end

-- dropout(x, p = 0.5, training = true, layer): zeroes elements with probability p and
-- scales the rest by 1 / (1 - p). The mask depends on (seed, layer, epoch, sample); give
-- each dropout of a model its own `layer` (nn.Dropout does). PyTorch's arguments; off
-- training (or p = 0) it returns x itself.
function F.dropout(x, p, training, layer)
    p = p or 0.5
    if training == false or p == 0 then
        return x
    end
    return op("dropout", { x }, { p = p, layer = layer or 0 })
end

-- scaled_dot_product_attention(q, k, v [, opts]) with opts = {causal = false, scale =
-- 1 / sqrt(D), dropout = 0, training = true, layer = 0}: PyTorch's
-- F.scaled_dot_product_attention(q, k, v, dropout_p=, is_causal=, scale=) as one fused op.
-- q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv) -> (..., Tq, Dv). causal: query i sees
-- keys j <= i (PyTorch's top-left alignment, also when Tq ~= Tk). dropout drops attention
-- probabilities as F.dropout drops elements (by seed, layer, epoch and sample: give each
-- attention its own layer); with training = false it is off. The backward keeps the
-- op's second output, each row's log-sum-exp, not the (Tq, Tk) probabilities; only the
-- first output is returned.
function F.scaled_dot_product_attention(q, k, v, opts)
    local what = "scaled_dot_product_attention"
    opts = util.check_options(what, opts, { "causal", "scale", "dropout", "training", "layer" })
    local p = opts.dropout
    if opts.training == false then
        p = 0
    end
    local out = op(what, { q, k, v },
        { causal = opts.causal, scale = opts.scale, dropout = p, layer = opts.layer })
    return out
end

-- embedding(ids i32 (...), weight (V, D)) -> (..., D). Ids are 0-based, as PyTorch's.
-- PyTorch's order; the op takes the weight first (its dtype selects the kernel).
function F.embedding(ids, weight)
    return op("embedding", { weight, ids })
end

-- ---- losses ------------------------------------------------------------------------------------
-- A loss is the pair {sum of the losses, count of targets}, f32 (2): the trainer sums both
-- over the step's micro-batches and divides once. loss_mean(l) gives sum / count.

-- cross_entropy(logits (N, C), targets i32 (N) [, opts]) is plain: opts = {label_smoothing
-- = 0, ignore_index = -100}. Targets are class numbers from 0, as PyTorch's.

-- mse_loss(pred, target): sum of squared differences and the element count (PyTorch's
-- name for the op mse).
function F.mse_loss(pred, target)
    return op("mse", { pred, target })
end

-- The mean a loss pair stands for, as a number (concrete tensors only).
function F.loss_mean(l)
    if not is_tensor(l) then
        raise("loss_mean: want a loss tensor {sum, count}, got " .. type(l))
    end
    return l:get(1) / l:get(2)
end

-- ---- reductions and comparisons (no gradient) -------------------------------------------------

-- sum / mean / max / argmax(x [, dim [, keepdim]]): over every element (a 0-dim result)
-- or over dim. argmax gives 0-based positions here; Tensor:argmax gives 1-based ones.
-- PyTorch's positional dim and keepdim; no dim means the attribute all = true.
for _, name in ipairs { "sum", "mean", "max", "argmax" } do
    F[name] = function(x, dim, keepdim)
        if dim == nil then
            return op(name, { x }, { all = true, keepdim = keepdim or false })
        end
        return op(name, { x }, { dim = dim, keepdim = keepdim or false })
    end
end

-- topk(x, k): the k largest along the last dim, largest first: values and their 0-based
-- positions (i32), as torch.topk(x, k). multinomial(probs, seed [, step = 0]): one 0-based
-- draw (i32 (..., 1)) per row of probs (..., V), chances proportional to the row's values
-- (torch.multinomial(probs, 1)); the same seed and step draw the same on every backend, so
-- a generation loop passes its step. Neither has a gradient.
function F.topk(x, k)
    return op("topk", { check_array("topk", x) }, { k = k })
end

function F.multinomial(probs, seed, step)
    return op("multinomial", { check_array("multinomial", probs) }, { seed = seed, step = step or 0 })
end

-- eq(a, b) -> u8, 1 where equal; b is a number (as for add) or has a's shape or a suffix
-- of it.
function F.eq(a, b)
    check_array("eq", a)
    return op("eq", { a, type(b) == "number" and scalar(b, a) or b })
end

-- ---- the plain ops, generated from the op table ---------------------------------------------
-- Every op without a function of its own above: F.<op>(input1, ..., inputN [, attrs]),
-- with the op table's inputs in order (up to inputs_max; a trailing optional one, like a
-- bias, may be nil), then, for an op with attributes, an options table checked by name
-- (their defaults: kernels/attrs.def). Arguments past those are ignored; every output is
-- returned. Today: matmul, linear, conv2d, relu, gelu, sigmoid, tanh, transpose,
-- cross_entropy, and the raw global_avg_pool, mse and batch_norm2d beside PyTorch's
-- adaptive_avg_pool2d, mse_loss and batch_norm above.

local function plain(name, info)
    local n, attrs = info.inputs_max, info.attrs
    if #attrs == 0 then
        return function(...)
            return op(name, table.move({ ... }, 1, n, 1, {}))
        end
    end
    return function(...)
        local opts = util.check_options(name, (select(n + 1, ...)), attrs)
        return op(name, table.move({ ... }, 1, n, 1, {}), opts)
    end
end

for _, name in ipairs(core.op_names()) do
    if F[name] == nil then
        F[name] = plain(name, core.op_info(name))
    end
end

return F
