-- A work dir and the runs in it. The work dir holds a project's runs, each in a folder of
-- its own named after its start time (20261207_061500, "_2" appended when two start in
-- the same second), so that runs never mix: the run's config.lua, train.log,
-- metrics.jsonl, curves, checkpoints, best_<metric>.safetensors and final.safetensors
-- are all inside it. At the top: lutra.lock (the pid of the live run that holds the work
-- dir; the kernel drops the lock when that process ends, however it ends) and
-- last_checkpoint (the newest checkpoint of any run, as a path relative to the work dir).
local core = require "lutra.core"
local paths = require "lutra.paths"

local workdir = {}

local WorkDir = {}
WorkDir.__index = WorkDir

workdir.LOCK = "lutra.lock"
workdir.LAST = "last_checkpoint"

-- "mkdir -p": every folder of path. Raises "path: reason".
local function make_dirs(path)
    local at = path:sub(1, 1) == "/" and "/" or ""
    for seg in path:gmatch("[^/]+") do
        at = at .. seg
        local ok, err = core.mkdir(at)
        if not ok then
            error(err, 0)
        end
        at = at .. "/"
    end
end

-- workdir.check(path): nil when path can be a work dir, else why not. An empty path and
-- the root would put a run's files among everything else's.
function workdir.check(path)
    if type(path) ~= "string" or path == "" then
        return "work_dir is empty: give the folder the runs go in (--work-dir DIR)"
    end
    if paths.normalize(path) == "/" then
        return string.format("work_dir %q is the root folder: give a folder of its own", path)
    end
end

-- workdir.open(path): makes the folder if needed and takes its lock. Raises "work dir
-- PATH is in use by another run (pid N) ..." when a live process holds it, or
-- "path: reason".
function workdir.open(path)
    local why = workdir.check(path)
    if why then
        error(why, 0)
    end
    path = paths.normalize(path)
    make_dirs(path)
    local lock_path = path .. "/" .. workdir.LOCK
    local lock, err, pid = core.lock(lock_path)
    if not lock then
        if pid then
            error(string.format("work dir %s is in use by another run (pid %d; lock file %s): " ..
                "wait for it to end, or train into another --work-dir", path, pid, lock_path), 0)
        end
        error(err, 0)
    end
    return setmetatable({ dir = path, lock = lock }, WorkDir)
end

-- workdir.at(path): the same without the lock, for reading (nothing is written).
function workdir.at(path)
    return setmetatable({ dir = paths.normalize(path) }, WorkDir)
end

-- wd:close(): releases the lock. Cannot fail.
function WorkDir:close()
    if self.lock then
        self.lock:release()
        self.lock = nil
    end
end

-- The folders of the work dir that are runs (their names start with the date), newest
-- last.
function WorkDir:runs()
    local names = core.list_dir(self.dir) or {}
    local runs = {}
    for _, n in ipairs(names) do
        if n:match("^%d%d%d%d%d%d%d%d_%d%d%d%d%d%d") and core.is_dir(self.dir .. "/" .. n) then
            runs[#runs + 1] = n
        end
    end
    table.sort(runs, function(a, b)
        -- "_2" after the plain name of the same second
        local ta, sa = a:match("^(%d+_%d+)_?(%d*)$")
        local tb, sb = b:match("^(%d+_%d+)_?(%d*)$")
        if ta and tb and ta == tb then
            return (tonumber(sa) or 1) < (tonumber(sb) or 1)
        end
        return a < b
    end)
    return runs
end

-- wd:clean_stale(): removes the temporaries that killed writers left (NAME.tmp-PID-XXXXXX
-- of a process no longer alive) in the work dir and its runs. Returns their count.
function WorkDir:clean_stale()
    local removed = 0
    local folders = { self.dir }
    for _, r in ipairs(self:runs()) do
        folders[#folders + 1] = self.dir .. "/" .. r
    end
    local me = core.getpid()
    for _, f in ipairs(folders) do
        for _, n in ipairs(core.list_dir(f) or {}) do
            local pid = tonumber(n:match("%.tmp%-(%d+)%-%w+$"))
            if pid and pid ~= me and not core.pid_alive(pid) and os.remove(f .. "/" .. n) then
                removed = removed + 1
            end
        end
    end
    return removed
end

-- wd:new_run(): makes the folder of a new run and returns its path and name.
function WorkDir:new_run()
    local stamp = os.date("%Y%m%d_%H%M%S")
    for k = 1, 1000 do
        local name = k == 1 and stamp or string.format("%s_%d", stamp, k)
        local path = self.dir .. "/" .. name
        local ok, err, exists = core.mkdir_new(path)
        if ok then
            return path, name
        elseif not exists then
            error(err, 0)
        end
    end
    error(self.dir .. ": cannot make a run folder (1000 runs started in one second?)", 0)
end

-- The checkpoint number in a checkpoint's file name (iter_N / epoch_N), and its kind.
function workdir.checkpoint_number(name)
    local kind, n = name:match("([%a]+)_(%d+)%.safetensors$")
    if kind == "iter" or kind == "epoch" then
        return tonumber(n), kind
    end
end

-- wd:checkpoints(): every checkpoint file of every run, newest first (the newest run's
-- highest number first), as paths.
function WorkDir:checkpoints()
    local list = {}
    local runs = self:runs()
    for r = #runs, 1, -1 do
        local folder = self.dir .. "/" .. runs[r]
        local here = {}
        for _, n in ipairs(core.list_dir(folder) or {}) do
            local num = workdir.checkpoint_number(n)
            if num then
                here[#here + 1] = { path = folder .. "/" .. n, n = num }
            end
        end
        table.sort(here, function(a, b) return a.n > b.n end)
        for _, c in ipairs(here) do
            list[#list + 1] = c.path
        end
    end
    return list
end

-- wd:last_checkpoint(): the path last_checkpoint names (relative to the work dir, or as
-- written by older versions), or nil and why there is none.
function WorkDir:last_checkpoint()
    local file = self.dir .. "/" .. workdir.LAST
    local f = io.open(file, "r")
    if not f then
        return nil, file .. " does not exist"
    end
    local line = f:read("l")
    f:close()
    line = line and line:match("^%s*(.-)%s*$") or ""
    if line == "" then
        return nil, file .. " is empty"
    end
    if line:sub(1, 1) ~= "/" and core.is_file(self.dir .. "/" .. line) then
        return self.dir .. "/" .. line
    end
    if core.is_file(line) then
        return line
    end
    return nil, string.format("%s names %s, which does not exist", file, line)
end

-- wd:set_last_checkpoint(path): points last_checkpoint at path (inside the work dir),
-- atomically. Raises "path: reason".
function WorkDir:set_last_checkpoint(path)
    local rel = path:sub(1, #self.dir + 1) == self.dir .. "/" and path:sub(#self.dir + 2) or path
    local ok, err = core.write_atomic(self.dir .. "/" .. workdir.LAST, rel .. "\n")
    if not ok then
        error(err, 0)
    end
end

return workdir
