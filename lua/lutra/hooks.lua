-- The runner's hooks: tables of functions the runner calls at fixed moments of a run,
-- each as hook:event(runner, ...). A user's hook (the recipe's `hooks` list, runner.new's
-- opts.hooks, runner:add_hook) runs in a protected call: its error is logged and the run
-- goes on. lutra's own policies (lutra/policy/*.lua) are hook tables on the same events,
-- installed by the runner's setup before any user hook and called directly, so that
-- their failures (a checkpoint that cannot be written) fail the run as any other error
-- does.
-- At each event the policies run in the order they were installed, before the users'
-- hooks; a policy whose `late` table names the event runs after them instead, and one
-- whose needs(runner, event) says false is not called for it in this run.
--
-- The events, in the order a run fires them:
--   before_run(runner)           once, before the first step
--   before_epoch(runner)         before the first step of each epoch
--   after_step(runner, result)   after each optimizer step (trainer:step's result)
--   after_eval(runner, metrics)  after each evaluation ({loss =, accuracy =, count =,
--                                seconds =})
--   after_epoch(runner)          after the step that ended an epoch
--   after_run(runner, code)      once, at the end, with the exit code
-- and two that only policies receive:
--   between_steps(runner)        after each step's after_step and after_epoch: what runs at
--                                its interval (evaluation, checkpoints); its time stays out
--                                of the samples/s figure
--   finish(runner, code)         when training ends (done, stopped or interrupted), before
--                                the summary and after_run: the stop's message, the final
--                                evaluation, the last checkpoint, the final weights
local hooks = {}

-- The events a user's hook may have.
hooks.EVENTS = { "before_run", "before_epoch", "after_step", "after_eval", "after_epoch",
    "after_run" }

-- The events only policies receive.
hooks.POLICY_EVENTS = { "between_steps", "finish" }

-- In an event's chain, where the users' hooks run.
local USERS = {}

local Hooks = {}
Hooks.__index = Hooks

-- hooks.new(): an empty set. Its `users` field is the list of user hooks, in order.
function hooks.new()
    local chains = {} -- event -> {fn, policy, ..., USERS, false, fn, policy, ...}: the calls
    for _, e in ipairs(hooks.EVENTS) do
        chains[e] = { USERS, false }
    end
    for _, e in ipairs(hooks.POLICY_EVENTS) do
        chains[e] = {}
    end
    return setmetatable({ users = {}, chains = chains }, Hooks)
end

-- A user hook's name in messages: its name or type, else its place among the user hooks.
local function name_of(h, i)
    return tostring(h.name or h.type or i)
end

-- set:add(h): appends a user hook; raises when h is not a table, when an event's entry is
-- not a function, or when it has none of hooks.EVENTS.
function Hooks:add(h)
    if type(h) ~= "table" then
        error("a hook is a table of functions (after_step = function(hook, runner, result)), " ..
            "got " .. type(h), 0)
    end
    local any = false
    for _, e in ipairs(hooks.EVENTS) do
        if h[e] ~= nil and type(h[e]) ~= "function" then
            error(string.format("hook %s: %s must be a function, got %s",
                name_of(h, #self.users + 1), e, type(h[e])), 0)
        end
        any = any or h[e] ~= nil
    end
    if not any then
        error(string.format("hook %s has none of %s", name_of(h, #self.users + 1),
            table.concat(hooks.EVENTS, ", ")), 0)
    end
    self.users[#self.users + 1] = h
end

-- hooks.every(runner, key): runner.cfg.runner[key] when it is an interval in iterations
-- (a positive integer), else nil ("epoch", 0). Cannot fail.
function hooks.every(runner, key)
    local every = runner.cfg.runner[key]
    return math.type(every) == "integer" and every > 0 and every or nil
end

-- hooks.between_steps_every(key): a policy's needs for an interval of runner.cfg.runner[key]
-- iterations: every event, and between_steps only with such an interval.
function hooks.between_steps_every(key)
    return function(_, runner, event)
        return event ~= "between_steps" or hooks.every(runner, key) ~= nil
    end
end

-- set:add_policy(p [, runner]): installs a policy: a hook table whose functions (for any of
-- hooks.EVENTS and hooks.POLICY_EVENTS) are called directly, before the users' hooks, or
-- after them for the events p.late names ({after_step = true}); in the order installed.
-- A policy with needs(p, runner, event) is left out of the events for which that says
-- false (asked now: a run without intervals or warmup calls nothing for them between
-- steps). Raises what needs raises.
function Hooks:add_policy(p, runner)
    local late = p.late or {}
    for e, chain in pairs(self.chains) do
        local fn = p[e]
        if type(fn) == "function" and (p.needs == nil or p:needs(runner, e)) then
            local at = #chain + 1 -- late, or an event without users: the end
            if not late[e] then
                for i = 1, #chain, 2 do
                    if chain[i] == USERS then
                        at = i
                        break
                    end
                end
            end
            table.insert(chain, at, p)
            table.insert(chain, at, fn)
        end
    end
end

-- Calls event on each user hook, each in a protected call; a failure is a warning on
-- runner.log. An event without an argument passes none.
local function call_users(users, event, runner, arg)
    for i, h in ipairs(users) do
        local fn = h[event]
        if fn then
            local ok, err
            if arg == nil then
                ok, err = pcall(fn, h, runner)
            else
                ok, err = pcall(fn, h, runner, arg)
            end
            if not ok then
                runner.log:warn(string.format("hook %s %s failed: %s", name_of(h, i), event,
                    tostring(err)))
            end
        end
    end
end

-- set:fire(event, runner [, arg]): the event's chain: the policies before the users, the
-- users' hooks, the late policies; a policy called as p:event(runner, arg) (every event
-- has at most one argument: one, not a vararg, keeps a step's dispatch cheap). Raises
-- what a policy raised.
function Hooks:fire(event, runner, arg)
    local chain = self.chains[event]
    for i = 1, #chain, 2 do
        local fn = chain[i]
        if fn ~= USERS then
            fn(chain[i + 1], runner, arg)
        elseif self.users[1] ~= nil then
            call_users(self.users, event, runner, arg)
        end
    end
end

return hooks
