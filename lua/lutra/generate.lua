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
-- Sampling is lutra's own ops on the host's copy of the last position's logits: divided
-- by the temperature, the top k kept (topk), softmax, one draw of the multinomial op,
-- keyed by --seed and the token's position (kernels/rng.h); temperature 0 takes the
-- largest logit. Same weights, prompt, options and seed: the same tokens.
local util = require "lutra.util"
local F = require "lutra.ops"
local T = require "lutra.tensor"
local trainer = require "lutra.trainer"
local trace = require "lutra.trace"

local raise = util.raise

local M = {}

-- The next token from row, logits (1, V): the largest at temperature 0, else a draw from
-- the softmax of row / temperature over the top_k largest (0: all), the multinomial op's
-- draw number `step` of `seed`.
function M.pick(row, temperature, top_k, seed, step)
    local v = row:shape()[2]
    if temperature == 0 then
        local _, best = F.topk(row, 1) -- ties: the smallest id, as topk keeps their order
        return best:get(1)
    end
    local k = (top_k > 0 and top_k < v) and top_k or v
    local logits, ids = F.topk(F.scale(row, 1 / temperature), k)
    return ids:get(F.multinomial(F.softmax(logits), seed, step):get(1) + 1)
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
        local v = prog.shapes[1][3]
        local row = F.reshape(F.narrow(trace.run(prog, { x }), 2, n, 1), 1, v)
        if opts.limit and opts.limit < v then
            row = F.narrow(row, 2, 1, opts.limit)
        end
        local id = M.pick(row, opts.temperature, opts.top_k, opts.seed, #new)
        ids[#ids + 1] = id
        new[#new + 1] = id
        if opts.emit then
            opts.emit(id)
        end
    end
    return new
end

return M
