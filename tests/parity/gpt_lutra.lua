-- lutra's side of the GPT parity test (tests/cli/gpt_parity.sh), run as
-- `lutra run tests/parity/gpt_lutra.lua DIR`: a small GPT, ten AdamW steps in fp32 on
-- fixed batches, one thread. Writes into DIR what tests/parity/gpt_parity.py reads:
--   batches.safetensors  x.1 .. x.10 and y.1 .. y.10, token ids i32 (B, T)
--   init.safetensors     the parameters before the first step
--   final.safetensors    the parameters after the last step
--   run.json             {config =, optim = {lr =, betas =, eps =, weight_decay =},
--                        losses = {10 numbers}, decay_mult = {name = m}}: the groups as
--                        each parameter's decay multiplier
local dir = assert(arg[1], "usage: lutra run gpt_lutra.lua DIR")

local config = { n_layer = 2, n_head = 2, n_embd = 32, block_size = 16, vocab_size = 64,
    dropout = 0, bias = true }
local batch, steps = 4, 10
local optim = { lr = 1e-2, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 0.1 }
-- minGPT's groups as the README writes them: no decay on biases, norms and embeddings
local paramwise = { bias_decay_mult = 0, norm_decay_mult = 0,
    custom_keys = { wte = { decay_mult = 0 }, wpe = { decay_mult = 0 } } }

lutra.set_threads(1)
lutra.manual_seed(1)
local model = lutra.nn.GPT(config)
lutra.save_weights(dir .. "/init.safetensors", model)

-- Each step's batch: B windows counting up from a random token by a random stride (1 to
-- 4, one per window), x the first T tokens of each, y the next token at every position:
-- data a model can learn, so that the ten steps move the loss.
local names, tensors, batches = {}, {}, {}
local state = 12345
local function draw(n) -- a linear congruential generator's next number in [0, n)
    state = (1103515245 * state + 12345) % 2147483648
    return (state >> 16) % n
end
local t, v = config.block_size, config.vocab_size
for s = 1, steps do
    local x, y = lutra.zeros({ batch, t }, "i32"), lutra.zeros({ batch, t }, "i32")
    for b = 0, batch - 1 do
        local first, stride = draw(v), 1 + draw(4)
        for i = 1, t do
            x:set(b * t + i, (first + (i - 1) * stride) % v)
            y:set(b * t + i, (first + i * stride) % v)
        end
    end
    batches[s] = { x, y }
    table.move({ "x." .. s, "y." .. s }, 1, 2, #names + 1, names)
    table.move({ x, y }, 1, 2, #tensors + 1, tensors)
end
lutra.save_safetensors(dir .. "/batches.safetensors", names, tensors)

local opt = lutra.optim.AdamW { lr = optim.lr, betas = optim.betas, eps = optim.eps,
    weight_decay = optim.weight_decay, paramwise = paramwise }
local groups, group_of = opt:param_groups(model)
local decay_mult = {}
for name, g in pairs(group_of) do
    decay_mult[name] = groups[g].decay_mult
end

local trainer = lutra.Trainer { model = model, input_shape = { batch, t }, input_dtype = "i32",
    optim = opt }
local losses = {}
for s = 1, steps do
    losses[s] = trainer:step(batches[s]).loss
end
lutra.save_weights(dir .. "/final.safetensors", model)

local f = assert(io.open(dir .. "/run.json", "w"))
f:write(lutra.json_encode { config = config, optim = optim, batch = batch, losses = losses,
    decay_mult = decay_mult }, "\n")
f:close()
