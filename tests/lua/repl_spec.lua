-- lutra.repl: how values print, and a session fed line by line: expressions printed,
-- statements run, multi-line input, errors shown without leaving.
local lutra = require "lutra"
local repl = require "lutra.repl"

local function session(lines)
    local i, out = 0, {}
    repl.main {
        input = function()
            i = i + 1
            return lines[i]
        end,
        output = function(s)
            out[#out + 1] = s
        end,
    }
    return out
end

describe("repl", function()
    it("shows values: numbers, strings, tables, tensors, modules", function()
        assert.equal("3", repl.show(3))
        assert.equal("0.5", repl.show(0.5))
        assert.equal("hi", repl.show("hi"))
        assert.equal('{1, 2, a = "x", b = {c = true}}', repl.show({ 1, 2, a = "x", b = { c = true } }))
        local t = lutra.tensor({ { 1, 2 }, { 3, 4 } })
        assert.equal(tostring(t), repl.show(t))
        local m = lutra.nn.Linear(3, 2)
        assert.truthy(repl.show(m):find("Linear(in_features=3, out_features=2, bias=true)\n-- 8 " ..
            "parameters", 1, true))
        local cyc = {}
        cyc.me = cyc
        assert.equal("{me = <cycle>}", repl.show(cyc))
    end)

    it("evaluates lines, keeps going after errors, reads multi-line chunks", function()
        local out = session { "1 + 2", "x = 5", "x * 2", "error('boom')", "for i = 1,",
            "2 do y = (y or 0) + i end", "y", "nosuch()", "'still here'" }
        assert.same({ "3", "10", "error: stdin:1: boom", "3",
            "error: stdin:1: attempt to call a nil value (global 'nosuch')", "still here" }, out)
    end)

    it("has the helpers", function()
        local out = session { "help()", "mem()" }
        assert.truthy(out[1]:find("recipe(path", 1, true))
        assert.truthy(out[2]:find("process RSS", 1, true))
        out = session { "step()" }
        assert.truthy(out[1]:find("nothing built yet", 1, true))
    end)
end)
