-- The example CNN trained from PNG files: Fashion-MNIST written as an image folder
-- (scripts/fmnist-to-png.lua), read back and augmented by the loader's worker (libpng,
-- then examples/fmnist_cnn.lua's random crop and flip), on that recipe's schedule
-- (README, Results).
--
--     lutra run scripts/fmnist-to-png.lua data/fmnist-png
--     lutra train examples/fmnist_png_cnn.lua
_base_ = "fmnist_cnn.lua"

data = {
    dataset = "image_folder",
    train_root = "data/fmnist-png/train",
    test_root = "data/fmnist-png/test",
}
