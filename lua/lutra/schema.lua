-- The recipe schema: every key a recipe may set, with its type, default, allowed values,
-- aliases and a one-line doc (fields as lutra.field describes them), the rules across
-- keys, and the keys of mmcv/mmengine configs that lutra spells differently. Data only:
-- lutra.validate checks a merged recipe against schema.root; lutra.config loads and
-- merges recipe files; scripts/gen-recipe-reference.lua prints
-- docs/recipe-reference.md from schema.root. A model's own keys are its builder's
-- fields (lutra.models).
local lutra_field = require("lutra.field")
local describe = require("lutra.describe")
local suggest = require("lutra.suggest")
local data_sources = require("lutra.data_sources")

local schema = {}

local field, group = lutra_field.new, lutra_field.group

-- ---- checks and defaults the fields use -------------------------------------------------

local function by_optim(sgd, adamw)
    return function(parent)
        return parent.type == "adamw" and adamw or sgd
    end
end

local function increasing(list)
    for i = 2, #list do
        if list[i] <= list[i - 1] then
            return "must be increasing, got " .. describe.show(list[i - 1]) .. " then " ..
                describe.show(list[i])
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
                describe.show(k) .. " = " .. describe.literal(m)
        end
    end
end

local function device_name(v)
    if v == "auto" or v == "cpu" or v == "cuda" or v:match("^cuda:%d+$") then
        return nil
    end
    local hint = v:lower():match("^gpu") and "cuda" or
        suggest.closest(v, {"auto", "cpu", "cuda"})
    return 'must be "auto", "cpu", "cuda" or "cuda:N", got ' .. describe.show(v) ..
        (hint and ' (did you mean "' .. hint .. '"?)' or "")
end

-- ---- the schema -----------------------------------------------------------------------

local function dataset_name(v)
    for _, n in ipairs(data_sources.names()) do
        if v == n then
            return nil
        end
    end
    local hint = suggest.closest(v, data_sources.names())
    return "must be one of " .. table.concat(describe.quote_all(data_sources.names()), ", ") ..
        " (or a name given to lutra.data.register, or \"host:NAME\" for a C host's " ..
        "lt_run_add_source), got " .. describe.show(v) ..
        (hint and ' (did you mean "' .. hint .. '"?)' or "")
end

-- A file or a list of files: not an empty list.
local function some_files(v)
    if type(v) == "table" and #v == 0 then
        return "must be a file or a list of files, got an empty list"
    end
    return nil
end

local function size_pair(v)
    if type(v) == "number" then
        if not (math.type(v) == "integer" and v >= 1 and v <= 65535) then
            return "must be an integer in [1, 65535] or {height, width}, got " .. describe.show(v)
        end
        return nil
    end
    if #v ~= 2 or math.type(v[1]) ~= "integer" or math.type(v[2]) ~= "integer" or
        v[1] < 1 or v[2] < 1 or v[1] > 65535 or v[2] > 65535 then
        return "must be an integer or {height, width} of integers in [1, 65535], got " ..
            describe.literal(v)
    end
end

local files = {"image_folder", "tensors", "tokens"}

