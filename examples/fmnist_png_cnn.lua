-- The example CNN trained from PNG files: Fashion-MNIST written as an image folder
-- (scripts/fmnist-to-png.lua), read back by the loader's workers (libpng), augmented with
-- a random crop (2 pixels of padding) and a horizontal flip, on the same schedule as
-- examples/fmnist_cnn.lua (README, Results).
--
--     lutra run scripts/fmnist-to-png.lua data/fmnist-png
--     lutra train examples/fmnist_png_cnn.lua
_base_ = "fmnist_cnn.lua"

data = {
    dataset = "image_folder",
    train_root = "data/fmnist-png/train",
    test_root = "data/fmnist-png/test",
    crop = 28,
    crop_padding = 2,
    hflip = true,
    workers = 1,
}
