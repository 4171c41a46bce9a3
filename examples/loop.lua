-- A hand-written training loop, for when a recipe is not the right shape:
--
--     lutra run examples/loop.lua [epochs]
--
-- An MLP on Fashion-MNIST with the pieces lutra train uses: a C loader (shuffled from
-- the seed, normalised, the next batch prepared while this one trains), a Trainer (one C
-- call per step; the short last batch of an epoch gets a plan of its own), evaluation,
-- and Ctrl-C handled between steps.
local lutra = require "lutra"
local nn, optim = lutra.nn, lutra.optim

local epochs = tonumber(arg[1]) or 2
local batch = 128
lutra.manual_seed(0)

local model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
local norm = { mean = 0.2860, std = 0.3530 }
local train = lutra.loader(lutra.fmnist(nil, "train"),
    { batch = batch, shuffle = true, seed = 0, mean = norm.mean, std = norm.std })
local test = lutra.loader(lutra.fmnist(nil, "test"),
    { batch = 1000, shuffle = false, mean = norm.mean, std = norm.std })

local steps = epochs * train:batches()
local trainer = lutra.Trainer {
    model = model,
    input_shape = { batch, 1, 28, 28 },
    optim = optim.SGD { lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 5e-4 },
    schedule = optim.schedules.cosine { T_max = steps },
}
print(model)

for epoch = 1, epochs do
    local t0, loss = lutra.clock(), 0
    for _ = 1, train:batches() do
        local b = train:next()
        loss = loss + trainer:step({ b.x, b.y }, b.epoch, b.sample_base).loss
        if lutra.interrupted() then
            print("interrupted: saving loop.safetensors")
            lutra.save_weights("loop.safetensors", model)
            return 130
        end
    end
    test:seek(0, 0)
    local acc
    for _ = 1, test:batches() do
        local b = test:next()
        acc = trainer:evaluate_batch(b.x, b.y, acc)
    end
    print(string.format("epoch %d: train loss %.4f, test accuracy %.4f (%.1f s)", epoch,
        loss / train:batches(), acc.correct / acc.rows, lutra.clock() - t0))
end
