-- Data for a run: the data sets a recipe's `data` table names — Fashion-MNIST, a PNG image
-- folder, a tensors file, a token stream, a source written in Lua (data.register), or a
-- C host's ("host:NAME", core/lutra_host.h) — cut to data.train_samples / val_samples, and their loaders
-- (lutra.core's, in C: seeded shuffling per epoch, augmentation and normalisation on
-- worker threads, batches made ahead). Also what one batch's inputs and targets are, so
-- that planning needs no more than a look at the data.
local core = require "lutra.core"
local describe = require "lutra.describe"
local sources = require "lutra.data_sources"
local util = require "lutra.util"
local dist = require "lutra.dist"

local data = {}

-- Fashion-MNIST's image shape, for planning without reading the files.
local FMNIST_SHAPE = { 1, 28, 28 }

-- The data keys that say which data sets a recipe opens (the others say how batches are
-- drawn from them).
local IDENTITY = { "dataset", "root", "train_root", "test_root", "train_list", "test_list",
    "classes", "path", "test_path", "val_fraction", "token_format", "block_size", "channels",
    "max_pixels", "on_bad_file", "train_samples", "val_samples" }

-- The data sets last opened, and the key of what they are: opening an image folder reads
-- every file's header and a tensors file is read whole, so a run, the memory policy's
-- candidate configs (copies of its data table) and its planning share them.
local last = { key = nil, sets = nil }

