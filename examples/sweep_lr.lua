-- The default MLP (fmnist_mlp.lua) at four times its batch, with its lr as it is and
-- scaled by the linear and the square-root rules, against the recipe itself; 300
-- iterations each.
--
--     lutra sweep examples/sweep_lr.lua
base = "fmnist_mlp.lua"

variants = {
    { name = "b128" },
    { name = "b512 same lr", ["data.batch_size"] = 512 },
    { name = "b512 linear", ["data.batch_size"] = 512,
      ["optim.lr_scaling"] = { rule = "linear", base_batch_size = 128 } },
    { name = "b512 sqrt", ["data.batch_size"] = 512,
      ["optim.lr_scaling"] = { rule = "sqrt", base_batch_size = 128 } },
}

runner = { max_iters = 300, log_interval = 25 }
