-- Specs of lutra.overrides' parser: `--set key=value` read as a Lua literal or a bare
-- word, never run, and every malformed override named in its error. (Overrides applied
-- over recipes: tests/lua/config_spec.lua.) Run from the repository root:
--     LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted tests/lua/overrides_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local H = dofile("tests/lua/spec_helpers.lua")

local overrides = require("lutra.overrides")

local error_of = H.error_of

describe("overrides.parse_override", function()
    local function value(text)
        local _, v = overrides.parse_override("k=" .. text)
        return v
    end

    it("reads Lua literals, else strings", function()
        assert.equal(300, value("300"))
        assert.equal("integer", math.type(value("300")))
        assert.equal(1e-3, value("1e-3"))
        assert.equal(-250.0, value("-2.5E+2"))
        assert.equal(16, value("0x10"))
        assert.equal(-16, value("- 0x10"))
        assert.equal(16.0, value("0x1p4"))
        assert.equal(0.5, value(".5"))
        assert.equal("integer", math.type(value("9223372036854775807")))
        assert.is_true(value("true"))
        assert.is_false(value("false"))
        assert.is_nil(value("nil"))
        assert.same({512, 512}, value("{512, 512}"))
        assert.same({a = {1, "x"}}, value('{a = {1, "x"}}'))
        assert.equal("x y", value('"x y"'))
        assert.equal("it's", value([['it\'s']]))
        assert.equal('a\tb"AA\u{263A}c\n', value([["a\tb\"\65\x41\u{263A}\z
            c\n"]]))
        assert.equal("a]]b", value("[==[a]]b]==]"))
        assert.same({1, 2, 3, k = {x = "y"}, ["odd key"] = false, [10] = true},
            value('{1, 2; 3, k = {x = "y"}, ["odd key"] = false, [10] = true,}'))
        assert.same({{{}}}, value("{{{}}}"))
        assert.equal("adamw", value("adamw"))
        assert.equal("cuda:0", value("cuda:0"))
        assert.equal("runs/a-1", value("runs/a-1"))
        assert.equal("/data/fmnist", value("/data/fmnist"))
        assert.equal("math.huge", value("math.huge"))
        assert.equal("2GiB", value("2GiB"))
        assert.equal("", value(""))
    end)

    it("returns the key and trims spaces", function()
        local k, v = overrides.parse_override(" runner.max_iters = 300 ")
        assert.equal("runner.max_iters", k)
        assert.equal(300, v)
    end)

    it("names the override in its errors", function()
        assert.equal("--set 'optim.lr': expected key=value",
            error_of(overrides.parse_override, "optim.lr"))
        assert.equal("--set '=3': the key is empty", error_of(overrides.parse_override, "=3"))
        assert.equal("--set 'optim..lr=3': empty name in key 'optim..lr'",
            error_of(overrides.parse_override, "optim..lr=3"))
        assert.equal("--set 'optim.betas.2=0.9': '2' in key 'optim.betas.2' is not a name",
            error_of(overrides.parse_override, "optim.betas.2=0.9"))
        local err = error_of(overrides.parse_override, "model.hidden={512,")
        assert.matches("^%-%-set 'model.hidden={512,': the value is not a Lua literal: ", err)
        err = error_of(overrides.parse_override, 'work_dir="abc')
        assert.matches("^%-%-set 'work_dir=\"abc': the value is not a Lua literal", err)
        assert.equal("--set: an override must be a string key=value, got number",
            error_of(overrides.parse_override, 3))
    end)

    it("never runs a value: code is refused with the character where reading stopped",
            function()
        local function refused(text, want)
            assert.equal("--set '" .. text .. "': the value is not a Lua literal: " .. want,
                error_of(overrides.parse_override, text))
        end
        refused("x=(function() while true do end end)()", "unexpected '(' (a literal is " ..
            "a number, a string, true, false, nil or a table of them) (character 3)")
        refused("x=os.exit(5)", "'os' is a name, not a literal (quote a string: \"os\") " ..
            "(character 3)")
        refused("x={1, x}", "'x' is a name, not a literal (quote a string: \"x\") " ..
            "(character 7)")
        refused("optim.lr=2^16", "arithmetic is not evaluated (write the number itself) " ..
            "(character 11)")
        refused("x = 1/0", "arithmetic is not evaluated (write the number itself) " ..
            "(character 6)")
        refused("x={a = {1, 2}", "'}' expected (to close '{' at character 1) near the end " ..
            "(character 14)")
        refused("x=[512, 512]", "unexpected '[' (a list is written {1, 2}) (character 3)")
        refused('x="a\\q"', "invalid escape '\\q' (character 5)")
        refused("x={[{}] = 1}", "a table key must be a number, a string or a boolean " ..
            "(character 5)")
    end)
end)
