-- Paths as text: normalised, split and joined lexically (no file is touched), so that two
-- spellings of one file or folder compare equal. Plain Lua: the recipe sandbox uses it as
-- well as the runner's work dirs.
local paths = {}

-- "./runs//a/b/../c/" -> "runs/a/c": "." segments, repeated and trailing slashes and
-- resolvable ".." taken out; a leading "/" kept, with the root's parent the root itself
-- ("/tmp/.." -> "/"); leading ".." of a relative path kept; "" becomes ".".
function paths.normalize(path)
    local absolute = path:sub(1, 1) == "/"
    local parts = {}
    for seg in path:gmatch("[^/]+") do
        if seg == ".." and #parts > 0 and parts[#parts] ~= ".." then
            parts[#parts] = nil
        elseif seg == ".." and absolute then
            -- the root's parent is the root
        elseif seg ~= "." then
            parts[#parts + 1] = seg
        end
    end
    local out = table.concat(parts, "/")
    return absolute and "/" .. out or (out == "" and "." or out)
end

-- The folder of a file, "" for a bare name.
function paths.dirname(path)
    return path:match("^(.*)/[^/]*$") or ""
end

-- name relative to dir (name itself when absolute), normalised.
function paths.join(dir, name)
    if name:sub(1, 1) == "/" or dir == "" then
        return paths.normalize(name)
    end
    return paths.normalize(dir .. "/" .. name)
end

return paths
