-- The recipe the example host trains (examples/embed/embed.c): an MLP on the data the
-- host generates in C and registers as "blobs" (four Gaussian blobs in 16 dimensions).
-- It is an ordinary recipe: edit it, or override keys from the host (embed.c sets the
-- work dir), as `lutra train --set` would.
data = {dataset = "host:blobs", batch_size = 32}

model = {type = "mlp", in_features = 16, hidden = {32}, num_classes = 4}

optim = {type = "sgd", lr = 0.05, momentum = 0.9}
schedule = {type = "cosine", warmup_iters = 0}

runner = {max_epochs = 4, log_interval = 10, checkpoint_interval = "epoch"}
