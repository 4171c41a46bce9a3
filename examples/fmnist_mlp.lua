-- The default recipe: an MLP 784-1024-1024-10 with dropout on Fashion-MNIST, SGD with
-- Nesterov momentum, a cosine schedule after a short warmup, 20 epochs of batch 128:
-- 90.3% test accuracy in about a minute of training on 2 cores (README, Results).
--
--     lutra train examples/fmnist_mlp.lua
--     lutra train examples/fmnist_mlp.lua --set optim.lr=0.05 runner.max_epochs=5
_base_ = {"_base_/fmnist.lua", "_base_/sgd.lua"}

model = {type = "mlp", hidden = {1024, 1024}, dropout = 0.2}

runner = {max_epochs = 20}