local data = group("data", "The data set and how batches are drawn from it.", {
    field("dataset", "string", {default = "fashion_mnist", check = dataset_name,
        doc = 'The data set: "fashion_mnist" (60,000 training and 10,000 test images, 28×28 ' ..
            'grey, 10 classes), "image_folder" (PNG files in root/<class>/ folders), ' ..
            '"tensors" (x and y in a safetensors file or a .npy pair), "tokens" (a token ' ..
            "stream read as windows of block_size), a name a Lua source was registered " ..
            "under (lutra.data.register), or \"host:NAME\", the data a C host registered " ..
            "(lt_run_add_source, docs/embedding.md)."}),
    field("root", "string", {default = "/usr/share/datasets/fashion-mnist",
        when = {{"dataset", {"fashion_mnist"}}},
        doc = "Folder with the IDX files (train-images-idx3-ubyte.gz ...), where Debian's " ..
            "dataset-fashion-mnist installs them."}),
    field("train_root", "string", {when = {{"dataset", {"image_folder"}}},
        doc = "image_folder: the training images, train_root/<class>/<file>.png (classes " ..
            "sorted by name; a class's index is its position). Or train_list."}),
    field("test_root", "string", {when = {{"dataset", {"image_folder"}}},
        doc = "image_folder: the test images, with the training classes. Without it (and " ..
            "test_list), val_fraction of the training images, drawn from seed, are held out."}),
    field("train_list", "string", {when = {{"dataset", {"image_folder"}}},
        doc = 'image_folder: a list file of "path label" lines (paths relative to the file), ' ..
            "instead of train_root; needs classes."}),
    field("test_list", "string", {when = {{"dataset", {"image_folder"}}},
        doc = "image_folder: the test split as a list file."}),
    field("classes", "integer", {range = "[1, inf)", when = {{"dataset", {"image_folder"}}},
        doc = "image_folder with list files: the number of classes."}),
    field("path", {"string", "list"}, {elements = {type = "string"}, check = some_files,
        when = {{"dataset", {"tensors", "tokens"}}},
        doc = "tensors: a .safetensors file holding x and y, or x's .npy (y's is the same " ..
            "name with y for x). tokens: the token file (llm.c's .bin with its header, raw " ..
            "u16/u32, or a .txt read as bytes), or a list of such files read as one stream, " ..
            "one after another."}),
    field("test_path", {"string", "list"}, {elements = {type = "string"}, check = some_files,
        when = {{"dataset", {"tensors", "tokens"}}},
        doc = "The test split's file; without it, val_fraction of path is held out (tokens: " ..
            "the tail; tensors: drawn from seed)."}),
    field("val_fraction", "number", {default = 0.1, range = "(0, 1)",
        when = {{"dataset", files}},
        doc = "The part held out for evaluation when no test split is named."}),
    field("token_format", "string", {default = "auto", choices = {"auto", "u16", "u32", "bytes"},
        when = {{"dataset", {"tokens"}}},
        doc = "tokens: how the file stores them: auto (a header says; .txt is bytes), raw " ..
            "little-endian u16 or u32, or bytes (UTF-8 text: vocabulary 256)."}),
    field("block_size", "integer", {default = 64, range = "[1, 16777216]",
        when = {{"dataset", {"tokens"}}},
        doc = "tokens: tokens per sample; training windows start at random positions drawn " ..
            "from (seed, epoch, sample)."}),
    field("channels", "integer", {default = 0, choices = {0, 1, 3},
        when = {{"dataset", {"image_folder"}}},
        doc = "image_folder: 0 keeps the files' colour (the first file's: gray 1, colour 3); " ..
            "1 makes colour gray (ITU-R 601-2 luma), 3 repeats gray. Alpha is dropped."}),
    field("max_pixels", "integer", {default = 16777216, range = "[0, inf)",
        when = {{"dataset", {"image_folder"}}},
        doc = "image_folder: a file of more pixels is refused (0: no limit)."}),
    field("on_bad_file", "string", {default = "error", choices = {"error", "skip"},
        when = {{"dataset", {"image_folder"}}},
        doc = "image_folder: a file that cannot be decoded stops the run naming it, or is " ..
            "skipped (the log counts skips)."}),
    field("workers", "integer", {default = 1, range = "[0, 64]",
        aliases = {"workers_per_gpu", "num_workers"},
        doc = "Threads preparing batches ahead (decode, augment, normalise) into workers + 1 " ..
            "planned batch buffers; 0 makes each batch in the training loop (as a data set " ..
            "written in Lua always is)."}),
    field("resize", {"integer", "list"}, {check = size_pair,
        doc = "Image sets: bilinear resize to n × n or {height, width} first."}),
    field("crop", {"integer", "list"}, {check = size_pair,
        doc = "Image sets: a crop of n × n or {height, width}: random in training (with " ..
            "crop_padding), centred in evaluation."}),
    field("crop_padding", "integer", {default = 0, range = "[0, 65535]",
        doc = "Zeros added on each side before the random training crop (needs crop)."}),
    field("hflip", "boolean", {default = false,
        doc = "Image sets: mirror training images left-right with probability 1/2."}),
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
        doc = "Feed the model (N, C·H·W) rows instead of (N, C, H, W) images."}),
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
                describe.show(v) or nil end,
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
    field("process", "boolean", {default = true,
        doc = "On the CPU, count the process's own memory against the capacity: what it " ..
            "holds besides the plans when the memory policy runs (the program and its " ..
            "libraries, the Lua state, the data sets), measured, so that the run's peak " ..
            "RSS stays within memory.target of memory.limit."}),
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
    group("dist", "Data-parallel ranks (mpirun -np N lutra train RECIPE; " ..
        "docs/distributed.md).", {
        field("timeout", "number", {default = 600, range = "(0, 1e9]",
            doc = "Seconds a collective (the gradient's all-reduce, a loss or metric sum) " ..
                "waits for the other ranks before the job ends naming the rank that waited."}),
        field("bucket_mb", "number", {default = 1, range = "[0.004, 4096]",
            doc = "MiB of gradient per all-reduce bucket; each bucket is sent as soon as the " ..
                "backward has finished it, overlapping the rest of the backward."}),
    }),
    field("seed", "integer", {default = 0, range = "[0, inf)",
        doc = "Seeds initialisation, shuffling, dropout and augmentation; same seed and " ..
            "threads: the same run on the CPU."}),
    field("threads", "integer", {default = 0, range = "[0, 4096]",
        doc = "CPU threads (0: one per core); at most 4096, lutra.core's limit."}),
    field("work_dir", "string", {default = default_work_dir,
        default_doc = "work_dirs/<recipe name>",
        doc = "The folder of the project's runs: each run writes config.lua, logs, metrics, " ..
            "checkpoints and curves into a folder of its own in it, named after its start."}),
    field("load_from", "string", {doc = "Weights (safetensors) to start from."}),
    field("resume_from", "string", {
        doc = "A checkpoint to resume: weights, optimizer, scaler, schedule and data order."}),
    field("hooks", "list", {default = {}, elements = {type = "table"},
        doc = "Custom hooks, run in order after lutra's own policies: tables with any of " ..
            "before_run, before_epoch, after_step, after_eval, after_epoch, after_run " ..
            "(each called as hook:event(runner, ...); an error is logged and the run goes on)."}),
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

-- Every key path in the schema whose last name is `name` (for "did you mean" across
-- groups), the first one found.
function schema.find_key(name)
    local function walk(g, path)
        for _, f in ipairs(g.fields) do
            local p = describe.key_path(path, f.name)
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

-- ---- keys lutra spells differently ------------------------------------------------------

-- mmcv/mmengine keys lutra spells differently: key path -> lutra's key, or a sentence
-- when lutra has none. lutra.validate names lutra's key for these instead of guessing.
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
}

return schema
