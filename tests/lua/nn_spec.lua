-- lutra.nn: PyTorch's parameter names and initialisations, module registration and modes,
-- and calling modules on tensors.
local lutra = require "lutra"
local nn = lutra.nn

local function names(iter)
    local list = {}
    for name in iter do
        list[#list + 1] = name
    end
    return list
end

local function max_abs(t)
    local m = 0
    for _, v in ipairs(t:values()) do
        m = math.max(m, math.abs(v))
    end
    return m
end

local function close_values(a, b, tol)
    local va, vb = a:values(), b:values()
    assert.equal(#vb, #va)
    for i = 1, #va do
        assert.near(vb[i], va[i], tol)
    end
end

local Net = nn.Module:extend("Net")

function Net:__init(classes)
    self.features = nn.Sequential(nn.Conv2d(1, 4, 3, { padding = 1 }), nn.BatchNorm2d(4), nn.ReLU())
    self.pool = nn.AdaptiveAvgPool2d(1)
    self.fc = nn.Linear(4, classes)
end

function Net:forward(x)
    local h = self.pool(self.features(x))
    return self.fc(nn.flatten(h, 2))
end

describe("parameter names", function()
    it("are PyTorch's for a Sequential", function()
        local m = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
        assert.same({ "0.weight", "0.bias", "2.weight", "2.bias" }, names(m:named_parameters()))
        assert.same({ 100, 784 }, m[1].weight:shape())
        assert.same({ 100 }, m[1].bias:shape())
        assert.same({ 10, 100 }, m[3].weight:shape())
        assert.equal(4, #m:parameters())
        assert.equal(784 * 100 + 100 + 100 * 10 + 10, m:num_parameters())
    end)

    it("are dotted paths through nested and custom modules", function()
        local m = Net(10)
        assert.same({ "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
            "fc.weight", "fc.bias" }, names(m:named_parameters()))
        assert.same({ "features.1.running_mean", "features.1.running_var" }, names(m:named_buffers()))
        local _, order = m:state_dict()
        assert.same({ "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
            "features.1.running_mean", "features.1.running_var", "fc.weight", "fc.bias" }, order)
        assert.same({ "", "features", "features.0", "features.1", "features.2", "pool", "fc" },
            names(m:named_modules()))
    end)

    it("count a shared parameter once", function()
        local lin = nn.Linear(3, 3)
        local m = nn.Sequential(lin, lin)
        assert.same({ "0.weight", "0.bias" }, names(m:named_parameters()))
    end)
end)

describe("initialisation", function()
    it("draws Linear and Conv2d from U(-1/sqrt(fan_in), 1/sqrt(fan_in))", function()
        lutra.manual_seed(0)
        local lin = nn.Linear(100, 50)
        local b = 1 / math.sqrt(100)
        assert.is_true(max_abs(lin.weight) <= b and max_abs(lin.weight) > 0.95 * b)
        assert.is_true(max_abs(lin.bias) <= b and max_abs(lin.bias) > 0.8 * b)
        local conv = nn.Conv2d(3, 8, 3)
        local bc = 1 / math.sqrt(27)
        assert.same({ 8, 3, 3, 3 }, conv.weight:shape())
        assert.is_true(max_abs(conv.weight) <= bc and max_abs(conv.weight) > 0.9 * bc)
        local dw = nn.Conv2d(4, 4, 3, { groups = 4, bias = false })
        assert.same({ 4, 1, 3, 3 }, dw.weight:shape())
        assert.is_nil(dw.bias)
        assert.is_true(max_abs(dw.weight) <= 1 / 3)
    end)

    it("sets norm layers to weight 1, bias 0, running mean 0 and variance 1", function()
        local bn = nn.BatchNorm2d(3)
        assert.same({ 1, 1, 1 }, bn.weight:values())
        assert.same({ 0, 0, 0 }, bn.bias:values())
        assert.same({ 0, 0, 0 }, bn.running_mean:values())
        assert.same({ 1, 1, 1 }, bn.running_var:values())
        local ln = nn.LayerNorm(2)
        assert.same({ 1, 1 }, ln.weight:values())
        assert.same({ 0, 0 }, ln.bias:values())
    end)

    it("draws Embedding from N(0, 1)", function()
        local e = nn.Embedding(1000, 16)
        local v, sum, sq = e.weight:values(), 0, 0
        for _, x in ipairs(v) do
            sum, sq = sum + x, sq + x * x
        end
        local mean = sum / #v
        assert.is_true(math.abs(mean) < 0.05)
        assert.is_true(math.abs(math.sqrt(sq / #v - mean * mean) - 1) < 0.05)
    end)

    it("is deterministic for a seed, with a stream per tensor", function()
        lutra.manual_seed(7)
        local a, a2 = nn.Linear(5, 5), nn.Linear(5, 5)
        lutra.manual_seed(7)
        local b = nn.Linear(5, 5)
        assert.same(a.weight:values(), b.weight:values())
        assert.same(a.bias:values(), b.bias:values())
        assert.are_not.same(a.weight:values(), a2.weight:values())
        lutra.manual_seed(8)
        assert.are_not.same(a.weight:values(), nn.Linear(5, 5).weight:values())
    end)

    it("gives every Dropout its own layer id", function()
        local d1, d2 = nn.Dropout(0.1), nn.Dropout(0.1)
        assert.are_not.equal(d1.layer, d2.layer)
    end)
end)

describe("modules", function()
    it("register parameters, buffers and children by assignment", function()
        local M = nn.class("M")
        function M:__init()
            self.w = nn.Parameter(lutra.ones(2))
            self.plain = lutra.zeros(2) -- not a parameter
            self.child = nn.Linear(2, 2)
            self:register_buffer("count", lutra.zeros(1))
            self.scale = 3
        end
        local m = M()
        assert.same({ "w", "child.weight", "child.bias" }, names(m:named_parameters()))
        assert.same({ "count" }, names(m:named_buffers()))
        assert.equal(3, m.scale)
        m.child = nil
        assert.same({ "w" }, names(m:named_parameters()))
        m.w = lutra.ones(4) -- a tensor over a parameter replaces it
        assert.same({ 4 }, m.w:shape())
        assert.has_error(function()
            m.w = 5
        end, "cannot assign a number to parameter 'w' (want a tensor or nil)")
    end)

    it("index, count and append children like Torch7's containers", function()
        local s = nn.Sequential(nn.ReLU())
        s:add(nn.Linear(2, 3))
        assert.equal(2, #s)
        assert.equal("Linear", getmetatable(s[2]).__name)
        assert.same({ "1.weight", "1.bias" }, names(s:named_parameters()))
    end)

    it("switch modes recursively", function()
        local m = Net(3)
        m:eval()
        assert.is_false(m.features[2].training)
        m:train()
        assert.is_true(m.features[2].training)
    end)

    it("print as PyTorch prints them", function()
        local m = nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Dropout(0.5))
        assert.equal("Sequential(\n  (0): Linear(in_features=4, out_features=2, bias=true)\n"
            .. "  (1): ReLU()\n  (2): Dropout(p=0.5)\n)", tostring(m))
    end)

    it("load state dicts, checking names and shapes", function()
        local a, b = nn.Linear(3, 2), nn.Linear(3, 2)
        b:load_state_dict(a:state_dict())
        assert.same(a.weight:values(), b.weight:values())
        assert.has_error(function()
            b:load_state_dict({ weight = lutra.zeros(2, 4), bias = lutra.zeros(2) })
        end, "load_state_dict: weight is (2, 3) in the model but (2, 4) in the weights")
        assert.has_error(function()
            b:load_state_dict({ weight = lutra.zeros(2, 3) })
        end, "load_state_dict: missing bias")
    end)

    it("check their arguments", function()
        assert.has_error(function()
            nn.Linear("a", 3)
        end, "Linear: in_features must be an integer >= 1, got a")
        assert.has_error(function()
            nn.Conv2d(3, 4, 3, { groups = 2 })
        end, "Conv2d: groups 2 must divide in_channels 3 and out_channels 4")
        assert.has_error(function()
            nn.Sequential(nn.ReLU(), 5)
        end, "Sequential: argument 2 is a number, not a module")
    end)
end)

describe("calling modules on tensors", function()
    it("runs a planned program equal to the eager forward", function()
        lutra.manual_seed(1)
        local m = Net(5)
        local x = lutra.randn(2, 1, 6, 6)
        m:eval()
        local y = m(x)
        assert.same({ 2, 5 }, y:shape())
        close_values(y, m:forward(x), 1e-5)
    end)

    it("rebuilds its program when the module changes or the mode does", function()
        local m = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
        local x = lutra.ones(8, 4)
        assert.same({ 8, 3 }, m(x):shape())
        m[1] = nn.Linear(4, 6)
        assert.same({ 8, 6 }, m(x):shape())
        m:eval()
        local ref = m[1](x)
        close_values(m(x), ref, 1e-6) -- dropout is the identity in eval mode
        m:train()
        local zeros = 0
        for _, v in ipairs(m(x):values()) do
            zeros = zeros + (v == 0 and 1 or 0)
        end
        assert.is_true(zeros > 0)
    end)

    it("runs modules that return their input", function()
        local x = lutra.tensor({ 1, 2 })
        assert.same({ 1, 2 }, nn.Identity()(x):values())
        assert.same({ 1, 2 }, nn.Dropout(0.5):eval()(x):values())
    end)

    it("updates batch-norm running statistics in training mode", function()
        local bn = nn.BatchNorm2d(2)
        bn(lutra.randn(4, 2, 3, 3) + 5)
        for _, v in ipairs(bn.running_mean:values()) do
            assert.is_true(v > 0.3) -- 0.9 * 0 + 0.1 * ~5
        end
    end)

    it("offers the functional ops on tensors", function()
        assert.same({ 0, 2 }, nn.relu(lutra.tensor({ -1, 2 })):values())
        local logits = lutra.tensor({ { 10, 0 }, { 0, 10 } })
        local l = nn.cross_entropy(logits, lutra.tensor({ 0, 1 }, "i32"))
        assert.equal(2, l[2])
        assert.is_true(nn.loss_mean(l) < 1e-3)
        assert.same({ 2, 2 }, nn.softmax(logits):shape())
    end)
end)
