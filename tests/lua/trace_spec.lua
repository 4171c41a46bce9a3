-- Tracing: forward on symbols records a graph; shape errors point at the line of the
-- user's forward; constants, losses and modes.
local lutra = require "lutra"
local nn = lutra.nn

-- A user's model file, loaded under the name "model.lua".
local model_src = [[
local nn = ...
local Net = nn.Module:extend("Net")
function Net:__init()
    self.fc1 = nn.Linear(100, 10)
end
function Net:forward(x)
    local h = nn.relu(x)
    return self.fc1(h)
end
return Net
]]
local Net = assert(load(model_src, "@model.lua"))(nn)

local function error_of(f, ...)
    local ok, err = pcall(f, ...)
    assert.is_false(ok)
    return err
end

describe("tracing", function()
    it("records a graph with symbols of the right shapes", function()
        local m = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
        local tr = lutra.trace(m, { 8, 784 })
        assert.equal(1, #tr.inputs)
        assert.same({ 8, 784 }, tr.inputs[1]:shape())
        assert.same({ 8, 10 }, tr.outputs[1]:shape())
        assert.equal("f32", tr.outputs[1]:dtype())
        local info = tr.graph:info()
        assert.equal(3, info.nodes)
        assert.equal(4, info.params)
        assert.equal(784 * 100 + 100 + 1010, info.param_numel)
        assert.same({ "0.weight", "0.bias", "2.weight", "2.bias" }, tr.param_names)
    end)

    it("adds a loss and its targets after the inputs", function()
        local m = nn.Linear(4, 3)
        local tr = lutra.trace(m, { { shape = { 5, 4 }, name = "x" } }, { loss = "cross_entropy" })
        assert.same({ 5 }, tr.targets[1]:shape())
        assert.equal("i32", tr.targets[1]:dtype())
        assert.same({ 2 }, tr.loss:shape())
        local tr2 = lutra.trace(m, { 5, 4 }, { loss = function(out, y)
            return nn.mse_loss(out, y)
        end, targets = { { shape = { 5, 3 } } } })
        assert.same({ 5, 3 }, tr2.targets[1]:shape())
    end)

    it("points shape errors at the line of the user's forward", function()
        local err = error_of(lutra.trace, Net(), { 8, 784 })
        assert.equal("model.lua:8: linear: input (8, 784) has 784 features but weight (10, 100) "
            .. "expects 100", err)
        -- the same when the model is called on a tensor
        err = error_of(Net(), lutra.zeros(8, 784))
        assert.equal("model.lua:8: linear: input (8, 784) has 784 features but weight (10, 100) "
            .. "expects 100", err)
    end)

    it("points errors inside library modules at the user's call", function()
        local m = nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2))
        local line = debug.getinfo(1, "l").currentline + 1
        local err = error_of(function() local _ = lutra.trace(m, { 2, 3 }) end)
        assert.equal("tests/lua/trace_spec.lua:" .. line .. ": linear: input (2, 4) has 4 features "
            .. "but weight (2, 5) expects 5", err)
    end)

    it("turns tensors met in forward into graph constants", function()
        local bias = lutra.tensor({ 1, 2, 3 })
        local tr = lutra.trace(function(x)
            return (x * 2 + bias - 1) / 4
        end, { 2, 3 })
        assert.same({ 2, 3 }, tr.outputs[1]:shape())
        local prog = tr:program()
        local out = lutra.tracing.run(prog, { lutra.ones(2, 3) })
        assert.same({ 0.5, 0.75, 1, 0.5, 0.75, 1 }, out:values())
    end)

    it("gives symbols Lua's arithmetic and shape methods", function()
        local tr = lutra.trace(function(x, y)
            local s = x + y
            assert.equal("[lutra f32 symbol of size 8x4x2]", tostring(s))
            assert.equal(4, s:size(2))
            assert.equal(64, s:numel())
            assert.equal(8, #s)
            local f = s:flatten(2)
            assert.same({ 8, 8 }, f:shape())
            return -f:reshape(8, 2, 4), s:relu(), s:permute(2, 3, 1)
        end, { { 8, 4, 2 }, { 4, 2 } })
        assert.equal(3, #tr.outputs)
        assert.same({ 8, 2, 4 }, tr.outputs[1]:shape())
        assert.same({ 4, 2, 8 }, tr.outputs[3]:shape())
    end)

    it("traces in the mode asked for and puts the modes back", function()
        local m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
        assert.equal(2, lutra.trace(m, { 2, 4 }, { mode = "train" }).graph:info().nodes)
        assert.equal(1, lutra.trace(m, { 2, 4 }, { mode = "eval" }).graph:info().nodes)
        assert.is_true(m[2].training)
    end)

    it("says what is wrong with a forward's results and a loss", function()
        assert.equal("trace: forward returned a tensor as output 1; want symbols",
            error_of(lutra.trace, function() return lutra.zeros(2) end, { 2 }):gsub("^.-:%d+: ", ""))
        local err = error_of(lutra.trace, nn.Linear(2, 2), { 3, 2 }, { loss = function(out)
            return out
        end })
        assert.matches("the loss must be the {sum, count} pair", err, 1, true)
        err = error_of(lutra.trace, nn.Linear(2, 2), { 3, 2 }, { mode = "test" })
        assert.matches("trace: mode must be \"train\" or \"eval\", got test", err, 1, true)
        err = error_of(lutra.trace, nn.Linear(2, 2), { 3, 2 }, { los = "mse" })
        assert.matches("trace: unknown option 'los'", err, 1, true)
    end)

    it("refuses symbols of another graph", function()
        local other = lutra.trace(function(x) return x * 1 end, { 2 }).outputs[1]
        local err = error_of(lutra.trace, function(x)
            return x + other
        end, { 2 })
        assert.matches("add: input 2 belongs to another graph than input 1", err, 1, true)
    end)

    it("trains a parameter met with constants alone (a position embedding of fixed ids)", function()
        local Pos = nn.class("Pos")
        function Pos:__init()
            self.tok = nn.Linear(4, 4)
            self.pos = nn.Embedding(3, 4) -- read at the fixed ids 0, 1, 2
            self.ids = lutra.tensor({ 0, 1, 2 }, "i32")
        end
        function Pos:forward(x) -- x (3, 4): each row gets its position's vector
            return self.tok(x) + self.pos(self.ids)
        end
        lutra.manual_seed(4)
        local m = Pos()
        local before = {}
        for k = 1, 12 do
            before[k] = m.pos.weight:get(k)
        end
        local trainer = lutra.Trainer { model = m, input_shape = { 3, 4 },
            optim = lutra.optim.SGD { lr = 0.5 } }
        trainer:step { lutra.randn { 3, 4 }, lutra.tensor({ 0, 1, 2 }, "i32") }
        -- the embedding is part of the graph: its gradient reached it, the step moved it
        local moved = 0
        for k = 1, 12 do
            moved = math.max(moved, math.abs(m.pos.weight:get(k) - before[k]))
        end
        assert.is_true(moved > 1e-3, "the position embedding moved by " .. moved)
        assert.equal(2, #trainer.trace.param_names - 1) -- tok's weight and bias, pos's weight
    end)
end)
