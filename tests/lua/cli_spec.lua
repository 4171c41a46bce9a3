-- lutra.cli: the command line's parsing, help texts and exit codes, called in process
-- (the CLI scripts in tests/cli run the binary itself).
local cli = require "lutra.cli"

-- Runs cli.main(args) capturing stdout and stderr; returns code, out, err.
local function main(...)
    local out, err = {}, {}
    local function sink(t)
        return { write = function(_, ...)
            for _, s in ipairs { ... } do
                t[#t + 1] = s
            end
        end, flush = function() end }
    end
    local saved_out, saved_err = cli.out, cli.err
    cli.out, cli.err = sink(out), sink(err)
    local ok, code = pcall(cli.main, { ... })
    cli.out, cli.err = saved_out, saved_err
    assert(ok, code)
    return code, table.concat(out), table.concat(err)
end

describe("cli", function()
    it("prints help and the version", function()
        local code, out = main("--help")
        assert.equal(0, code)
        assert.truthy(out:find("usage: lutra COMMAND", 1, true))
        for _, verb in ipairs { "train", "eval", "plan", "run", "repl" } do
            code, out = main(verb, "--help")
            assert.equal(0, code, verb)
            assert.truthy(out:find("usage: lutra " .. verb, 1, true), verb)
        end
        code, out = main("--version")
        assert.equal(0, code)
        assert.truthy(out:find("^lutra %d+%.%d+%.%d+\n"))
        assert.truthy(out:find("CPU backend: ", 1, true))
        assert.truthy(out:find("CUDA plugin: ", 1, true))
    end)

    it("parses options, overrides and inline values", function()
        local p = cli.parse("train", { "train", "r.lua", "--seed", "3", "--set", "a=1", "b.c=2",
            "--work-dir=/tmp/x", "--quiet" }, 2)
        assert.same({ "r.lua" }, p.positional)
        assert.same({ "a=1", "b.c=2" }, p.sets)
        assert.equal("3", p.options["--seed"])
        assert.equal("/tmp/x", p.options["--work-dir"])
        assert.is_true(p.options["--quiet"])
    end)

    it("exits 2 on usage and config errors, naming the problem", function()
        local code, _, err = main("trian")
        assert.equal(2, code)
        assert.truthy(err:find("unknown command 'trian' (did you mean 'train'?)", 1, true))
        code, _, err = main("train")
        assert.equal(2, code)
        assert.truthy(err:find("train: which recipe?", 1, true))
        code, _, err = main("train", "examples/fmnist_mlp.lua", "--sed", "1")
        assert.equal(2, code)
        assert.truthy(err:find("unknown option '--sed' (did you mean '--seed'?)", 1, true))
        code, _, err = main("train", "examples/fmnist_mlp.lua", "--seed", "x")
        assert.equal(2, code)
        assert.truthy(err:find("--seed wants an integer", 1, true))
        code, _, err = main("train", "examples/fmnist_mlp.lua", "--set", "optim.lrr=1")
        assert.equal(2, code)
        assert.truthy(err:find("unknown key 'optim.lrr' (did you mean 'optim.lr'?)", 1, true))
        code, _, err = main("train", "examples/fmnist_mlp.lua", "--set", 'optim.lr="x"')
        assert.equal(2, code)
        assert.truthy(err:find("optim.lr must be a number, got string", 1, true))
        code, _, err = main("eval", "examples/fmnist_mlp.lua")
        assert.equal(2, code)
        assert.truthy(err:find("--load-from WEIGHTS is required", 1, true))
        code, _, err = main("plan", "examples/fmnist_mlp.lua", "--set")
        assert.equal(2, code)
        assert.truthy(err:find("--set needs key=value overrides", 1, true))
        code, _, err = main("run")
        assert.equal(2, code)
        code, _, err = main("train", "no/such/recipe.lua")
        assert.equal(2, code)
        assert.truthy(err:find("no/such/recipe.lua", 1, true))
    end)

    it("plans a recipe without data: config, graph, bytes per category", function()
        local code, out = main("plan", "examples/fmnist_mlp.lua", "--set",
            'data.root="/nonexistent"', "data.batch_size=64")
        assert.equal(0, code)
        assert.truthy(out:find('root = "/nonexistent"', 1, true))
        assert.truthy(out:find("graph: %d+ forward ops %(.*linear 3"))
        assert.truthy(out:find("1,863,690 parameters", 1, true))
        for _, c in ipairs { "params", "grads", "optimizer", "activations", "temporaries",
            "workspace", "data", "total" } do
            assert.truthy(out:find("\n  " .. c .. " ", 1, true), c)
        end
        assert.truthy(out:find("planned in [%d.]+ ms"))
    end)
end)
