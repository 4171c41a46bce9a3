-- Specs of lutra.layers: the deep merge of recipe tables (maps key by key, lists
-- replaced, `_delete_`). Run from the repository root:
--     LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted tests/lua/layers_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local layers = require("lutra.layers")

describe("layers.merge", function()
    it("merges maps, replaces lists and honours _delete_", function()
        local a = {x = {y = 1, z = {1, 2, 3}}, w = {k = 1}}
        local b = {x = {z = {9}}, w = {_delete_ = true, j = 2}}
        local m = layers.merge(a, b)
        assert.same({x = {y = 1, z = {9}}, w = {j = 2}}, m)
        assert.same({x = {y = 1, z = {1, 2, 3}}, w = {k = 1}}, a) -- inputs untouched
        assert.same({l = {}}, layers.merge({l = {1, 2}}, {l = {}}))
    end)
end)
