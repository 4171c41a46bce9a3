-- Specs of lutra.schema: the schema's own consistency (every field documented, every
-- default valid, `when` naming earlier siblings, an empty recipe resolving to the
-- defaults), its queries (find_key, node, foreign_keys), and that
-- docs/recipe-reference.md is what scripts/gen-recipe-reference.lua prints. Run from the
-- repository root:
--     LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.4 /usr/bin/busted tests/lua/schema_spec.lua
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local H = dofile("tests/lua/spec_helpers.lua")

local schema = require("lutra.schema")
local validate = require("lutra.validate")
local models = require("lutra.models")

local raising_ctx = H.raising_ctx

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
                local ok, err = pcall(validate.check_value, f, f.default, e.path, raising_ctx())
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
        local cfg = validate.resolve({model = {type = "mlp"}, runner = {max_epochs = 1}},
            raising_ctx())
        assert.equal(128, cfg.data.batch_size)
        assert.equal("work_dirs/recipe", cfg.work_dir)
        assert.equal(0, cfg.optim.momentum)
        assert.equal("none", cfg.optim.lr_scaling.rule)
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
