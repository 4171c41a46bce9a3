-- A character-level GPT on the fortune databases Debian's `fortunes` package installs
-- (/usr/share/games/fortunes: 2.3 MB of quotations, jokes and verse). Bytes are the
-- tokens (vocabulary 256); every database but `cookie` is the training stream, read as
-- one file after another, and `cookie` (245 kB of the classic fortune-cookie mix) is held
-- out for validation. 4 layers, 4 heads, 128 wide, windows of 128 bytes; AdamW with
-- minGPT's groups (no decay on biases, norms and embeddings), warm-up and cosine decay
-- (README, "A GPT": the curve, the loss reached and a sample).
--
--     lutra train examples/char_gpt.lua
--     lutra generate examples/char_gpt.lua --load-from work_dirs/char_gpt/<run>/final.safetensors
local dir = "/usr/share/games/fortunes/"
local names = {"art", "computers", "debian", "definitions", "disclaimer", "drugs", "education",
    "ethnic", "food", "fortunes", "goedel", "humorists", "kids", "knghtbrd", "law", "linux",
    "linuxcookie", "literature", "love", "magic", "medicine", "men-women", "miscellaneous",
    "news", "paradoxum", "people", "perl", "pets", "platitudes", "politics", "pratchett",
    "riddles", "science", "songs-poems", "sports", "startrek", "tao", "translate-me", "wisdom",
    "work", "zippy"}
local train = {}
for i, name in ipairs(names) do
    train[i] = dir .. name
end

data = {dataset = "tokens", path = train, test_path = dir .. "cookie", token_format = "bytes",
    block_size = 128, batch_size = 32, val_batch_size = 64}

model = {type = "gpt", n_layer = 4, n_head = 4, n_embd = 128, block_size = 128,
    vocab_size = 256, dropout = 0.1}

optim = {type = "adamw", lr = 2e-3, betas = {0.9, 0.99}, weight_decay = 0.1,
    clip_grad = {max_norm = 1.0},
    paramwise = {bias_decay_mult = 0, norm_decay_mult = 0,
        custom_keys = {wte = {decay_mult = 0}, wpe = {decay_mult = 0}}}}

schedule = {type = "cosine", warmup_iters = 100, min_lr = 2e-4}

runner = {max_iters = 2000, log_interval = 50, eval_interval = 500, checkpoint_interval = 500}
