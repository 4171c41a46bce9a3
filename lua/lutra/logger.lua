-- The run's logger: every message goes to the console and, with a time stamp, to
-- train.log; every logged step or evaluation is one JSON object on its own line in
-- metrics.jsonl. On a terminal the console also shows a progress bar (iteration, loss,
-- lr, samples/s, memory used/peak, ETA) redrawn in place at most ten times a second,
-- with log lines printed above it; elsewhere (a pipe, a file) only the plain lines.
-- Files are appended a whole line per write and flushed, so a killed run keeps its logs.
local core = require "lutra.core"

local logger = {}

local Logger = {}
Logger.__index = Logger

-- ---- formatting helpers ---------------------------------------------------------------------

-- "412M", "1.2G": a byte count in few characters.
function logger.bytes(n)
    if n == nil then
        return "?"
    end
    local units = { "B", "K", "M", "G", "T" }
    local i = 1
    while n >= 1024 and i < #units do
        n, i = n / 1024, i + 1
    end
    return (n >= 100 or i == 1) and string.format("%d%s", math.floor(n + 0.5), units[i]) or
        string.format("%.1f%s", n, units[i])
end

-- "1:05", "1:02:03": seconds as a clock.
function logger.duration(s)
    if s == nil or s ~= s or s == math.huge then
        return "?"
    end
    s = math.floor(s + 0.5)
    local h, m = s // 3600, (s % 3600) // 60
    if h > 0 then
        return string.format("%d:%02d:%02d", h, m, s % 60)
    end
    return string.format("%d:%02d", m, s % 60)
end

-- A number in a log line: 4 significant digits, no trailing noise.
function logger.num(v)
    if v == nil then
        return "-"
    elseif math.type(v) == "integer" then
        return tostring(v)
    end
    return string.format("%.4g", v)
end

-- The process's resident memory now and at its peak, in bytes (Linux /proc), or nil.
function logger.rss()
    local f = io.open("/proc/self/status", "r")
    if not f then
        return nil
    end
    local text = f:read("a")
    f:close()
    local rss = text:match("VmRSS:%s*(%d+) kB")
    local hwm = text:match("VmHWM:%s*(%d+) kB")
    return rss and tonumber(rss) * 1024, hwm and tonumber(hwm) * 1024
end

-- ---- the logger -------------------------------------------------------------------------------

-- new{work_dir =, console = io.stdout, tty = isatty(stdout), quiet = false, pending =
-- false}: a logger appending to work_dir/train.log and work_dir/metrics.jsonl (work_dir
-- nil: console only; with pending, the file lines are kept until logger:attach names the
-- folder). Raises "path: reason" when a file cannot be opened.
function logger.new(opts)
    opts = opts or {}
    local self = setmetatable({
        console = opts.console or io.stdout,
        tty = opts.tty,
        quiet = opts.quiet,
        bar_shown = false,
        last_draw = -1,
        pending = opts.pending and { log = {}, jsonl = {} } or nil,
    }, Logger)
    if self.tty == nil then
        self.tty = opts.console == nil and core.isatty(1)
    end
    if opts.work_dir then
        self:attach(opts.work_dir)
    end
    return self
end

-- Opens path for appending, unbuffered: each line is one write, so readers never see half
-- a line. Raises "path: reason".
local function open_log(path)
    local f, err = io.open(path, "a")
    if not f then
        error(err, 0)
    end
    f:setvbuf("no")
    return f
end

-- logger:attach(dir): from now on train.log and metrics.jsonl in dir get the file lines,
-- the kept ones first. Raises "path: reason".
function Logger:attach(dir)
    self.log = open_log(dir .. "/train.log")
    self.jsonl = open_log(dir .. "/metrics.jsonl")
    local kept = self.pending
    self.pending = nil
    if kept then
        for _, line in ipairs(kept.log) do
            self.log:write(line)
        end
        for _, line in ipairs(kept.jsonl) do
            self.jsonl:write(line)
        end
    end
end

-- A line for train.log: written, kept for attach, or dropped (console only).
local function file_line(self, msg)
    local line = os.date("%Y-%m-%d %H:%M:%S ") .. msg .. "\n"
    if self.log then
        self.log:write(line)
    elseif self.pending then
        self.pending.log[#self.pending.log + 1] = line
    end
end

-- Clears the progress bar's line before other output.
local function clear_bar(self)
    if self.bar_shown then
        self.console:write("\r\27[K")
        self.bar_shown = false
    end
end

-- logger:info(msg): a line on the console and in train.log.
function Logger:info(msg)
    if not self.quiet then
        clear_bar(self)
        self.console:write(msg, "\n")
        self.console:flush()
    end
    file_line(self, msg)
end

-- logger:file_only(msg): a line in train.log alone (what the console shows otherwise,
-- such as the CLI's error message on stderr).
function Logger:file_only(msg)
    file_line(self, msg)
end

-- logger:warn(msg): as info, marked as a warning.
function Logger:warn(msg)
    self:info("warning: " .. msg)
end

-- logger:metrics(t): one JSON object (t) on its own line in metrics.jsonl.
function Logger:metrics(t)
    local line = core.json_encode(t) .. "\n"
    if self.jsonl then
        self.jsonl:write(line)
    elseif self.pending then
        self.pending.jsonl[#self.pending.jsonl + 1] = line
    end
end

-- logger:wants_progress(): whether progress() would draw now (a terminal, and 0.1 s
-- since the last drawing), so callers gather its numbers only then.
function Logger:wants_progress()
    return self.tty and not self.quiet and core.clock() - self.last_draw >= 0.1
end

-- logger:progress(p): redraws the bar on a terminal (at most 10 times a second unless
-- p.force). p: {epoch =, max_epochs =, iter =, max_iters =, epoch_iter =, epoch_iters =,
-- loss =, lr =, samples_per_s =, rss =, peak =, eta =}.
function Logger:progress(p)
    if not self.tty or self.quiet then
        return
    end
    local now = core.clock()
    if not p.force and now - self.last_draw < 0.1 then
        return
    end
    self.last_draw = now
    local head
    if p.max_epochs then
        head = string.format("epoch %d/%d %d/%d", p.epoch, p.max_epochs, p.epoch_iter,
            p.epoch_iters)
    else
        head = string.format("iter %d/%d", p.iter, p.max_iters)
    end
    local tail = string.format(" loss %s lr %s %s samples/s mem %s/%s ETA %s",
        logger.num(p.loss), logger.num(p.lr), p.samples_per_s and
        string.format("%.0f", p.samples_per_s) or "?", logger.bytes(p.rss),
        logger.bytes(p.peak), logger.duration(p.eta))
    local width = core.term_width(1) or 100
    local room = width - #head - #tail - 4
    local bar = ""
    if room >= 10 then
        local frac = p.max_epochs and p.epoch_iter / math.max(1, p.epoch_iters) or
            p.iter / math.max(1, p.max_iters)
        local fill = math.floor(math.min(1, frac) * room + 0.5)
        bar = " [" .. string.rep("#", fill) .. string.rep("-", room - fill) .. "]"
    end
    local line = (head .. bar .. tail):sub(1, width - 1)
    self.console:write("\r\27[K", line)
    self.console:flush()
    self.bar_shown = true
end

-- logger:close(): ends the bar's line and closes the files.
function Logger:close()
    clear_bar(self)
    if self.log then
        self.log:close()
        self.log = nil
    end
    if self.jsonl then
        self.jsonl:close()
        self.jsonl = nil
    end
end

return logger
