-- Data-parallel ranks (docs/distributed.md): `mpirun -np N lutra train RECIPE` runs N
-- ranks, each this program with its own shard of every batch; the C trainer sums the
-- gradient over them (lutra.core's dist_* functions, core/dist.c). This module is what
-- the rest of the Lua side asks: the world's size (for the effective batch, which counts
-- it), whether this rank writes (rank 0 alone: logs, metrics, curves, checkpoints), the
-- loaders' shard, sums that must agree, and each rank's share of the host's cores.
local core = require "lutra.core"
local util = require "lutra.util"

local dist = {}

local world = { rank = 0, size = 1, local_rank = 0, local_size = 1 }
local active = false -- a rank of a launched job (mpirun -np 1 included)
local planned_size -- lutra plan --world-size N: the effective batch of a job not running

-- dist.launched(): whether an MPI launcher started this process, and the world size its
-- environment says.
function dist.launched()
    local launched, _, size = core.dist_launched()
    return launched, size
end

-- dist.join(cfg): joins the job this process was started in (a world of one when none),
-- with the recipe's dist settings; raises why it cannot (a lutra built without MPI says
-- how to build it). Returns the world.
function dist.join(cfg)
    util.call(core.dist_join)
    util.call(core.dist_set_timeout, cfg.dist.timeout)
    util.call(core.dist_set_bucket_bytes, dist.bucket_bytes(cfg))
    world = core.dist_world()
    active = (core.dist_launched())
    return world
end

-- dist.bucket_bytes(cfg): the gradient bucket's bytes dist.bucket_mb asks for.
function dist.bucket_bytes(cfg)
    return math.max(4096, math.floor(cfg.dist.bucket_mb * 1048576))
end

-- dist.world(): {rank =, size =, local_rank =, local_size =} (one rank before a join).
function dist.world()
    return world
end

-- dist.set_planned_size(n): the world size `lutra plan --world-size N` plans for.
function dist.set_planned_size(n)
    planned_size = n
end

-- dist.size(): the world size the effective batch counts: the job's, or the planned one.
function dist.size()
    return planned_size or world.size
end

-- dist.active(): whether this process is a rank of a launched job (of one rank too:
-- mpirun -np 1 runs the collectives, and must train as a lone process does).
function dist.active()
    return active
end

-- dist.writes(): whether this rank writes the run's files (rank 0, or a lone process).
function dist.writes()
    return world.rank == 0
end

-- dist.shard(): this rank's loader shard and the shard count.
function dist.shard()
    return world.rank, world.size
end

-- dist.sum(list [, what]): each number summed over the ranks (the list itself alone).
function dist.sum(list, what)
    if not dist.active() then
        return list
    end
    return util.call(core.dist_sum, list, what)
end

-- dist.max(list [, what]): each number's largest over the ranks (the list itself alone).
function dist.max(list, what)
    if not active then
        return list
    end
    return util.call(core.dist_max, list, what)
end

-- dist.least(n, what): the smallest of each rank's integer n.
function dist.least(n, what)
    return math.tointeger(-dist.max({ -n }, what)[1])
end

local MODES = { "fp32", "bf16", "fp16" }

