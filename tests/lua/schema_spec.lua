-- Specs of lutra.schema: the schema's own consistency (every field documented, every
-- default valid, `when` naming earlier siblings), its helpers (edit distance,
-- suggestions, sizes, numbers), model fields through the hook, and that
-- docs/recipe-reference.md is what scripts/gen-recipe-reference.lua prints. Run from the
-- repository root:
--     LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted tests/lua/schema_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local schema = require("lutra.schema")

local function raising_ctx()
    return {
        fail = function(_, msg) error(msg, 0) end,
        note = function() end,
        defaulted = function() end,
        top = "recipe.lua",
    }
end

local function error_of(fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok, "expected an error")
    return err
end

-- Every field of the schema and of the built-in models, with its dotted path.
local function all_fields()
    local out = {}
    local function walk(g, path)
        for _, f in ipairs(g.fields) do
            local p = path == "" and f.name or path .. "." .. f.name
            out[#out + 1] = {path = p, field = f, group = g}
            if f.type == "group" then
                walk(f, p)
            end
        end
    end
    walk(schema.root, "")
    local models = require("lutra.models")
    for _, name in ipairs(models.names(true)) do
        walk({fields = models.fields(name)}, "model")
    end
    return out
end

describe("the schema", function()
    it("documents every field in one line", function()
        for _, e in ipairs(all_fields()) do
            assert.is_string(e.field.doc, e.path .. " has no doc")
            assert.is_nil(e.field.doc:find("\n"), e.path .. "'s doc spans lines")
            assert.is_truthy(e.field.doc:match("%.$"), e.path .. "'s doc ends without a period")
        end
    end)

    it("has defaults that pass their own checks", function()
        for _, e in ipairs(all_fields()) do
            local f = e.field
            if f.default ~= nil and type(f.default) ~= "function" then
                local ok, err = pcall(schema.check_value, f, f.default, e.path, raising_ctx())
                assert.is_true(ok, tostring(err))
            end
        end
    end)

    it("conditions fields on earlier siblings only", function()
        for _, e in ipairs(all_fields()) do
            for _, cond in ipairs(e.field.when or {}) do
                local seen = false
                for _, sib in ipairs(e.group.fields) do
                    if sib == e.field then
                        break
                    end
                    seen = seen or sib.name == cond[1]
                end
                assert.is_true(seen, e.path .. " depends on a later or unknown " .. cond[1])
            end
        end
    end)

    it("resolves an empty model-and-length recipe to every default", function()
        local cfg = schema.resolve({model = {type = "mlp"}, runner = {max_epochs = 1}},
            raising_ctx())
        assert.equal(128, cfg.data.batch_size)
        assert.equal("work_dirs/recipe", cfg.work_dir)
        assert.equal(0, cfg.optim.momentum)
        assert.equal("none", cfg.optim.lr_scaling.rule)
    end)

    it("requires a model", function()
        assert.equal('model is required (a table such as {type = "mlp"}, or a function ' ..
            "returning a module)", error_of(schema.resolve, {runner = {max_iters = 1}},
            raising_ctx()))
    end)

    it("finds a key by its name in another group", function()
        assert.equal("data.batch_size", schema.find_key("batch_size"))
        assert.equal("data.batch_size", schema.find_key("samples_per_gpu"))
        assert.equal("optim.clip_grad.max_norm", schema.find_key("max_norm"))
        assert.is_nil(schema.find_key("nothing_like_it"))
    end)

    it("points mmcv/mmengine keys at keys it has", function()
        local function field_at(path)
            local names = {}
            for name in path:gmatch("[^.]+") do
                names[#names + 1] = name
            end
            local last = table.remove(names)
            local node = schema.node(names)
            return node and node.by_name[last]
        end
        for key, lutra in pairs(schema.foreign_keys) do
            assert.is_nil(field_at(key), key) -- not a key of lutra's own
            assert.is_truthy(lutra:find(" ") or field_at(lutra), key .. " -> " .. lutra)
        end
    end)

    it("gives the group at a path", function()
        assert.equal("lr_scaling", schema.node({"optim", "lr_scaling"}).name)
        assert.equal("batch_size", schema.node({"data"}).alias_of.samples_per_gpu)
        assert.is_nil(schema.node({"optim", "lr"}))
        assert.is_nil(schema.node({"nope"}))
    end)
end)

describe("model fields", function()
    it("come from the hook", function()
        local saved_fields, saved_names = schema.model_fields, schema.model_names
        schema.model_names = function() return {"toy"} end
        schema.model_fields = function(name)
            if name == "toy" then
                return {schema.field("size", "integer", {default = 3, doc = "Size."})}, true
            end
            return nil, false
        end
        local ctx = raising_ctx()
        local ok, res = pcall(schema.resolve_model, {type = "toy"}, ctx)
        local ok2, err = pcall(schema.resolve_model, {type = "toy", sise = 1}, ctx)
        schema.model_fields, schema.model_names = saved_fields, saved_names
        assert.is_true(ok, tostring(res))
        assert.same({type = "toy", size = 3}, res)
        assert.is_false(ok2)
        assert.equal("unknown key 'model.sise' (did you mean 'model.size'?)", err)
    end)
end)

describe("helpers", function()
    it("measure edit distance with transpositions", function()
        assert.equal(0, schema.distance("lr", "lr"))
        assert.equal(1, schema.distance("lrr", "lr"))
        assert.equal(1, schema.distance("moemntum", "momentum"))
        assert.equal(3, schema.distance("", "abc"))
        assert.equal(2, schema.distance("kitten", "sittin"))
    end)

    it("suggest only close names", function()
        assert.equal("lr", schema.suggest("lrr", {"lr", "eps", "betas"}))
        assert.equal("momentum", schema.suggest("Momentun", {"lr", "momentum"}))
        assert.is_nil(schema.suggest("xyz", {"lr", "eps"}))
        assert.is_nil(schema.suggest("default_scope", {"data", "model", "seed"}))
    end)

    it("parse sizes", function()
        assert.equal(2 * 1024 ^ 3, schema.parse_size("2GiB"))
        assert.equal(512 * 1000 ^ 2, schema.parse_size("512 MB"))
        assert.equal(1536 * 1024 ^ 2, schema.parse_size("1.5gib"))
        assert.equal(4096, schema.parse_size("4096"))
        assert.equal(4096, schema.parse_size(4096))
        assert.is_nil(schema.parse_size("2 gigs"))
        assert.is_nil(schema.parse_size(0))
        assert.is_nil(schema.parse_size(-5))
        assert.is_nil(schema.parse_size(true))
    end)

    it("write numbers so that they read back", function()
        assert.equal("0.1", schema.format_number(0.1))
        assert.equal("1.0", schema.format_number(1.0))
        assert.equal("3", schema.format_number(3))
        assert.equal("1e-08", schema.format_number(1e-8))
        assert.equal("1/0", schema.format_number(math.huge))
        for _, v in ipairs({0.1, 1 / 3, 2 ^ 53 + 0.0, 1e300, 5e-324, 0.2860}) do
            assert.equal(v, load("return " .. schema.format_number(v))())
        end
    end)

    it("check values with messages naming the key", function()
        local ctx = raising_ctx()
        local f = schema.field("x", {"number", "string"}, {choices = {"dynamic"},
            range = "(0, inf)"})
        assert.equal(2, schema.check_value(f, 2, "p.x", ctx))
        assert.equal("dynamic", schema.check_value(f, "Dynamic", "p.x", ctx))
        assert.equal("p.x must be > 0, got 0", error_of(schema.check_value, f, 0, "p.x", ctx))
        assert.equal('p.x must be a number or "dynamic", got table',
            error_of(schema.check_value, f, {}, "p.x", ctx))
        local i = schema.field("n", "integer", {range = "[1, 8]"})
        assert.equal("integer", math.type(schema.check_value(i, 4.0, "n", ctx)))
        assert.equal("n must be in [1, 8], got 9", error_of(schema.check_value, i, 9, "n", ctx))
        local s = schema.field("s", "size", {})
        assert.equal('s must be a size in bytes or a string like "2GiB", got "lots"',
            error_of(schema.check_value, s, "lots", "s", ctx))
    end)
end)

describe("docs/recipe-reference.md", function()
    it("is what scripts/gen-recipe-reference.lua prints (regenerate it when this fails)",
        function()
            local p = assert(io.popen("lua5.4 scripts/gen-recipe-reference.lua 2>&1"))
            local fresh = p:read("a")
            local ok = p:close()
            assert.is_true(ok, fresh)
            local f = assert(io.open("docs/recipe-reference.md", "r"))
            local committed = f:read("a")
            f:close()
            assert.is_true(committed == fresh, "docs/recipe-reference.md is stale: run " ..
                "lua5.4 scripts/gen-recipe-reference.lua > docs/recipe-reference.md")
        end)

    it("lists every schema key", function()
        local f = assert(io.open("docs/recipe-reference.md", "r"))
        local text = f:read("a")
        f:close()
        for _, e in ipairs(all_fields()) do
            local top_group = e.field.type == "group" and e.group == schema.root
            local mark = top_group and "\n## " .. e.path .. "\n" or "`" .. e.path .. "`"
            assert.is_truthy(text:find(mark, 1, true), e.path)
        end
    end)
end)