local function identity(cfg)
    local parts = { tostring(cfg.seed) }
    for _, k in ipairs(IDENTITY) do
        -- by value: a list of paths is a table, whose address a later one may reuse
        parts[#parts + 1] = k .. "=" .. describe.literal(cfg.data[k])
    end
    return table.concat(parts, "\0")
end

local function image_options(d)
    return { channels = d.channels, max_pixels = d.max_pixels, on_bad_file = d.on_bad_file,
        same_size = d.resize == nil and d.crop == nil }
end

-- Held out: the last `frac` of ds drawn at random from seed (train, test).
local function hold_out(ds, frac, seed, what)
    local n = ds:size()
    local test = math.floor(n * frac + 0.5)
    if test < 1 or test >= n then
        error(string.format("%s: %d samples cannot be split by val_fraction %g into two " ..
            "non-empty parts", what, n, frac), 0)
    end
    return util.call(ds.split, ds, n - test, seed)
end

local function open_images(d, seed)
    local o = image_options(d)
    local train
    if d.train_root then
        train = util.call(core.images, d.train_root, o)
    elseif d.train_list then
        if not d.classes then
            error("data.classes: image_folder with train_list needs the number of classes", 0)
        end
        train = util.call(core.image_list, d.train_list, d.classes, o)
    else
        error("data.train_root: image_folder needs train_root (or train_list)", 0)
    end
    if d.test_root then
        if not d.train_root then
            error("data.test_root: image_folder with train_list takes test_list (folders " ..
                "name their classes, a list file numbers them)", 0)
        end
        local names = {}
        for c = 0, train:classes() - 1 do
            names[#names + 1] = train:class_name(c)
        end
        o.classes = names
        return train, util.call(core.images, d.test_root, o)
    elseif d.test_list then
        if not d.train_list then
            error("data.test_list: image_folder with train_root takes test_root", 0)
        end
        return train, util.call(core.image_list, d.test_list, train:classes(), o)
    end
    local a, b = hold_out(train, d.val_fraction, seed, d.train_root or d.train_list)
    return a, b, true
end

local function open_tensors(d, seed)
    if not d.path then
        error("data.path: the tensors data set needs path (a .safetensors or x's .npy)", 0)
    end
    for _, key in ipairs({ "path", "test_path" }) do
        if type(d[key]) == "table" then
            error(string.format("data.%s: the tensors data set reads one file; a list of " ..
                "files is for tokens", key), 0)
        end
    end
    local train = util.call(core.tensors, d.path)
    if d.test_path then
        return train, util.call(core.tensors, d.test_path)
    end
    local a, b = hold_out(train, d.val_fraction, seed, d.path)
    return a, b, true
end

local function open_tokens(d, seed)
    if not d.path then
        error("data.path: the tokens data set needs path (the token file, or a list of " ..
            "files read as one stream)", 0)
    end
    local o = { format = d.token_format, block_size = d.block_size, seed = seed, random = true,
        begin = 0, ["end"] = d.test_path and 1 or 1 - d.val_fraction }
    local train = util.call(core.tokens, d.path, o)
    o.random = false
    if d.test_path then
        return train, util.call(core.tokens, d.test_path, o)
    end
    o.begin, o["end"] = 1 - d.val_fraction, 1
    return train, util.call(core.tokens, d.path, o)
end

-- What a value get returned is, as a sample shape: a tensor's, a number's (a scalar),
-- a flat list's.
local function value_spec(v, what, default_dtype)
    if type(v) == "userdata" and v.shape then
        return { dtype = v:dtype(), shape = v:shape() }
    elseif type(v) == "number" then
        return { dtype = default_dtype, shape = {} }
    elseif type(v) == "table" then
        return { dtype = default_dtype, shape = { #v } }
    end
    error(string.format("%s is a %s; want a tensor, a number or a list of numbers", what,
        type(v)), 0)
end

-- What a batch filler's value for one sample says of a sample: a tensor (1, ...) without
-- its first dim; a list holds the one sample's values (a class: a list of one).
local function row_spec(v, what, default_dtype, scalar)
    if type(v) == "userdata" and v.shape then
        local shape = v:shape()
        table.remove(shape, 1)
        return { dtype = v:dtype(), shape = shape }
    elseif type(v) == "table" then
        return { dtype = default_dtype, shape = scalar and {} or { #v } }
    end
    error(string.format("%s is a %s; want a tensor or a list of numbers", what, type(v)), 0)
end

local function open_source(name, spec, split)
    local n = spec.len(split)
    if math.type(n) ~= "integer" or n < 1 then
        error(string.format("data source %s: len(%q) must be an integer >= 1, got %s", name,
            split, tostring(n)), 0)
    end
    local classes = spec.classes or 0
    local ydt = classes > 0 and "i32" or "f32"
    local fn = spec.fill or spec.get
    local call = spec.fill and "fill(%q, {1})" or "get(%q, 1)"
    local ok, x, y = pcall(fn, split, spec.fill and { 1 } or 1)
    if not ok then
        error(string.format("data source %s: " .. call .. " failed: %s", name, split,
            tostring(x)), 0)
    end
    local source = { name = name .. " " .. split, size = n, classes = classes }
    if spec.fill then
        source.x = row_spec(x, "data source " .. name .. ": fill's x", "f32")
        source.y = row_spec(y, "data source " .. name .. ": fill's y", ydt, classes > 0)
        source.fill = function(indices) return spec.fill(split, indices) end
    else
        source.x = value_spec(x, "data source " .. name .. ": get's x", "f32")
        source.y = value_spec(y, "data source " .. name .. ": get's y", ydt)
        source.get = function(i) return spec.get(split, i) end
    end
    return util.call(core.source, source)
end

-- The first n samples of a data set (n = 0 or >= its size: all of it).
local function first(ds, n)
    if n == 0 or n >= ds:size() then
        return ds
    end
    return util.call(ds.range, ds, 1, n)
end

-- The train and test data sets of a recipe ({train =, test =, shared = both views of one
-- store}), opened once for the same data.
local function open(cfg)
    local d = cfg.data
    local key = identity(cfg)
    if last.key == key then
        return last.sets
    end
    local train, test, shared
    if d.dataset == "fashion_mnist" then
        train, test = util.call(core.fmnist, d.root, "train"), util.call(core.fmnist, d.root, "test")
    elseif d.dataset == "image_folder" then
        train, test, shared = open_images(d, cfg.seed)
    elseif d.dataset == "tensors" then
        train, test, shared = open_tensors(d, cfg.seed)
    elseif d.dataset == "tokens" then
        train, test = open_tokens(d, cfg.seed)
    else
        local spec = sources.get(d.dataset)
        if not spec then
            error(string.format("data.dataset: no data set %q (registered ones: %s)", d.dataset,
                table.concat(sources.names(), ", ")), 0)
        elseif spec.host then
            train, test = spec.train, spec.test
        else
            train, test = open_source(d.dataset, spec, "train"), open_source(d.dataset, spec,
                "test")
        end
    end
    local sets = { train = first(train, d.train_samples), test = first(test, d.val_samples),
        shared = shared or false }
    last.key, last.sets = key, sets
    return sets
end

-- data.forget(): drops the data sets open() keeps for the next run of the same data: a C
-- host's (lutra.host), when its run ends or a name is registered again, so that they are
-- collected (their sources released) and never handed to a later run. Cannot fail.
function data.forget()
    last.key, last.sets = nil, nil
end

-- data.skipped(cfg): the files of the recipe's data sets left out as undecodable so far
-- (at opening, or by a loader with on_bad_file = "skip"), each counted once.
function data.skipped(cfg)
    local sets = open(cfg)
    return sets.train:skipped() + (sets.shared and 0 or sets.test:skipped())
end

-- data.workers(cfg): the loader threads a run's training loader uses: data.workers, or 0
-- for a data set written in Lua (its get runs in the training loop's thread). A host's
-- source says itself where its fill runs (struct lt_source's caller_thread).
function data.workers(cfg)
    local spec = sources.get(cfg.data.dataset)
    if spec and spec.host then
        return spec.caller_thread and 0 or cfg.data.workers
    end
    return spec and 0 or cfg.data.workers
end

-- data.register(name, spec): a data set written in Lua, usable as data.dataset = name
-- with the runner's whole machinery. spec.len(split) gives the samples of "train" and
-- "test"; spec.get(split, i) (i from 1) returns x (a tensor, a number or a list of
-- numbers: f32, or the tensor's dtype) and y (a class number from 0 with spec.classes, or
-- a float target); or spec.fill(split, indices) returns a whole batch's: x and y as
-- tensors (n, ...) or flat lists of the n samples' values, in the indices' order (one call
-- a batch). spec.classes: the number of classes (absent or 0: regression, loss mse).
-- get and fill run in the training loop's thread (data.workers does not apply).
function data.register(name, spec)
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
        error("data.register: the name must be a word, got " .. tostring(name), 2)
    end
    for _, b in ipairs(sources.BUILTIN) do
        if b == name then
            error("data.register: " .. name .. " is lutra's own data set", 2)
        end
    end
    if type(spec) ~= "table" or type(spec.len) ~= "function" or
        (type(spec.get) == "function") == (type(spec.fill) == "function") then
        error("data.register: spec must be a table with functions len(split) and either " ..
            "get(split, i) or fill(split, indices)", 2)
    end
    if spec.classes ~= nil and (math.type(spec.classes) ~= "integer" or spec.classes < 0) then
        error("data.register: spec.classes must be an integer >= 0", 2)
    end
    sources.register(name, spec)
end

-- data.dataset(cfg, split): the "train" or "test" data set, cut as the recipe says.
-- Raises naming the missing files and the package to install, or the bad file.
function data.dataset(cfg, split)
    return open(cfg)[split]
end

-- The loader options of a split: augmentation in training, a centre crop in evaluation.
local function loader_options(cfg, split, batch)
    local d = cfg.data
    local train = split == "train"
    return {
        batch = batch or (train and d.batch_size or d.val_batch_size),
        shuffle = train and d.shuffle,
        drop_last = train and d.drop_last,
        seed = cfg.seed,
        mean = d.mean,
        std = d.std,
        flat = d.flatten,
        workers = d.workers,
        resize = d.resize,
        crop = d.crop,
        padding = train and d.crop_padding or 0,
        random_crop = train and d.crop ~= nil,
        hflip = train and d.hflip,
        on_bad_file = d.on_bad_file,
    }
end

-- Whether x's pixels are normalised by the loader (mean and std apply).
local function pixels(ds)
    return ds:sample_shape().dtype == "u8"
end

-- A size option (n or {h, w}) as h, w.
local function size_of(v)
    if type(v) == "table" then
        return v[1], v[2]
    end
    return v, v
end

-- data.input_spec(cfg, batch): {shape =, dtype =} of one micro-batch of inputs.
-- Fashion-MNIST's needs no file (its images are 28×28; a resize and a crop set the size);
-- other data sets are opened (once).
function data.input_spec(cfg, batch)
    local d = cfg.data
    if d.dataset == "fashion_mnist" then
        local c, h, w = FMNIST_SHAPE[1], FMNIST_SHAPE[2], FMNIST_SHAPE[3]
        if d.resize ~= nil then
            h, w = size_of(d.resize)
        end
        if d.crop ~= nil then
            h, w = size_of(d.crop)
        end
        return { shape = d.flatten and { batch, c * h * w } or { batch, c, h, w }, dtype = "f32" }
    end
    local ds = data.dataset(cfg, "train")
    local o = loader_options(cfg, "train", batch)
    if not pixels(ds) then
        o.mean, o.std = nil, nil
    end
    return util.call(core.loader_x_shape, ds, o)
end

-- data.input_shape(cfg, batch): the shape of one micro-batch of inputs.
function data.input_shape(cfg, batch)
    return data.input_spec(cfg, batch).shape
end

-- data.target_spec(cfg, batch): {shape =, dtype =} of one micro-batch of targets.
function data.target_spec(cfg, batch)
    if cfg.data.dataset == "fashion_mnist" then
        return { shape = { batch }, dtype = "i32" }
    end
    local _, y = data.dataset(cfg, "train"):sample_shape()
    local shape = { batch }
    for _, n in ipairs(y.shape) do
        shape[#shape + 1] = n
    end
    return { shape = shape, dtype = y.dtype }
end

-- data.loader_bytes(cfg [, batch = data.batch_size]): the bytes of the training loader's
-- batch buffers: workers + 1 micro-batches of inputs and targets (1 without workers), made
-- ahead of the step.
function data.loader_bytes(cfg, batch)
    local b = batch or cfg.data.batch_size
    local function bytes(spec)
        local n = 4 -- every dtype a loader hands out (f32, i32) has 4 bytes
        for _, d in ipairs(spec.shape) do
            n = n * d
        end
        return n
    end
    local workers = data.workers(cfg)
    local depth = workers > 0 and workers + 1 or 1
    return depth * (bytes(data.input_spec(cfg, b)) + bytes(data.target_spec(cfg, b)))
end

-- data.loss(cfg): "mse" for a regression data set (float targets), else "cross_entropy".
function data.loss(cfg)
    return data.target_spec(cfg, 1).dtype == "f32" and "mse" or "cross_entropy"
end

-- data.check_model(ds, out_shape): raises, before any step, when a model whose output is
-- out_shape cannot take ds's targets: more classes than outputs, or a token id at or above
-- the vocabulary (its position in the file named). The runner checks both splits.
function data.check_model(ds, out_shape)
    local width = out_shape[#out_shape]
    local classes = ds:classes()
    if classes > width then
        error(string.format("%s has %d classes but the model gives %d outputs (its output " ..
            "is %s)", ds:origin(), classes, width, util.shape_str(out_shape)), 0)
    end
    local _, y = ds:sample_shape()
    local top, where = ds:max_id()
    if top and classes == 0 and y.dtype == "i32" and top >= width then
        error(string.format("%s: token %d at index %d is not below the model's vocabulary %d",
            ds:origin(), top, where, width), 0)
    end
end

-- data.loader(cfg, split [, ds]): a loader over the split: training batches shuffled
-- from the seed and augmented (batch_size, drop_last, crop, hflip), evaluation batches in
-- order (val_batch_size, a centre crop). A data-parallel rank's loader hands out its
-- shard of batches of batch × world size (lutra.dist).
function data.loader(cfg, split, ds)
    ds = ds or data.dataset(cfg, split)
    local o = loader_options(cfg, split)
    if dist.active() then
        o.shard, o.shards = dist.shard()
    end
    if not pixels(ds) then
        o.mean, o.std = nil, nil
    end
    return util.call(core.loader, ds, o), ds
end

return data
