-- The example CNN (fmnist_cnn.lua) at batch 64, 128, 128 in bf16, 128 in fp16 and 256 as
-- 128 × 2 micro-batches, 300 iterations each: memory, samples/s and accuracy side by
-- side (the lr stays the recipe's: no lr scaling).
--
--     lutra sweep examples/sweep_memory.lua              (--plan-only: the memory alone)
base = "fmnist_cnn.lua"

variants = {
    { name = "b64", ["data.batch_size"] = 64 },
    { name = "b128", ["data.batch_size"] = 128 },
    { name = "b128 bf16", ["data.batch_size"] = 128, ["precision.mode"] = "bf16" },
    { name = "b128 fp16", ["data.batch_size"] = 128, ["precision.mode"] = "fp16" },
    { name = "b256 as 128x2", ["data.batch_size"] = 128, ["optim.accumulate"] = 2 },
}

runner = { max_iters = 300, log_interval = 25 }
