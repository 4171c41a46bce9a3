-- The C binding itself (lutra.core): the generic op and its attribute tables, graphs and
-- symbols, plans and their byte counts, trainers, forward programs, the context.
local lutra = require "lutra"
local core = require "lutra.core"

-- x (4, 3) -> linear(5) -> relu -> linear(2) -> cross_entropy, as tests/test_plan.c
local function tiny_mlp()
    local g = core.graph()
    local x = g:input({ 4, 3 }, "f32", "x")
    local y = g:input({ 4 }, "i32", "y")
    local w1, b1 = core.tensor({ 5, 3 }):uniform(1, -0.5, 0.5), core.tensor({ 5 })
    local w2, b2 = core.tensor({ 2, 5 }):uniform(2, -0.5, 0.5), core.tensor({ 2 })
    local h = core.op("linear", { x, g:param(w1, "0.weight"), g:param(b1, "0.bias", 2) })
    h = core.op("relu", { h })
    local logits = core.op("linear", { h, g:param(w2, "2.weight"), g:param(b2, "2.bias", 2) })
    local loss = core.op("cross_entropy", { logits, y })
    return g, loss, logits, { w1 = w1 }
end

describe("core.op", function()
    it("runs on tensors and records on symbols", function()
        local t = core.tensor({ 2, 2 }):fill(-1)
        local r = core.op("relu", { t })
        assert.same({ 0, 0, 0, 0 }, r:values())
        local g = core.graph()
        local s = core.op("relu", { g:input({ 2, 2 }) })
        assert.equal(getmetatable(s), core.Symbol)
        assert.same({ 2, 2 }, s:shape())
        assert.equal(1, g:info().nodes)
    end)

    it("returns every output of an op", function()
        local x = core.tensor({ 2, 3 }):uniform(3, -1, 1)
        local y, mean, rstd = core.op("layer_norm", { x, core.tensor({ 3 }):fill(1), core.tensor({ 3 }) })
        assert.same({ 2, 3 }, y:shape())
        assert.same({ 2 }, mean:shape())
        assert.same({ 2 }, rstd:shape())
    end)

    it("fills attributes from a table, with defaults and 1-based dims", function()
        local x = core.tensor({ 1, 1, 4, 4 }):fill(1)
        local w = core.tensor({ 1, 1, 3, 3 }):fill(1)
        assert.same({ 1, 1, 2, 2 }, core.op("conv2d", { x, w }):shape())
        assert.same({ 1, 1, 4, 4 }, core.op("conv2d", { x, w }, { padding = 1 }):shape())
        assert.same({ 1, 1, 2, 2 }, core.op("conv2d", { x, w }, { padding = { 1, 1 }, stride = 2 }):shape())
        local m = core.tensor({ 2, 3 })
        assert.same({ 3 }, core.op("sum", { m }, { dim = 1 }):shape())
        assert.same({ 2 }, core.op("sum", { m }, { dim = -1 }):shape())
        assert.same({ 2, 1 }, core.op("sum", { m }, { dim = 2, keepdim = true }):shape())
        assert.same({ 3, 2 }, core.op("reshape", { m }, { shape = { 3, -1 } }):shape())
        assert.equal("f16", core.op("cast", { m }, { dtype = "f16" }):dtype())
    end)

    it("names the op and the attribute in attribute errors", function()
        local x = core.tensor({ 1, 1, 4, 4 })
        local w = core.tensor({ 1, 1, 3, 3 })
        local function err(...)
            local ok, msg = pcall(core.op, ...)
            assert.is_false(ok)
            return msg
        end
        assert.equal("conv2d: unknown attribute 'strid' (it takes: stride, padding, dilation, groups)",
            err("conv2d", { x, w }, { strid = 2 }))
        assert.equal("max_pool2d: attribute 'kernel' is required", err("max_pool2d", { x }, {}))
        assert.equal("conv2d: 'stride' must be an integer or a pair of integers, got string",
            err("conv2d", { x, w }, { stride = "2" }))
        assert.equal("relu: unknown attribute 'p' (it takes: none)", err("relu", { x }, { p = 1 }))
        assert.equal("sum: 'dim' is 1-based (1 .. n, or negative from the end), got 0",
            err("sum", { x }, { dim = 0 }))
        assert.equal("cast: 'dtype': unknown dtype 'f64' (one of f32, f16, bf16, i32, u8)",
            err("cast", { x }, { dtype = "f64" }))
        assert.equal("unknown op 'convolve'", err("convolve", { x }))
        assert.equal("linear: takes 2 to 3 inputs, got 1", err("linear", { x }))
    end)

    it("checks each kind of attribute field from its table (kernels/attrs.def)", function()
        local x = core.tensor({ 1, 1, 4, 4 })
        local function err(...)
            local ok, msg = pcall(core.op, ...)
            assert.is_false(ok)
            return msg
        end
        assert.equal("scale: 'alpha' must be a number, got string",
            err("scale", { x }, { alpha = "2" }))
        assert.equal("batch_norm2d: 'training' must be a boolean, got string",
            err("batch_norm2d", { x, x, x, x, x }, { training = "yes" }))
        assert.equal("avg_pool2d: 'count_include_pad' must be a boolean, got number",
            err("avg_pool2d", { x }, { kernel = 2, stride = 2, count_include_pad = 2 }))
        assert.equal("dropout: 'layer' must be an integer in [0, 2^32), got number",
            err("dropout", { x }, { p = 0.1, layer = -1 }))
        assert.equal("conv2d: 'stride' must be an integer or a pair of integers, got table",
            err("conv2d", { x, x }, { stride = { 1, 2, 3 } }))
        assert.equal("cross_entropy: 'ignore_index' must be an integer, got number",
            err("cross_entropy", { x, x }, { ignore_index = 2 ^ 40 }))
        assert.equal("concat: 'dim' must be an integer dim, got number",
            err("concat", { x }, { dim = 1.5 }))
        assert.equal("cast: 'dtype' must be a dtype name, got number",
            err("cast", { x }, { dtype = 1 }))
        assert.equal("reshape: 'shape': a shape is a table of integers",
            err("reshape", { x }, { shape = 3 }))
        assert.equal("reshape: 'shape': a shape has at most 8 dims",
            err("reshape", { x }, { shape = { 1, 1, 1, 1, 1, 1, 1, 1, 16 } }))
        assert.equal("reshape: attribute 'shape' is required", err("reshape", { x }))
        assert.equal("permute: 'dims' must be a table of integer dims, got number",
            err("permute", { x }, { dims = 1 }))
        assert.equal("permute: 'dims' must be a table of integer dims, got number",
            err("permute", { x }, { dims = { 1, 2.5 } }))
        assert.equal("permute: 'dims' has 9 dims; at most 8 are allowed",
            err("permute", { x }, { dims = { 1, 1, 1, 1, 1, 1, 1, 1, 1 } }))
        assert.equal("relu: attributes must be a table, got number", err("relu", { x }, 3))
        assert.equal("relu: attribute keys must be strings, got a number (it takes: none)",
            err("relu", { x }, { 2 }))
    end)

    it("lists every op and its attributes, and lutra.F has a function for each", function()
        local names = core.op_names()
        assert.equal("matmul", names[1])
        assert.same({ "stride", "padding", "dilation", "groups" }, core.op_info("conv2d").attrs)
        assert.same({}, core.op_info("relu").attrs)
        local plain = { matmul = true, linear = true, conv2d = true, relu = true,
            cross_entropy = true, batch_norm2d = true, global_avg_pool = true, mse = true }
        for _, name in ipairs(names) do
            local info = core.op_info(name)
            assert.equal("table", type(info.attrs), name)
            assert.equal("function", type(lutra.F[name]), name)
            if plain[name] and #info.attrs > 0 then -- generated: options after the inputs
                local args = { [info.inputs_max + 1] = { nope = 1 } }
                local ok, msg = pcall(lutra.F[name], table.unpack(args, 1, info.inputs_max + 1))
                assert.is_false(ok)
                assert.matches(name .. ": unknown option 'nope' (it takes: "
                    .. table.concat(info.attrs, ", ") .. ")", msg, 1, true)
            end
        end
        local x = core.tensor({ 2, 3 }):fill(1)
        assert.same({ 2, 3 }, lutra.F.linear(x, core.tensor({ 3, 3 }), nil, "ignored"):shape())
    end)

    it("refuses mixing tensors with symbols and symbols of two graphs", function()
        local g1, g2 = core.graph(), core.graph()
        local a, b = g1:input({ 2 }), g2:input({ 2 })
        assert.has_error(function()
            core.op("add", { a, b })
        end, "add: input 2 belongs to another graph than input 1")
        assert.has_error(function()
            core.op("add", { a, core.tensor({ 2 }) })
        end, "add: input 2 is a tensor but input 1 is a symbol; a tensor used while tracing "
            .. "must first become a value of the graph")
        assert.has_error(function()
            core.op("add", { core.tensor({ 2 }), a })
        end, "add: input 2 is a symbol, not an open tensor (the inputs must all be tensors or "
            .. "all symbols)")
    end)
end)

