-- The recipe schema: every key a recipe may set, with its type, default, allowed values,
-- aliases and a one-line doc, and the validator that turns a merged recipe into the
-- resolved config (defaults filled, values normalised, cross-field rules checked).
-- lutra.config loads and merges recipe files and calls schema.resolve;
-- scripts/gen-recipe-reference.lua prints docs/recipe-reference.md from schema.root.
--
-- A field is a table: {name, type, default = v | function(parent, ctx), default_doc,
-- range = "[0, 1)", choices = {...}, elements = field (lists), len, unique, aliases =
-- {...}, when = {{sibling, {values}}, ...}, required, false_only, check = function(v) ->
-- nil | message, doc}. type is "number", "integer", "string", "boolean", "table"
-- (free-form), "function", "list", "size" (bytes or "2GiB"), "group" (fixed keys: fields,
-- optional, check), "model", or a list of those (any of them; false_only: of booleans
-- only false). `when` names siblings earlier in the group: the field applies only when
-- each holds one of the values; a value set where it does not apply is dropped with a
-- note. Strings are matched against choices without regard to case and resolve to the
-- listed spelling. Numbers must be finite.
local schema = {}

local INF = math.huge

-- ---- helpers shared with lutra.config ---------------------------------------------------

-- The optimal-string-alignment edit distance (Levenshtein plus adjacent transposition).
function schema.distance(a, b)
    local la, lb = #a, #b
    local d = {}
    for i = 0, la do
        d[i] = {[0] = i}
    end
    for j = 0, lb do
        d[0][j] = j
    end
    for i = 1, la do
        for j = 1, lb do
            local cost = a:byte(i) == b:byte(j) and 0 or 1
            local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
                v = math.min(v, d[i - 2][j - 2] + 1)
            end
            d[i][j] = v
        end
    end
    return d[la][lb]
end

