-- What a sweep (lutra.sweep) reports: its rows compared with a baseline, as the table the
-- console shows, and as the files of the sweep's folder: sweep.csv (one line per
-- variant), sweep.json (the sweep, its variants and its rows: also the state --resume
-- reads) and sweep.png (memory and samples/s per variant as bars, in percent of the
-- baseline's). Every file is written whole (lutra.core's write_atomic, plot_png).
local core = require "lutra.core"
local logger = require "lutra.logger"

local report = {}

-- The memory categories of a plan, in lutra plan's order.
report.CATEGORIES = require("lutra.categories").NAMES

-- The columns of sweep.csv, in order; rows' fields of the same names (bytes as integers,
-- utilisations as fractions of the capacity).
report.COLUMNS = { "index", "name", "status", "precision", "batch_size", "accumulate",
    "effective_batch", "lr", "planned_total" }
for _, c in ipairs(report.CATEGORIES) do
    report.COLUMNS[#report.COLUMNS + 1] = "planned_" .. c
end
for _, c in ipairs { "measured_peak", "capacity", "planned_util", "measured_util",
    "samples_per_s", "speedup", "loss", "accuracy", "accuracy_delta", "seconds", "run_dir" } do
    report.COLUMNS[#report.COLUMNS + 1] = c
end

-- report.baseline(rows, field): the first row whose status is "ok" and that has `field`,
-- or nil. Cannot fail.
function report.baseline(rows, field)
    for _, r in ipairs(rows) do
        if r.status == "ok" and r[field] then
            return r
        end
    end
end

-- report.compare(rows): sets each row's speedup (samples/s over the baseline's) and
-- accuracy_delta (accuracy minus the baseline's), the baseline being the first variant
-- that ran ("ok") with that number; rows without the number get neither. Cannot fail.
function report.compare(rows)
    local fast, acc = report.baseline(rows, "samples_per_s"), report.baseline(rows, "accuracy")
    for _, r in ipairs(rows) do
        r.speedup = fast and r.samples_per_s and r.samples_per_s / fast.samples_per_s or nil
        r.accuracy_delta = acc and r.accuracy and r.accuracy - acc.accuracy or nil
    end
end

-- ---- the console's table ----------------------------------------------------------------------

local function fmt(v, f)
    if v == nil then
        return "-"
    end
    return f(v)
end

local function pct(v)
    return string.format("%.1f%%", 100 * v)
end

-- report.text(rows): the rows as an aligned text table, one line per variant and a
-- header. Cannot fail.
function report.text(rows)
    local head = { "#", "variant", "batch", "lr", "precision", "planned", "peak", "util",
        "samples/s", "speed-up", "loss", "accuracy", "delta", "status" }
    local lines = { head }
    for _, r in ipairs(rows) do
        lines[#lines + 1] = {
            tostring(r.index), r.name,
            r.effective_batch and (r.accumulate and r.accumulate > 1 and
                string.format("%d×%d", r.batch_size, r.accumulate) or
                tostring(r.effective_batch)) or "-",
            fmt(r.lr, logger.num), r.precision or "-",
            fmt(r.planned_total, logger.bytes), fmt(r.measured_peak, logger.bytes),
            fmt(r.measured_util or r.planned_util, pct),
            fmt(r.samples_per_s, function(v) return string.format("%.0f", v) end),
            fmt(r.speedup, function(v) return string.format("%.2f×", v) end),
            fmt(r.loss, logger.num),
            fmt(r.accuracy, function(v) return string.format("%.4f", v) end),
            fmt(r.accuracy_delta, function(v) return string.format("%+.4f", v) end),
            r.status,
        }
    end
    local width = {}
    for _, l in ipairs(lines) do
        for i, cell in ipairs(l) do
            width[i] = math.max(width[i] or 0, utf8.len(cell) or #cell)
        end
    end
    local out = {}
    for _, l in ipairs(lines) do
        local cells = {}
        for i, cell in ipairs(l) do
            -- the status is last and not padded: a failure's reason may be long
            cells[i] = i == #l and cell or cell .. string.rep(" ", width[i] - (utf8.len(cell) or #cell))
        end
        out[#out + 1] = table.concat(cells, "  ")
    end
    return table.concat(out, "\n")
end

-- ---- the files ----------------------------------------------------------------------------------

-- A CSV field: integers as they are, other numbers to 10 significant digits (as
-- sweep.json keeps them, so a resumed sweep writes its kept rows the same), text quoted
-- when it holds a comma, a quote or a line break; nothing for nil.
local function csv_field(v)
    if v == nil then
        return ""
    elseif type(v) == "number" then
        return math.type(v) == "integer" and tostring(v) or string.format("%.10g", v)
    end
    v = tostring(v)
    if v:find('[,"\r\n]') then
        return '"' .. v:gsub('"', '""') .. '"'
    end
    return v
end

-- report.csv(rows): the text of sweep.csv: a header of report.COLUMNS, then a line per
-- row. Cannot fail.
function report.csv(rows)
    local out = { table.concat(report.COLUMNS, ",") }
    for _, r in ipairs(rows) do
        local cells = {}
        for i, c in ipairs(report.COLUMNS) do
            cells[i] = csv_field(r[c])
        end
        out[#out + 1] = table.concat(cells, ",")
    end
    return table.concat(out, "\n") .. "\n"
end

-- Bars drawn with plot_png's lines: each value as the outline of a bar of width w centred
-- at x + offset (a NaN between bars breaks the line).
local function bars(rows, field, base, offset, w)
    local x, y = {}, {}
    for _, r in ipairs(rows) do
        local v = r[field]
        if v and base then
            local h = 100 * v / base[field]
            local left, right = r.index + offset - w / 2, r.index + offset + w / 2
            for _, p in ipairs { { left, 0 }, { left, h }, { right, h }, { right, 0 },
                { 0 / 0, 0 / 0 } } do
                x[#x + 1], y[#y + 1] = p[1], p[2]
            end
        end
    end
    return x, y
end

-- report.plot(path, name, rows): sweep.png: per variant (x: its index) bars of the
-- planned and the measured peak memory and of samples/s, each in percent of the first
-- "ok" variant's that has it (named in the title, or in a legend entry where it differs).
-- Returns true, or nil and why there is nothing to draw; raises "path: reason" when the
-- file cannot be written.
function report.plot(path, name, rows)
    local series, first = {}, nil
    local kinds = {
        { "planned_total", "planned memory", 0x1f77b4, -0.27 },
        { "measured_peak", "measured peak", 0xff7f0e, 0 },
        { "samples_per_s", "samples/s", 0x2ca02c, 0.27 },
    }
    for _, k in ipairs(kinds) do
        local base = report.baseline(rows, k[1])
        local x, y = bars(rows, k[1], base, k[4], 0.25)
        if #x > 0 then
            first = first or base.index
            series[#series + 1] = { label = k[2] .. (base.index ~= first and
                string.format(" (%% of %d)", base.index) or ""), x = x, y = y, color = k[3] }
        end
    end
    if #series == 0 then
        return nil, "no variant has a number to draw"
    end
    -- two lone points (not drawn) keep the first and last bars off the plot's edges
    series[#series + 1] = { x = { 0.4, 0 / 0, #rows + 0.6 }, y = { 0, 0 / 0, 0 },
        color = 0xffffff }
    core.plot_png(path, { title = string.format("sweep %s: %% of variant %d", name, first),
        x_label = "variant", width = 800, height = 450, series = series })
    return true
end

-- Writes text to path whole; raises "path: reason".
local function write(path, text)
    local ok, err = core.write_atomic(path, text)
    if not ok then
        error(err, 0)
    end
end

-- report.write(folder, state): sweep.json (state: the sweep, its variants and
-- rows), sweep.csv and sweep.png in folder, each written whole. Returns the note why
-- sweep.png was not drawn, or nil. Raises "path: reason" when a file cannot be written.
function report.write(folder, state)
    report.compare(state.rows)
    write(folder .. "/sweep.json", core.json_encode(state) .. "\n")
    write(folder .. "/sweep.csv", report.csv(state.rows))
    local ok, why = report.plot(folder .. "/sweep.png", state.name, state.rows)
    return not ok and "sweep.png not drawn: " .. why or nil
end

return report