describe("core graphs and plans", function()
    it("counts a tiny MLP's bytes exactly as the C planner test does", function()
        local g, loss = tiny_mlp()
        local plan = core.plan(g, loss, { kind = "sgd", lr = 0.1, groups = { {}, { decay_mult = 0 } } })
        local r = plan:report()
        assert.equal(192, r.activations)
        assert.equal(192, r.live_peak.activations)
        assert.equal(320, r.temporaries)
        assert.equal(256, r.params)
        assert.equal(256, r.grads)
        assert.equal(0, r.optimizer)
        assert.equal(256, r.data)
        assert.equal(64, r.state)
        -- the workspace is what this CPU's kernels ask for (tests/test_plan.c checks it
        -- against their own answer): here only that it is reported and counted
        assert.equal(0, r.workspace % 64)
        assert.equal(0, r.param_copies)
        assert.equal(0, r.runtime)
        assert.equal(192 + 320 + 256 + 256 + 256 + 64 + r.workspace, r.total)
        assert.equal(8, plan:nodes())
        local tr = core.trainer(plan)
        local m = tr:memory()
        for k, v in pairs(r) do
            if type(v) == "number" then
                assert.equal(v, m[k], k)
            end
        end
    end)

    it("sizes the optimizer's moments by kind", function()
        local g, loss = tiny_mlp()
        local adamw = core.plan(g, loss, { kind = "adamw", lr = 1e-3, groups = { {}, {} } })
        assert.equal(512, adamw:report().optimizer)
        local sgd = core.plan(g, loss, { kind = "sgd", lr = 0.1, momentum = 0.9, groups = { {}, {} } })
        assert.equal(256, sgd:report().optimizer)
    end)

    it("rejects bad optimizer configs with the field's name", function()
        local g, loss = tiny_mlp()
        assert.has_error(function()
            core.plan(g, loss, { kind = "rmsprop", lr = 1 })
        end, "optim: 'kind' must be \"sgd\" or \"adamw\", got string")
        assert.has_error(function()
            core.plan(g, loss, { kind = "sgd" })
        end, "optim: attribute 'lr' is required")
        assert.has_error(function()
            core.plan(g, loss, { kind = "sgd", lr = 0.1, momentum = 1.5, groups = { {}, {} } })
        end, "optim: momentum must be in [0, 1), got 1.5")
        local ok, msg = pcall(core.plan, g, loss, { kind = "sgd", lr = 0.1 })
        assert.is_false(ok) -- the biases are in group 2, and there are no groups
        assert.matches("param '0.bias' is in group", msg, 1, true)
    end)

    it("steps a trainer and returns the step's numbers", function()
        local g, loss, _, t = tiny_mlp()
        local before = t.w1:values()
        local tr = core.trainer(core.plan(g, loss, { kind = "sgd", lr = 0.5, groups = { {}, {} } }))
        local x = core.tensor({ 4, 3 }):normal(7, 0, 1)
        local y = core.tensor({ 4 }, "i32")
        y:set_values({ 0, 1, 1, 0 })
        local r = tr:step({ { x, y } })
        assert.equal(4, r.count)
        assert.equal(1, r.step)
        assert.is_false(r.skipped)
        assert.is_true(r.loss > 0 and r.grad_norm > 0)
        assert.are_not.same(before, t.w1:values()) -- the module's tensor is now a view
        local r2 = tr:step({ { x, y }, { x, y } }, 1, 8)
        assert.equal(8, r2.count)
        assert.equal(2, r2.step)
        assert.equal(0.5, tr:lr())
        tr:set_lr(0.25)
        assert.equal(0.25, tr:lr())
        assert.has_error(function()
            tr:step({ { x } })
        end, "step: micro-batch: want 2 tensors (one per graph input), got 1")
        local ok, msg = pcall(tr.step, tr, { { y, y } })
        assert.is_false(ok)
        assert.equal("step: x (input 1) is i32 (4,), the graph wants f32 (4, 3)", msg)
    end)

    it("runs forward programs into given tensors", function()
        local g, _, logits = tiny_mlp()
        local f = core.forward(g, { logits })
        local x, y, out = core.tensor({ 4, 3 }), core.tensor({ 4 }, "i32"), core.tensor({ 4, 2 })
        f:run({ x, y }, { out })
        assert.is_true(f:memory().total > 0)
        assert.has_error(function()
            f:run({ x, y }, { core.tensor({ 4, 3 }) })
        end, "forward: output tensor 1 does not have the output's dtype and shape")
    end)

    it("makes a mixed-precision graph with a map of value ids", function()
        local g, loss = tiny_mlp()
        local mixed, map = g:mixed("bf16")
        local l = mixed:value(map[loss:id()])
        assert.same({ 2 }, l:shape())
        assert.equal("f32", l:dtype())
        assert.is_true(mixed:info().nodes > g:info().nodes) -- the casts
        assert.equal(g:info().params, mixed:info().params)
        local plan = core.plan(mixed, l, { kind = "sgd", lr = 0.1, groups = { {}, {} } })
        assert.is_true(plan:nodes() > 0)
    end)
