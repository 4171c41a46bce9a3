-- The data sets a recipe's data.dataset may name: lutra's own kinds and those Lua code
-- registered with lutra.data.register. A module of its own so that the schema can check
-- names without requiring the data layer.
local sources = {}

sources.BUILTIN = { "fashion_mnist", "image_folder", "tensors", "tokens" }

local registered = {} -- name -> spec

-- sources.register(name, spec): see lutra.data.register.
function sources.register(name, spec)
    registered[name] = spec
end

-- The spec registered under name, or nil. Cannot fail.
function sources.get(name)
    return registered[name]
end

-- Every name data.dataset accepts, builtin first, then the registered ones sorted.
function sources.names()
    local names = {}
    for _, n in ipairs(sources.BUILTIN) do
        names[#names + 1] = n
    end
    local extra = {}
    for n in pairs(registered) do
        extra[#extra + 1] = n
    end
    table.sort(extra)
    for _, n in ipairs(extra) do
        names[#names + 1] = n
    end
    return names
end

return sources
