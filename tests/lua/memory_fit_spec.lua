-- lutra.memory_fit's answers (lutra plan --fit) as pure functions: the divisors of the
-- effective batch, the bisection for the largest that fits, and the rows per precision
-- and checkpointing, against a plan probe with known bytes.
local config = require "lutra.config"
local memory_fit = require "lutra.memory_fit"

describe("memory_fit answers", function()
    it("lists an effective batch's divisors in order", function()
        assert.same({ 1 }, memory_fit.divisors(1))
        assert.same({ 1, 2, 3, 4, 6, 12 }, memory_fit.divisors(12))
        assert.same({ 1, 2, 4, 8, 16, 32, 64, 128 }, memory_fit.divisors(128))
        assert.same({ 1, 7, 49 }, memory_fit.divisors(49))
    end)

    it("finds the largest candidate that fits by bisection", function()
        local list = memory_fit.divisors(128)
        for _, limit in ipairs { 0, 1, 2, 3, 31, 64, 127, 128, 1000 } do
            local calls = 0
            local got = memory_fit.largest(list, function(b)
                calls = calls + 1
                return b <= limit
            end)
            local want
            for _, b in ipairs(list) do
                want = b <= limit and b or want
            end
            assert.equal(want, got, "limit " .. limit)
            assert.is_true(calls <= 4, calls .. " calls for limit " .. limit)
        end
        assert.has_error(function() memory_fit.largest({ 1, 2 }, function() error("no", 0) end) end,
            "no")
    end)

    it("answers per precision and checkpointing, keeping the effective batch", function()
        local cfg = config.load("examples/fmnist_mlp.lua", { "data.batch_size=32",
            "optim.accumulate=2" })
        -- 1000 bytes per row in fp32, half in bf16 and fp16; checkpointing saves a fifth
        local function probe(c)
            if c.precision.mode == "fp16" and c.memory.checkpoint then
                return nil, "no fp16 kernel here"
            end
            local per = c.precision.mode == "fp32" and 1000 or 500
            per = c.memory.checkpoint and per * 4 // 5 or per
            assert.equal(64, c.data.batch_size * c.optim.accumulate)
            return { report = { total = per * c.data.batch_size } }
        end
        local rows, plans = memory_fit.answers(cfg, probe, { capacity = 40000 }) -- 30000
        assert.equal(32, cfg.data.batch_size) -- not written
        assert.equal("fp32", cfg.precision.mode)
        assert.equal(6, #rows)
        assert.same({ precision = "fp32", checkpoint = false, capacity = 40000, budget = 30000,
            fits = true, micro_batch = 16, accumulate = 4, planned = 16000, of_capacity = 0.4 },
            rows[1])
        assert.equal(32, rows[2].micro_batch) -- 800 per row
        assert.equal(2, rows[2].accumulate)
        assert.equal(32, rows[3].micro_batch) -- 500 per row: 64 needs 32000
        assert.equal(64, rows[4].micro_batch) -- 400 per row: the whole effective batch
        assert.equal(1, rows[4].accumulate)
        assert.same({ precision = "fp16", checkpoint = true, capacity = 40000, budget = 30000,
            error = "no fp16 kernel here" }, rows[6])
        assert.is_true(plans >= 6)
        -- nothing fits: micro-batch 1, with its bytes
        rows = memory_fit.answers(cfg, probe, { capacity = 100 })
        assert.is_false(rows[1].fits)
        assert.equal(1, rows[1].micro_batch)
        assert.equal(64, rows[1].accumulate)
        assert.equal(1000, rows[1].planned)
        -- the process's own bytes come off the budget: 30000 - 14000 leaves 16000
        rows = memory_fit.answers(cfg, probe, { capacity = 40000, baseline = 14000 })
        assert.equal(16000, rows[1].budget)
        assert.equal(16, rows[1].micro_batch) -- 16 × 1000 just fits
        assert.equal(32, rows[3].micro_batch) -- bf16: 32 × 500
        -- a process that alone holds the budget: a message, not a negative budget
        local ok, err = pcall(memory_fit.answers, cfg, probe, { capacity = 40000,
            capacity_name = "memory.limit", baseline = 31000 })
        assert.is_false(ok)
        assert.matches("is less than the process holds before any plan %(30%.3K", err)
        assert.matches("memory.process = false", err)
    end)
end)
