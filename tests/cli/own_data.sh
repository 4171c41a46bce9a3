#!/usr/bin/env bash
# Recipes on their own data: each kind a recipe can name (an image folder, a tensors file
# for classification and regression, a token file, a source written in Lua) trains a
# small model through `lutra train` on data the test writes; loader workers change
# nothing; bad files are named, with exit 1, and skipped when the recipe says so.
. "$(dirname "$0")/lib.sh"

D=$SCRATCH/data
mkdir -p "$D"
expect 0 "$LUTRA" run tests/lua/fixtures/own_data.lua "$D"

common='runner = {max_iters = 12, log_interval = 4, eval_interval = 12, checkpoint_interval = 0}
schedule = {warmup_iters = 0}
seed = 3'

# ---- an image folder: augmented, with 0 and 2 workers: the same weights -------------------
cat >"$SCRATCH/img.lua" <<LUA
local nn = require("lutra.nn")
$common
data = {dataset = "image_folder", train_root = "$D/img/train", test_root = "$D/img/test",
        mean = 0.3, std = 0.3, crop = 12, crop_padding = 1, hflip = true, batch_size = 15,
        workers = 2}
model = function()
    return nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1), nn.ReLU(), nn.Flatten(), nn.Linear(576, 3))
end
optim = {type = "adamw", lr = 0.01}
LUA
expect 0 "$LUTRA" train "$SCRATCH/img.lua" --work-dir "$SCRATCH/img2"
has "$SCRATCH/out" "data image_folder ($D/img/train): 60 training, 15 test samples"
has "$SCRATCH/out" "2 loader workers"
expect 0 "$LUTRA" train "$SCRATCH/img.lua" --work-dir "$SCRATCH/img0" --set data.workers=0
same_weights "$(run_dir "$SCRATCH/img2")/final.safetensors" \
    "$(run_dir "$SCRATCH/img0")/final.safetensors" ||
    fail "image folder: 0 and 2 loader workers trained different weights"
acc=$(grep -o 'test accuracy [0-9.]*' "$SCRATCH/out" | tail -1 | cut -d' ' -f3)
awk -v a="$acc" 'BEGIN { exit !(a >= 0.6) }' ||
    fail "image folder: test accuracy $acc after 12 steps on 3 well-separated classes"

# a model that does not take the data's images: named with the batches it was traced on
sed -e "s|nn.Linear(576, 3)|nn.Linear(500, 3)|" "$SCRATCH/img.lua" >"$SCRATCH/narrow.lua"
expect 1 "$LUTRA" train "$SCRATCH/narrow.lua" --work-dir "$SCRATCH/none"
has "$SCRATCH/err" "the model was traced on the data's batches: x f32 (15, 1, 12, 12), y i32 (15,)"

# a test split that lacks a class of the training split
mkdir -p "$SCRATCH/short/a" && cp "$D/img/test/circle/001.png" "$SCRATCH/short/a/"
expect 1 "$LUTRA" train "$SCRATCH/img.lua" --work-dir "$SCRATCH/bad" \
    --set "data.test_root=\"$SCRATCH/short\""
has "$SCRATCH/err" "$SCRATCH/short/a: a class the training images do not have"

# a file whose header reads but whose pixels do not: named mid-run, or skipped
cp -r "$D/img/train" "$SCRATCH/trunc"
head -c 60 "$D/img/train/cross/002.png" >"$SCRATCH/trunc/cross/002.png"
expect 1 "$LUTRA" train "$SCRATCH/img.lua" --work-dir "$SCRATCH/bad" \
    --set "data.train_root=\"$SCRATCH/trunc\""
has "$SCRATCH/err" "$SCRATCH/trunc/cross/002.png"
expect 0 "$LUTRA" train "$SCRATCH/img.lua" --work-dir "$SCRATCH/skip" \
    --set "data.train_root=\"$SCRATCH/trunc\"" --set 'data.on_bad_file="skip"'
has "$SCRATCH/out" "1 more file could not be decoded and was skipped"

# not a PNG, an empty class folder: named before training, nothing written
cp -r "$D/img/train" "$SCRATCH/txt" && echo "notes" >"$SCRATCH/txt/cross/readme.png"
expect 1 "$LUTRA" train "$SCRATCH/img.lua" --work-dir "$SCRATCH/none" \
    --set "data.train_root=\"$SCRATCH/txt\""
has "$SCRATCH/err" "$SCRATCH/txt/cross/readme.png: not a PNG file"
mkdir -p "$SCRATCH/txt2/a" "$SCRATCH/txt2/b" && cp "$D/img/train/circle/001.png" "$SCRATCH/txt2/a/"
expect 1 "$LUTRA" train "$SCRATCH/img.lua" --work-dir "$SCRATCH/none" \
    --set "data.train_root=\"$SCRATCH/txt2\""
has "$SCRATCH/err" "$SCRATCH/txt2/b: an empty class folder"
[ ! -e "$SCRATCH/none" ] || [ -z "$(run_dirs "$SCRATCH/none")" ] ||
    fail "a data error before training left a run folder"

