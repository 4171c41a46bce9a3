-- The data sets a recipe's data.dataset may name: lutra's own kinds, those Lua code
-- registered with lutra.data.register, and "host:NAME", the sources a C host registered
-- (lt_run_add_source, core/lutra_host.h). A module of its own so that the schema can
-- check names without requiring the data layer.
local sources = {}

sources.BUILTIN = { "fashion_mnist", "image_folder", "tensors", "tokens" }

local registered = {} -- name -> spec

-- sources.register(name, spec): see lutra.data.register.
function sources.register(name, spec)
    registered[name] = spec
end

-- sources.register_host(name, train, test, caller_thread): the data sets (lutra.Dataset
-- handles over a host's struct lt_source) a recipe selects as data.dataset = "host:" ..
-- name; caller_thread: whether their fill runs on the training loop's thread only.
-- Returns the spec registered, for unregister_host.
function sources.register_host(name, train, test, caller_thread)
    local spec = { host = true, train = train, test = test, caller_thread = caller_thread }
    registered["host:" .. name] = spec
    return spec
end

-- sources.unregister_host(name, spec): removes "host:" .. name when it still names spec
-- (another run in the same Lua state may have registered the name since). Cannot fail.
function sources.unregister_host(name, spec)
    if registered["host:" .. name] == spec then
        registered["host:" .. name] = nil
    end
end

-- The spec registered under name ({host = true, train =, test =, caller_thread =} for a
-- host's), or nil. Cannot fail.
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
