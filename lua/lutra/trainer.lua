-- lutra.Trainer: traces a model with its loss, plans the training step and owns its
-- memory; one C call per optimizer step. A micro-batch of another size (an epoch's short
-- last one) gets its own plan inside the same trainer, so one step may mix sizes; a
-- change of precision (fp32 warmup over, an fp16 scale collapse) re-plans and carries
-- the weights, optimizer moments, step count and scaler over. Also evaluation (loss and
-- accuracy through planned forward programs), prediction, the optimizer state a
-- checkpoint keeps, and planning alone (lutra plan). A runner builds one from its config
-- and calls step() in its loop; nothing here reads configs or files.
local util = require "lutra.util"
local F = require "lutra.ops"
local T = require "lutra.tensor"
local trace = require "lutra.trace"
local optim = require "lutra.optim"
local core = require "lutra.core"

local raise, is_tensor = util.raise, util.is_tensor

local M = {}

local Trainer = {}
Trainer.__index = Trainer
M.Trainer = Trainer

local cfg_keys = { "model", "inputs", "input_shape", "input_dtype", "targets", "loss", "optim",
    "schedule", "precision", "checkpoint", "loader_bytes" }

local precision_keys = { "mode", "loss_scale", "init_scale", "growth_factor", "backoff_factor",
    "growth_interval" }

local HALF = { fp32 = false, fp16 = "f16", bf16 = "bf16" }

-- The names the optimizer's moments go by in checkpoints (PyTorch's state keys).
local MOMENT_NAMES = { sgd = { "momentum_buffer" }, adamw = { "exp_avg", "exp_avg_sq" } }

-- The loss scale of a precision config in `mode`: {scale =, dynamic =, ...} or nil (none:
-- a static scale of 1). fp16 defaults to dynamic scaling from init_scale (2^16).
local function loss_scale_of(precision, mode)
    if mode ~= "fp16" then
        return nil
    end
    local ls = precision.loss_scale
    if ls == nil or ls == "dynamic" then
        return { scale = precision.init_scale or 65536, dynamic = true,
            growth_factor = precision.growth_factor, backoff_factor = precision.backoff_factor,
            growth_interval = precision.growth_interval }
    elseif type(ls) == "number" then
        return { scale = ls }
    elseif type(ls) == "table" then
        return ls
    end
    raise("Trainer: precision.loss_scale must be \"dynamic\", a number or a table, got "
        .. tostring(ls))
end

local function check_mode(mode)
    if HALF[mode] == nil then
        raise("Trainer: precision.mode must be \"fp32\", \"fp16\" or \"bf16\", got "
            .. tostring(mode))
    end
    return mode
end

-- Reads the parts of a Trainer config that planning needs; fills `self`.
local function read_config(self, cfg)
    cfg = util.check_options("Trainer", cfg, cfg_keys)
    local model = cfg.model
    if type(model) ~= "table" or model.named_parameters == nil then
        raise("Trainer: model must be an nn.Module, got " .. type(model))
    end
    local inputs = cfg.inputs
    if inputs == nil then
        if cfg.input_shape == nil then
            raise("Trainer: give input_shape = {N, ...} or inputs = {spec, ...}")
        end
        inputs = { { shape = cfg.input_shape, dtype = cfg.input_dtype or "f32", name = "x" } }
    end
    if cfg.optim == nil then
        raise("Trainer: optim is required (lutra.optim.SGD{lr = ...} or AdamW{...})")
    end
    self.model = model
    self.input_specs = trace.spec_list(inputs)
    self.optim = optim.new(cfg.optim)
    self.precision_cfg = util.check_options("Trainer.precision", cfg.precision or {},
        precision_keys)
    self.precision = check_mode(self.precision_cfg.mode or "fp32")
    self.loss = cfg.loss or "cross_entropy"
    self.targets = cfg.targets
    local ck = cfg.checkpoint
    if ck ~= nil and type(ck) ~= "boolean" then
        raise("Trainer: checkpoint must be true or false, got " .. tostring(ck))
    end
    self.checkpoint = ck or false
    local lb = cfg.loader_bytes or 0
    if math.type(lb) ~= "integer" or lb < 0 then
        raise("Trainer: loader_bytes must be an integer >= 0, got " .. tostring(lb))
    end
    self.loader_bytes = lb
    self.groups, self.group_of, self.group_members = self.optim:param_groups(model)
    return cfg