# ---- tensors: classification and regression (mse, chosen by the float targets) ----------
cat >"$SCRATCH/blobs.lua" <<LUA
local nn = require("lutra.nn")
$common
data = {dataset = "tensors", path = "$D/blobs.safetensors", batch_size = 30, val_fraction = 0.2}
model = function() return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)) end
optim = {type = "adamw", lr = 0.02}
LUA
expect 0 "$LUTRA" train "$SCRATCH/blobs.lua" --work-dir "$SCRATCH/blobs"
has "$SCRATCH/out" "240 training, 60 test samples"
has "$SCRATCH/out" "test accuracy"
sed -e "s|blobs.safetensors|sums.safetensors|" -e "s|nn.Linear(16, 3)|nn.Linear(16, 1)|" \
    "$SCRATCH/blobs.lua" >"$SCRATCH/sums.lua"
expect 0 "$LUTRA" train "$SCRATCH/sums.lua" --work-dir "$SCRATCH/sums"
has "$SCRATCH/out" "test accuracy - loss"
# a model with fewer outputs than the data set has classes: stopped before any step
sed -e "s|nn.Linear(16, 3)|nn.Linear(16, 2)|" "$SCRATCH/blobs.lua" >"$SCRATCH/two.lua"
expect 1 "$LUTRA" train "$SCRATCH/two.lua" --work-dir "$SCRATCH/none"
has "$SCRATCH/err" "has 3 classes but the model gives 2 outputs"

# ---- tokens: a text file read as bytes; a vocabulary too small is named --------------------
cat >"$SCRATCH/text.lua" <<LUA
local nn = require("lutra.nn")
$common
data = {dataset = "tokens", path = "$D/text.txt", block_size = 16, batch_size = 16}
model = function()
    return nn.Sequential(nn.Embedding(256, 16), nn.Linear(16, 256))
end
optim = {type = "adamw", lr = 0.01}
LUA
expect 0 "$LUTRA" train "$SCRATCH/text.lua" --work-dir "$SCRATCH/text"
has "$SCRATCH/out" "data tokens ($D/text.txt): 224 training, 24 test samples"
sed -e "s|nn.Linear(16, 256)|nn.Linear(16, 100)|" "$SCRATCH/text.lua" >"$SCRATCH/small.lua"
expect 1 "$LUTRA" train "$SCRATCH/small.lua" --work-dir "$SCRATCH/none"
has "$SCRATCH/err" "$D/text.txt: token 116 at index"
has "$SCRATCH/err" "is not below the model's vocabulary 100"
# the same text split in two files, read as one stream: the same samples; a list of files
# for a tensors data set is refused as it opens, an empty list as the recipe is checked
head -c 2000 "$D/text.txt" >"$D/part1.txt"
tail -c +2001 "$D/text.txt" >"$D/part2.txt"
expect 0 "$LUTRA" train "$SCRATCH/text.lua" --work-dir "$SCRATCH/parts" \
    --set "data.path={'$D/part1.txt', '$D/part2.txt'}"
has "$SCRATCH/out" "data tokens ($D/part1.txt and 1 more files): 224 training, 24 test samples"
expect 2 "$LUTRA" train "$SCRATCH/text.lua" --work-dir "$SCRATCH/none" --set "data.path={}"
has "$SCRATCH/err" "data.path must be a file or a list of files, got an empty list"
expect 1 "$LUTRA" train "$SCRATCH/text.lua" --work-dir "$SCRATCH/none" \
    --set 'data.dataset="tensors"' "data.path={'$D/a.safetensors'}"
has "$SCRATCH/err" "data.path: the tensors data set reads one file; a list of files is for tokens"

# ---- a source written in Lua, registered by the recipe -------------------------------------
cat >"$SCRATCH/source.lua" <<LUA
local nn = require("lutra.nn")
local data_sets = require("lutra.data")
$common
data_sets.register("parity", {
    classes = 2,
    len = function(split) return split == "train" and 64 or 16 end,
    get = function(split, i)
        local bits = {}
        for k = 1, 4 do bits[k] = (i >> (k - 1)) & 1 end
        return bits, (bits[1] + bits[2]) % 2
    end,
})
data = {dataset = "parity", batch_size = 16}
model = function() return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)) end
optim = {type = "adamw", lr = 0.02}
LUA
expect 0 "$LUTRA" train "$SCRATCH/source.lua" --work-dir "$SCRATCH/source"
has "$SCRATCH/out" "data parity (parity train): 64 training, 16 test samples"
sed -e 's|return bits, (bits|if i == 7 then error("no sample 7") end return bits, (bits|' \
    "$SCRATCH/source.lua" >"$SCRATCH/broken.lua"
expect 1 "$LUTRA" train "$SCRATCH/broken.lua" --work-dir "$SCRATCH/broken"
has "$SCRATCH/err" "get(7) failed"
has "$SCRATCH/err" "no sample 7"
exit 0
