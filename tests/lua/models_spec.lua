-- Specs of lutra.models: the registry (register, fields, names, build) and the built-in
-- mlp and cnn builders, checked layer by layer against a stub of lutra.nn, and with the
-- real lutra.nn (parameter names and counts as PyTorch's), which needs the C module.
-- Run from the repository root, with the C module built (make):
--     LUA_CPATH='build/release/?.so;;' LUA_PATH='lua/?.lua;lua/?/init.lua;;' \
--         lua5.4 /usr/bin/busted tests/lua/models_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local H = dofile("tests/lua/spec_helpers.lua")

local models = require("lutra.models")

-- A stand-in for lutra.nn whose constructors record their arguments.
local function stub_nn()
    local nn = {}
    for _, name in ipairs({"Linear", "Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU", "GELU",
            "Tanh", "Dropout", "Flatten"}) do
        nn[name] = function(...)
            return {name, ...}
        end
    end
    nn.Sequential = function(...)
        return {"Sequential", ...}
    end
    return nn
end

local error_of = H.error_of

describe("models with a stub lutra.nn", function()
    local saved

    before_each(function()
        saved = package.loaded["lutra.nn"]
        package.loaded["lutra.nn"] = stub_nn()
    end)

    after_each(function()
        package.loaded["lutra.nn"] = saved
    end)

    it("builds the MLP 784-1024-1024-10 with dropout", function()
        local m = models.build({type = "mlp", hidden = {1024, 1024}, dropout = 0.2})
        assert.same({"Sequential",
            {"Flatten"},
            {"Linear", 784, 1024}, {"ReLU"}, {"Dropout", 0.2},
            {"Linear", 1024, 1024}, {"ReLU"}, {"Dropout", 0.2},
            {"Linear", 1024, 10}}, m)
    end)

    it("leaves dropout out at 0 and takes another activation", function()
        local m = models.build({type = "mlp", hidden = {32}, activation = "gelu",
            in_features = 12, num_classes = 3})
        assert.same({"Sequential", {"Flatten"}, {"Linear", 12, 32}, {"GELU"},
            {"Linear", 32, 3}}, m)
    end)

    it("builds the 2-conv CNN by default", function()
        local m = models.build({type = "cnn"})
        assert.same({"Sequential",
            {"Conv2d", 1, 32, 3, {padding = 1, bias = true}}, {"ReLU"}, {"MaxPool2d", 2},
            {"Conv2d", 32, 64, 3, {padding = 1, bias = true}}, {"ReLU"}, {"MaxPool2d", 2},
            {"Flatten"},
            {"Linear", 3136, 128}, {"ReLU"},
            {"Linear", 128, 10}}, m)
    end)

    it("adds batch norm (convolutions without bias) and dropout to the CNN", function()
        local m = models.build({type = "cnn", channels = {8}, batch_norm = true,
            dropout = 0.5, hidden = {16}})
        assert.same({"Sequential",
            {"Conv2d", 1, 8, 3, {padding = 1, bias = false}}, {"BatchNorm2d", 8}, {"ReLU"},
            {"MaxPool2d", 2},
            {"Flatten"},
            {"Linear", 8 * 14 * 14, 16}, {"ReLU"}, {"Dropout", 0.5},
            {"Linear", 16, 10}}, m)
    end)

    it("refuses a CNN that pools the image away", function()
        assert.equal("model.channels: 3 poolings leave nothing of 4-pixel images",
            error_of(models.build, {type = "cnn", image_size = 4, channels = {1, 1, 1}}))
    end)

    it("names an activation lutra.nn lacks", function()
        package.loaded["lutra.nn"].Sigmoid = nil
        assert.equal('model.activation "sigmoid": lutra.nn has no Sigmoid',
            error_of(models.build, {type = "mlp", activation = "sigmoid"}))
    end)

    it("checks the table against the builder's fields", function()
        assert.equal("unknown key 'model.hiden' (did you mean 'model.hidden'?)",
            error_of(models.build, {type = "mlp", hiden = {3}}))
        assert.equal("model.dropout must be in [0, 1), got 1",
            error_of(models.build, {type = "mlp", dropout = 1}))
        assert.matches('^model.type is required %(one of "cnn", .*"mlp".*%)$',
            error_of(models.build, {hidden = {3}}))
    end)
end)

describe("the registry", function()
    it("lists the built-in types", function()
        assert.same({"cnn", "gpt", "mlp"}, models.names(true))
        assert.equal("string", type(models.doc("mlp")))
        local fields, known = models.fields("mlp")
        assert.is_true(known)
        assert.equal("in_features", fields[1].name)
        assert.same({nil, false}, {models.fields("nope")})
    end)

    it("registers a builder with a map of fields", function()
        models.register("wide", function(m, cfg)
            return {width = m.width, depth = m.depth, seed = cfg and cfg.seed}
        end, {
            width = {type = "integer", default = 4, range = "[1, inf)", doc = "Width."},
            depth = {type = "integer", default = 2, doc = "Depth."},
        })
        assert.same({width = 4, depth = 2, seed = 7}, models.build({type = "wide"}, {seed = 7}))
        assert.same({width = 9, depth = 2}, models.build({type = "wide", width = 9}))
        local fields = models.fields("wide")
        assert.equal("depth", fields[1].name) -- map fields are listed by name
        assert.is_true(#models.names() > #models.names(true))
        assert.equal("model.width must be >= 1, got 0",
            error_of(models.build, {type = "wide", width = 0}))
    end)

    it("registers a builder without fields: the table is not checked", function()
        models.register("free", function(m) return m end)
        assert.same({type = "free", anything = {1, 2}},
            models.build({type = "free", anything = {1, 2}}))
    end)

    it("takes the example of its doc comment: a list field without elements", function()
        models.register("doc_example", function(m) return {hidden = m.hidden} end,
            {{name = "hidden", type = "list", default = {256}, doc = "Widths."}})
        assert.same({hidden = {256}}, models.build({type = "doc_example"}))
        assert.same({hidden = {64, "any"}}, models.build({type = "doc_example",
            hidden = {64, "any"}}))
        assert.equal("model.hidden must be a list, got number",
            error_of(models.build, {type = "doc_example", hidden = 3}))
    end)

    it("remembers where each type comes from", function()
        assert.equal("builtin", models.origin("mlp"))
        models.register("here", function() return {} end)
        assert.equal("tests/lua/models_spec.lua", models.origin("here"))
        assert.is_nil(models.origin("nope"))
        local fields = models.fields("mlp") -- a copy: changing it changes nothing
        fields[1].default = -1
        assert.equal(784, models.fields("mlp")[1].default)
    end)

    it("calls a model function with the config", function()
        assert.same({seed = 3}, models.build(function(cfg) return {seed = cfg.seed} end,
            {seed = 3}))
        assert.equal("model: the model function returned nothing",
            error_of(models.build, function() end))
    end)

    it("refuses bad registrations", function()
        assert.matches("the name must be a word", error_of(models.register, "a b", print))
        assert.matches("the builder must be a function", error_of(models.register, "x", 3))
        assert.matches("'type' is not a field",
            error_of(models.register, "x", print, {type = {type = "string"}}))
    end)
end)

describe("models with the real lutra.nn", function()
    -- lutra.nn needs the C module (lutra.core): if it does not load, that is a failure to
    -- fix (a build or LUA_CPATH problem), never a reason to skip these.
    it("loads lutra.nn", function()
        local nn = require("lutra.nn")
        assert.equal(2 * 3 + 3, nn.Linear(2, 3):num_parameters())
    end)

    local function count(m)
        return m:num_parameters()
    end

    it("builds the MLP with PyTorch's parameter names and count", function()
        local m = models.build({type = "mlp", hidden = {1024, 1024}, dropout = 0.2})
        assert.equal(784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10, count(m))
        local _, names = m:state_dict()
        assert.same({"1.weight", "1.bias", "4.weight", "4.bias", "7.weight", "7.bias"}, names)
    end)

    it("builds the 2-conv CNN with its parameter count", function()
        local m = models.build({type = "cnn"})
        assert.equal(320 + 18496 + 3136 * 128 + 128 + 1290, count(m))
    end)

    it("builds models that map images to 10 logits", function()
        local lutra = require("lutra")
        local specs = {{type = "mlp"}, {type = "cnn", batch_norm = true, dropout = 0.25}}
        for _, spec in ipairs(specs) do
            local m = models.build(spec)
            m:eval()
            assert.same({2, 10}, m(lutra.zeros(2, 1, 28, 28)):shape())
        end
    end)
end)
