-- The model registry: a recipe's declarative `model = {type = "mlp", ...}` names a builder
-- registered here, whose fields (lutra.field) check and fill the rest of the table
-- (through lutra.validate, which is handed this registry), and whose function builds the
-- module from lutra.nn. Users add builders with models.register, from a recipe's
-- `require` or their own code. lutra.nn is loaded only when a model is built, so recipes
-- can be checked (and the reference generated) without the C module.
local field = require("lutra.field")
local tables = require("lutra.tables")
local validate = require("lutra.validate")

local models = {}

local registry = {} -- name -> {builder, fields (list or nil), doc, builtin, source}

-- The file whose code called models.register (its caller's chunk, skipping C frames and
-- the recipe sandbox's wrappers), or nil when that code is not a file.
local function caller_file()
    for level = 3, 20 do
        local info = debug.getinfo(level, "S")
        if not info then
            return nil
        end
        if info.what ~= "C" and not info.source:match("[/\\]lutra[/\\]sandbox%.lua$") then
            return info.source:match("^@(.*)$")
        end
    end
end

-- lutra.nn, loaded on first use (replaceable in tests through package.loaded).
function models.nn()
    return require("lutra.nn")
end

-- Registers (or replaces) the builder for a model type. builder(model, cfg) returns a
-- module, given the resolved model table and the whole resolved config (or nil).
-- fields: the keys the type takes besides `type`, as lutra.field fields: a list
-- ({{name = "hidden", type = "list", default = {256}, doc = "..."}, ...}; a list field
-- checks its elements against `elements` when given) or a map (name -> field); nil leaves
-- the table unchecked. doc: one line for the reference. Remembers the file that called
-- it, so that a run's config.lua can require that file again (lutra.serialize). Raises on
-- bad arguments.
function models.register(name, builder, fields, doc, builtin)
    if type(name) ~= "string" or not name:match("^[%w_%-]+$") then
        error("models.register: the name must be a word, got " .. tostring(name), 2)
    end
    if type(builder) ~= "function" then
        error("models.register: the builder must be a function, got " .. type(builder), 2)
    end
    if fields ~= nil and type(fields) ~= "table" then
        error("models.register: fields must be a table or nil, got " .. type(fields), 2)
    end
    local list = fields and field.list(fields)
    for _, f in ipairs(list or {}) do
        if f.name == "type" then
            error("models.register: 'type' is not a field (it names the model)", 2)
        end
    end
    registry[name] = {builder = builder, fields = list, doc = doc, builtin = builtin,
        source = caller_file()}
end

-- The fields of a type (a list of copies, or nil when registered without fields), and
-- whether the type is registered. Cannot fail.
function models.fields(name)
    local r = registry[name]
    return r and r.fields and tables.deep_copy(r.fields), r ~= nil
end

-- Where a type comes from: "builtin" for lutra's own, the file that registered it, or nil
-- (not registered, or registered by code that is not a file). Cannot fail.
function models.origin(name)
    local r = registry[name]
    return r and (r.builtin and "builtin" or r.source) or nil
end

-- The one-line doc of a type, or nil. Cannot fail.
function models.doc(name)
    return registry[name] and registry[name].doc
end

-- The registered type names, sorted; builtin_only: only lutra's own. Cannot fail.
function models.names(builtin_only)
    local out = {}
    for name, r in pairs(registry) do
        if r.builtin or not builtin_only then
            out[#out + 1] = name
        end
    end
    table.sort(out)
    return out
end

-- Builds the module a model spec describes: a function is called with cfg; a table is
-- checked and completed against its builder's fields, then built. Raises with the
-- validator's message ("model.hidden[2] must be an integer, got string") or the
-- builder's.
function models.build(spec, cfg)
    if type(spec) == "function" then
        local m = spec(cfg)
        if m == nil then
            error("model: the model function returned nothing", 0)
        end
        return m
    end
    local m = validate.resolve_model(spec, {models = models})
    return registry[m.type].builder(m, cfg)
end

-- ---- built-in builders ---------------------------------------------------------------------

local ACTIVATIONS = {relu = "ReLU", gelu = "GELU", tanh = "Tanh", sigmoid = "Sigmoid"}

local function activation(nn, name)
    local ctor = nn[ACTIVATIONS[name]]
    if not ctor then
        error(string.format('model.activation "%s": lutra.nn has no %s', name,
            ACTIVATIONS[name]), 0)
    end
    return ctor()
end

-- Linear layers over a hidden list: (Linear, activation, Dropout?) per hidden width.
local function dense(nn, layers, width, hidden, act, dropout, classes)
    for _, h in ipairs(hidden) do
        layers[#layers + 1] = nn.Linear(width, h)
        layers[#layers + 1] = activation(nn, act)
        if dropout > 0 then
            layers[#layers + 1] = nn.Dropout(dropout)
        end
        width = h
    end
    layers[#layers + 1] = nn.Linear(width, classes)
    return layers
end

-- Flatten, then Linear-ReLU-Dropout per hidden width, then Linear to the classes.
local function mlp(m)
    local nn = models.nn()
    local layers = dense(nn, {nn.Flatten()}, m.in_features, m.hidden, m.activation,
        m.dropout, m.num_classes)
    return nn.Sequential(table.unpack(layers))
end

-- Per channel count: conv 3×3 pad 1 (-BatchNorm) -ReLU-MaxPool 2; then the dense head.
local function cnn(m)
    local nn = models.nn()
    local layers, c, size = {}, m.in_channels, m.image_size
    for _, out in ipairs(m.channels) do
        layers[#layers + 1] = nn.Conv2d(c, out, 3, {padding = 1, bias = not m.batch_norm})
        if m.batch_norm then
            layers[#layers + 1] = nn.BatchNorm2d(out)
        end
        layers[#layers + 1] = nn.ReLU()
        layers[#layers + 1] = nn.MaxPool2d(2)
        c, size = out, size // 2
    end
    if size < 1 then
        error(string.format("model.channels: %d poolings leave nothing of %d-pixel images",
            #m.channels, m.image_size), 0)
    end
    layers[#layers + 1] = nn.Flatten()
    dense(nn, layers, c * size * size, m.hidden, "relu", m.dropout, m.num_classes)
    return nn.Sequential(table.unpack(layers))
end

-- nanoGPT's GPT (lutra.nn.GPT), after checking what the fields cannot check alone.
local function gpt(m)
    if m.n_embd % m.n_head ~= 0 then
        error(string.format("model.n_embd %d must be a multiple of model.n_head %d", m.n_embd,
            m.n_head), 0)
    end
    return models.nn().GPT {n_layer = m.n_layer, n_head = m.n_head, n_embd = m.n_embd,
        block_size = m.block_size, vocab_size = m.vocab_size, dropout = m.dropout,
        bias = m.bias}
end

local function width_list(default, doc)
    return {type = "list", default = default, elements = {type = "integer", range = "[1, inf)"},
        doc = doc}
end

local DROPOUT = {name = "dropout", type = "number", default = 0, range = "[0, 1)",
    doc = "Dropout probability after each hidden activation (0: none)."}
local CLASSES = {name = "num_classes", type = "integer", default = 10, range = "[1, inf)",
    doc = "Outputs (classes)."}

local function with_name(name, f)
    f.name = name
    return f
end

models.register("mlp", mlp, {
    with_name("in_features", {type = "integer", default = 784, range = "[1, inf)",
        doc = "Inputs per sample (images are flattened first)."}),
    with_name("hidden", width_list({1024, 1024}, "Widths of the hidden layers.")),
    DROPOUT,
    with_name("activation", {type = "string", default = "relu",
        choices = {"relu", "gelu", "tanh", "sigmoid"}, doc = "The hidden activation."}),
    CLASSES,
}, "A multi-layer perceptron: Flatten, (Linear, activation, Dropout) per hidden " ..
    "width, Linear.", true)

models.register("cnn", cnn, {
    with_name("in_channels", {type = "integer", default = 1, range = "[1, inf)",
        doc = "Channels of the input images."}),
    with_name("image_size", {type = "integer", default = 28, range = "[1, inf)",
        doc = "Height and width of the (square) input images."}),
    with_name("channels", width_list({32, 64},
        "Output channels of each conv block (3×3 conv, padding 1, ReLU, 2×2 max-pool).")),
    with_name("batch_norm", {type = "boolean", default = false,
        doc = "BatchNorm2d after each convolution (which then has no bias)."}),
    with_name("hidden", width_list({128}, "Widths of the hidden linear layers after the " ..
        "convolutions.")),
    DROPOUT,
    CLASSES,
}, "A small convolutional network; the defaults are the classic 2-conv CNN: " ..
    "conv(1→32)-ReLU-pool-conv(32→64)-ReLU-pool-Linear(3136→128)-ReLU-Linear(128→10).",
    true)

local function count(default, doc)
    return {type = "integer", default = default, range = "[1, inf)", doc = doc}
end

-- nanoGPT's GPTConfig, names and defaults (GPT-2 small's shape).
models.register("gpt", gpt, {
    with_name("n_layer", count(12, "Transformer blocks.")),
    with_name("n_head", count(12, "Attention heads per block (n_embd must be a multiple).")),
    with_name("n_embd", count(768, "Width of the embeddings and the residual stream.")),
    with_name("block_size", count(1024, "Longest sequence (positions the model has " ..
        "embeddings for); data.block_size must not exceed it.")),
    with_name("vocab_size", count(50304, "Tokens in the vocabulary (the logits' last " ..
        "dim); 256 for a text file read as bytes.")),
    with_name("dropout", {type = "number", default = 0, range = "[0, 1)",
        doc = "Dropout probability on the embeddings, the attention weights and each " ..
            "residual branch (0: none)."}),
    with_name("bias", {type = "boolean", default = true,
        doc = "Biases in the Linear layers and LayerNorms (the head has none)."}),
}, "nanoGPT's GPT (pre-norm transformer blocks, PyTorch/nanoGPT parameter names) on " ..
    "token ids (B, T), giving logits (B, T, vocab_size): train it on a `tokens` data set. " ..
    "The head shares the token embedding's matrix (nanoGPT's weight tying). Attention is " ..
    "composed from matmul, a causal mask and softmax (not fused).", true)

return models
