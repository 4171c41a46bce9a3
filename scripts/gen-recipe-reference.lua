-- Prints docs/recipe-reference.md, the reference of every recipe key, generated from the
-- schema in lua/lutra/schema.lua and the built-in model builders in lua/lutra/models.lua.
--
--     lua5.4 scripts/gen-recipe-reference.lua > docs/recipe-reference.md
--
-- tests/lua/schema_spec.lua fails when the committed file differs from this output.
local root = (arg and arg[0] or ""):match("^(.*)/scripts/[^/]*$") or "."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path

local schema = require("lutra.schema")
local models = require("lutra.models")
local field = require("lutra.field")
local validate = require("lutra.validate")
local describe = require("lutra.describe")

local types_of, range_phrase, quote_all = field.types_of, field.range_phrase, describe.quote_all
local applies, join = validate.applies, describe.key_path

local function type_doc(f)
    local parts = {}
    for _, t in ipairs(types_of(f)) do
        if t == "string" and f.choices then
            parts[#parts + 1] = table.concat(quote_all(f.choices), " | ")
        elseif (t == "number" or t == "integer") and f.range_parsed then
            parts[#parts + 1] = t .. " " .. range_phrase(f.range_parsed)
        elseif t == "list" then
            local e = f.elements and type_doc(f.elements) or "any"
            parts[#parts + 1] = "list" .. (f.len and " of " .. f.len or " of") .. " " .. e
        elseif t == "boolean" and f.false_only then
            parts[#parts + 1] = "false"
        elseif t == "size" then
            parts[#parts + 1] = 'bytes | "2GiB"'
        elseif t == "group" then
            parts[#parts + 1] = "table"
        elseif t == "model" then
            parts[#parts + 1] = "table | function"
        else
            parts[#parts + 1] = t
        end
    end
    return table.concat(parts, " | ")
end

local function default_doc(f)
    if f.default_doc then
        return "`" .. f.default_doc .. "`"
    elseif f.default ~= nil then
        return "`" .. describe.literal(f.default) .. "`"
    elseif f.type == "group" then
        return f.optional and "off" or ""
    end
    return f.required and "required" or "unset"
end

local function meaning(f, path)
    local doc = f.doc or ""
    if f.aliases then
        doc = doc .. " Alias: " .. table.concat(f.aliases, ", ") .. "."
    end
    if f.when then
        local _, cond = applies(f, {}, path)
        doc = doc .. " Only when " .. cond .. "."
    end
    return doc
end

local function cell(s)
    return (s:gsub("|", "\\|"))
end

local function rows(g, path, out)
    for _, f in ipairs(g.fields) do
        local p = join(path, f.name)
        out[#out + 1] = string.format("| `%s` | %s | %s | %s |", p, cell(type_doc(f)),
            cell(default_doc(f)), cell(meaning(f, path)))
        if f.type == "group" then
            rows(f, p, out)
        end
    end
end

local HEADER = {"| key | type | default | meaning |", "|---|---|---|---|"}

local function table_lines(out, g, path, fields)
    for _, line in ipairs(HEADER) do
        out[#out + 1] = line
    end
    rows({fields = fields or g.fields}, path, out)
    out[#out + 1] = ""
end

local INTRO = [[
# Recipe reference

<!-- Generated from lua/lutra/schema.lua by scripts/gen-recipe-reference.lua; do not edit.
     Regenerate: lua5.4 scripts/gen-recipe-reference.lua > docs/recipe-reference.md -->

A recipe is a Lua file that sets the tables below, as globals or in a table it returns (a
returned table is merged over the globals). Every key is checked: an unknown key is an
error naming the key, the file that set it and the closest known key; a wrong type or a
value out of range names the key, what was expected and what was given. Keys left out
take the defaults below; the resolved config, every key filled in, is written to the
run's folder, `<work_dir>/<YYYYMMDD_HHMMSS>/config.lua`, and can be run again as a recipe.

- `_base_ = {"_base_/data.lua", ...}` (or one string) inherits from other recipes, paths
  relative to the file: the bases are merged in order, then the file over them. Tables
  merge key by key, later wins; lists (`{1024, 1024}`) and other values are replaced
  whole. `_delete_ = true` inside a table replaces the inherited table instead of
  merging into it. Setting `runner.max_iters` drops an inherited `runner.max_epochs` and
  the other way round.
- Overrides: `--set runner.max_iters=300 data.batch_size=8` (also `--options`,
  `--cfg-options`) apply after the files, in order. A value is read as a Lua literal, never
  run: a number (`300`, `1e-3`, `0x10`, `-2`), a string in either quotes (with Lua's
  escapes), `true`, `false`, `nil`, or a table of them (`{512, 512}`, `{rule = "linear",
  ["base_batch_size"] = 256}`). A bare word or path is taken as a string (`optim.type=adamw`,
  `device=cuda:0`, `memory.limit=2GiB`); names, calls and arithmetic (`2^16`, `1/0`) are
  refused with the character where reading stopped. `key=nil` removes the key, so its
  default applies.
- Recipes run in a sandbox: they see the basic functions (`pairs`, `ipairs`, `type`,
  `tostring`, `tonumber`, `select`, `error`, `assert`, `pcall`, `print`, `setmetatable`,
  `load` of text, ...), copies of `math`, `string`, `table` and `utf8`, `os.getenv`,
  `os.time`, `os.clock`, `os.date`, and a `require` that loads lutra's model-building
  modules (`lutra`, `lutra.models`, `lutra.nn`, `lutra.ops`, `lutra.optim`,
  `lutra.tensor`; read-only views) and Lua files beside the recipe (`require("my_models")`
  is `my_models.lua` in the recipe's folder, `"nets.tiny"` is `nets/tiny.lua`; a path such
  as `"../shared/nets.lua"` is relative to the requiring file), which run in the same
  sandbox, once per load. `io`, `os.exit`, `package`, `debug`, `dofile`, `loadfile`,
  `collectgarbage` and bytecode are not there, and no metatable is shared with lutra
  (`getmetatable("")` is nil). Helper values belong in `local`s: every global a recipe sets
  is a key. Ctrl-C or SIGTERM stops a recipe stuck in a loop (exit 130 or 143).
- `model` is declarative, built by the builder registered for its `type`
  (`require("lutra.models").register(name, builder, fields)`, in a module beside the
  recipe), so it merges and takes overrides (`--set model.hidden={512,512}`); a function
  returning a module is the escape hatch. The run's `config.lua` requires the file that
  registered the type, or gives the function from the file that holds it
  (`model = require("/abs/path/nets.lua").build`), by absolute path, so it trains again
  from the run's folder.
- Optional sections (`optim.clip_grad`) are switched off by leaving them out or setting
  them to `false`.

## Conventions from mmengine and mmcv

| recipe says | lutra reads |
|---|---|
| `data.samples_per_gpu` | `data.batch_size` |
| `optim.accumulative_counts` | `optim.accumulate` |
| `fp16 = {loss_scale = 512.0}` | `precision = {mode = "fp16", loss_scale = 512.0}`: a static scale, as in mmcv |
| `fp16 = {loss_scale = "dynamic"}` | `precision = {mode = "fp16", loss_scale = "dynamic"}` |
| `fp16 = {loss_scale = {init_scale = ..., growth_factor = ..., backoff_factor = ..., growth_interval = ...}}` (also mmcv's `scale_factor`, `scale_window`) | a dynamic scale with those settings |
| `fp16 = {}` | `precision = {mode = "fp16", loss_scale = 512.0}` (mmcv's default) |
| `auto_scale_lr = {enable = true, base_batch_size = B}` | `optim.lr_scaling = {rule = "linear", base_batch_size = B}`, with a note: lutra scales on the effective batch, batch_size × accumulate × world size, and mmengine ignores accumulation |
| `auto_scale_lr = {enable = false, ...}` | `optim.lr_scaling = {rule = "none"}` |
| `optim.type = "SGD"`, `"AdamW"` | choices are matched without regard to case |
| `total_epochs`, `optimizer`, `optim_wrapper`, `optimizer_config`, `lr_config`, `data.workers_per_gpu`, ... | an unknown-key error that names lutra's key (`runner.max_epochs`, `optim`, `optim.clip_grad`, `schedule`) or says lutra has none |

Each alias and convention read is noted in the run's log ("data.samples_per_gpu read as
data.batch_size").
]]

-- The Markdown reference of every recipe key. Lists the built-in model types only, so
-- that a user's registrations do not change it.
local function reference()
    local out = {INTRO}
    local top = {}
    for _, f in ipairs(schema.root.fields) do
        if f.type == "group" then
            out[#out + 1] = "## " .. f.name .. "\n\n" .. f.doc .. "\n"
            table_lines(out, f, f.name)
        elseif f.type == "model" then
            out[#out + 1] = "## model\n\n" .. f.doc .. " Built-in types:\n"
            for _, name in ipairs(models.names(true)) do
                local fields = models.fields(name)
                local mdoc = models.doc(name)
                out[#out + 1] = string.format('### model.type = "%s"\n\n%s\n', name, mdoc or "")
                table_lines(out, nil, "model", fields)
            end
        else
            top[#top + 1] = f
        end
    end
    out[#out + 1] = "## Top-level keys\n"
    table_lines(out, nil, "", top)
    return (table.concat(out, "\n"):gsub("\n+$", "\n"))
end

io.write(reference())