end

-- A plan's report with the loader's batch buffers (loader_bytes: the batches its workers
-- make ahead) in the data category and the total when the step runs on the CPU, where
-- they take from the same memory; on a GPU they are host memory, outside the card's.
local function with_loader(self, r)
    if core.device() == "cpu" then
        r.data = r.data + self.loader_bytes
        r.total = r.total + self.loader_bytes
    end
    return r
end

-- Traces the model on these input and target specs in train mode and plans the step in
-- `mode`. Returns {trace =, graph =, loss =, plan =}.
local function compile(self, inputs, targets, mode)
    local tr = trace.trace(self.model, inputs, {
        mode = "train",
        loss = self.loss,
        targets = targets,
        group = function(name)
            return self.group_of[name]
        end,
    })
    local graph, loss = tr.graph, tr.loss
    if HALF[mode] then
        local mixed, map = util.call(graph.mixed, graph, HALF[mode])
        graph, loss = mixed, mixed:value(map[loss:id()])
    end
    local plan = util.call(core.plan, graph, loss, self.optim:config(self.groups),
        { checkpoint = self.checkpoint, memory_limit = self.memory_limit })
    return { trace = tr, graph = graph, loss = loss, plan = plan }
end

-- The model traced in eval mode on specs x and y with its loss, and the evaluation's
-- outputs: {loss (sum, count)} and, for classification (2-dim outputs, i32 targets), the
-- number of rows whose largest output is the target.
local function eval_trace(self, x, y)
    local tr = trace.trace(self.model, { x }, { mode = "eval", loss = self.loss, targets = { y } })
    local out, outputs = tr.outputs[1], { tr.loss }
    if out:ndim() == 2 and #y.shape == 1 and y.dtype == "i32" then
        outputs[2] = F.sum(F.eq(F.argmax(out, -1), tr.targets[1]))
    end
    return tr, outputs
end

-- Sets the handle's loss scaling for `mode` (fp16: the configured scale; else 1).
local function apply_loss_scale(self, handle, mode)
    local ls = loss_scale_of(self.precision_cfg, mode) or { scale = 1 }
    util.call(handle.set_loss_scale, handle, ls)
end

-- Trainer{model =, input_shape = {N, ...} (or inputs = {spec, ...}), optim =, ...}:
--   model        an nn.Module
--   input_shape  the micro-batch's shape (f32, or input_dtype); or inputs = a list of
--                specs ({shape =, dtype =, name =}) for several model inputs
--   loss         "cross_entropy" (default) | "mse" | function(output, target, ...)
--   targets      specs of the loss's targets (default: i32 (N) class numbers; mse: the
--                output's shape)
--   optim        lutra.optim.SGD{...} / AdamW{...}, or {type = "SGD", lr = ...}
--   schedule     a lutra.optim.schedules object; its base lr defaults to optim's lr
--   precision    {mode = "fp32" | "fp16" | "bf16", loss_scale = "dynamic" | number,
--                init_scale = 65536, growth_factor = 2, backoff_factor = 0.5,
--                growth_interval = 2000} (the scaling keys apply to fp16)
--   checkpoint   true: activation checkpointing (segments recomputed in the backward, the
--                planner choosing where to cut; kept only when the step gets smaller)
--   loader_bytes the batch buffers of the loader that feeds it (lutra.data.loader_bytes),
--                counted in the `data` category of its reports on the CPU (default 0)
-- Raises at the caller's line for a bad config, a shape error in the model, or a plan
-- that does not fit the memory limit.
function M.new(cfg)
    local self = setmetatable({}, Trainer)
    cfg = read_config(self, cfg)
    local c = compile(self, self.input_specs, cfg.targets, self.precision)
    local handle = util.call(core.trainer, c.plan)
    apply_loss_scale(self, handle, self.precision)
    local schedule = cfg.schedule
    if schedule ~= nil then
        if type(schedule) ~= "table" or schedule.lr == nil then
            raise("Trainer: schedule must be a lutra.optim.schedules object")
        end
        schedule:with_base(self.optim.lr)
    end
    self.schedule = schedule
    self.trace, self.graph, self.plan, self.handle = c.trace, c.graph, c.plan, handle
    self.batch_size = c.trace.inputs[1]:shape()[1]
    self.n_inputs = #c.trace.inputs
    self.variants = {}  -- rows -> compiled plan added to the handle (other micro-batch sizes)
    self.iter = 0       -- optimizer steps attempted (skipped ones count)
    self.epoch = 0
    self.sample_base = 0 -- the next sample's index in the epoch (keys dropout)
    self.programs = {}  -- evaluation and prediction programs, by key
    return self
