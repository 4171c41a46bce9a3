-- Specs of lutra.validate: values checked against fields with messages naming the key,
-- a required model, and model tables checked against the fields ctx.models gives. Run
-- from the repository root:
--     LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted tests/lua/validate_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local H = dofile("tests/lua/spec_helpers.lua")

local validate = require("lutra.validate")
local field = require("lutra.field")
local models = require("lutra.models")

local raising_ctx = H.raising_ctx

local error_of = H.error_of

describe("validate", function()
    it("requires a model", function()
        assert.equal('model is required (a table such as {type = "mlp"}, or a function ' ..
            "returning a module)", error_of(validate.resolve, {runner = {max_iters = 1}},
            raising_ctx()))
    end)

    it("checks values with messages naming the key", function()
        local ctx = raising_ctx()
        local f = field.new("x", {"number", "string"}, {choices = {"dynamic"},
            range = "(0, inf)"})
        assert.equal(2, validate.check_value(f, 2, "p.x", ctx))
        assert.equal("dynamic", validate.check_value(f, "Dynamic", "p.x", ctx))
        assert.equal("p.x must be > 0, got 0", error_of(validate.check_value, f, 0, "p.x", ctx))
        assert.equal('p.x must be a number or "dynamic", got table',
            error_of(validate.check_value, f, {}, "p.x", ctx))
        local i = field.new("n", "integer", {range = "[1, 8]"})
        assert.equal("integer", math.type(validate.check_value(i, 4.0, "n", ctx)))
        assert.equal("n must be in [1, 8], got 9", error_of(validate.check_value, i, 9, "n", ctx))
        local s = field.new("s", "size", {})
        assert.equal('s must be a size in bytes or a string like "2GiB", got "lots"',
            error_of(validate.check_value, s, "lots", "s", ctx))
    end)
end)

describe("model fields", function()
    it("come from ctx.models", function()
        local ctx = raising_ctx()
        ctx.models = {
            names = function() return {"toy"} end,
            fields = function(name)
                if name == "toy" then
                    return {field.new("size", "integer", {default = 3, doc = "Size."})}, true
                end
                return nil, false
            end,
        }
        local ok, res = pcall(validate.resolve_model, {type = "toy"}, ctx)
        local ok2, err = pcall(validate.resolve_model, {type = "toy", sise = 1}, ctx)
        assert.is_true(ok, tostring(res))
        assert.same({type = "toy", size = 3}, res)
        assert.is_false(ok2)
        assert.equal("unknown key 'model.sise' (did you mean 'model.size'?)", err)
    end)
end)
