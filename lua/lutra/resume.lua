-- Resuming a run: which checkpoint (--resume-from PATH, or "auto": the work dir's
-- last_checkpoint, else the newest checkpoint that loads), and what in it differs from
-- the recipe — parameters (names, shapes), the optimizer's moments (shapes), the
-- effective batch, the precision — found before anything is written. Parameters that do
-- not match can never be resumed; the rest can with --resume-force, which then trains as
-- the recipe says and logs what it changed.
local checkpoint = require "lutra.checkpoint"
local paths = require "lutra.paths"
local util = require "lutra.util"
local workdir = require "lutra.workdir"

local resume = {}

-- A checkpoint "auto" can resume: it loads (its checksum holds), has a trainer state and
-- only finite weights. Returns the file, or nil and why not.
local function usable(path)
    local ok, file = pcall(checkpoint.load, path)
    if not ok then
        return nil, tostring(file)
    elseif not file.state then
        return nil, path .. " is a weights file, not a checkpoint"
    elseif file.nonfinite and next(file.nonfinite) then
        return nil, path .. " holds weights that are not finite"
    end
    return file
end

-- resume.find(spec, wd): the checkpoint to resume and its loaded file, or nil when "auto"
-- finds none; and a note for the log when it took another checkpoint than
-- last_checkpoint names, or found none. "auto" takes the newest checkpoint that loads
-- (the newest run's highest number): a kill between writing a checkpoint and pointing
-- last_checkpoint at it leaves the newer file unnamed, and it is still the one to go on
-- from. A path given explicitly is loaded as it is (raising "path: ..." when it does not
-- load).
function resume.find(spec, wd)
    if spec ~= "auto" then
        return spec, checkpoint.load(spec)
    end
    local named, why = wd:last_checkpoint()
    local skipped = {}
    for _, path in ipairs(wd:checkpoints()) do
        local file, bad = usable(path)
        if file then
            if named and paths.normalize(named) == paths.normalize(path) then
                return path, file
            end
            local reason = #skipped > 0 and table.concat(skipped, "; ") or
                (named and string.format("%s/%s names %s, but a newer checkpoint loads",
                    wd.dir, workdir.LAST, named) or why)
            return path, file, string.format("--resume-from auto: %s; resuming from the " ..
                "newest checkpoint that loads, %s", reason, path)
        end
        skipped[#skipped + 1] = bad
    end
    if named then -- a checkpoint outside the run folders (an older layout)
        local file, bad = usable(named)
        if file then
            return named, file
        end
        skipped[#skipped + 1] = bad
    end
    local reason = #skipped > 0 and table.concat(skipped, "; ") or why
    return nil, nil, string.format("--resume-from auto: no checkpoint in %s (%s); starting " ..
        "fresh", wd.dir, reason)
end

-- The precisions a run of this recipe can be in at iteration `iter`: its mode, fp32
-- during its fp32 warmup, and what an fp16 collapse switches to.
local function precisions_at(p, iter)
    local ok = { [p.mode] = true }
    if (p.fp32_warmup_iters or 0) > iter then
        ok.fp32 = true
    end
    if p.mode == "fp16" and p.on_collapse ~= "stop" then
        ok[p.on_collapse] = true
    end
    return ok
end

-- resume.differences(file, model, trainer, want): what in the checkpoint does not fit
-- the run: two lists of lines, `fatal` (parameters: nothing can resume them) and `soft`
-- (what --resume-force accepts), and the flags of the soft ones {moments =, precision =,
-- batch =}. want: {effective_batch =, precision = the precision config}.
function resume.differences(file, model, trainer, want)
    local fatal, soft, flags = {}, {}, {}
    local s = file.state
    local params, names = model:state_dict()
    local function shape_of(t)
        return util.shape_str(t:shape())
    end
    for _, name in ipairs(names) do
        local t = file.tensors[name]
        if not t then
            fatal[#fatal + 1] = "parameter " .. name .. " is not in the checkpoint"
        elseif shape_of(t) ~= shape_of(params[name]) then
            fatal[#fatal + 1] = string.format("parameter %s is %s in the checkpoint, %s in the " ..
                "model", name, shape_of(t), shape_of(params[name]))
        end
    end
    local extra = {}
    for name in pairs(file.tensors) do
        if not name:match("^optimizer%.") and not params[name] then
            extra[#extra + 1] = name
        end
    end
    table.sort(extra)
    for _, name in ipairs(extra) do
        fatal[#fatal + 1] = "the checkpoint's " .. name .. " is not a parameter of the model"
    end

    local kinds = trainer:moment_names()
    for _, kind in ipairs(kinds) do
        for _, name in ipairs(trainer.trace.param_names) do
            local key = "optimizer." .. kind .. "." .. name
            local t = file.tensors[key]
            if not t then
                soft[#soft + 1] = key .. " is not in the checkpoint (another optimizer?)"
                flags.moments = true
            elseif params[name] and shape_of(t) ~= shape_of(params[name]) then
                soft[#soft + 1] = string.format("%s is %s in the checkpoint, the parameter is %s",
                    key, shape_of(t), shape_of(params[name]))
                flags.moments = true
            end
        end
    end

    if s.effective_batch and s.effective_batch ~= want.effective_batch then
        soft[#soft + 1] = string.format("effective batch %d in the checkpoint, %d in the recipe",
            s.effective_batch, want.effective_batch)
        flags.batch = true
    end
    if s.precision and not precisions_at(want.precision, s.iter or 0)[s.precision] then
        soft[#soft + 1] = string.format("precision %s in the checkpoint, %s in the recipe",
            s.precision, want.precision.mode)
        flags.precision = true
    end
    return fatal, soft, flags
end

-- Raises when the file has no trainer state (final.safetensors, best_*.safetensors).
local function need_state(path, file)
    if type(file.state) ~= "table" then
        error(path .. ": a weights file, not a checkpoint (no trainer state); use " ..
            "--load-from to start from its weights", 0)
    end
end

-- resume.check(path, file, model, trainer, want, force): raises listing what does not
-- fit (every difference when one is fatal, or when force is not set); returns the soft
-- flags and lines that force accepted.
function resume.check(path, file, model, trainer, want, force)
    need_state(path, file)
    local fatal, soft, flags = resume.differences(file, model, trainer, want)
    if #fatal > 0 or (#soft > 0 and not force) then
        local lines = {}
        table.move(fatal, 1, #fatal, 1, lines)
        table.move(soft, 1, #soft, #lines + 1, lines)
        local shown = {}
        for i = 1, math.min(#lines, 12) do
            shown[i] = "  " .. lines[i]
        end
        if #lines > 12 then
            shown[#shown + 1] = string.format("  ... and %d more", #lines - 12)
        end
        error(string.format("%s does not fit this recipe:\n%s\n%s", path,
            table.concat(shown, "\n"), #fatal > 0 and
            "the model's parameters must match to resume; --load-from starts from weights alone"
            or "--resume-force resumes anyway, training as the recipe says"), 0)
    end
    return flags, soft
end

-- resume.position(path, file): the checkpoint's iteration, after checking that each of
-- its counters is a non-negative integer (raises naming the checkpoint and the field).
function resume.position(path, file)
    need_state(path, file)
    local s = file.state
    for _, k in ipairs { "iter", "epoch", "loader_epoch", "loader_iter" } do
        local v = s[k]
        if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v) and
            v >= 0 and v < 2 ^ 53) then
            error(string.format("%s: the checkpoint's %s is %s, not a count", path, k,
                v == nil and "missing" or type(v) == "string" and string.format("%q", v) or
                tostring(v)), 0)
        end
        if v < 0 then
            error(string.format("%s: the checkpoint's %s is negative (%s)", path, k, tostring(v)),
                0)
        end
        s[k] = math.tointeger(v)
    end
    return s.iter
end

return resume
