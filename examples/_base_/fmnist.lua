-- Fashion-MNIST from Debian's dataset-fashion-mnist and the runner's defaults, shared by
-- the fmnist_* recipes: batches of 128, ten epochs (unless a recipe says otherwise), an
-- evaluation and a checkpoint after each epoch, the best test accuracy kept.
data = {
    dataset = "fashion_mnist", -- from data.root: Debian's /usr/share/datasets/fashion-mnist
    batch_size = 128,
    val_batch_size = 1000,
    shuffle = true,
    mean = 0.2860,
    std = 0.3530,
}

runner = {
    max_epochs = 10,
    log_interval = 50,
    eval_interval = "epoch",
    checkpoint_interval = "epoch",
    max_keep_ckpts = 2,
    save_best = "accuracy",
}
