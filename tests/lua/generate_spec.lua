-- lutra.generate's pieces: the draw (greedy, top-k, the softmax's proportions, the same
-- for a seed and step), the prompt's tokens, and the padded window matching unpadded
-- logits.
local lutra = require "lutra"
local generate = require "lutra.generate"

describe("generate.pick", function()
    local logits = lutra.tensor({ { 0.5, 3, -1, 2.9 } })

    it("takes the largest logit at temperature 0, and with top_k = 1", function()
        assert.are.equal(1, generate.pick(logits, 0, 0, 1, 0))
        for step = 0, 49 do
            assert.are.equal(1, generate.pick(logits, 1, 1, 1, step))
        end
    end)

    it("draws from the top k only", function()
        local seen = {}
        for step = 0, 399 do
            seen[generate.pick(logits, 5, 2, 2, step)] = true
        end
        assert.are.same({ [1] = true, [3] = true }, seen)
    end)

    it("draws in the softmax's proportions, the same for a seed and step", function()
        -- softmax of {0, log 3} is {1/4, 3/4}; 8000 draws: sd 0.005, margin 0.03
        local row, ones, differ = lutra.tensor({ { 0, math.log(3) } }), 0, 0
        for step = 0, 7999 do
            local id = generate.pick(row, 1, 0, 3, step)
            ones = ones + id
            assert.are.equal(id, generate.pick(row, 1, 0, 3, step))
            if id ~= generate.pick(row, 1, 0, 4, step) then
                differ = differ + 1
            end
        end
        assert.is_true(math.abs(ones / 8000 - 0.75) < 0.03, "share " .. ones / 8000)
        assert.is_true(differ > 1000, "seeds 3 and 4 differ in " .. differ .. " draws")
    end)
end)

describe("generate.prompt_ids", function()
    it("reads text as bytes, or numbers as ids, within the vocabulary", function()
        assert.are.same({ 104, 105 }, generate.prompt_ids("hi", true, 256))
        assert.are.same({ 12, 7, 431 }, generate.prompt_ids("12 7,431", false, 500))
        assert.has_error(function() generate.prompt_ids("12 x", false, 500) end)
        assert.has_error(function() generate.prompt_ids("12 500", false, 500) end)
        assert.has_error(function() generate.prompt_ids("hi", true, 100) end)
    end)

    it("knows bytes from the recipe's data", function()
        assert.is_true(generate.bytes_of({ path = "a.txt" }))
        assert.is_true(generate.bytes_of({ path = "a.bin", token_format = "bytes" }))
        assert.is_false(generate.bytes_of({ path = "a.bin" }))
        assert.is_false(generate.bytes_of({ path = "a.txt", token_format = "u16" }))
        assert.is_true(generate.bytes_of({ path = { "a.txt", "b.txt" } }))
        assert.is_false(generate.bytes_of({ path = { "a.txt", "b.bin" } }))
    end)
end)

describe("generate.run", function()
    it("gives the tokens an unpadded forward pass gives (causal: padding is invisible)", function()
        lutra.manual_seed(4)
        local model = lutra.nn.GPT { n_layer = 1, n_head = 2, n_embd = 16, block_size = 8,
            vocab_size = 11 }
        local prog, vocab = generate.program(model, 8)
        assert.are.equal(11, vocab)
        local prompt = { 3, 1, 4, 1, 5 }
        local new = generate.run(prog, { prompt_ids = prompt, tokens = 6, temperature = 0,
            top_k = 0, seed = 0 })
        local low = generate.run(prog, { prompt_ids = prompt, tokens = 20, temperature = 5,
            top_k = 0, seed = 1, limit = 3 })
        prog.forward:close()
        for _, id in ipairs(low) do
            assert.is_true(id < 3, "id " .. id .. " is not below the limit 3")
        end
        assert.are.equal(6, #new)
        -- the same greedy tokens from the model on the exact window, one length at a time
        local ids = { table.unpack(prompt) }
        local ev = require("lutra.trainer").evaluator(model)
        for i = 1, 6 do
            local first = math.max(1, #ids - 8 + 1)
            local n = #ids - first + 1
            local x = lutra.zeros({ 1, n }, "i32")
            for t = 1, n do
                x:set(t, ids[first + t - 1])
            end
            local out = ev:program(x)
            local logits = require("lutra.trace").run(out, { x })
            local id = 0 -- the largest logit at the last position, the first of ties
            for j = 1, vocab - 1 do
                if logits:get((n - 1) * vocab + j + 1) > logits:get((n - 1) * vocab + id + 1) then
                    id = j
                end
            end
            assert.are.equal(id, new[i], "token " .. i)
            ids[#ids + 1] = id
        end
    end)
end)
