-- Text from a trained token model (`lutra generate`): a model that takes token ids (B, T)
-- to logits (B, T, V) and has a block_size, as nn.GPT does.
--
-- How: the window is recomputed for every new token (no KV cache). The model's forward
-- program is planned once for (1, W), W the window (the recipe's data.block_size, at
-- most the model's block_size); the last W tokens fill it from the left and the rest is
-- padding. Causal attention makes that exact: position t reads positions up to t only,
-- so the padding never changes the logits read at the last real token. Each token thus
-- costs one forward pass over W positions, the price of one program and no per-length
-- planning.
--
-- Sampling runs on the host from those logits: divided by the temperature, all but the
-- top k set aside, softmax, one draw from a generator seeded by --seed (temperature 0:
-- the largest logit). Same weights, prompt, options and seed: the same tokens.
local util = require "lutra.util"
local T = require "lutra.tensor"
local trainer = require "lutra.trainer"
local trace = require "lutra.trace"

local raise = util.raise

local M = {}

-- A seeded generator of uniform numbers in [0, 1) (splitmix64): its own state, so that
-- the text depends on the seed alone, not on what else drew from math.random.
function M.uniform(seed)
    local s = math.tointeger(seed) or 0
    return function()
        s = s + 0x9E3779B97F4A7C15
        local z = s
        z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
        z = (z ~ (z >> 27)) * 0x94D049BB133111EB
        z = z ~ (z >> 31)
        return (z >> 11) * 2.0 ^ -53
    end
end

-- The next token from logits[1..V] (a Lua array): greedy at temperature 0, else a draw
-- from the softmax of logits / temperature over the top_k largest (0: all).
function M.pick(logits, temperature, top_k, uniform)
    local v = #logits
    if temperature == 0 then
        local best = 1
        for i = 2, v do
            if logits[i] > logits[best] then
                best = i
            end
        end
        return best - 1
    end
    local k = (top_k > 0 and top_k < v) and top_k or v
    local order = {}
    for i = 1, v do
        order[i] = i
    end
    if k < v then -- the k largest first; ties by id, so the order does not depend on the sort
        table.sort(order, function(a, b)
            if logits[a] ~= logits[b] then
                return logits[a] > logits[b]
            end
            return a < b
        end)
    end
    local top = -math.huge
    for r = 1, k do
        top = math.max(top, logits[order[r]])
    end
    local weights, total = {}, 0
    for r = 1, k do
        local w = math.exp((logits[order[r]] - top) / temperature)
        weights[r], total = w, total + w
    end
    local u, acc = uniform() * total, 0
    for r = 1, k do
        acc = acc + weights[r]
        if u < acc then
            return order[r] - 1
        end
    end
    return order[k] - 1 -- u within rounding of the total
end

-- Whether the recipe's tokens are bytes (a .txt file, or token_format = "bytes"): then
-- the prompt is text and the output is written as bytes; otherwise both are token ids.
function M.bytes_of(data)
    local fmt = data.token_format or "auto"
    if fmt ~= "auto" then
        return fmt == "bytes"
    end
    local paths = type(data.path) == "table" and data.path or { data.path }
    for _, p in ipairs(paths) do
        if type(p) ~= "string" or p:sub(-4) ~= ".txt" then
            return false
        end
    end
    return #paths > 0
end

-- The prompt's token ids: the text's bytes, or ids written as numbers ("12 7 431").
function M.prompt_ids(prompt, bytes, vocab)
    local ids = {}
    if bytes then
        for i = 1, #prompt do
            ids[i] = prompt:byte(i)
        end
    else
        for word in prompt:gmatch("[^%s,]+") do
            local id = math.tointeger(tonumber(word))
            if id == nil then
                raise(string.format("generate: --prompt: this recipe's tokens are ids, not " ..
                    "bytes: give numbers (\"12 7 431\"), got '%s'", word))
            end
            ids[#ids + 1] = id
        end
    end
    for i, id in ipairs(ids) do
        if id < 0 or id >= vocab then
            raise(string.format("generate: --prompt: its token %d (%d) is outside the " ..
                "model's vocabulary of %d", i, id, vocab))
        end
    end
    return ids
end

-- generate.program(model, window): the model's forward program for token ids (1, window)
-- and its vocabulary size V (the program gives logits (1, window, V)).
function M.program(model, window)
    local prog = trainer.evaluator(model):program(T.zeros({ 1, window }, "i32"))
    local s = prog.shapes[1]
    if #prog.shapes ~= 1 or #s ~= 3 or s[1] ~= 1 or s[2] ~= window then
        prog.forward:close()
        raise(string.format("generate: the model gives %s for token ids (1, %d); want " ..
            "logits (1, %d, V)", #prog.shapes == 1 and util.shape_str(s) or
            #prog.shapes .. " outputs", window, window))
    end
    return prog, s[3]
end

-- generate.run(prog, opts): generates opts.tokens tokens after opts.prompt_ids (a
-- non-empty list) with a program from generate.program, calling opts.emit(id) for each
-- as it is drawn; returns the list of new ids. opts: temperature, top_k, seed, limit
-- (draw among ids below it only: 256 for bytes from a model with a wider vocabulary),
-- interrupted (a function: true stops early).
function M.run(prog, opts)
    local w = prog.shapes[1][2]
    local x = T.zeros({ 1, w }, "i32")
    local uniform = M.uniform(opts.seed)
    local ids = {}
    for i, id in ipairs(opts.prompt_ids) do
        ids[i] = id
    end
    local new = {}
    for _ = 1, opts.tokens do
        if opts.interrupted and opts.interrupted() then
            break
        end
        local first = math.max(1, #ids - w + 1)
        local n = #ids - first + 1
        for t = 1, w do
            x:set(t, t <= n and ids[first + t - 1] or 0)
        end
        local logits = trace.run(prog, { x })
        local v = prog.shapes[1][3]
        local row, base = {}, (n - 1) * v
        for j = 1, math.min(v, opts.limit or v) do
            row[j] = logits:get(base + j)
        end
        local id = M.pick(row, opts.temperature, opts.top_k, uniform)
        ids[#ids + 1] = id
        new[#new + 1] = id
        if opts.emit then
            opts.emit(id)
        end
    end
    return new
end

return M
