-- Specs of lutra.serialize: a resolved config written as Lua loads back the same (round
-- trips through lutra.config), deterministically and in the schema's order; the model
-- comes back through the require of the file that registered or holds it, or the text
-- refuses to train; serialize.write replaces the file atomically. Run from the
-- repository root:
--     LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted tests/lua/serialize_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local H = dofile("tests/lua/spec_helpers.lua")

local config = require("lutra.config")
local serialize = require("lutra.serialize")

local F = "tests/lua/fixtures/"

local function load(name, overrides)
    return config.load(F .. name, overrides)
end

local error_of = H.error_of

describe("serialize.text", function()
    local function roundtrip(name, overrides)
        local cfg, _, origin = load(name, overrides)
        local text = serialize.text(cfg, {origin = origin, header = "resolved from " .. name})
        local tmp = os.tmpname()
        local f = assert(io.open(tmp, "w"))
        f:write(text)
        f:close()
        local again = config.load(tmp)
        os.remove(tmp)
        return cfg, again, text
    end

    it("round-trips through load", function()
        for _, name in ipairs({"minimal.lua", "child.lua", "full.lua", "fp16_static.lua",
                "auto_scale.lua", "delete.lua"}) do
            local cfg, again = roundtrip(name)
            assert.same(cfg, again)
        end
    end)

    it("writes the full fixture's values exactly", function()
        local cfg, again, text = roundtrip("full.lua")
        assert.equal(2 * 1024 ^ 3, again.memory.limit)
        assert.equal("integer", math.type(again.memory.limit))
        assert.equal(1024.0, again.precision.init_scale)
        assert.same({type = "print", ["odd-key"] = true}, again.hooks[2])
        assert.equal(cfg.work_dir, again.work_dir)
        assert.matches('%["odd%-key"%] = true', text)
        assert.matches("^%-%- resolved from full.lua\n", text)
    end)

    it("is deterministic and keeps the schema's order", function()
        local cfg = load("full.lua")
        local a, b = serialize.text(cfg), serialize.text(load("full.lua"))
        assert.equal(a, b)
        local pos = {}
        for _, k in ipairs({"data", "model", "optim", "schedule", "precision", "memory",
                "runner", "device", "seed", "work_dir", "hooks"}) do
            pos[#pos + 1] = assert(a:find("\n" .. k .. " = ") or (a:find("^" .. k .. " = ")
                and 0), k)
        end
        for i = 2, #pos do
            assert.is_true(pos[i - 1] < pos[i])
        end
        assert.matches("model = {\n    type = \"cnn\",", a)
    end)

    -- The text of cfg written as recipe.lua into a fresh folder and loaded from there.
    local function reload(cfg)
        local dir = string.format("%s/lutra-serialize-spec-%d", os.getenv("TMPDIR") or
            "/tmp", math.random(1, 1 << 30))
        assert(os.execute("mkdir -p '" .. dir .. "'"))
        local path = dir .. "/recipe.lua"
        local f = assert(io.open(path, "w"))
        f:write(serialize.text(cfg))
        f:close()
        return config.load(path), path
    end

    it("requires the module that registered the model's type", function()
        local cfg = load("uses_registry.lua")
        local text = serialize.text(cfg)
        local abs = assert(require("lutra.sandbox").absolute(F .. "my_models.lua"))
        assert.equal("/", abs:sub(1, 1))
        assert.matches('^require%("' .. abs:gsub("%p", "%%%0") .. '"%) %-%- registers ' ..
            'model.type "tiny"\n', text)
        assert.same(cfg.model, reload(cfg).model)
    end)

    it("writes a model function as the require that gives it", function()
        local cfg = load("sandbox/model_from_module.lua")
        local line = serialize.text(cfg):match("\nmodel = [^\n]*")
        assert.matches('^\nmodel = require%("/[^"]*/sandbox/nets%.lua"%)%.build$', line)
        local again = reload(cfg)
        assert.equal("Net", getmetatable(require("lutra.models").build(again.model,
            again)).__name)
        assert.equal(line, serialize.text(again):match("\nmodel = [^\n]*")) -- stable
        -- a function the recipe set itself: the recipe gives it again
        cfg = load("model_fn.lua")
        assert.matches('model = require%("/[^"]*/fixtures/model_fn%.lua"%)%.model',
            serialize.text(cfg))
        assert.same({kind = "custom"}, require("lutra.models").build(reload(cfg).model))
    end)

    it("refuses, in the text it writes, a model it cannot rebuild", function()
        local cfg = load("minimal.lua", {model = function() return {} end})
        local text = serialize.text(cfg)
        assert.matches("%-%- model: a function %(.*serialize_spec%.lua:%d+%), not serialisable",
            text)
        local err = error_of(reload, cfg)
        assert.matches("recipe%.lua:1: this config cannot be trained again: model is a " ..
            "function %(.*serialize_spec%.lua:%d+%) that a config.lua cannot hold; set model " ..
            "in a recipe, return it from a module beside the recipe", err)
        require("lutra.models").register("spec_only", function() return {} end)
        err = error_of(reload, load("minimal.lua", {"model={type = \"spec_only\"}"}))
        assert.matches('this config cannot be trained again: model.type "spec_only" was ' ..
            "registered by .*serialize_spec%.lua, which a config.lua cannot require", err)
    end)
end)

describe("serialize.write", function()
    it("writes the file atomically, leaving no temporary behind", function()
        local dir = os.tmpname()
        os.remove(dir)
        assert.is_true(os.execute("mkdir -p '" .. dir .. "'"))
        local cfg = load("child.lua")
        serialize.write(cfg, dir .. "/config.lua")
        serialize.write(cfg, dir .. "/config.lua") -- over an existing file
        local ls = io.popen("ls -A '" .. dir .. "'")
        local names = ls:read("a")
        ls:close()
        assert.equal("config.lua\n", names)
        assert.same(cfg, config.load(dir .. "/config.lua"))
        os.execute("rm -rf '" .. dir .. "'")
    end)

    it("raises when the folder does not exist", function()
        local err = error_of(serialize.write, load("minimal.lua"), "/nonexistent/dir/config.lua")
        assert.matches("^/nonexistent/dir/config%.lua%.tmp%d+: No such file or directory", err)
    end)
end)
