-- The classic 2-conv CNN on Fashion-MNIST: conv(1→32)-ReLU-pool-conv(32→64)-ReLU-pool-
-- Linear(3136→128)-ReLU-Dropout-Linear(128→10), SGD with Nesterov momentum, a cosine
-- schedule, 8 epochs of batch 128: 92.3% test accuracy in about 3 minutes of training on
-- 2 cores (README, Results).
--
--     lutra train examples/fmnist_cnn.lua
_base_ = {"_base_/fmnist.lua", "_base_/sgd.lua"}

model = {type = "cnn", channels = {32, 64}, hidden = {128}, dropout = 0.25}

optim = {lr = 0.05}

runner = {max_epochs = 8}
