-- What several specs share: the message of an error, and a validation context that
-- raises. Loaded with `local H = dofile("tests/lua/spec_helpers.lua")` from the
-- repository root (busted runs specs from there).
local models = require("lutra.models")

local H = {}

-- The message of the error fn raises; fails the calling spec when it raises none.
function H.error_of(fn, ...)
    local ok, err = pcall(fn, ...)
    if ok then
        error("expected an error", 2)
    end
    return err
end

-- A context for lutra.validate whose failures raise their message, with the built-in
-- model registry.
function H.raising_ctx()
    return {
        fail = function(_, msg) error(msg, 0) end,
        note = function() end,
        defaulted = function() end,
        top = "recipe.lua",
        models = models,
    }
end

return H
