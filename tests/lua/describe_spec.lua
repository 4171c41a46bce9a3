-- Specs of lutra.describe: numbers and tables written so that they read back equal. Run from the
-- repository root:
--     LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted tests/lua/describe_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

-- not `describe`: busted's describe is a global
local lutra_describe = require("lutra.describe")

describe("lutra.describe", function()
    it("writes numbers so that they read back", function()
        assert.equal("0.1", lutra_describe.format_number(0.1))
        assert.equal("1.0", lutra_describe.format_number(1.0))
        assert.equal("3", lutra_describe.format_number(3))
        assert.equal("1e-08", lutra_describe.format_number(1e-8))
        assert.equal("1/0", lutra_describe.format_number(math.huge))
        for _, v in ipairs({0.1, 1 / 3, 2 ^ 53 + 0.0, 1e300, 5e-324, 0.2860}) do
            assert.equal(v, load("return " .. lutra_describe.format_number(v))())
        end
    end)

    it("writes tables as constructors that read back, keywords as keys included", function()
        local text = lutra_describe.literal({["end"] = 1, a = "x", [2.5] = true})
        assert.equal('{[2.5] = true, a = "x", ["end"] = 1}', text)
        assert.same({["end"] = 1, a = "x", [2.5] = true}, load("return " .. text)())
    end)
end)
