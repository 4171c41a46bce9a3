-- The bindings the runner stands on (lua/l_data.c, lua/l_io.c): IDX files, data sets and
-- loaders, safetensors files, JSON, atomic writes and folders, the clock and terminal.
local lutra = require "lutra"
local core = require "lutra.core"

local TMP = os.getenv("TMPDIR") or "/tmp"
local HAVE_DATA = core.is_file(core.FMNIST_DIR .. "/train-images-idx3-ubyte.gz")

local function tmp(name)
    return string.format("%s/lutra-io-spec-%d-%s", TMP, core.getpid(), name)
end

local function write(path, bytes)
    local f = assert(io.open(path, "wb"))
    f:write(bytes)
    f:close()
end

-- Ten 2×2 images with labels 0..4 twice.
local function tiny_set()
    local images = lutra.zeros({ 10, 2, 2 }, "u8")
    local labels = lutra.zeros({ 10 }, "i32")
    for i = 1, 10 do
        images:set((i - 1) * 4 + 1, i * 10)
        labels[i] = (i - 1) % 5
    end
    return core.dataset(images, labels, 5)
end

describe("data sets and loaders", function()
    it("batches a data set: shapes, a short last batch, epochs, seek and position", function()
        local ds = tiny_set()
        assert.equal(10, ds:size())
        assert.equal(5, ds:classes())
        assert.equal("3", ds:class_name(3))
        assert.is_nil(ds:class_name(5))
        local ld = core.loader(ds, { batch = 4, shuffle = false, flat = true })
        assert.equal(3, ld:batches())
        local b = ld:next()
        assert.same({ 4, 4 }, b.x:shape())
        assert.same({ 4 }, b.y:shape())
        assert.equal(0, b.epoch)
        assert.near(10 / 255, b.x:get(1), 1e-6)
        ld:next()
        b = ld:next()
        assert.equal(2, b.size)
        assert.is_true(b.last)
        assert.same({ 2, 4 }, b.x:shape())
        b = ld:next()
        assert.equal(1, b.epoch)
        assert.equal(0, b.iter)
        ld:seek(3, 2)
        assert.same({ 3, 2 }, { ld:position() })
        b = ld:next()
        assert.equal(3, b.epoch)
        assert.equal(8, b.sample_base)
        assert.has_error(function() ld:seek(0, 3) end,
            "loader: batch 3 of an epoch outside [0, 3)")
    end)

    it("shuffles from (seed, epoch) only, with or without the background thread", function()
        local function order(background, epoch)
            local ld = core.loader(tiny_set(), { batch = 10, seed = 7, background = background })
            ld:seek(epoch, 0)
            return ld:next().y:values()
        end
        assert.same(order(true, 1), order(false, 1))
        assert.are_not.same(order(true, 1), order(true, 2))
    end)

    it("reports a missing data folder naming the package", function()
        local ok, err = pcall(core.fmnist, "/nonexistent", "train")
        assert.is_false(ok)
        assert.truthy(err:find("/nonexistent", 1, true))
        assert.has_error(function() core.fmnist(nil, "validation") end,
            "Fashion-MNIST split must be 'train' or 'test', got 'validation'")
    end)

    it("reads IDX files and refuses broken ones", function()
        local path = tmp("x.idx")
        write(path, "\0\0\8\2\0\0\0\2\0\0\0\3" .. "abcdef")
        local t = core.idx_read(path)
        assert.same({ 2, 3 }, t:shape())
        assert.equal(("b"):byte(), t:get(2))
        write(path, "\0\0\8\2\0\0\0\2\0\0\0\3" .. "abc")
        local ok, err = pcall(core.idx_read, path)
        assert.is_false(ok)
        assert.truthy(err:find(path, 1, true))
        os.remove(path)
    end)

    if HAVE_DATA then
        it("opens Fashion-MNIST from the Debian package", function()
            local ds = core.fmnist(nil, "test")
            assert.equal(10000, ds:size())
            assert.equal("T-shirt/top", ds:class_name(0))
        end)
    end
end)