-- The candidate closest to word, or nil when none is close enough to be a likely typo.
function schema.suggest(word, candidates)
    local best, best_d
    local limit = math.max(1, math.floor(#word * 0.4))
    for _, c in ipairs(candidates) do
        local d = schema.distance(word:lower(), c:lower())
        if d <= limit and (not best_d or d < best_d) then
            best, best_d = c, d
        end
    end
    return best
end

-- A number written the shortest way that reads back equal; floats keep a decimal point.
function schema.format_number(v)
    if math.type(v) == "integer" then
        return string.format("%d", v)
    end
    if v ~= v then
        return "0/0"
    elseif v == INF then
        return "1/0"
    elseif v == -INF then
        return "-1/0"
    end
    for digits = 15, 17 do
        local s = string.format("%." .. digits .. "g", v)
        if tonumber(s) == v then
            if not s:find("[%.eEn]") then
                s = s .. ".0"
            end
            return s
        end
    end
end

-- A value as messages show it: numbers and strings literally, others by type.
function schema.show(v)
    if type(v) == "number" then
        if v ~= v then
            return "nan"
        elseif v == INF or v == -INF then
            return v > 0 and "inf" or "-inf"
        end
        return schema.format_number(v)
    elseif type(v) == "string" then
        return string.format("%q", v)
    elseif type(v) == "boolean" then
        return tostring(v)
    end
    return type(v)
end

local function quote_all(list)
    local out = {}
    for i, s in ipairs(list) do
        out[i] = string.format("%q", s)
    end
    return out
end

-- Parses a size: a number of bytes, or a string such as "2GiB", "512 MB", "1.5G", "4096".
-- Returns the byte count (an integer), or nil when the text is not a size.
function schema.parse_size(v)
    if type(v) == "number" then
        return v >= 1 and v < INF and math.tointeger(math.floor(v)) or nil
    end
    if type(v) ~= "string" then
        return nil
    end
    local num, unit = v:match("^%s*([%d%.]+)%s*(%a*)%s*$")
    num = tonumber(num)
    if not num then
        return nil
    end
    local units = {
        [""] = 1, b = 1,
        k = 1000, kb = 1000, kib = 1024,
        m = 1000 ^ 2, mb = 1000 ^ 2, mib = 1024 ^ 2,
        g = 1000 ^ 3, gb = 1000 ^ 3, gib = 1024 ^ 3,
        t = 1000 ^ 4, tb = 1000 ^ 4, tib = 1024 ^ 4,
    }
    local mult = units[unit:lower()]
    if not mult or num * mult < 1 then
        return nil
    end
    return math.tointeger(math.floor(num * mult))
end

-- ---- ranges -------------------------------------------------------------------------

-- "[0, 1)" -> {lo = 0, hi = 1, lo_open = false, hi_open = true}
local function parse_range(text)
    local lb, lo, hi, rb = text:match("^([%[%(])%s*([^,]+),%s*([^%]%)]+)([%]%)])$")
    assert(lb, "bad range " .. text)
    local function num(s)
        if s == "inf" then
            return INF
        elseif s == "-inf" then
            return -INF
        end
        return assert(tonumber(s), "bad range " .. text)
    end
    return {lo = num(lo), hi = num(hi), lo_open = lb == "(", hi_open = rb == ")"}
end

local function in_range(r, v)
    local above = r.lo_open and v > r.lo or (not r.lo_open and v >= r.lo)
    local below = r.hi_open and v < r.hi or (not r.hi_open and v <= r.hi)
    return above and below
end

-- How a range reads in messages and docs: "> 0", ">= 1", "in [0, 1)".
local function range_phrase(r)
    local lo, hi = schema.show(r.lo), schema.show(r.hi)
    if r.hi == INF and r.lo == -INF then
        return nil
    elseif r.hi == INF then
        return (r.lo_open and "> " or ">= ") .. lo
    elseif r.lo == -INF then
        return (r.hi_open and "< " or "<= ") .. hi
    end
    return "in " .. (r.lo_open and "(" or "[") .. lo .. ", " .. hi .. (r.hi_open and ")" or "]")
end

-- ---- field constructors ---------------------------------------------------------------

local function field(name, ftype, opts)
    local f = opts or {}
    f.name, f.type = name, ftype
    if f.range then
        f.range_parsed = parse_range(f.range)
    end
    if f.elements then
        f.elements.name = f.elements.name or "element"
        if f.elements.range then
            f.elements.range_parsed = parse_range(f.elements.range)
        end
    end
    return f
end
schema.field = field

local function group(name, doc, fields, opts)
    local g = opts or {}
    g.name, g.type, g.doc, g.fields = name, "group", doc, fields
    g.by_name, g.alias_of = {}, {}
    for _, f in ipairs(fields) do
        g.by_name[f.name] = f
        for _, a in ipairs(f.aliases or {}) do
            g.alias_of[a] = f.name
        end
    end
    return g
end
schema.group = group

-- Turns a builder's field table into a list of fields, accepting either a list of
-- fields (each with its name) or a map name -> field (listed in name order).
function schema.fields_list(fields)
    if fields[1] or next(fields) == nil then
        local out = {}
        for i, f in ipairs(fields) do
            out[i] = field(f.name or f[1], f.type or f[2], f)
        end
        return out
    end
    local names = {}
    for k in pairs(fields) do
        names[#names + 1] = k
    end
    table.sort(names)
    local out = {}
    for i, k in ipairs(names) do
        out[i] = field(k, fields[k].type, fields[k])
    end
    return out
end

local function by_optim(sgd, adamw)
    return function(parent)
        return parent.type == "adamw" and adamw or sgd
    end
end

local function increasing(list)
    for i = 2, #list do
        if list[i] <= list[i - 1] then
            return "must be increasing, got " .. schema.show(list[i - 1]) .. " then " ..
                schema.show(list[i])
        end
    end
end

local function custom_keys(v)
    for k, m in pairs(v) do
        local bad = type(k) ~= "string" or type(m) ~= "table"
        for mk, x in pairs(type(m) == "table" and m or {}) do
            bad = bad or (mk ~= "lr_mult" and mk ~= "decay_mult") or type(x) ~= "number" or
                not (x >= 0)
        end
        if bad then
            return "must map name substrings to {lr_mult = n, decay_mult = n} (n >= 0), got " ..
                schema.show(k) .. " = " .. schema.literal(m)
        end
    end
end

local function device_name(v)
    if v == "auto" or v == "cpu" or v == "cuda" or v:match("^cuda:%d+$") then
        return nil
    end
    local hint = v:lower():match("^gpu") and "cuda" or
        schema.suggest(v, {"auto", "cpu", "cuda"})
    return 'must be "auto", "cpu", "cuda" or "cuda:N", got ' .. schema.show(v) ..
        (hint and ' (did you mean "' .. hint .. '"?)' or "")
end

-- ---- the schema -----------------------------------------------------------------------

local data = group("data", "The data set and how batches are drawn from it.", {
    field("dataset", "string", {default = "fashion_mnist", choices = {"fashion_mnist"},
        doc = "The data set: Fashion-MNIST (60,000 training and 10,000 test images, " ..
            "28×28 grey, 10 classes)."}),
    field("root", "string", {default = "/usr/share/datasets/fashion-mnist",
        doc = "Folder with the IDX files (train-images-idx3-ubyte.gz ...), where Debian's " ..
            "dataset-fashion-mnist installs them."}),
    field("batch_size", "integer", {default = 128, range = "[1, 16777216]",
        aliases = {"samples_per_gpu"},
        doc = "Micro-batch per device; the effective batch is batch_size × " ..
            "optim.accumulate × world size."}),
    field("val_batch_size", "integer", {range = "[1, 16777216]",
        default = function(parent) return parent.batch_size end, default_doc = "batch_size",
        doc = "Batch for evaluation. The memory policy halves it when the step fits " ..
            "memory.target and the step with its evaluation does not."}),
    field("shuffle", "boolean", {default = true,
        doc = "Draw training samples in a new order each epoch (a function of seed and epoch)."}),
    field("drop_last", "boolean", {default = false,
        doc = "Skip an epoch's short last training batch instead of running it with its " ..
            "own plan."}),
    field("mean", {"number", "list"}, {default = 0.2860, elements = {type = "number"},
        doc = "Subtracted from pixels scaled to [0, 1]; a list gives one value per channel."}),
    field("std", {"number", "list"}, {default = 0.3530, range = "(0, inf)",
        elements = {type = "number", range = "(0, inf)"},
        doc = "Divides the centred pixels; a list gives one value per channel."}),
    field("flatten", "boolean", {default = false,
        doc = "Feed the model (N, 784) rows instead of (N, 1, 28, 28) images."}),
    field("train_samples", "integer", {default = 0, range = "[0, inf)",
        doc = "Train on the first N samples only (0: all); for quick runs."}),
    field("val_samples", "integer", {default = 0, range = "[0, inf)",
        doc = "Evaluate on the first N test samples only (0: all)."}),
})

local model = field("model", "model", {required = true,
    doc = 'The network: {type = "mlp", ...} built by the builder registered under that ' ..
        "type (lutra.models.register), its other keys checked against the builder's " ..
        "fields; or a function returning a module (not checked; a run's config.lua " ..
        "requires the file that holds it)."})

local optim = group("optim", "The optimizer and what shapes its update.", {
    field("type", "string", {default = "sgd", choices = {"sgd", "adamw"},
        doc = "SGD (PyTorch's, with momentum and L2 weight decay) or AdamW (decoupled decay)."}),
    field("lr", "number", {range = "(0, inf)", default = by_optim(0.01, 1e-3),
        default_doc = "0.01 (sgd), 1e-3 (adamw)",
        doc = "Base learning rate, before lr_scaling and the schedule."}),
    field("momentum", "number", {default = 0, range = "[0, 1)", when = {{"type", {"sgd"}}},
        doc = "Momentum factor."}),
    field("nesterov", "boolean", {default = false, when = {{"type", {"sgd"}}},
        doc = "Nesterov momentum (needs momentum > 0 and dampening = 0)."}),
    field("dampening", "number", {default = 0, range = "[0, 1]", when = {{"type", {"sgd"}}},
        doc = "Dampening for momentum."}),
    field("weight_decay", "number", {range = "[0, inf)", default = by_optim(0, 0.01),
        default_doc = "0 (sgd), 0.01 (adamw)",
        doc = "Weight decay: L2 added to the gradient (sgd), decoupled (adamw)."}),
    field("betas", "list", {default = {0.9, 0.999}, len = 2, when = {{"type", {"adamw"}}},
        elements = {type = "number", range = "[0, 1)"},
        doc = "Decay rates of the first and second moment estimates."}),
    field("eps", "number", {default = 1e-8, range = "(0, inf)", when = {{"type", {"adamw"}}},
        doc = "Added to the denominator for numerical stability."}),
    field("accumulate", "integer", {default = 1, range = "[1, 65536]",
        aliases = {"accumulative_counts"},
        doc = "Micro-batches per optimizer step; losses are normalised over the whole step."}),
    group("clip_grad", "Global gradient-norm clipping (off when absent or false).", {
        field("max_norm", "number", {range = "(0, inf)", required = true,
            doc = "Largest global L2 norm of the gradient; larger gradients are scaled down."}),
        field("norm_type", "number", {default = 2,
            check = function(v) return v ~= 2 and "must be 2 (the L2 norm), got " ..
                schema.show(v) or nil end,
            doc = "The norm (only 2 is supported)."}),
    }, {optional = true}),
    group("lr_scaling", "Scaling of lr with the effective batch.", {
        field("rule", "string", {default = "none", choices = {"none", "linear", "sqrt"},
            doc = "lr × (effective batch / base_batch_size), its square root, or unchanged."}),
        field("base_batch_size", "integer", {range = "[1, inf)", required = true,
            when = {{"rule", {"linear", "sqrt"}}},
            doc = "The effective batch lr was tuned for."}),
    }),
    group("paramwise", "Per-parameter multipliers, by mmengine's paramwise_cfg rules; " ..
        "unset words change nothing.", {
        field("bias_lr_mult", "number", {range = "[0, inf)",
            doc = "Multiplies lr for biases (not those of normalisation layers)."}),
        field("bias_decay_mult", "number", {range = "[0, inf)",
            doc = "Multiplies weight_decay for biases."}),
        field("norm_decay_mult", "number", {range = "[0, inf)",
            doc = "Multiplies weight_decay for normalisation layers' weights and biases " ..
                "(before bias_decay_mult)."}),
        field("dwconv_decay_mult", "number", {range = "[0, inf)",
            doc = "Multiplies weight_decay for depth-wise convolutions' weights."}),
        field("flat_decay_mult", "number", {range = "[0, inf)",
            doc = "Multiplies weight_decay for other 1-dim parameters."}),
        field("custom_keys", "table", {check = custom_keys,
            doc = "Parameter-name substring -> {lr_mult =, decay_mult =}; the longest " ..
                "matching key wins over every rule above."}),
    }),
}, {
    check = function(v, path, ctx)
        if v.nesterov and (v.momentum <= 0 or v.dampening ~= 0) then
            ctx.fail(path .. ".nesterov", path .. ".nesterov needs " .. path ..
                ".momentum > 0 and " .. path .. ".dampening = 0")
        end
    end,
})

local schedule = group("schedule",
    "The learning-rate schedule, counted in iterations (optimizer steps): a warmup, then " ..
    "the decay.", {
    field("type", "string", {default = "constant",
        choices = {"constant", "step", "multistep", "cosine", "poly"},
        doc = "constant; step: × gamma every step_size; multistep: × gamma at each " ..
            "milestone; cosine: half a cosine down to min_lr at the end; poly: " ..
            "(1 - t/T)^power down to min_lr."}),
    field("by_epoch", "boolean", {default = false, when = {{"type", {"step", "multistep"}}},
        doc = "step_size and milestones count epochs instead of iterations."}),
    field("warmup_iters", "integer", {default = 0, range = "[0, inf)",
        doc = "Iterations of linear warmup (0: none)."}),
    field("warmup_ratio", "number", {default = 0.1, range = "(0, 1]",
        doc = "The warmup starts at lr × warmup_ratio."}),
    field("step_size", "integer", {range = "[1, inf)", required = true,
        when = {{"type", {"step"}}}, doc = "Iterations (or epochs) between decays."}),
    field("milestones", "list", {required = true, when = {{"type", {"multistep"}}},
        elements = {type = "integer", range = "[1, inf)"}, check = increasing,
        doc = "Iterations (or epochs) at which lr is multiplied by gamma, increasing."}),
    field("gamma", "number", {default = 0.1, range = "(0, 1]",
        when = {{"type", {"step", "multistep"}}}, doc = "Decay factor."}),
    field("power", "number", {default = 1.0, range = "(0, inf)", when = {{"type", {"poly"}}},
        doc = "Exponent of the polynomial decay."}),
    field("min_lr", "number", {default = 0, range = "[0, inf)",
        when = {{"type", {"cosine", "poly"}}}, doc = "The lr at the last iteration."}),
})

local fp16_dynamic = {{"mode", {"fp16"}}, {"loss_scale", {"dynamic"}}}
local precision = group("precision",
    "Training precision: fp32, or fp16/bf16 mixed (half matmuls and convolutions with " ..
    "fp32 accumulation, fp32 master weights).", {
    field("mode", "string", {default = "fp32", choices = {"fp32", "fp16", "bf16"},
        doc = "fp32, or mixed precision with fp16 or bf16 compute."}),
    field("loss_scale", {"number", "string"}, {default = "dynamic", choices = {"dynamic"},
        range = "(0, inf)", when = {{"mode", {"fp16"}}},
        doc = 'A fixed scale (a finite number > 0), or "dynamic" (GradScaler\'s rule).'}),
    field("init_scale", "number", {default = 65536.0, range = "(0, inf)", when = fp16_dynamic,
        doc = "The dynamic scale's first value (2^16)."}),
    field("growth_factor", "number", {default = 2.0, range = "(1, inf)", when = fp16_dynamic,
        doc = "Multiplies the scale after growth_interval clean steps in a row."}),
    field("backoff_factor", "number", {default = 0.5, range = "(0, 1)", when = fp16_dynamic,
        doc = "Multiplies the scale after a step whose gradient overflowed (skipped)."}),
    field("growth_interval", "integer", {default = 2000, range = "[1, inf)",
        when = fp16_dynamic, doc = "Clean steps before the scale grows."}),
    field("min_scale", "number", {default = 1.0, range = "(0, inf)", when = fp16_dynamic,
        doc = "The scale never backs off below this."}),
    field("max_skipped", "integer", {default = 20, range = "[1, inf)",
        when = {{"mode", {"fp16"}}},
        doc = "This many skipped steps in a row means the scale has collapsed."}),
    field("on_collapse", "string", {default = "stop", choices = {"stop", "bf16", "fp32"},
        when = {{"mode", {"fp16"}}},
        doc = "After a collapse: stop the run (weights saved), or go on in bf16 or fp32."}),
    field("fp32_warmup_iters", "integer", {default = 0, range = "[0, inf)",
        when = {{"mode", {"fp16", "bf16"}}},
        doc = "Run the first N iterations in fp32, then switch to mode."}),
    field("tf32", "boolean", {default = false,
        doc = "Allow TF32 for fp32 matmuls and convolutions on GPUs that have it."}),
})

local memory = group("memory", "How much memory a step may plan to use, and what may " ..
    "change to fit.", {
    field("target", "number", {default = 0.75, range = "(0, 1]",
        doc = "Fraction of the device's capacity a step plans to use at most."}),
    field("fit", "list", {default = {"batch"}, unique = true,
        elements = {type = "string", choices = {"batch", "precision", "checkpoint"}},
        doc = "What may change, in this order, when the plan exceeds the target: batch " ..
            "(halve the micro-batch, double accumulate: same effective batch), precision " ..
            "(an fp32 recipe trains in bf16), checkpoint (activation checkpointing: " ..
            "recompute activations in backward, one more forward pass)."}),
    field("on_oom", "string", {default = "reduce", choices = {"reduce", "error"},
        doc = "On a real out-of-memory while the step is built: halve the micro-batch " ..
            "(double accumulate) and build it again; or stop with an error."}),
    field("limit", "size", {
        doc = 'Capacity to plan against, in bytes or a string like "2GiB" (resolved to ' ..
            "bytes); default: the device's free memory, or the machine's RAM on the CPU."}),
    field("checkpoint", "boolean", {default = false,
        doc = "Activation checkpointing even when everything fits: the forward is cut " ..
            "into segments whose activations are recomputed just before their backward " ..
            "(about the square root of the layers; the same gradients, bit for bit)."}),
})

local runner = group("runner", "The training loop: its length, logging, evaluation and " ..
    "checkpoints.", {
    field("max_iters", "integer", {range = "[1, inf)",
        doc = "Iterations (optimizer steps) to train; exactly one of max_iters and " ..
            "max_epochs."}),
    field("max_epochs", "integer", {range = "[1, inf)", doc = "Epochs to train."}),
    field("log_interval", "integer", {default = 50, range = "[1, inf)",
        doc = "Iterations between log lines (train.log, metrics.jsonl)."}),
    field("eval_interval", {"integer", "string"}, {default = "epoch", choices = {"epoch"},
        range = "[0, inf)",
        doc = 'Iterations between evaluations, or "epoch": after each epoch; 0: only at ' ..
            "the end."}),
    field("checkpoint_interval", {"integer", "string"}, {default = "epoch",
        choices = {"epoch"}, range = "[0, inf)",
        doc = 'Iterations between checkpoints, or "epoch"; 0: only the final weights.'}),
    field("max_keep_ckpts", "integer", {default = -1, range = "[-1, inf)",
        doc = "Keep only the newest N checkpoints (-1: all)."}),
    field("on_nan", "string", {default = "stop", choices = {"stop", "skip"},
        doc = "A NaN or inf loss in fp32/bf16: stop the run (weights saved) or skip the " ..
            "step (in fp16 the loss scaler skips it)."}),
    field("save_best", {"string", "boolean"}, {default = "accuracy", false_only = true,
        check = function(v) return v == true and 'must be a metric name or false, got true'
            or nil end,
        doc = "Keep the weights with the best value of this evaluation metric as " ..
            "best_<metric>.safetensors (lower is better for names ending in loss); false: off."}),
}, {
    check = function(v, path, ctx)
        if v.max_iters and v.max_epochs then
            ctx.fail(path .. ".max_iters", path .. ".max_iters and " .. path ..
                ".max_epochs are both set; set exactly one")
        elseif not v.max_iters and not v.max_epochs then
            ctx.fail(path, path .. ".max_iters or " .. path .. ".max_epochs must be set")
        end
    end,
})

local function default_work_dir(_, ctx)
    local name = (ctx.top or "recipe"):match("([^/]+)$"):gsub("%.lua$", "")
    return "work_dirs/" .. name
end

schema.root = group("", "A recipe.", {
    data,
    model,
    optim,
    schedule,
    precision,
    memory,
    runner,
    field("device", "string", {default = "auto", check = device_name,
        doc = 'Where to train: "auto" (a usable GPU, else the CPU with a notice), ' ..
            '"cpu", "cuda" or "cuda:N".'}),
    group("device_options", "Device-specific switches.", {
        field("graph", "boolean", {default = false,
            doc = "Capture the training step as a CUDA graph (GPU only)."}),
        field("deterministic", "boolean", {default = true,
            doc = "GPU library algorithms give the same bits every run; false lets cuDNN " ..
                "use faster non-deterministic convolutions."}),
    }),
    field("seed", "integer", {default = 0, range = "[0, inf)",
        doc = "Seeds initialisation, shuffling, dropout and augmentation; same seed and " ..
            "threads: the same run on the CPU."}),
    field("threads", "integer", {default = 0, range = "[0, 4096]",
        doc = "CPU threads (0: one per core); at most 4096, lutra.core's limit."}),
    field("work_dir", "string", {default = default_work_dir,
        default_doc = "work_dirs/<recipe name>",
        doc = "Where the run writes config.lua, logs, metrics, checkpoints and curves."}),
    field("load_from", "string", {doc = "Weights (safetensors) to start from."}),
    field("resume_from", "string", {
        doc = "A checkpoint to resume: weights, optimizer, scaler, schedule and data order."}),
    field("hooks", "list", {default = {}, elements = {type = "table"},
        doc = "Custom hooks, run in order: tables the runner interprets (free-form here)."}),
}, {
    check = function(v, _, ctx)
        local w, m = v.schedule.warmup_iters, v.runner.max_iters
        if m and w >= m then
            ctx.note("schedule.warmup_iters", string.format(
                "schedule.warmup_iters (%d) >= runner.max_iters (%d): the run ends " ..
                "inside the warmup", w, m))
        end
    end,
})

-- Keys of which a recipe sets at most one: a layer (file or override) that sets one
-- removes the others set by the layers below it.
schema.exclusive = {{"runner", "max_iters", "max_epochs"}}

-- The group at a path of names ({} for the root), or nil.
function schema.node(path)
    local node = schema.root
    for _, name in ipairs(path) do
        node = node.by_name and node.by_name[name]
        if not node or node.type ~= "group" then
            return nil
        end
    end
    return node
end

-- ---- model fields hook -------------------------------------------------------------------

-- The fields (a list) registered for a model type, nil for a type registered without
-- fields, and as second value whether the type is registered. Replaceable.
function schema.model_fields(type_name)
    return require("lutra.models").fields(type_name)
end

-- The registered model types, sorted. Replaceable.
function schema.model_names()
    return require("lutra.models").names()
end

-- ---- validation ------------------------------------------------------------------------

local function deep_copy(v)
    if type(v) ~= "table" then
        return v
    end
    local out = {}
    for k, x in pairs(v) do
        out[k] = deep_copy(x)
    end
    return out
end
schema.deep_copy = deep_copy

local TYPE_PHRASE = {
    number = "a number", integer = "an integer", string = "a string",
    boolean = "a boolean", table = "a table", ["function"] = "a function", list = "a list",
    size = 'a size (bytes, or a string like "2GiB")', group = "a table",
    model = "a table or a function",
}

local function types_of(f)
    return type(f.type) == "table" and f.type or {f.type}
end

-- What a field must be, for messages: "a number", "a number or \"dynamic\"".
local function must_be(f)
    local types = types_of(f)
    if #types == 1 then
        return TYPE_PHRASE[types[1]]
    end
    local parts = {}
    for _, t in ipairs(types) do
        if t == "string" and f.choices then
            parts[#parts + 1] = table.concat(quote_all(f.choices), " or ")
        elseif t == "boolean" and f.false_only then
            parts[#parts + 1] = "false"
        else
            parts[#parts + 1] = TYPE_PHRASE[t]
        end
    end
    return table.concat(parts, " or ")
end

local function matches(t, v)
    local lt = type(v)
    if t == "integer" then
        return lt == "number"
    elseif t == "list" or t == "group" then
        return lt == "table"
    elseif t == "size" then
        return lt == "number" or lt == "string"
    end
    return lt == t
end

local function is_list(v)
    local n = 0
    for _ in pairs(v) do
        n = n + 1
    end
    return n == #v
end

local check_value

local function check_number(f, t, v, path, ctx)
    if v ~= v or v == INF or v == -INF then
        ctx.fail(path, path .. " must be a finite number, got " .. schema.show(v))
    end
    if t == "integer" then
        local i = math.tointeger(v)
        if not i then
            ctx.fail(path, path .. " must be an integer, got " .. schema.show(v))
        end
        v = i
    end
    if f.range_parsed and not in_range(f.range_parsed, v) then
        ctx.fail(path, path .. " must be " .. range_phrase(f.range_parsed) .. ", got " ..
            schema.show(v))
    end
    return v
end

local function check_string(f, v, path, ctx)
    if not f.choices then
        return v
    end
    for _, c in ipairs(f.choices) do
        if c:lower() == v:lower() then
            return c
        end
    end
    local hint = schema.suggest(v, f.choices)
    local what = #types_of(f) > 1 and must_be(f) or
        "one of " .. table.concat(quote_all(f.choices), ", ")
    ctx.fail(path, path .. " must be " .. what .. ", got " .. schema.show(v) ..
        (hint and ' (did you mean "' .. hint .. '"?)' or ""))
end

local function check_list(f, v, path, ctx)
    if not is_list(v) then
        ctx.fail(path, path .. " must be a list, got a table with named keys")
    end
    if f.len and #v ~= f.len then
        ctx.fail(path, string.format("%s must have %d elements, got %d", path, f.len, #v))
    end
    local out, seen = {}, {}
    for i, e in ipairs(v) do
        local p = path .. "[" .. i .. "]"
        if f.elements then
            out[i] = check_value(f.elements, e, p, ctx)
        else -- a list of anything
            out[i] = deep_copy(e)
        end
        if f.unique and seen[out[i]] then
            ctx.fail(p, p .. " repeats " .. schema.show(out[i]))
        end
        seen[out[i]] = true
    end
    return out
end

local resolve_group, resolve_model

-- Checks one value against a field and returns it normalised; raises on a bad value.
function check_value(f, v, path, ctx)
    if f.type == "group" then
        return resolve_group(f, v, path, ctx)
    end
    local t
    for _, cand in ipairs(types_of(f)) do
        if matches(cand, v) then
            t = cand
            break
        end
    end
    if not t then
        ctx.fail(path, path .. " must be " .. must_be(f) .. ", got " .. type(v))
    end
    if t == "number" or t == "integer" then
        v = check_number(f, t, v, path, ctx)
    elseif t == "string" then
        v = check_string(f, v, path, ctx)
    elseif t == "list" then
        v = check_list(f, v, path, ctx)
    elseif t == "size" then
        local n = schema.parse_size(v)
        if not n then
            ctx.fail(path, path .. ' must be a size in bytes or a string like "2GiB", got ' ..
                schema.show(v))
        end
        v = n
    elseif t == "table" then
        v = deep_copy(v)
    end
    local msg = f.check and f.check(v)
    if msg then
        ctx.fail(path, path .. " " .. msg)
    end
    return v
end

local function join(path, name)
    return path == "" and name or path .. "." .. name
end

-- Whether a field applies given its resolved siblings; also the condition in words.
local function applies(f, parent, path)
    if not f.when then
        return true
    end
    local ok, words = true, {}
    for _, cond in ipairs(f.when) do
        local key, values = cond[1], cond[2]
        local hit = false
        for _, want in ipairs(values) do
            hit = hit or parent[key] == want
        end
        ok = ok and hit
        words[#words + 1] = join(path, key) .. " is " .. table.concat(quote_all(values), " or ")
    end
    return ok, table.concat(words, " and ")
end

local NO_WORKERS = "lutra has no loader-worker setting: its C loader prepares the next " ..
    "batch while a step runs; CPU threads are 'threads'"

-- mmcv/mmengine keys lutra spells differently: key path -> lutra's key, or a sentence
-- when lutra has none. Unknown keys name lutra's instead of guessing.
schema.foreign_keys = {
    optimizer = "optim",
    optim_wrapper = "optim",
    optimizer_config = "optim.clip_grad",
    ["optim.grad_clip"] = "optim.clip_grad",
    ["optim.optimizer"] = "lutra's optimizer keys sit in optim itself: optim.type, optim.lr, ...",
    total_epochs = "runner.max_epochs",
    train_cfg = "runner",
    lr_config = "schedule",
    param_scheduler = "schedule",
    checkpoint_config = "runner.checkpoint_interval",
    log_config = "runner.log_interval",
    evaluation = "runner.eval_interval",
    custom_hooks = "hooks",
    gpu_ids = "device",
    randomness = "seed",
    train_dataloader = "data",
    val_dataloader = "data",
    test_dataloader = "data",
    ["data.workers_per_gpu"] = NO_WORKERS,
    ["data.num_workers"] = NO_WORKERS,
}

local function unknown_key(g, key, path, ctx)
    local full = join(path, tostring(key))
    if type(key) ~= "string" then
        ctx.fail(path, string.format("unknown key '%s[%s]' (%s takes named keys)", path,
            schema.show(key), path == "" and "a recipe" or path))
    end
    local names = {}
    for _, f in ipairs(g.fields) do
        names[#names + 1] = f.name
    end
    local foreign = schema.foreign_keys[full]
    if foreign then
        ctx.fail(full, string.format("unknown key '%s' (%s)", full, foreign:find(" ") and
            foreign or string.format("lutra's is '%s'", foreign)))
    end
    local hint = schema.suggest(key, names)
    if hint then
        hint = join(path, hint)
    else
        hint = schema.find_key(key)
    end
    ctx.fail(full, string.format("unknown key '%s'", full) ..
        (hint and string.format(" (did you mean '%s'?)", hint) or ""))
end

-- Resolves a group's table: unknown keys rejected, fields checked in order, defaults
-- filled where a field applies, values that do not apply dropped with a note.
function resolve_group(g, value, path, ctx)
    if value == nil or (value == false and g.optional) then
        if g.optional then
            return nil
        end
        value = {}
    end
    if type(value) ~= "table" then
        ctx.fail(path, path .. " must be a table, got " .. type(value))
    end
    local keys = {}
    for k in pairs(value) do
        keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
        if not g.by_name[k] then
            unknown_key(g, k, path, ctx)
        end
    end
    local out = {}
    for _, f in ipairs(g.fields) do
        local p = join(path, f.name)
        local v = value[f.name]
        local ok, cond = applies(f, out, path)
        if not ok then
            if v ~= nil then
                ctx.note(p, p .. " has no effect unless " .. cond .. "; ignored")
            end
        elseif v ~= nil then
            out[f.name] = f.type == "model" and resolve_model(f, v, p, ctx) or
                check_value(f, v, p, ctx)
        elseif f.type == "group" then
            out[f.name] = resolve_group(f, nil, p, ctx)
        elseif f.default ~= nil then
            local d = f.default
            if type(d) == "function" then
                d = d(out, ctx)
            end
            out[f.name] = deep_copy(d)
            ctx.defaulted(p)
        elseif f.required then
            ctx.fail(p, p .. " is required" .. (cond and " when " .. cond or "") ..
                (f.type == "model" and
                    ' (a table such as {type = "mlp"}, or a function returning a module)' or ""))
        end
    end
    if g.check then
        g.check(out, path, ctx)
    end
    return out
end

-- The model: a function is kept as it is; a table's type picks the builder whose fields
-- check the rest.
function resolve_model(_, v, path, ctx)
    if type(v) == "function" then
        return v
    elseif type(v) ~= "table" then
        ctx.fail(path, path .. " must be a table or a function, got " .. type(v))
    end
    local tpath = path .. ".type"
    local names = schema.model_names()
    if v.type == nil then
        ctx.fail(path, tpath .. " is required (one of " ..
            table.concat(quote_all(names), ", ") .. ")")
    end
    local tfield = field("type", "string", {choices = names})
    local name = check_value(tfield, v.type, tpath, ctx)
    local fields, known = schema.model_fields(name)
    assert(known, "model type " .. name .. " vanished")
    if not fields then
        return deep_copy(v)
    end
    local list = {field("type", "string", {choices = {name}})}
    for _, f in ipairs(fields) do
        list[#list + 1] = f
    end
    local out = resolve_group(group(path, nil, list), v, path, ctx)
    out.type = name
    return out
end

-- Resolves a merged recipe table. ctx: {fail = function(path, msg) that raises, note =
-- function(path, msg), defaulted = function(path), top = the recipe's path (for
-- defaults such as work_dir)}. Returns the resolved table; raises through ctx.fail.
function schema.resolve(raw, ctx)
    return resolve_group(schema.root, raw, "", ctx)
end

-- Resolves a model table against its builder's fields alone (lutra.models.build uses
-- this on tables that did not come through a recipe). Raises on a bad table.
function schema.resolve_model(v, ctx)
    ctx = ctx or {}
    ctx.fail = ctx.fail or function(_, msg) error(msg, 0) end
    ctx.note = ctx.note or function() end
    ctx.defaulted = ctx.defaulted or function() end
    return resolve_model(model, v, "model", ctx)
end

-- Every key path in the schema whose last name is `name` (for "did you mean" across
-- groups), the first one found.
function schema.find_key(name)
    local function walk(g, path)
        for _, f in ipairs(g.fields) do
            local p = join(path, f.name)
            if f.name == name or (f.aliases and f.aliases[1] == name) then
                return p
            end
            if f.type == "group" then
                local hit = walk(f, p)
                if hit then
                    return hit
                end
            end
        end
    end
    return walk(schema.root, "")
end

-- A value as a one-line Lua literal (docs, notes).
function schema.literal(v)
    if type(v) == "number" then
        return schema.format_number(v)
    elseif type(v) == "string" then
        return string.format("%q", v)
    elseif type(v) == "table" then
        local parts = {}
        for i, x in ipairs(v) do
            parts[i] = schema.literal(x)
        end
        local keys = {}
        for k in pairs(v) do
            if math.type(k) ~= "integer" or k < 1 or k > #v then
                keys[#keys + 1] = k
            end
        end
        table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
        for _, k in ipairs(keys) do
            local name = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or
                "[" .. schema.literal(k) .. "]"
            parts[#parts + 1] = name .. " = " .. schema.literal(v[k])
        end
        return "{" .. table.concat(parts, ", ") .. "}"
    end
    return tostring(v)
end

-- Checks one value against a field (see the top of this file) and returns it
-- normalised; ctx.fail(path, message) is called on a bad value and must raise.
schema.check_value = check_value
schema.range_phrase = range_phrase
schema.types_of = types_of
schema.applies = applies
schema.quote_all = quote_all
schema.join = join

return schema
