-- Fashion-MNIST as PNG files, one folder per class, for trying image-folder data sets on
-- data every lutra install has:
--
--   lutra run scripts/fmnist-to-png.lua OUT_DIR [--limit N]
--
-- writes OUT_DIR/train/<class>/<index>.png and OUT_DIR/test/<class>/<index>.png, 8-bit
-- gray 28 × 28. Class folders are "0_tshirt_top", "1_trouser", ...: the class index
-- first, so that sorted order is label order. <index> is the image's 0-based place in its
-- split, zero-padded, so that sorted order is the files' order. --limit N writes the first
-- N images of each split. OUT_DIR must not exist or be empty: another run's files are
-- never overwritten. The whole set is 70,000 files, about 280 MB on a file system of
-- 4 KiB blocks (each file is written atomically, so this takes a minute or so).
local core = require "lutra.core"

local USAGE = "usage: lutra run scripts/fmnist-to-png.lua OUT_DIR [--limit N]"

-- {out = OUT_DIR, limit = N or nil (every image)}, or nil and a message.
local function parse(args)
    local out, limit
    local i = 1
    while args[i] do
        local a = args[i]
        if a == "--limit" then
            limit = math.tointeger(tonumber(args[i + 1]))
            if not limit or limit < 1 then
                return nil, "--limit wants a positive integer, got " .. tostring(args[i + 1])
            end
            i = i + 2
        elseif a:sub(1, 2) == "--" or out then
            return nil, "unexpected argument " .. a
        else
            out = a
            i = i + 1
        end
    end
    if not out then
        return nil, "which folder? (OUT_DIR)"
    end
    return { out = out, limit = limit }
end

-- "T-shirt/top" -> "tshirt_top", "Ankle boot" -> "ankle_boot": a name without slashes.
local function folder_name(class, name)
    local clean = name:lower():gsub("%-", ""):gsub("[^%w]+", "_")
    return string.format("%d_%s", class, clean)
end

local function check(ok, err)
    if not ok then
        error(err, 0)
    end
end

-- The IDX file of a split ("images" or "labels") as a tensor, plain or gzip.
local function idx(split, what)
    local stem = string.format("%s/%s-%s-idx%d-ubyte", core.FMNIST_DIR,
        split == "train" and "train" or "t10k", what, what == "images" and 3 or 1)
    local ok, t = pcall(core.idx_read, stem .. ".gz")
    if not ok then
        t = core.idx_read(stem)
    end
    return t
end

-- Writes the first n images of a split; returns how many it wrote.
local function write_split(out, split, limit)
    local ds = core.fmnist(nil, split) -- checks the files, and names the classes
    local images, labels = idx(split, "images"), idx(split, "labels")
    local n = limit and math.min(limit, ds:size()) or ds:size()
    local base = out .. "/" .. split
    -- a new folder: two runs into the same OUT_DIR at once cannot mix their files
    check(core.mkdir_new(base))
    local folders = {}
    for c = 0, ds:classes() - 1 do
        folders[c] = base .. "/" .. folder_name(c, ds:class_name(c))
        check(core.mkdir(folders[c]))
    end
    for i = 1, n do
        local label = labels:get(i)
        core.write_png(string.format("%s/%05d.png", folders[label], i - 1), images:select(1, i))
        if i % 10000 == 0 then
            print(string.format("%s: %d / %d images", split, i, n))
        end
    end
    return n
end

local opts, err = parse(arg)
if not opts then
    io.stderr:write(err, "\n", USAGE, "\n")
    return 2
end
local out, limit = opts.out, opts.limit
local names = core.is_dir(out) and assert(core.list_dir(out)) or {}
if #names > 0 then
    io.stderr:write(out, ": exists and is not empty (choose a new folder; nothing was written)\n")
    return 1
end
-- OUT_DIR and the folders above it that are missing
local path = out:sub(1, 1) == "/" and "/" or ""
for part in out:gmatch("[^/]+") do
    path = path .. part
    if not core.is_dir(path) then
        local made, why = core.mkdir(path)
        if not made then
            io.stderr:write(why, "\n")
            return 1
        end
    end
    path = path .. "/"
end
local train = write_split(out, "train", limit)
local test = write_split(out, "test", limit)
print(string.format("wrote %d images to %s (%d train, %d test)", train + test, out, train, test))
