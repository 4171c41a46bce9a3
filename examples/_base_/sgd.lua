-- SGD with Nesterov momentum and a cosine schedule after a short linear warmup; no weight
-- decay on biases and normalisation layers.
optim = {
    type = "sgd",
    lr = 0.1,
    momentum = 0.9,
    nesterov = true,
    weight_decay = 5e-4,
    paramwise = {bias_decay_mult = 0, norm_decay_mult = 0},
}

schedule = {
    type = "cosine",
    warmup_iters = 200,
    warmup_ratio = 0.1,
    min_lr = 0,
}