describe("safetensors files", function()
    it("round-trips tensors and metadata", function()
        local path = tmp("w.safetensors")
        local a, b = lutra.randn(3, 2), lutra.tensor({ { 1, 2 } }, "i32")
        core.save_safetensors(path, { "0.weight", "ids" }, { a, b }, { format = "pt", note = "x" })
        local f = core.load_safetensors(path)
        assert.same({ "0.weight", "ids" }, f.names)
        assert.same(a:values(), f.tensors["0.weight"]:values())
        assert.equal("I32", f.dtypes.ids)
        assert.same({ format = "pt", note = "x" }, f.meta)
        os.remove(path)
    end)

    it("saves and loads a module's weights under PyTorch's names", function()
        local path = tmp("m.safetensors")
        local nn = lutra.nn
        local m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        lutra.save_weights(path, m)
        local m2 = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        lutra.load_weights(m2, path)
        assert.same(m[3].weight:values(), m2[3].weight:values())
        local other = nn.Sequential(nn.Linear(4, 5))
        local ok, err = pcall(lutra.load_weights, other, path)
        assert.is_false(ok)
        assert.truthy(err:find(path .. ": load_state_dict: 0.weight is (5, 4)", 1, true))
        os.remove(path)
    end)

    it("names the file on a malformed one", function()
        local path = tmp("bad.safetensors")
        write(path, "\255\255\255\255\255\255\255\127{}")
        local ok, err = pcall(core.load_safetensors, path)
        assert.is_false(ok)
        assert.truthy(err:find(path .. ": header length", 1, true))
        os.remove(path)
        assert.has_error(function() core.save_safetensors(path, { "a" }, { 3 }) end,
            "save_safetensors: entry 1 (a) is not an open tensor")
    end)
end)

describe("JSON", function()
    it("encodes one line with sorted keys and decodes it back", function()
        local text = core.json_encode({ iter = 3, loss = 0.25, mode = "train", ok = true,
            list = { 1, 2, 3 }, nested = { a = { 1.5 } } })
        assert.equal('{"iter":3,"list":[1,2,3],"loss":0.25,"mode":"train","nested":{"a":[1.5]},' ..
            '"ok":true}', text)
        assert.same({ iter = 3, loss = 0.25, mode = "train", ok = true, list = { 1, 2, 3 },
            nested = { a = { 1.5 } } }, core.json_decode(text))
        assert.equal('{"x":null}', core.json_encode({ x = 0 / 0 }))
        assert.equal("{}", core.json_encode({}))
        assert.has_error(function() core.json_encode({ f = print }) end,
            "json_encode: cannot encode a function")
        local cyc = {}
        cyc.self = cyc
        assert.has_error(function() core.json_encode(cyc) end,
            "json_encode: tables nested deeper than 64 (a cycle?)")
        local v, err = core.json_decode("{bad")
        assert.is_nil(v)
        assert.truthy(err:find("line 1", 1, true))
    end)
end)

describe("curves", function()
    it("draws a chart as a PNG and refuses what cannot be drawn", function()
        local path = tmp("c.png")
        core.plot_png(path, { title = "loss", x_label = "iteration", series = {
            { label = "train", x = { 1, 2, 3 }, y = { 3, 2, 1.5 }, color = 0x1f77b4 },
            { label = "test", x = { 2 }, y = { 2.5 } } } })
        local f = assert(io.open(path, "rb"))
        assert.equal("\137PNG\r\n\26\n", f:read(8))
        f:close()
        os.remove(path)
        assert.has_error(function()
            core.plot_png(path, { series = { { x = { 1 }, y = { 0 / 0 } } } })
        end, path .. ": no finite point to draw")
        assert.has_error(function()
            core.plot_png(path, { series = { { x = { 1, 2 }, y = { 1 } } } })
        end, "plot_png: series 1 has 2 x and 1 y values")
        local ok, err = pcall(core.plot_png, "/nonexistent/c.png",
            { series = { { x = { 1 }, y = { 1 } } } })
        assert.is_false(ok)
        assert.truthy(err:find("/nonexistent/c.png: cannot write the chart: No such file", 1, true))
    end)
end)

describe("files, terminal and clock", function()
    it("writes whole files atomically and makes folders", function()
        local dir = tmp("dir")
        assert.is_true(core.mkdir(dir))
        assert.is_true(core.mkdir(dir)) -- already there
        assert.is_true(core.is_dir(dir))
        local path = dir .. "/f.txt"
        assert.is_true(core.write_atomic(path, "one\n"))
        assert.is_true(core.write_atomic(path, "two\n"))
        local f = assert(io.open(path))
        assert.equal("two\n", f:read("a"))
        f:close()
        assert.is_true(core.is_file(path))
        local ok, err = core.write_atomic(dir .. "/no/such/f", "x")
        assert.is_nil(ok)
        assert.truthy(err:find("No such file", 1, true))
        local ok2, err2 = core.mkdir(path)
        assert.is_nil(ok2)
        assert.truthy(err2:find("not a folder", 1, true))
        os.remove(path)
        os.remove(dir)
    end)

    it("has a monotonic clock and knows a terminal", function()
        local a = core.clock()
        assert.is_true(core.clock() >= a)
        assert.is_boolean(core.isatty(1))
        assert.is_false(core.isatty(999))
        assert.is_nil(core.term_width(999))
    end)

    it("tells which signal was seen", function()
        assert.is_false(core.interrupted())
        core.clear_interrupt()
        assert.is_false(core.interrupted())
    end)
end)