end

setmetatable(Trainer, {
    __call = function(_, cfg)
        return M.new(cfg)
    end,
})

-- M.plan(cfg): what Trainer(cfg) would plan, without allocating the step's memory:
-- {report = bytes by category, nodes = forward + backward nodes, graph = {values, nodes,
-- inputs, params, param_numel}, ops = {name = count} (forward ops by lutra.F name),
-- precision =, segments =, recomputed = (activation checkpointing: 1 segment when
-- none), blocked =, aliased = (the tensors kept channel-blocked, the reshapes aliased)}.
-- Raises as M.new does.
-- With eval_batch, also eval = the bytes of the evaluation program for batches of that
-- many rows, and eval_extra = what it allocates beyond the step's arenas it borrows.
-- opts: {memory_limit = bytes}: both plans' limit instead of the context's, for this call
-- (math.maxinteger: none, to measure what does not fit); bucket_bytes = n: also buckets =
-- and largest_bucket = (bytes), the gradient's all-reduce buckets in a data-parallel job.
function M.plan(cfg, eval_batch, opts)
    local self = setmetatable({}, Trainer)
    cfg = read_config(self, cfg)
    local limit = opts and opts.memory_limit
    self.memory_limit = limit
    local c = compile(self, self.input_specs, cfg.targets, self.precision)
    local report = with_loader(self, c.plan:report())
    local segments, recomputed = c.plan:checkpointing()
    local blocked, aliased = c.plan:layout()
    local out = { report = report, nodes = c.plan:nodes(), graph = c.trace.graph:info(),
        ops = c.trace.op_counts, precision = self.precision, segments = segments,
        recomputed = recomputed, blocked = blocked, aliased = aliased }
    if opts and opts.bucket_bytes then
        out.buckets, out.largest_bucket = c.plan:grad_buckets(opts.bucket_bytes)
    end
    c.plan:close()
    if eval_batch then
        local function rows_of(s)
            local shape = { table.unpack(s:shape()) }
            shape[1] = eval_batch
            return { shape = shape, dtype = s:dtype() }
        end
        local tr, outputs = eval_trace(self, rows_of(c.trace.inputs[1]),
            rows_of(c.trace.targets[1]))
        out.eval = util.call(core.forward_plan, tr.graph, outputs, { memory_limit = limit })
        out.eval_extra = core.mem_extra(report, out.eval)
    end
    return out
end

local function rows(batch)
    local shape = batch[1]:shape()
    return shape[1] or 1
end

local function spec_of(t, name)
    return { shape = t:shape(), dtype = t:dtype(), name = name }
end

