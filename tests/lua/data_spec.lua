-- The data layer a recipe reaches (lua/lutra/data.lua, lua/l_data.c, lua/l_source.c): data
-- sets written in Lua, views (ranges and splits), what a batch looks like before any is
-- made, the loader's options, and the messages of each misuse.
local lutra = require "lutra"
local core = require "lutra.core"
local data = require "lutra.data"
local sources = require "lutra.data_sources"

-- A source of n samples whose x is {i, 2i, 3i} and whose class is i % 3.
local function counting(n, extra)
    local spec = { size = n, classes = 3, x = { dtype = "f32", shape = { 3 } },
        y = { dtype = "i32", shape = {} },
        get = function(i) return { i, 2 * i, 3 * i }, i % 3 end }
    for k, v in pairs(extra or {}) do
        spec[k] = v
    end
    return core.source(spec)
end

describe("data sets written in Lua", function()
    it("hand the loader what get returns, in the epoch's order", function()
        local ds = counting(10)
        assert.equal(10, ds:size())
        assert.equal(3, ds:classes())
        local ld = core.loader(ds, { batch = 4, shuffle = false })
        local b = ld:next()
        assert.same({ 4, 3 }, b.x:shape())
        assert.equal(1, b.x:get(1))
        assert.equal(6, b.x:get(6)) -- sample 2: {2, 4, 6}
        assert.same({ 1, 2, 0, 1 }, { b.y:get(1), b.y:get(2), b.y:get(3), b.y:get(4) })
        -- a source is read on the caller's thread: workers change nothing
        local ld2 = core.loader(ds, { batch = 4, shuffle = true, seed = 5, workers = 3 })
        local ld3 = core.loader(ds, { batch = 4, shuffle = true, seed = 5, workers = 0 })
        for _ = 1, 5 do
            local p, q = ld2:next(), ld3:next()
            for k = 1, p.x:numel() do
                assert.equal(p.x:get(k), q.x:get(k))
            end
        end
    end)

    it("names the sample whose get fails or returns the wrong thing", function()
        local ds = counting(6, { name = "counting", get = function(i)
            if i == 5 then
                error("no five")
            end
            return i == 3 and { 1, 2 } or { i, i, i }, 0
        end })
        local ld = core.loader(ds, { batch = 2, shuffle = false })
        ld:next()
        assert.has_error(function() ld:next() end,
            "counting: get(3)'s x is a table; want a f32 tensor, or a list of 3 numbers")
        -- the failed batch is made again by the next call
        assert.has_error(function() ld:next() end)
        ld:seek(0, 2)
        local ok, err = pcall(ld.next, ld)
        assert.is_false(ok)
        assert.matches("counting: get%(5%) failed: .*no five", err)
    end)

    it("cannot close or call the loader that is reading them, nor raise through it", function()
        local ld
        local ds = counting(6, { get = function(i)
            if i == 2 then
                ld:close()
            end
            return { i, i, i }, 0
        end })
        ld = core.loader(ds, { batch = 3, shuffle = false })
        local ok, err = pcall(ld.next, ld)
        assert.is_false(ok)
        assert.matches("get%(2%) failed: .*loader: in use: its data source's get cannot close it",
            err)
        -- a value whose length raises is a message too, and the loader stays usable
        local weird = setmetatable({}, { __len = function() error("no length") end,
            __index = function() error("no index") end })
        local ds2 = counting(4, { get = function(i) return i == 3 and weird or { i, i, i }, 0 end })
        local ld2 = core.loader(ds2, { batch = 2, shuffle = false })
        ld2:next()
        assert.has_error(function() ld2:next() end,
            "source: get(3)'s x is a table; want a f32 tensor, or a list of 3 numbers")
        assert.has_error(function() ld2:next() end) -- the same batch, tried again
        local ds3 = counting(2, { get = function() return { 1, 0 / 0, 2 }, 0 end })
        local ok3, err3 = pcall(function() core.loader(ds3, { batch = 2, shuffle = false }):next() end)
        assert.is_false(ok3)
        assert.matches("source: get%(1%)'s x%[2%] is %-?nan, which does not fit f32", err3)
        local ds4 = counting(2, { get = function() return { 1, 2, 3 }, 2.5 end })
        assert.has_error(function() core.loader(ds4, { batch = 2, shuffle = false }):next() end,
            "source: get(1)'s y is 2.5, which does not fit i32 (an integer in its range)")
    end)

    it("may fill a whole batch in one call, the same batches as a sample at a time", function()
        local calls = 0
        local batched = core.source { size = 10, classes = 3, x = { dtype = "f32", shape = { 3 } },
            y = { dtype = "i32", shape = {} },
            fill = function(indices)
                calls = calls + 1
                local xs, ys = {}, {}
                for _, i in ipairs(indices) do
                    xs[#xs + 1], xs[#xs + 2], xs[#xs + 3] = i, 2 * i, 3 * i
                    ys[#ys + 1] = i % 3
                end
                return xs, ys
            end }
        local a = core.loader(batched, { batch = 4, seed = 2 })
        local b = core.loader(counting(10), { batch = 4, seed = 2 })
        for _ = 1, 5 do
            local p, q = a:next(), b:next()
            assert.equal(q.x:numel(), p.x:numel())
            for k = 1, p.x:numel() do
                assert.equal(q.x:get(k), p.x:get(k))
            end
            for k = 1, p.y:numel() do
                assert.equal(q.y:get(k), p.y:get(k))
            end
        end
        assert.equal(5, calls) -- one call a batch
        local short = core.source { size = 4, classes = 2, x = { dtype = "f32", shape = { 2 } },
            y = { dtype = "i32", shape = {} }, name = "short",
            fill = function(indices) return { 1, 2 }, { 0 } end }
        assert.has_error(function() core.loader(short, { batch = 2, shuffle = false }):next() end,
            "short: fill(a batch of 2)'s x is a table; want a f32 tensor, or a list of 4 numbers")
        assert.has_error(function() core.source { size = 1, classes = 0, x = { dtype = "f32",
            shape = { 1 } }, y = { dtype = "f32", shape = { 1 } } } end,
            "source: give get = function(i) or fill = function(indices), one of the two")
        -- through the data layer: register a filler, the shapes found from one sample
        data.register("spec_filled", { classes = 2,
            len = function(split) return split == "train" and 6 or 2 end,
            fill = function(_, indices)
                local x, y = lutra.zeros({ #indices, 2 }), lutra.zeros({ #indices }, "i32")
                for r, i in ipairs(indices) do
                    x:set(2 * r - 1, i)
                    y[r] = i % 2
                end
                return x, y
            end })
        local cfg = { seed = 0, data = { dataset = "spec_filled", train_samples = 0,
            val_samples = 0, batch_size = 3, workers = 1, mean = 0, std = 1 } }
        assert.same({ shape = { 3, 2 }, dtype = "f32" }, data.input_spec(cfg, 3))
        assert.same({ shape = { 3 }, dtype = "i32" }, data.target_spec(cfg, 3))
        local got = data.loader(cfg, "train"):next()
        assert.same({ 3, 2 }, got.x:shape())
    end)

    it("register checks the spec, and recipes may then name it", function()
        assert.has_error(function() data.register("tokens", { len = print, get = print }) end,
            "data.register: tokens is lutra's own data set")
        assert.has_error(function() data.register("x y", {}) end)
        assert.has_error(function() data.register("nolen", { get = print }) end)
        assert.has_error(function() data.register("badc", { len = print, get = print,
            classes = -1 }) end, "data.register: spec.classes must be an integer >= 0")
        data.register("spec_squares", { classes = 0,
            len = function(split) return split == "train" and 8 or 4 end,
            get = function(_, i) return { i }, { i * i } end })
        local names = sources.names()
        assert.equal("spec_squares", names[#names])
        local cfg = { seed = 0, data = { dataset = "spec_squares", train_samples = 0,
            val_samples = 0, batch_size = 4, workers = 1, mean = 0, std = 1 } }
        local train = data.dataset(cfg, "train")
        assert.equal(8, train:size())
        assert.equal(4, data.dataset(cfg, "test"):size())
        assert.same({ shape = { 4, 1 }, dtype = "f32" }, data.input_spec(cfg, 4))
        assert.same({ shape = { 4, 1 }, dtype = "f32" }, data.target_spec(cfg, 4))
        assert.equal("mse", data.loss(cfg))
        -- one batch buffer of inputs and targets: a Lua source is read in the training
        -- loop's thread, whatever data.workers says
        assert.equal(0, data.workers(cfg))
        assert.equal(16 + 16, data.loader_bytes(cfg))
    end)
end)

describe("data set views", function()
    it("range and split keep the samples, in order, and check their arguments", function()
        local ds = counting(10)
        local r = ds:range(3, 5) -- samples 3 .. 7, counted from 1 as Tensor:narrow does
        assert.equal(5, r:size())
        local b = core.loader(r, { batch = 5, shuffle = false }):next()
        assert.equal(3, b.x:get(1)) -- sample 3 is {3, 6, 9}
        assert.has_error(function() ds:range(8, 5) end,
            "range: samples 8 .. 12 are outside the data set's 1 .. 10")
        local a, rest = ds:split(7, 11)
        assert.equal(7, a:size())
        assert.equal(3, rest:size())
        local seen = {}
        for _, part in ipairs { a, rest } do
            local x = core.loader(part, { batch = part:size(), shuffle = false }):next().x
            local last = 0
            for k = 1, part:size() do
                local v = x:get((k - 1) * 3 + 1)
                assert.is_true(v > last) -- kept in the data set's order
                last = v
                assert.is_nil(seen[v])
                seen[v] = true
            end
        end
        local a2 = ds:split(7, 11)
        local x1 = core.loader(a, { batch = 7, shuffle = false }):next().x
        local x2 = core.loader(a2, { batch = 7, shuffle = false }):next().x
        for k = 1, x1:numel() do
            assert.equal(x1:get(k), x2:get(k))
        end
    end)
end)

describe("loader options", function()
    it("tell the batch's shape before any batch is made", function()
        local images = lutra.zeros({ 6, 3, 10, 12 }, "u8")
        local ds = core.dataset(images, lutra.zeros({ 6 }, "i32"), 2)
        assert.is_true(ds:is_image())
        assert.same({ dtype = "f32", shape = { 4, 3, 8, 8 } },
            core.loader_x_shape(ds, { batch = 4, crop = 8 }))
        assert.same({ dtype = "f32", shape = { 4, 3 * 20 * 24 } },
            core.loader_x_shape(ds, { batch = 4, resize = { 20, 24 }, flat = true }))
    end)

    it("refuse what does not apply, naming it", function()
        local images = lutra.zeros({ 6, 3, 10, 12 }, "u8")
        local ds = core.dataset(images, lutra.zeros({ 6 }, "i32"), 2)
        assert.has_error(function() core.loader(ds, { batch = 2, crop = 11, random_crop = true }) end)
        assert.has_error(function() core.loader(ds, { batch = 2, mean = { 0.1, 0.2 } }) end,
            "dataset: 2 mean/std values for images of 3 channels")
        assert.has_error(function() core.loader(ds, { batch = 2, workers = 65 }) end)
        assert.has_error(function() core.loader(ds, { batch = 2, on_bad_file = "ignore" }) end,
            'loader: on_bad_file must be "error" or "skip", got "ignore"')
        local floats = core.dataset(lutra.zeros({ 6, 4 }), lutra.zeros({ 6 }, "i32"), 2)
        assert.is_false(floats:is_image())
        local ok, err = pcall(core.loader, floats, { batch = 2, hflip = true })
        assert.is_false(ok)
        assert.matches("need an image data set", err)
    end)
end)