end)

describe("the context", function()
    it("holds seed, threads and the memory limit", function()
        lutra.manual_seed(5)
        assert.equal(5, core.seed())
        local n = core.threads()
        core.set_threads(1)
        assert.equal(1, core.threads())
        core.set_threads(n)
        assert.equal(n, core.threads())
        assert.has_error(function()
            core.set_threads(-1)
        end, "bad argument #1 to 'set_threads' (the thread count must be in [0, 4096])")
        local g, loss = tiny_mlp()
        core.set_memory_limit(1000)
        local ok, msg = pcall(core.plan, g, loss, { kind = "sgd", lr = 0.1, groups = { {}, {} } })
        core.set_memory_limit(0)
        assert.is_false(ok)
        assert.matches("but the memory limit is 1000 B", msg, 1, true)
    end)

    it("reports the version and the backend", function()
        assert.equal(core.version(), lutra.VERSION)
        assert.matches("^lutra %d+%.%d+%.%d+ %(Lua 5%.4; .+%)$", lutra.version())
        assert.is_string(lutra.backend())
        assert.is_false(core.interrupted())
    end)
end)

describe("opening the module again", function()
    it("keeps tensors working (the metatables are set up once per state)", function()
        local t = lutra.tensor({ 1, 2 })
        for name in pairs(package.loaded) do
            if name == "lutra" or name:match("^lutra%.") then
                package.loaded[name] = nil
            end
        end
        local again = require "lutra"
        assert.are_not.equal(lutra, again)
        assert.same({ 2, 3 }, (t + 1):values())
        assert.same({ 4, 6 }, (again.tensor({ 3, 4 }) + t):values())
        assert.equal(" 1\n 2\n[lutra f32 tensor of size 2]", tostring(t))
        assert.same({ 2, 1 }, t:view(2, 1):shape())
    end)
end)

describe("lutra.set_device", function()
    it("picks the CPU, and says why auto found no GPU", function()
        assert.equal("cpu", (lutra.set_device("cpu")))
        assert.equal("cpu", lutra.device())
        local device, why = lutra.set_device("auto")
        if device == "cpu" then
            assert.is_string(why)
        end
        lutra.set_device("cpu")
    end)
    it("raises the reason for a device that is not there or not a device", function()
        local ok, err = pcall(lutra.set_device, "cuda:99")
        assert.is_false(ok)
        assert.matches("device 'cuda:99'", err)
        ok, err = pcall(lutra.set_device, "gpu")
        assert.is_false(ok)
        assert.matches('expected "auto", "cpu", "cuda" or "cuda:N"', err, 1, true)
        ok, err = pcall(lutra.set_device, "cuda: 0")
        assert.is_false(ok)
        assert.matches('expected "auto", "cpu", "cuda" or "cuda:N"', err, 1, true)
        ok, err = pcall(lutra.set_device, nil)
        assert.is_false(ok)
        assert.matches("set_device: want", err, 1, true)
        assert.equal("cpu", lutra.device())
    end)
end)