-- Plans the step for a micro-batch of another size and adds the plan to the handle.
local function add_variant(self, batch)
    local inputs, targets = {}, {}
    for i, t in ipairs(batch) do
        if not is_tensor(t) then
            raise("step: micro-batch entry " .. i .. " is a " .. type(t) .. ", not a tensor")
        end
        if i <= self.n_inputs then
            inputs[#inputs + 1] = spec_of(t)
        else
            targets[#targets + 1] = spec_of(t)
        end
    end
    local c = compile(self, inputs, #targets > 0 and targets or nil, self.precision)
    util.call(self.handle.add_plan, self.handle, c.plan)
    self.variants[rows(batch)] = c
end

-- trainer:step(batches [, epoch [, sample_base]]): one optimizer step. batches is a list
-- of micro-batches ({{x1, y1}, {x2, y2}}) or one micro-batch ({x, y}); the tensors follow
-- the inputs, then the targets. A micro-batch with another number of rows (a short last
-- one) runs through a plan of its own, made the first time that size is seen; the loss
-- is still normalised over the whole step. epoch and sample_base (the index of the
-- step's first sample in the epoch) key dropout; by default the trainer counts them
-- itself. Sets the schedule's lr first. Returns {loss, count, grad_norm, skipped, step,
-- loss_scale, lr, iter}.
function Trainer:step(batches, epoch, sample_base)
    if type(batches) ~= "table" or is_tensor(batches) then
        raise("step: want a list of micro-batches {{x, y}, ...} or one micro-batch {x, y}, got "
            .. (is_tensor(batches) and "a tensor" or type(batches)))
    end
    if is_tensor(batches[1]) then
        batches = { batches }
    end
    local n = 0
    for _, b in ipairs(batches) do
        if type(b) ~= "table" or not is_tensor(b[1]) then
            raise("step: want a list of micro-batches {{x, y}, ...}, got a " .. type(b) ..
                " in the list")
        end
        local r = rows(b)
        if r ~= self.batch_size and not self.variants[r] then
            add_variant(self, b)
        end
        n = n + r
    end
    epoch = epoch or self.epoch
    if epoch ~= self.epoch then
        self.epoch, self.sample_base = epoch, 0
    end
    sample_base = sample_base or self.sample_base
    local lr
    if self.schedule then
        lr = self.schedule:lr(self.iter)
        self.handle:set_lr(lr)
    else
        lr = self.handle:lr()
    end
    local r = util.call(self.handle.step, self.handle, batches, epoch, sample_base)
    self.sample_base = sample_base + n
    self.iter = self.iter + 1
    r.lr, r.iter = lr, self.iter
    return r
end

-- trainer:set_precision(mode): trains in `mode` ("fp32" | "fp16" | "bf16") from the next
-- step on: re-traces and re-plans, and the new step takes the weights, optimizer moments,
-- step count and lr over (fp16 starts from its configured scale, the others from 1). The
-- old step's memory is freed. No-op when mode is the current one.
function Trainer:set_precision(mode)
    check_mode(mode)
    if mode == self.precision then
        return
    end
    local c = compile(self, self.input_specs, self.targets, mode)
    local handle = util.call(core.trainer, c.plan)
    util.call(handle.copy_state, handle, self.handle)
    apply_loss_scale(self, handle, mode)
    self:close_programs() -- they borrow the old step's memory: built again on use
    self.handle:close()
    self.plan:close()
    for _, v in pairs(self.variants) do
        v.plan:close()
    end
    self.trace, self.graph, self.plan, self.handle = c.trace, c.graph, c.plan, handle
    self.variants = {}
    self.precision = mode
end

function Trainer:set_lr(lr)
    util.call(self.handle.set_lr, self.handle, lr)
end

function Trainer:lr()
    return self.handle:lr()
end

function Trainer:loss_scale()
    return self.handle:loss_scale()
end

-- trainer:set_loss_scale{scale =, dynamic =, growth_factor =, backoff_factor =,
-- growth_interval =}: the loss scaling of the next steps (resume uses it).
function Trainer:set_loss_scale(ls)
    util.call(self.handle.set_loss_scale, self.handle, ls)
end

-- trainer:memory(): bytes allocated by category (as the plan report, plus the plans of
-- other micro-batch sizes), with total and live_peak.
function Trainer:memory()
    return self.handle:memory()
end

-- trainer:profile([reset]): where the step's time goes, for a trainer made after
-- lutra.set_profile(true): one {op =, backward =, seconds =} per node of the step, in step
-- order, its seconds summed over the steps run so far (an empty list when not profiling);
-- reset = true starts the sums again (after warm-up steps).
function Trainer:profile(reset)
    local nodes = self.handle:profile()
    if reset then
        self.handle:profile_reset()
    end
    return nodes
end

-- trainer:plan_report(): the planned bytes by category; nodes = forward + backward nodes.
function Trainer:plan_report()
    local r = with_loader(self, self.plan:report())
    r.nodes = self.plan:nodes()
    return r
end

-- ---- checkpoints -------------------------------------------------------------------------

-- trainer:optimizer_state(): the optimizer's moments as {names, tensors}, one tensor per
-- parameter and moment, named "optimizer.<moment>.<parameter>" (PyTorch's state keys:
-- momentum_buffer; exp_avg, exp_avg_sq), and the counters as a table {steps =, iter =,
-- loss_scale =, precision =}.
function Trainer:optimizer_state()
    local names, tensors = {}, {}
    local kinds = MOMENT_NAMES[self.optim.kind]
    local params = self.model:state_dict()
    self.moment_copies = self.moment_copies or {} -- reused: a checkpoint makes no garbage
    for k = 1, self.handle:moment_count() do
        for i, name in ipairs(self.trace.param_names) do
            local key = "optimizer." .. kinds[k] .. "." .. name
            local t = self.moment_copies[key] or T.zeros(params[name]:shape())
            self.moment_copies[key] = t
            if pcall(self.handle.get_moment, self.handle, k, i, t) then
                names[#names + 1] = key
                tensors[#tensors + 1] = t
            end
        end
    end
    return names, tensors, { steps = self.handle:steps(), iter = self.iter,
        loss_scale = self.handle:loss_scale(), clean_steps = self.handle:clean_steps(),
        precision = self.precision }
end

-- trainer:moment_names(): the kinds of optimizer moments this trainer keeps, as named in
-- checkpoints ("optimizer.<kind>.<parameter>"): {"momentum_buffer"}, {"exp_avg",
-- "exp_avg_sq"}, or none (SGD without momentum).
function Trainer:moment_names()
    local kinds, names = MOMENT_NAMES[self.optim.kind], {}
    for k = 1, self.handle:moment_count() do
        names[k] = kinds[k]
    end
    return names
end

-- trainer:load_optimizer_state(tensors, counters): puts back what optimizer_state gave
-- (tensors: name -> tensor). Raises naming a missing or misshapen moment.
function Trainer:load_optimizer_state(tensors, counters)
    local kinds = MOMENT_NAMES[self.optim.kind]
    for k = 1, self.handle:moment_count() do
        for i, name in ipairs(self.trace.param_names) do
            local key = "optimizer." .. kinds[k] .. "." .. name
            local t = tensors[key]
            if t == nil then
                raise("the checkpoint has no " .. key .. " (was it saved with another optimizer?)")
            end
            util.call(self.handle.set_moment, self.handle, k, i, t)
        end
    end
    util.call(self.handle.set_steps, self.handle, counters.steps or 0)
    self.iter = counters.iter or self.iter
end

-- ---- evaluation ----------------------------------------------------------------------------

-- A forward program of the model in eval mode for these tensors' shapes; with targets,
-- its outputs are {loss, output}. It borrows the step's memory where large enough.
function Trainer:program(x, y)
    local key = util.shape_str(x:shape()) .. x:dtype()
        .. (y and "|" .. util.shape_str(y:shape()) .. y:dtype() or "")
    local prog = self.programs[key]
    if prog == nil then
        local tr = trace.trace(self.model, { spec_of(x, "x") }, {
            mode = "eval",
            loss = y and self.loss or nil,
            targets = y and { spec_of(y, "y") } or nil,
        })
        prog = tr:program(y and { tr.loss, tr.outputs[1] } or tr.outputs, self:lender())
        self.programs[key] = prog
    end
    return prog
end

-- The evaluation program for a batch (x, y): outputs {loss (sum, count)} and, for
-- classification (2-dim outputs, i32 targets), the number of rows whose largest output
-- is the target — computed in the program, so evaluation copies no logits out. It
-- borrows the step's memory (self.handle) where that is large enough.
function Trainer:eval_program(x, y)
    local key = "eval" .. util.shape_str(x:shape()) .. x:dtype() .. "|" ..
        util.shape_str(y:shape()) .. y:dtype()
    local prog = self.programs[key]
    if prog == nil then
        local tr, outputs = eval_trace(self, spec_of(x, "x"), spec_of(y, "y"))
        prog = tr:program(outputs, self:lender())
        self.programs[key] = prog
    end
    return prog
end

-- trainer:evaluate_batch(x, y, acc): adds one batch's loss sum, target count and correct
-- rows to acc ({sum =, count =, correct =, rows =}); returns acc.
function Trainer:evaluate_batch(x, y, acc)
    acc = acc or { sum = 0, count = 0, correct = 0, rows = 0 }
    local loss, correct = trace.run(self:eval_program(x, y), { x, y })
    acc.sum, acc.count = acc.sum + loss:get(1), acc.count + loss:get(2)
    acc.rows = acc.rows + x:shape()[1]
    if correct then
        acc.correct = acc.correct + correct:get(1)
        acc.classify = true
    end
    return acc
end

-- evaluator(model [, loss = "cross_entropy"]): evaluation alone, without a training
-- step's memory (lutra eval): eval_program, evaluate_batch and program as a Trainer has.
local Evaluator = { eval_program = Trainer.eval_program, evaluate_batch = Trainer.evaluate_batch,
    program = Trainer.program, lender = function() return nil end }
Evaluator.__index = Evaluator

function M.evaluator(model, loss)
    return setmetatable({ model = model, loss = loss or "cross_entropy", programs = {} }, Evaluator)
end

-- M.eval_plan(model, x, y [, loss [, opts]]): the bytes an evaluator's program for inputs
-- of spec x and targets of spec y ({shape =, dtype =}) would allocate, by category,
-- without allocating them. opts: {memory_limit = bytes}, as M.plan's.
function M.eval_plan(model, x, y, loss, opts)
    local tr, outputs = eval_trace({ model = model, loss = loss or "cross_entropy" }, x, y)
    return util.call(core.forward_plan, tr.graph, outputs,
        { memory_limit = opts and opts.memory_limit })
end

-- trainer:evaluate(x, y [, {batch_size =}]): the model in eval mode over every row of x
-- and y, in batches (a short last batch gets its own program). Returns {loss = mean loss,
-- accuracy = fraction of rows whose largest output is the target (classification with
-- 2-dim outputs), count = rows}.
function Trainer:evaluate(x, y, opts)
    opts = util.check_options("evaluate", opts, { "batch_size" })
    if not is_tensor(x) or not is_tensor(y) then
        raise("evaluate: want tensors x and y")
    end
    local n, bs = x:shape()[1], opts.batch_size or self.batch_size
    if y:shape()[1] ~= n then
        raise(string.format("evaluate: x has %d rows but y has %d", n, y:shape()[1]))
    end
    local acc
    for first = 1, n, bs do
        local len = math.min(bs, n - first + 1)
        acc = self:evaluate_batch(x:narrow(1, first, len), y:narrow(1, first, len), acc)
    end
    return M.metrics(acc)
end

-- metrics(acc): {loss =, accuracy = (classification only), count = rows} from the sums
-- evaluate_batch gathers.
function M.metrics(acc)
    return { loss = acc.count > 0 and acc.sum / acc.count or 0,
        accuracy = acc.classify and acc.correct / acc.rows or nil, count = acc.rows }
end

-- trainer:predict(x): the model's outputs on x in eval mode (one program per shape).
function Trainer:predict(x)
    if not is_tensor(x) then
        raise("predict: want a tensor, got " .. type(x))
    end
    return trace.run(self:program(x), { x })
end

-- trainer:close(): frees the trainer's memory now (also done when it is collected, and
-- by `local trainer <close> = lutra.Trainer{...}`).
-- The core trainer whose memory programs borrow (an Evaluator has none).
function Trainer:lender()
    return self.handle
end

-- Closes the evaluation and prediction programs (they are built again when needed).
function Trainer:close_programs()
    for _, prog in pairs(self.programs) do
        prog.forward:close()
    end
    self.programs = {}
end

-- What a closed Trainer answers: every method raises at the caller's line, but closing
-- again does nothing.
local Closed = {
    __index = function(_, name)
        if name == "close" or name == "close_programs" then
            return function() end
        end
        if Trainer[name] then
            return function()
                raise("Trainer:" .. name .. ": the trainer was closed")
            end
        end
    end,
    __close = function() end,
}

function Trainer:close()
    self:close_programs()
    setmetatable(self, Closed)
    self.handle:close()
    self.plan:close()
    for _, v in pairs(self.variants) do
        v.plan:close()
    end
    self.variants = {}
    self.programs = {}
end
Trainer.__close = Trainer.close

return M
