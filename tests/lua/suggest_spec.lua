-- Specs of lutra.suggest: the edit distance (with transpositions) and which names count
-- as close enough to suggest. Run from the repository root:
--     LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted tests/lua/suggest_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local suggest = require("lutra.suggest")

describe("suggest", function()
    it("measures edit distance with transpositions", function()
        assert.equal(0, suggest.distance("lr", "lr"))
        assert.equal(1, suggest.distance("lrr", "lr"))
        assert.equal(1, suggest.distance("moemntum", "momentum"))
        assert.equal(3, suggest.distance("", "abc"))
        assert.equal(2, suggest.distance("kitten", "sittin"))
    end)

    it("offers only close names", function()
        assert.equal("lr", suggest.closest("lrr", {"lr", "eps", "betas"}))
        assert.equal("momentum", suggest.closest("Momentun", {"lr", "momentum"}))
        assert.is_nil(suggest.closest("xyz", {"lr", "eps"}))
        assert.is_nil(suggest.closest("default_scope", {"data", "model", "seed"}))
    end)
end)
