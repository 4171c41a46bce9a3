-- Data-parallel ranks (docs/distributed.md): `mpirun -np N lutra train RECIPE` runs N
-- ranks, each this program with its own shard of every batch; the C trainer sums the
-- gradient over them (lutra.core's dist_* functions, core/dist.c). This module is what
-- the rest of the Lua side asks: the world's size (for the effective batch, which counts
-- it), whether this rank writes (rank 0 alone: logs, metrics, curves, checkpoints), the
-- loaders' shard, sums that must agree, and each rank's share of the host's cores.
local core = require "lutra.core"

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
    core.dist_join()
    core.dist_set_timeout(cfg.dist.timeout)
    core.dist_set_bucket_bytes(math.max(4096, math.floor(cfg.dist.bucket_mb * 1048576)))
    world = core.dist_world()
    active = (core.dist_launched())
    return world
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
    return core.dist_sum(list, what)
end

-- dist.threads(requested): the CPU threads of this rank: the recipe's count when it gives
-- one, else the cores the launcher bound it to or this host's shared among its ranks
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
