-- The runner's curves (a policy: a hook table, see lutra.hooks): the values the log
-- reports (train loss, lr, process memory at each log line; test loss and accuracy after
-- each evaluation) kept as points by iteration in runner.curves, and drawn as loss.png,
-- lr.png and memory.png in the run's folder (libpng, atomically) after each evaluation
-- and at the end. Nothing is drawn without a work dir (opts.write = false).
local core = require "lutra.core"

local curves = { name = "curves" }

local CHARTS = {
    { file = "loss.png", title = "loss", series = { { "loss", "train", 0x1f77b4 },
        { "val_loss", "test", 0xd62728 } } },
    { file = "lr.png", title = "learning rate", series = { { "lr", "lr", 0x2ca02c } } },
    { file = "memory.png", title = "process memory (mib)", series = {
        { "rss", "rss", 0x9467bd }, { "peak", "peak", 0x8c564b } } },
}

-- curves.add_points(runner, t): one point at the current iteration for each named curve
-- in t (name -> value; nil values add nothing). Cannot fail.
function curves.add_points(runner, t)
    runner.curves = runner.curves or {}
    for name, v in pairs(t) do
        local c = runner.curves[name] or { x = {}, y = {} }
        runner.curves[name] = c
        c.x[#c.x + 1], c.y[#c.y + 1] = runner.iter, v
    end
end

-- curves.write(runner): the charts with points in the run's folder. A chart that cannot be
-- written is a warning (once per run), not a failure.
function curves.write(runner)
    if runner.opts.write == false or not runner.curves then
        return
    end
    for _, chart in ipairs(CHARTS) do
        local series = {}
        for _, s in ipairs(chart.series) do
            local c = runner.curves[s[1]]
            if c and #c.x > 0 then
                series[#series + 1] = { label = s[2], x = c.x, y = c.y, color = s[3] }
            end
        end
        if #series > 0 then
            local ok, err = pcall(core.plot_png, runner.run_dir .. "/" .. chart.file, {
                title = chart.title, x_label = "iteration", series = series })
            if not ok and not runner.plot_warned then
                runner.plot_warned = true
                runner.log:warn("curves not drawn: " .. tostring(err))
            end
        end
    end
end

-- after_eval: the test points, and the charts.
function curves:after_eval(runner, m)
    curves.add_points(runner, { val_loss = m.loss, val_accuracy = m.accuracy })
    curves.write(runner)
end

-- after_run: the charts as the run ends.
function curves:after_run(runner)
    curves.write(runner)
end

return curves
