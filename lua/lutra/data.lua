-- Data for a run: the data sets a recipe's `data` table names (Fashion-MNIST from the
-- Debian package's folder, or data.root), cut to data.train_samples / val_samples, and
-- their loaders (lutra.core's, in C: seeded shuffling per epoch, normalisation, the next
-- micro-batch prepared on a thread while the current one runs). Also the input shape a
-- model sees, so that planning needs no data.
local core = require "lutra.core"
local util = require "lutra.util"

local data = {}

-- Fashion-MNIST's image shape, for planning without reading the files.
local SHAPES = { fashion_mnist = { 1, 28, 28 } }

-- A scalar mean or std from a number or a one-element list (one channel).
local function scalar(v, key)
    if type(v) == "table" then
        if #v ~= 1 then
            error(string.format("data.%s: the loader normalises one channel; got %d values",
                key, #v), 0)
        end
        return v[1]
    end
    return v
end

-- data.input_shape(cfg, batch): the shape of one micro-batch of inputs: {B, 1, 28, 28}, or
-- {B, 784} with data.flatten.
function data.input_shape(cfg, batch)
    local s = SHAPES[cfg.data.dataset]
    if cfg.data.flatten then
        return { batch, s[1] * s[2] * s[3] }
    end
    return { batch, s[1], s[2], s[3] }
end

-- The first n samples of a data set (n = 0 or >= its size: all of it).
local function first(ds, n)
    if n == 0 or n >= ds:size() then
        return ds
    end
    local images, labels = ds:images(), ds:labels()
    return util.call(core.dataset, images:narrow(1, 1, n), labels:narrow(1, 1, n), ds:classes())
end

-- data.dataset(cfg, split): the "train" or "test" data set, cut as the recipe says.
-- Raises naming the missing files and the package to install.
function data.dataset(cfg, split)
    local d = cfg.data
    local ds = util.call(core.fmnist, d.root, split)
    return first(ds, split == "train" and d.train_samples or d.val_samples)
end

-- data.loader(cfg, split [, ds]): a loader over the split: training batches shuffled
-- from the seed (batch_size, drop_last), evaluation batches in order (val_batch_size).
function data.loader(cfg, split, ds)
    local d = cfg.data
    ds = ds or data.dataset(cfg, split)
    local train = split == "train"
    return util.call(core.loader, ds, {
        batch = train and d.batch_size or d.val_batch_size,
        shuffle = train and d.shuffle,
        drop_last = train and d.drop_last,
        seed = cfg.seed,
        mean = scalar(d.mean, "mean"),
        std = scalar(d.std, "std"),
        flat = d.flatten,
        background = true,
    }), ds
end

return data