-- dist.agree_fit(cfg): what every rank trains with when the memory policy chose
-- differently on some (their memory may differ): the smallest micro-batch (accumulation
-- keeping the effective batch) and evaluation batch, the half precision and the
-- checkpointing any rank needed; written into cfg. Returns the log's lines saying where
-- that differs from this rank's choice.
function dist.agree_fit(cfg)
    local mode = 1
    for i, m in ipairs(MODES) do
        mode = m == cfg.precision.mode and i or mode
    end
    local b, acc, val = cfg.data.batch_size, cfg.optim.accumulate, cfg.data.val_batch_size
    local check = cfg.memory.checkpoint and 1 or 0
    local all = dist.max({ -b, -val, mode, check }, "the ranks' memory choices")
    local nb, nval, nmode, ncheck = math.tointeger(-all[1]), math.tointeger(-all[2]),
        math.tointeger(all[3]), all[4] > 0
    local lines = {}
    if nb ~= b or nval ~= val or nmode ~= mode or ncheck ~= (check > 0) then
        lines[1] = string.format("memory: taken what fits every rank: micro-batch %d, " ..
            "accumulate %d, evaluation batch %d, %s%s (this rank alone: %d, %d, %d, %s%s)",
            nb, b * acc // nb, nval, MODES[nmode], ncheck and ", checkpointing" or "", b, acc,
            val, MODES[mode], check > 0 and ", checkpointing" or "")
    end
    if (b * acc) % nb ~= 0 then
        error(string.format("the ranks' memory fits micro-batch %d at most, which does not " ..
            "divide this rank's %d × accumulate %d: set data.batch_size to a divisor of the " ..
            "effective batch", nb, b, acc), 0)
    end
    cfg.data.batch_size, cfg.optim.accumulate = nb, b * acc // nb
    cfg.data.val_batch_size, cfg.precision.mode, cfg.memory.checkpoint = nval, MODES[nmode], ncheck
    return lines
end

-- dist.agree_device(asked, device): raises unless every rank trains on the same kind of
-- device, one GPU each (a rank that fell back to the CPU, or ranks of one host sharing
-- a GPU, would wait for each other's collectives forever).
function dist.agree_device(asked, device)
    if not active then
        return
    end
    local gpu = device:match("^cuda") and 1 or 0
    local gpus = dist.sum({ gpu }, "the ranks' devices")[1]
    if gpus ~= 0 and gpus ~= world.size then
        error(string.format("%d of the %d ranks have a GPU (this one: %s): a job trains on " ..
            "GPUs or CPUs, not both, with one GPU per rank of a host (%d ranks on this one)",
            math.tointeger(gpus), world.size, device, world.local_size), 0)
    end
    if gpu == 1 and asked:match("^cuda:%d") and world.local_size > 1 then
        error(string.format("device = \"%s\" puts the %d ranks of this host on one GPU: say " ..
            "\"cuda\" (each rank takes GPU cuda:<local rank>)", asked, world.local_size), 0)
    end
end

-- dist.agree_resume(path, iter): raises unless every rank resumes from the same
-- iteration (path, or nothing: iter nil), as a rank that found another checkpoint, or
-- none, would train on with other moments, schedule and data position.
function dist.agree_resume(path, iter)
    if not active then
        return
    end
    local at = iter or -1
    local hi, lo = dist.max({ at }, "the ranks' resume")[1], dist.least(at, "the ranks' resume")
    if hi ~= lo then
        error(string.format("the ranks resume from different checkpoints (iterations %d to %d; " ..
            "this one: %s): every rank must read the same one (a work dir they share, or " ..
            "--resume-from a path that holds the same file on every host)", math.tointeger(lo),
            math.tointeger(hi), path and string.format("%s, iteration %d", path, at) or "none"), 0)
    end
end

-- dist.threads(requested): the CPU threads of this rank: the recipe's count when it gives
-- one, else this host's cores shared among its ranks, no more than the rank may run on
-- (OpenMP's default would give every rank all of them, and ranks spinning on each other's
-- cores run many times slower). A lone process keeps the request.
function dist.threads(requested)
    if requested ~= 0 or not dist.active() then
        return requested
    end
    return core.dist_cores()
end

-- dist.line(): what the log says of the job, or nil for a lone process.
function dist.line(buckets, largest)
    if not dist.active() then
        return nil
    end
    return string.format("data parallel: %d rank%s (MPI), %d on this host; each rank %d " ..
        "thread%s; gradient all-reduced in %d bucket%s of at most %.2f MiB, started as the " ..
        "backward finishes them; collectives time out after %g s", world.size,
        world.size == 1 and "" or "s", world.local_size,
        core.threads(), core.threads() == 1 and "" or "s", buckets, buckets == 1 and "" or "s",
        largest / 1048576, core.dist_world().timeout)
end

return dist
