-- lutra.logger: number, byte and time formats, plain lines vs the terminal's progress
-- bar, train.log with time stamps, one JSON object per metrics.jsonl line, the file lines
-- kept until the run's folder exists.
local core = require "lutra.core"
local logger = require "lutra.logger"

-- A console that records what is written.
local function fake_console()
    local c = { text = "" }
    function c:write(...)
        for _, s in ipairs { ... } do
            self.text = self.text .. s
        end
    end
    function c:flush() end
    return c
end

describe("logger", function()
    it("formats bytes, durations and numbers briefly", function()
        assert.equal("512B", logger.bytes(512))
        assert.equal("1.5K", logger.bytes(1536))
        assert.equal("412M", logger.bytes(412 * 1024 * 1024))
        assert.equal("?", logger.bytes(nil))
        assert.equal("1:05", logger.duration(65))
        assert.equal("1:02:03", logger.duration(3723))
        assert.equal("?", logger.duration(nil))
        assert.equal("0.1235", logger.num(0.123456))
        assert.equal("42", logger.num(42))
        local rss, peak = logger.rss()
        assert.is_true(rss > 0 and peak >= rss)
    end)

    it("writes plain lines, train.log and metrics.jsonl", function()
        local dir = string.format("%s/lutra-logger-spec-%d", os.getenv("TMPDIR") or "/tmp",
            core.getpid())
        core.mkdir(dir)
        local console = fake_console()
        local log = logger.new { work_dir = dir, console = console, tty = false }
        log:info("hello")
        log:warn("careful")
        log:progress { iter = 1, max_iters = 2, loss = 1, lr = 0.1 } -- no bar off a terminal
        log:metrics { mode = "train", iter = 1, loss = 0.5 }
        log:close()
        assert.equal("hello\nwarning: careful\n", console.text)
        local f = assert(io.open(dir .. "/train.log"))
        local text = f:read("a")
        f:close()
        assert.truthy(text:match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d hello\n"))
        f = assert(io.open(dir .. "/metrics.jsonl"))
        assert.equal('{"iter":1,"loss":0.5,"mode":"train"}\n', f:read("a"))
        f:close()
        os.remove(dir .. "/train.log")
        os.remove(dir .. "/metrics.jsonl")
        os.remove(dir)
    end)

    it("keeps the file lines until the run's folder is named (pending, attach)", function()
        local dir = string.format("%s/lutra-logger-spec-pending-%d", os.getenv("TMPDIR") or
            "/tmp", core.getpid())
        core.mkdir(dir)
        local console = fake_console()
        local log = logger.new { console = console, tty = false, pending = true }
        log:info("before")
        log:file_only("only in the file")
        log:metrics { mode = "event", iter = 0 }
        assert.is_false(core.is_file(dir .. "/train.log"))
        log:attach(dir)
        log:info("after")
        log:metrics { mode = "train", iter = 1 }
        log:close()
        assert.equal("before\nafter\n", console.text)
        local f = assert(io.open(dir .. "/train.log"))
        local text = f:read("a")
        f:close()
        assert.truthy(text:match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d before\n" ..
            "[%d%-: ]+ only in the file\n[%d%-: ]+ after\n$"), text)
        f = assert(io.open(dir .. "/metrics.jsonl"))
        assert.equal('{"iter":0,"mode":"event"}\n{"iter":1,"mode":"train"}\n', f:read("a"))
        f:close()
        os.remove(dir .. "/train.log")
        os.remove(dir .. "/metrics.jsonl")
        os.remove(dir)
        -- never attached (the run failed before its folder): the lines go nowhere
        log = logger.new { console = fake_console(), tty = false, pending = true }
        log:info("lost")
        log:close()
    end)

    it("draws a progress bar on a terminal and clears it for lines", function()
        local console = fake_console()
        local log = logger.new { console = console, tty = true }
        log:progress { epoch = 2, max_epochs = 10, epoch_iter = 50, epoch_iters = 100, iter = 150,
            max_iters = 1000, loss = 0.4123, lr = 0.05, samples_per_s = 9000, rss = 100 * 2 ^ 20,
            peak = 120 * 2 ^ 20, eta = 83, force = true }
        local bar = console.text
        assert.truthy(bar:find("^\r\27%[Kepoch 2/10 50/100 %[#+%-+%] loss 0.4123 lr 0.05 9000 " ..
            "samples/s mem 100M/120M ETA 1:23"))
        log:info("a line")
        assert.truthy(console.text:find("\r\27[Ka line\n", #bar, true))
        console.text = ""
        log:progress { iter = 1, max_iters = 2 } -- throttled: drawn less than 0.1 s ago
        assert.equal("", console.text)
        log:close()
    end)
end)
