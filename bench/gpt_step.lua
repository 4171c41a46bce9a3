-- gpt_step: training-step throughput of lutra's GPT (lutra.nn.GPT through lutra.Trainer),
-- the GPT rows of `make bench` beside bench/peer_torch.py --model gpt. bench_step builds
-- its models in C; the GPT is a Lua model, so it is timed from a Lua script:
--
--   lutra run bench/gpt_step.lua [--precision fp32|bf16|fp32,bf16] [--threads N]
--                                [--batch N] [--warmup N] [--repeats N] [--min-time S]
--                                [--budget S] [--device cpu|cuda|cuda:N]
--
-- The model is the planned example recipe's: n_layer 4, n_head 4, n_embd 128, block_size
-- 128, vocab_size 256, dropout 0, bias; batch 32 sequences of 128 tokens; AdamW (lr 6e-4,
-- betas 0.9 and 0.95, weight_decay 0.1 without decay on biases, norms and embeddings).
-- Synthetic data: uniform token ids, four batches cycled (the rate does not depend on the
-- values). Timing as bench_step's: warm-up steps (at least one, at most --warmup or a
-- fifth of the budget), then `repeats` timed runs of several steps each, sized from the
-- warm-up's step time to fit the budget; the median run's step time is reported.
-- Prints one JSON line per precision with bench_step's field names, plus tokens_per_s.
-- On a GPU each step's loss comes back to the host, so every timed step has finished.
local opts = { precision = "fp32,bf16", threads = 2, batch = 32, warmup = 10, repeats = 5,
    ["min-time"] = 0.4, budget = 12, device = "cpu" }
local i = 1
while i <= #arg do
    local key = arg[i]:match("^%-%-(.+)$")
    local value = arg[i + 1]
    if key == "min-time" or key == "budget" then
        value = tonumber(value)
    elseif key ~= "precision" and key ~= "device" then -- threads, batch, warmup, repeats
        value = math.tointeger(tonumber(value))
    end
    if opts[key] == nil or value == nil then
        error("gpt_step: unknown option or a missing or bad value: " .. arg[i], 0)
    end
    opts[key] = value
    i = i + 2
end

local config = { n_layer = 4, n_head = 4, n_embd = 128, block_size = 128, vocab_size = 256,
    dropout = 0, bias = true }
local N_BATCHES = 4

-- N_BATCHES pairs of uniform token ids (B, T) from a linear congruential generator.
local function batches(b, t, v)
    local state, list = 1, {}
    local function draw()
        state = (1103515245 * state + 12345) % 2147483648
        return (state >> 16) % v
    end
    for k = 1, N_BATCHES do
        local x, y = lutra.zeros({ b, t }, "i32"), lutra.zeros({ b, t }, "i32")
        for e = 1, b * t do
            x:set(e, draw())
            y:set(e, draw())
        end
        list[k] = { x, y }
    end
    return list
end

local function median(v)
    local s = table.move(v, 1, #v, 1, {})
    table.sort(s)
    local n = #s
    return n % 2 == 1 and s[(n + 1) // 2] or 0.5 * (s[n // 2] + s[n // 2 + 1])
end

-- Times one precision; returns the JSON line.
local function bench(precision, data)
    lutra.manual_seed(0)
    local trainer = lutra.Trainer {
        model = lutra.nn.GPT(config),
        input_shape = { opts.batch, config.block_size },
        input_dtype = "i32",
        precision = { mode = precision },
        optim = lutra.optim.AdamW { lr = 6e-4, betas = { 0.9, 0.95 }, weight_decay = 0.1,
            paramwise = { bias_decay_mult = 0, norm_decay_mult = 0,
                custom_keys = { wte = { decay_mult = 0 }, wpe = { decay_mult = 0 } } } },
    }
    local step, loss, skipped = 0, nil, 0
    local function run(n)
        for _ = 1, n do
            local r = trainer:step(data[step % N_BATCHES + 1])
            loss, step = r.loss, step + 1
            skipped = skipped + (r.skipped and 1 or 0)
        end
    end
    local start, last, warmup = lutra.clock(), 0, 0
    repeat
        local t0 = lutra.clock()
        run(1)
        last, warmup = math.max(lutra.clock() - t0, 1e-6), warmup + 1
    until warmup >= opts.warmup or lutra.clock() - start >= 0.2 * opts.budget
    local left = opts.budget - (lutra.clock() - start)
    local per_run, repeats = math.max(1, math.ceil(opts["min-time"] / last)), opts.repeats
    while repeats > 1 and repeats * per_run * last > left do
        if per_run > 1 then
            per_run = per_run - 1
        else
            repeats = repeats - 1
        end
    end
    local ms = {}
    for r = 1, repeats do
        local t0 = lutra.clock()
        run(per_run)
        ms[r] = 1e3 * (lutra.clock() - t0) / per_run
    end
    local med = median(ms)
    local sps = 1e3 * opts.batch / med
    local mem = trainer:memory()
    trainer:close()
    return string.format('{"kind": "step", "model": "gpt", "precision": "%s", "threads": %d, ' ..
        '"batch": %d, "block_size": %d, "available": true, "samples_per_s": %.1f, ' ..
        '"tokens_per_s": %.0f, "ms_per_step": %.3f, "ms_per_step_min": %.3f, ' ..
        '"ms_per_step_max": %.3f, "warmup": %d, "repeats": %d, "steps_per_repeat": %d, ' ..
        '"skipped_steps": %d, "mem_mib": %.1f, "activations_mib": %.2f, "last_loss": %.4f}',
        precision, opts.threads, opts.batch, config.block_size, sps, sps * config.block_size,
        med, math.min(table.unpack(ms)), math.max(table.unpack(ms)), warmup, repeats, per_run,
        skipped, mem.total / 2 ^ 20, mem.activations / 2 ^ 20, loss)
end

lutra.set_threads(opts.threads)
local device, why = lutra.set_device(opts.device)
if device ~= opts.device and not (opts.device == "cuda" and device:match("^cuda")) then
    error(string.format("gpt_step: --device %s: running on %s%s", opts.device, device,
        why and " (" .. why .. ")" or ""), 0)
end
local data = batches(opts.batch, config.block_size, config.vocab_size)
for precision in opts.precision:gmatch("[^,]+") do
    local ok, line = pcall(bench, precision, data)
    if not ok then -- a precision the GPT cannot plan is a result, as in bench_step
        line = string.format('{"kind": "step", "model": "gpt", "precision": "%s", ' ..
            '"threads": %d, "batch": %d, "available": false, "error": "%s"}', precision,
            opts.threads, opts.batch, tostring(line):gsub('[%c"\\]', " "))
    end
    print(line)
    io.stdout:flush()
end
