-- Specs of lutra.field: sizes in bytes or with units. Run from the repository root:
--     LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted tests/lua/field_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local field = require("lutra.field")

describe("field", function()
    it("parses sizes", function()
        assert.equal(2 * 1024 ^ 3, field.parse_size("2GiB"))
        assert.equal(512 * 1000 ^ 2, field.parse_size("512 MB"))
        assert.equal(1536 * 1024 ^ 2, field.parse_size("1.5gib"))
        assert.equal(4096, field.parse_size("4096"))
        assert.equal(4096, field.parse_size(4096))
        assert.is_nil(field.parse_size("2 gigs"))
        assert.is_nil(field.parse_size(0))
        assert.is_nil(field.parse_size(-5))
        assert.is_nil(field.parse_size(true))
    end)
end)
