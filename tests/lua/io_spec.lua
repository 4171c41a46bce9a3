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
            path .. ": save_safetensors: entry 1 (a) is a number, not an open tensor")
        local closed = lutra.zeros({ 2 })
        closed:close()
        assert.has_error(function() core.save_safetensors(path, { "a" }, { closed }) end,
            path .. ": save_safetensors: entry 1 (a) is a closed tensor, not an open tensor")
    end)

    it("says what came instead of a path (an empty last_checkpoint gives nil)", function()
        assert.has_error(function() core.load_safetensors(nil) end,
            "load_safetensors: want a file path, got nil")
        assert.has_error(function() core.load_safetensors("") end,
            "load_safetensors: empty file path (no file named)")
        assert.has_error(function() core.save_safetensors(nil, {}, {}) end,
            "save_safetensors: want a file path, got nil")
    end)

    it("refuses a FIFO at once instead of waiting for a writer", function()
        local path = tmp("fifo.safetensors")
        assert.is_true(os.execute("mkfifo " .. path))
        local ok, err = pcall(core.load_safetensors, path)
        assert.is_false(ok)
        assert.equal(path .. ": not a regular file (a FIFO)", err)
        ok, err = pcall(core.idx_read, path)
        assert.is_false(ok)
        assert.equal(path .. ": not a regular file (a FIFO)", err)
        local checkpoint = require "lutra.checkpoint"
        ok, err = pcall(checkpoint.load, path)
        assert.is_false(ok)
        assert.truthy(err:find(path .. ": not a regular file (a FIFO)", 1, true))
        os.remove(path)
    end)

    it("writes a checksum of the data and catches a flipped bit with it", function()
        local path = tmp("ckpt.safetensors")
        local w = lutra.tensor({ { 1, 2 }, { 3, 4 } })
        core.save_safetensors(path, { "0.weight" }, { w }, { format = "pt" })
        local f = core.load_safetensors(path)
        assert.is_true(f.checked)
        assert.same({ format = "pt" }, f.meta) -- the checksum is the reader's business
        local fh = assert(io.open(path, "rb"))
        local bytes = fh:read("a")
        fh:close()
        assert.truthy(bytes:find('"lutra.data_crc32":"%x%x%x%x%x%x%x%x"'))
        -- the exponent of the last weight: 4.0 becomes 4 * 2^-64, or the like
        local at = #bytes
        write(path, bytes:sub(1, at - 1) .. string.char(bytes:byte(at) ~ 0x20))
        local ok, err = pcall(core.load_safetensors, path)
        assert.is_false(ok)
        assert.equal(path .. ": data checksum mismatch (file corrupted?)", err)
        os.remove(path)
        assert.has_error(function()
            core.save_safetensors(path, { "w" }, { w }, { ["lutra.data_crc32"] = "0" })
        end, path .. ": metadata key 'lutra.data_crc32' is lutra's own (the data checksum it " ..
            "writes)")
    end)

    -- A file as PyTorch writes it: header JSON, then the data, no checksum.
    local function torch_file(path, entries)
        local header, data = {}, {}
        local at = 0
        for _, e in ipairs(entries) do
            header[#header + 1] = string.format(
                '"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}', e.name, e.dtype,
                table.concat(e.shape, ","), at, at + #e.bytes)
            data[#data + 1] = e.bytes
            at = at + #e.bytes
        end
        local h = "{" .. table.concat(header, ",") .. "}"
        write(path, string.pack("<I8", #h) .. h .. table.concat(data))
    end

    it("refuses weights holding NaN or inf, naming the file and the tensor", function()
        local path = tmp("nan.safetensors")
        local nn = lutra.nn
        local m = nn.Sequential(nn.Linear(2, 2))
        torch_file(path, {
            { name = "0.weight", dtype = "F32", shape = { 2, 2 },
                bytes = string.pack("<ffff", 1, 2, 0 / 0, 1 / 0) },
            { name = "0.bias", dtype = "F32", shape = { 2 },
                bytes = string.pack("<ff", -1 / 0, 0) },
        })
        local f = core.load_safetensors(path) -- reading is fine: the file is what it is
        assert.same({ nan = 1, inf = 1, first = 2 }, f.nonfinite["0.weight"])
        assert.same({ nan = 0, inf = 1, first = 0 }, f.nonfinite["0.bias"])
        assert.is_false(f.checked)
        local before = m[1].weight:values()
        local ok, err = pcall(lutra.load_weights, m, path)
        assert.is_false(ok)
        assert.equal(path .. ": tensor '0.weight' holds 1 NaN and 1 inf (the first at flat " ..
            "index 2), and 1 more tensor holds NaN or inf; lutra does not load weights that " ..
            "are not numbers", err)
        assert.same(before, m[1].weight:values()) -- nothing was copied
        os.remove(path)
    end)

    it("says which integer tensors became float parameters", function()
        local path = tmp("i64.safetensors")
        local nn = lutra.nn
        local checkpoint = require "lutra.checkpoint"
        local m = nn.Sequential(nn.Linear(2, 2))
        torch_file(path, {
            { name = "0.weight", dtype = "I64", shape = { 2, 2 },
                bytes = string.pack("<i8i8i8i8", 1, 2, 3, 4) },
            { name = "0.bias", dtype = "F32", shape = { 2 }, bytes = string.pack("<ff", 0.5, 0) },
        })
        local note = checkpoint.load_weights(m, checkpoint.load(path), path)
        assert.same({ 1, 2, 3, 4 }, m[1].weight:values())
        assert.equal(path .. ": 1 integer tensor converted to float: 0.weight (I64)", note)
        torch_file(path, {
            { name = "0.weight", dtype = "F32", shape = { 2, 2 },
                bytes = string.pack("<ffff", 1, 2, 3, 4) },
            { name = "0.bias", dtype = "F32", shape = { 2 }, bytes = string.pack("<ff", 0.5, 0) },
        })
        assert.is_nil(checkpoint.load_weights(m, checkpoint.load(path), path))
        os.remove(path)
    end)
end)

describe("messages about handles", function()
    it("say which handle came instead of an open tensor, not 'userdata'", function()
        local g = core.graph()
        local x = g:input({ 2, 3 }, "f32", "x")
        local f = core.forward(g, { core.op("relu", { x }) })
        local t = core.tensor({ 2, 3 })
        assert.has_error(function() f:run({ x }, { t }) end,
            "run: inputs: entry 1 is a symbol, not an open tensor")
        local closed = core.tensor({ 2, 3 })
        closed:close()
        assert.has_error(function() f:run({ closed }, { t }) end,
            "run: inputs: entry 1 is a closed tensor, not an open tensor")
        assert.has_error(function() f:run({ t }, { g }) end,
            "run: outputs: entry 1 is a graph, not an open tensor")
        assert.has_error(function() f:run(t, { t }) end,
            "run: inputs: want a list of 1 tensors, got tensor")
        assert.has_error(function() core.op("relu", { closed }) end,
            "relu: input 1 is a closed tensor, not an open tensor (the inputs must all be " ..
            "tensors or all symbols)")
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
        assert.truthy(err:find("/nonexistent/c.png: cannot create a file in /nonexistent: No such file", 1, true))
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
