-- lutra.optim: configs, mmengine's paramwise groups, and the schedules' values.
local lutra = require "lutra"
local nn, optim = lutra.nn, lutra.optim
local S = optim.schedules

local function near(want, got)
    assert.near(want, got, 1e-12 + 1e-9 * math.abs(want))
end

describe("optimizer configs", function()
    it("take PyTorch's defaults", function()
        local sgd = optim.SGD { lr = 0.1 }
        assert.same({ kind = "sgd", lr = 0.1, weight_decay = 0, max_grad_norm = 0, groups = {},
            momentum = 0, dampening = 0, nesterov = false }, sgd:config({}))
        local adamw = optim.AdamW {}
        local c = adamw:config({})
        assert.equal(1e-3, c.lr)
        assert.equal(0.9, c.beta1)
        assert.equal(0.999, c.beta2)
        assert.equal(1e-8, c.eps)
        assert.equal(1e-2, c.weight_decay)
        assert.equal("adamw", optim.new({ type = "AdamW", lr = 3e-4 }).kind)
    end)

    it("reject unknown and bad options by name", function()
        assert.has_error(function()
            optim.SGD { lr = 0.1, momentun = 0.9 }
        end, "SGD: unknown option 'momentun' (it takes: lr, momentum, dampening, weight_decay, "
            .. "nesterov, max_grad_norm, paramwise)")
        assert.has_error(function()
            optim.SGD { momentum = 0.9 }
        end, "SGD: lr is required")
        assert.has_error(function()
            optim.AdamW { lr = -1 }
        end, "AdamW: lr must be a number >= 0, got -1")
        assert.has_error(function()
            optim.SGD { lr = 0.1, paramwise = { bias_decay = 0 } }
        end, "SGD.paramwise: unknown option 'bias_decay' (it takes: bias_lr_mult, "
            .. "bias_decay_mult, norm_decay_mult, dwconv_decay_mult, flat_decay_mult, custom_keys)")
        assert.has_error(function()
            optim.new { type = "Adam", lr = 0.1 }
        end, "optim: type must be \"SGD\" or \"AdamW\", got Adam")
    end)
end)

describe("parameter groups", function()
    local function cnn()
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, { groups = 8 }), nn.Flatten(), nn.Linear(8, 2))
    end

    it("put biases and norm weights in their own groups (mmengine's paramwise)", function()
        local opt = optim.SGD { lr = 0.1, weight_decay = 1e-4,
            paramwise = { bias_decay_mult = 0, norm_decay_mult = 0 } }
        local groups, group_of, members = opt:param_groups(cnn())
        assert.same({ { lr_mult = 1, decay_mult = 1 }, { lr_mult = 1, decay_mult = 0 } }, groups)
        assert.same({ "0.weight", "3.weight", "5.weight" }, members[1])
        assert.same({ "0.bias", "1.weight", "1.bias", "3.bias", "5.bias" }, members[2])
        assert.equal(2, group_of["1.weight"])
    end)

    it("apply bias_lr_mult outside norm layers and dwconv_decay_mult", function()
        local opt = optim.SGD { lr = 0.1, weight_decay = 1e-4,
            paramwise = { bias_lr_mult = 2, dwconv_decay_mult = 0.5 } }
        local groups, group_of = opt:param_groups(cnn())
        local function mults(name)
            local g = groups[group_of[name]]
            return { g.lr_mult, g.decay_mult }
        end
        assert.same({ 2, 1 }, mults("0.bias"))
        assert.same({ 1, 1 }, mults("1.bias")) -- a norm layer's bias keeps lr
        assert.same({ 1, 0.5 }, mults("3.weight"))
        assert.same({ 2, 0.5 }, mults("3.bias")) -- bias_decay_mult unset: the dwconv rule
        assert.same({ 1, 1 }, mults("5.weight"))
    end)

    it("let custom keys win, longest first", function()
        local Net = nn.class("GNet")
        function Net:__init()
            self.backbone = nn.Sequential(nn.Linear(2, 2))
            self.head = nn.Linear(2, 2)
        end
        local opt = optim.AdamW { paramwise = { bias_decay_mult = 0, custom_keys = {
            backbone = { lr_mult = 0.1 }, ["backbone.0.bias"] = { lr_mult = 0.5, decay_mult = 0 } } } }
        local groups, group_of = opt:param_groups(Net())
        local function mults(name)
            local g = groups[group_of[name]]
            return { g.lr_mult, g.decay_mult }
        end
        assert.same({ 0.1, 1 }, mults("backbone.0.weight"))
        assert.same({ 0.5, 0 }, mults("backbone.0.bias"))
        assert.same({ 1, 1 }, mults("head.weight"))
        assert.same({ 1, 0 }, mults("head.bias"))
    end)
end)

describe("schedules", function()
    it("step and multistep", function()
        local s = S.step { lr = 0.1, step_size = 10, gamma = 0.5 }
        near(0.1, s:lr(0))
        near(0.1, s:lr(9))
        near(0.05, s:lr(10))
        near(0.025, s:lr(25))
        local m = S.multistep { lr = 0.1, milestones = { 5, 8 } }
        near(0.1, m:lr(4))
        near(0.01, m:lr(5))
        near(0.001, m:lr(8))
        near(0.001, m:lr(100))
    end)

    it("cosine and poly, staying at eta_min after the end", function()
        local c = S.cosine { lr = 0.1, T_max = 100 }
        near(0.1, c:lr(0))
        near(0.05, c:lr(50))
        near(0.1 * (1 + math.cos(math.pi / 4)) / 2, c:lr(25))
        near(0, c:lr(100))
        near(0, c:lr(150))
        near(0.055, S.cosine({ lr = 0.1, T_max = 100, eta_min = 0.01 }):lr(50))
        local p = S.poly { lr = 0.1, total = 100, power = 2 }
        near(0.1, p:lr(0))
        near(0.025, p:lr(50))
        near(0, p:lr(100))
        near(0.05, S.poly({ lr = 0.1, total = 100 }):lr(50))
    end)

    it("linear and warmup in front of another schedule", function()
        local l = S.linear { lr = 0.1, iters = 10, start_factor = 0.5 }
        near(0.05, l:lr(0))
        near(0.075, l:lr(5))
        near(0.1, l:lr(10))
        near(0.1, l:lr(20))
        local main = S.cosine { T_max = 100 }
        local w = S.warmup { iters = 10, main = main }:with_base(0.1)
        near(0.1 * 0.001, w:lr(0))
        near(main:lr(5) * (0.001 + 0.999 * 0.5), w:lr(5))
        near(main:lr(10), w:lr(10))
        near(0.05, w:lr(50))
        near(0.3, S.constant({ lr = 0.3 }):lr(1000))
    end)

    it("start late with begin", function()
        local c = S.cosine { lr = 0.1, T_max = 100, begin = 10 }
        near(0.1, c:lr(5))
        near(0.05, c:lr(60))
    end)

    it("say what they lack", function()
        assert.has_error(function()
            S.cosine {}
        end, "cosine: T_max must be a number > 0, got nil")
        assert.has_error(function()
            S.cosine({ T_max = 10 }):lr(0)
        end, "cosine: no base lr (give lr =, or let the trainer set it)")
        assert.has_error(function()
            S.step { step_size = 3, gama = 0.1 }
        end, "step: unknown option 'gama' (it takes: step_size, gamma, lr, begin)")
    end)
end)
