-- The classic 2-conv CNN on Fashion-MNIST: conv(1→32)-ReLU-pool-conv(32→64)-ReLU-pool-
-- Linear(3136→128)-ReLU-Dropout-Linear(128→10), SGD with Nesterov momentum, a cosine
-- schedule, 15 epochs of batch 128 on images shifted by up to a pixel (a random crop with
-- one pixel of padding) and mirrored half the time (README, Results).
--
--     lutra train examples/fmnist_cnn.lua
_base_ = {"_base_/fmnist.lua", "_base_/sgd.lua"}

model = {type = "cnn", channels = {32, 64}, hidden = {128}, dropout = 0.25}

optim = {lr = 0.05}

data = {crop = 28, crop_padding = 1, hflip = true}

runner = {max_epochs = 15}
