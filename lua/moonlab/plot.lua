--- `moonlab plot FILE.h5 -o OUT.png|svg|pdf`: pictures of a result file, drawn by gnuplot.
--- A study file gives up to three panels, chosen from what it holds:
---   capacity  training and validation (and test) metric (mean ± std over folds and seeds)
---             against a swept parameter, the selected setting marked;
---   folds     the validation metric of every fold at each setting, and their mean (when some
---             setting has more than one trial);
---   curves    learning curves: training and validation metric per epoch, mean over folds and
---             seeds, one colour per setting (when the histories have the metric). A column only
---             the histories have (a per-layer norm) or a vector each trial recorded goes here
---             alone, against the history's counter or the vector's entry number.
--- A run file gives one panel per run with its history curves. Data goes to gnuplot through
--- files in a temporary directory; every name from the result file is written as a gnuplot
--- single-quoted string (no expansion of any kind) with control characters removed, and no
--- name ever reaches a shell.
local core = require "moonlab.core"
local rfile = require "moonlab.rfile"

local plot = {}

plot.USAGE = [[
usage: moonlab plot FILE.h5 -o OUT.png|OUT.svg|OUT.pdf [--x PARAM] [--metric NAME] [--kind KIND]

  FILE.h5        a result file of moonlab run (a study file or a run file)
  -o, --out OUT  the picture; its extension chooses PNG, SVG or PDF
  --x PARAM      the swept parameter on the x axis (default: the numeric parameter with the
                 most values, three at least; else the parameter with the most values)
  --metric NAME  what to plot: loss, accuracy, ... (train_NAME and val_NAME are paired; default:
                 the metric the study selects on, or loss); a column of the trials' histories
                 or a vector they recorded (the curves); NAME,NAME,... several metrics
  --kind KIND    all (default), capacity, folds or curves (studies only)

Needs gnuplot: apt-get install gnuplot-nox]]

local fail = rfile.fail

-- ---- gnuplot text ----

--- A gnuplot single-quoted string: nothing inside is expanded (no backquotes, no escapes);
--- a quote is doubled; control characters, which would end the command, become spaces.
local function q(s)
  s = tostring(s):gsub("%c", " ")
  return "'" .. s:gsub("'", "''") .. "'"
end
plot.gp_string = q

-- Shell single quotes, for the paths of our own temporary files and of gnuplot.
local function shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Long names (a parameter value can be any text) are cut for tics, keys and labels.
local function short(s, n)
  s = tostring(s)
  n = n or 30
  if utf8.len(s) and utf8.len(s) > n then return s:sub(1, utf8.offset(s, n)) .. "…" end
  if not utf8.len(s) and #s > n then return s:sub(1, n) .. "…" end
  return s
end

local function cell(v)
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then return "?" end
  if math.type(v) == "integer" then return tostring(v) end
  return string.format("%.17g", v)
end

--- The first executable `gnuplot` on PATH (or $MOONLAB_GNUPLOT), or nil.
function plot.find_gnuplot()
  local forced = os.getenv("MOONLAB_GNUPLOT")
  if forced and forced ~= "" then return forced end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local p = dir .. "/gnuplot"
    local f = io.open(p, "r")
    if f then
      f:close()
      return p
    end
  end
  return nil
end

-- ---- a gnuplot script with its data files ----

local Script = {}
Script.__index = Script

local function new_script(dir)
  return setmetatable({ dir = dir, lines = {}, files = {} }, Script)
end

function Script:add(fmt, ...)
  self.lines[#self.lines + 1] = select("#", ...) > 0 and string.format(fmt, ...) or fmt
end

--- A data file of rows (lists of numbers; blank-line separated blocks when a row is false);
--- returns its name as a gnuplot string.
function Script:data(rows)
  local name = string.format("%s/d%d.dat", self.dir, #self.files + 1)
  local f = assert(io.open(name, "w"))
  for _, r in ipairs(rows) do
    if r then
      local cells = {}
      for i, v in ipairs(r) do cells[i] = cell(v) end
      f:write(table.concat(cells, "\t"), "\n")
    else
      f:write("\n")
    end
  end
  f:close()
  self.files[#self.files + 1] = name
  return q(name)
end

-- ---- what to plot ----

local VAL_PREFIXES = { "val_", "validation_", "valid_", "test_" }

-- The metric base of a name ("val_loss" -> "loss").
local function base_of(name)
  for _, p in ipairs(VAL_PREFIXES) do
    if name:sub(1, #p) == p and #name > #p then return name:sub(#p + 1) end
  end
  if name:sub(1, 6) == "train_" and #name > 6 then return name:sub(7) end
  return name
end
plot.base_of = base_of

-- Training and validation names for base m among the names in `have` (a set); the training
-- one falls back to m itself (fit's running loss), each may be nil.
local function pair(m, have)
  local train = have["train_" .. m] and "train_" .. m or (have[m] and m or nil)
  local val
  for _, p in ipairs(VAL_PREFIXES) do
    if have[p .. m] then val = p .. m break end
  end
  return train, val
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- Log scale when every value is positive and they span more than a factor of 30.
local function wants_log(values)
  local lo, hi
  for _, v in ipairs(values) do
    if finite(v) then
      if v <= 0 then return false end
      lo = lo and math.min(lo, v) or v
      hi = hi and math.max(hi, v) or v
    end
  end
  return lo ~= nil and hi / lo > 30
end

-- The y axis for these values: a log axis when wants_log says so, over very many decades (a
-- gradient that vanishes or explodes through 30 layers) without minor tics, which would crowd
-- into black bars; a few percent around a single value (gnuplot warns of an empty range).
-- Returns whether the axis is logarithmic.
local function log_y(sc, values)
  local lo, hi
  for _, v in ipairs(values) do
    if finite(v) then lo, hi = math.min(lo or v, v), math.max(hi or v, v) end
  end
  if lo and lo == hi then
    local d = lo ~= 0 and math.abs(lo) * 0.05 or 0.05
    sc:add("set yrange [%s:%s]", cell(lo - d), cell(hi + d))
    return false
  end
  if not wants_log(values) then return false end
  sc:add("set logscale y")
  sc:add("set format y '%g'") -- 1e-06, not 0.00000100
  if math.log(hi / lo, 10) > 24 then sc:add("unset mytics") end
  return true
end

local COLORS = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
  "#17becf", "#7f7f7f", "#bcbd22" }
local function color(i) return COLORS[(i - 1) % #COLORS + 1] end

local TRAIN_COLOR, VAL_COLOR, TEST_COLOR = "#1f77b4", "#d62728", "#2ca02c"

-- ---- studies ----

-- Everything the study panels need, from the file.
local function study_data(f, o)
  local s = f:study()
  local agg = s.agg
  local a = f.attrs
  local have = set_of(s.metrics)
  -- several metrics side by side (before and after a correction): the capacity panel alone
  local list
  if o.metric and o.metric:find(",", 1, true) then
    list = {}
    for name in o.metric:gmatch("[^,%s]+") do
      if not have[name] then
        fail("%s: --metric %s: the study has no metric '%s' (metrics: %s)", f.path, o.metric, name,
          #s.metrics > 0 and table.concat(s.metrics, ", ") or "none")
      end
      list[#list + 1] = name
    end
  end
  local m = list and table.concat(list, ", ") or o.metric and base_of(o.metric)
    or (a.select_metric and base_of(a.select_metric))
    or (s.metrics[1] and base_of(s.metrics[1])) or "loss"
  local train, val
  if not list then train, val = pair(m, have) end
  -- a test metric beside the validation one is drawn too (in the capacity panel)
  local test = val and val ~= "test_" .. m and have["test_" .. m] and "test_" .. m or nil
  local trials = f:trials()
  local history_only, vector = false, nil
  if not train and not val and o.metric and not list then
    -- a column of the trials' histories only (a curve per layer or per step), or a vector
    -- the trials recorded with run:param: the curves panel alone draws it
    local columns = {}
    for _, t in ipairs(trials) do
      for _, name in ipairs(t.history and t.history.names or {}) do
        if t.history.types[name] ~= "string" then columns[name] = true end
      end
    end
    local htrain, hval = pair(m, columns)
    history_only = (htrain or hval) and true or false
    if not history_only then
      for _, t in ipairs(trials) do
        if f:trial_vector(t.id, o.metric) then
          history_only, vector, m = true, o.metric, o.metric
          break
        end
      end
    end
  end
  if not train and not val and not history_only and not list then
    fail("%s: the study has no metric '%s' (%s)", f.path, m,
      #s.metrics > 0 and "metrics: " .. table.concat(s.metrics, ", ") or "no metrics at all: no trial finished")
  end
  -- the swept parameter: --x, else the numeric one with the most distinct values (three at
  -- least: two numbers, clipping 0 / 1 or directions 1 / 2, are a pair of cases, and a string
  -- parameter with more values makes the better axis), else the one with the most values
  local distinct = {}
  for _, p in ipairs(s.params) do
    local seen, n = {}, 0
    for row = 1, agg.n do
      local v = agg.cols[p][row]
      if not seen[v] then seen[v] = true n = n + 1 end
    end
    distinct[p] = n
  end
  local x
  if o.x then
    if not agg.types[o.x] or not distinct[o.x] then
      fail("%s: --x %s: not a parameter of the study (parameters: %s)", f.path, o.x,
        #s.params > 0 and table.concat(s.params, ", ") or "none")
    end
    x = o.x
  else
    for _, p in ipairs(s.params) do
      if agg.types[p] ~= "string" and distinct[p] > 2 and (not x or distinct[p] > distinct[x]) then x = p end
    end
    if not x then
      for _, p in ipairs(s.params) do
        if distinct[p] > 1 and (not x or distinct[p] > distinct[x]) then x = p end
      end
    end
  end
  return { f = f, s = s, agg = agg, m = m, train = train, val = val, test = test, x = x, trials = trials,
    history_only = history_only, vector = vector, list = list, numeric_x = x and agg.types[x] ~= "string", distinct = distinct }
end

-- The other varying parameters of a row, as text ("lr=0.1"); "" when x is the only one.
local function group_of(d, cols, row)
  local parts = {}
  for _, p in ipairs(d.s.params) do
    if p ~= d.x and d.distinct[p] > 1 and cols[p] then
      parts[#parts + 1] = p .. "=" .. rfile.value_text(cols[p][row])
    end
  end
  return table.concat(parts, ", ")
end

-- Every varying parameter of a row, as text ("degree=3, lr=0.1").
local function group_label(d, cols, row)
  local parts = {}
  for _, p in ipairs(d.s.params) do
    if d.distinct[p] > 1 and cols[p] then parts[#parts + 1] = p .. "=" .. rfile.value_text(cols[p][row]) end
  end
  return table.concat(parts, ", ")
end

-- Whether an aggregate row has a value of the plotted metric (a setting whose trials all
-- failed, or that does not report this metric, gets no place on the x axis).
local function has_value(d, row)
  local function at(name)
    local col = name and d.agg.cols[name .. "_mean"]
    return col and finite(col[row])
  end
  for _, name in ipairs(d.list or {}) do
    if at(name) then return true end
  end
  return at(d.train) or at(d.val) or at(d.test) or false
end

-- x positions: the values themselves for a numeric parameter, 1..k in order of appearance
-- for a string one (with their names as tic labels); settings without a value are left out.
local function x_positions(d)
  local pos, labels = {}, {}
  if not d.x then return pos, labels end
  if d.numeric_x then
    for row = 1, d.agg.n do
      if has_value(d, row) then pos[d.agg.cols[d.x][row]] = d.agg.cols[d.x][row] end
    end
  else
    local k = 0
    for row = 1, d.agg.n do
      local v = d.agg.cols[d.x][row]
      if not pos[v] and has_value(d, row) then
        k = k + 1
        pos[v] = k
        labels[#labels + 1] = { v, k }
      end
    end
  end
  return pos, labels
end

-- The x axis of a panel over the settings: tic labels and a half-step margin for a string
-- parameter, a small margin for a numeric one; a little room above and below the data.
local function set_x_axis(sc, d, labels)
  if #labels > 0 then
    local parts = {}
    for _, l in ipairs(labels) do parts[#parts + 1] = q(short(l[1], 20)) .. " " .. l[2] end
    sc:add("set xtics (%s)", table.concat(parts, ", "))
    sc:add("set xrange [0.5:%d.5]", #labels)
    sc:add("set offsets 0, 0, graph 0.05, graph 0.05")
  else
    -- an integer parameter gets a tic at each of its values, not at fractions between them
    if d.agg.types[d.x] == "int" then
      local vals, seen = {}, {}
      for row = 1, d.agg.n do
        local v = d.agg.cols[d.x][row]
        if not seen[v] and has_value(d, row) then seen[v] = true vals[#vals + 1] = v end
      end
      if #vals <= 25 then
        table.sort(vals)
        for i, v in ipairs(vals) do vals[i] = tostring(v) end
        sc:add("set xtics (%s)", table.concat(vals, ", "))
      end
    end
    sc:add("set offsets graph 0.06, graph 0.06, graph 0.05, graph 0.05")
  end
end

-- The key of a panel `width` pixels wide with these titles: in the frame's top `corner`
-- ("right" or "left") when the caller found it free of data; else beside the frame, or under
-- it when the names would take more than a quarter of the width (about 7 pixels a character,
-- and the line sample), never over the data.
local function place_key(sc, titles, width, corner)
  local longest = 0
  for _, t in ipairs(titles) do longest = math.max(longest, utf8.len(t) or #t) end
  if corner then
    sc:add("set key top %s opaque", corner) -- over the grid and the selected setting's line
  elseif (longest + 8) * 7 > width / 4 then
    sc:add("set key outside below center horizontal")
  else
    sc:add("set key outside right top")
  end
end

-- A top corner of the frame where a key with these titles covers none of the points
-- ({x, y} in data units, lines sampled between them), or nil. The frame's y range is guessed
-- as the data's with gnuplot's 5 % offsets; a frame of a panel `width` pixels wide is about
-- 110 pixels narrower, and about 380 high.
local function free_corner(points, titles, width, xlo, xhi, log)
  if #titles > 3 or #points == 0 then return nil end
  local function fy(v) return log and math.log(v, 10) or v end
  local ylo, yhi
  for _, p in ipairs(points) do
    local y = fy(p[2])
    if finite(y) then ylo, yhi = math.min(ylo or y, y), math.max(yhi or y, y) end
  end
  if not ylo then return nil end
  local span = yhi > ylo and yhi - ylo or 1
  ylo, yhi = ylo - 0.05 * span, yhi + 0.05 * span
  local longest = 0
  for _, t in ipairs(titles) do longest = math.max(longest, utf8.len(t) or #t) end
  local kw = (longest + 14) * 7 / math.max(width - 110, 100) -- the names, the sample, the box
  local kh = (#titles * 17 + 30) / 380 -- and a margin: close to the key is too close
  for _, corner in ipairs({ "right", "left" }) do
    local free = true
    for _, p in ipairs(points) do
      local x, y = (p[1] - xlo) / (xhi - xlo), (fy(p[2]) - ylo) / (yhi - ylo)
      local inx = corner == "right" and x > 1 - kw or corner == "left" and x < kw
      if inx and y > 1 - kh then free = false break end
    end
    if free then return corner end
  end
  return nil
end

local function reset_panel(sc)
  sc:add("unset logscale; unset arrow; unset label; unset xtics; unset ytics; unset colorbox; set format y; set mytics default")
  sc:add("set cbtics autofreq; unset xrange; set xrange [*:*]")
  sc:add("set xtics; set ytics; set autoscale; set offsets 0, 0, 0, 0; set key default; set key noautotitle")
  sc:add("set grid lc rgb '#dddddd' lt 1")
end

-- What a setting's trials spread over, for titles: "5 folds", "3 seeds", "5 folds and 3 seeds",
-- or nil when each setting has one trial.
local function spread_of(d)
  local sm = d.s.summary
  local folds, seeds, nf, ns = {}, {}, 0, 0
  for i = 1, sm and sm.n or 0 do
    local f, s = sm.cols.fold and sm.cols.fold[i], sm.cols.seed and sm.cols.seed[i]
    if f ~= nil and not folds[f] then folds[f], nf = true, nf + 1 end
    if s ~= nil and not seeds[s] then seeds[s], ns = true, ns + 1 end
  end
  local parts = {}
  if nf > 1 then parts[#parts + 1] = nf .. " folds" end
  if ns > 1 then parts[#parts + 1] = ns .. " seeds" end
  return #parts > 0 and table.concat(parts, " and ") or nil
end

-- error vs capacity: mean ± std of the training and validation metric per setting
local function capacity_panel(sc, d, width)
  local agg, pos, labels = d.agg, x_positions(d)
  reset_panel(sc)
  set_x_axis(sc, d, labels)
  local groups, order = {}, {}
  local values = {}
  local points = {} -- what the key must not cover: the error bars' ends
  for row = 1, agg.n do
    local g = group_of(d, agg.cols, row)
    local x = pos[agg.cols[d.x][row]]
    if x then
      if not groups[g] then groups[g] = {} order[#order + 1] = g end
      local r = { x }
      for _, name in ipairs(d.list or { d.train or false, d.val or false, d.test or false }) do
        if name then
          local mean = agg.cols[name .. "_mean"][row]
          local std = agg.cols[name .. "_std"][row]
          std = finite(std) and std or 0
          r[#r + 1] = mean
          r[#r + 1] = std
          values[#values + 1] = mean
          points[#points + 1] = { x, mean + std }
          points[#points + 1] = { x, mean - std > 0 and mean - std or mean }
        end
      end
      groups[g][#groups[g] + 1] = r
    end
  end
  local log = log_y(sc, values)
  local over = spread_of(d)
  sc:add("set title %s", q(string.format("%s against %s%s", d.m, d.x,
    over and " (mean ± std over " .. over .. ")" or "")))
  sc:add("set xlabel %s", q(d.x))
  sc:add("set ylabel %s", q(d.m))
  -- the x range as drawn (set_x_axis): half a step beyond named settings, 6 % beyond numbers
  local lo, hi
  for _, v in pairs(pos) do lo, hi = math.min(lo or v, v), math.max(hi or v, v) end
  local xlo, xhi = 0.5, #labels + 0.5
  if #labels == 0 then
    local span = hi > lo and hi - lo or 1
    xlo, xhi = lo - 0.06 * span, hi + 0.06 * span
  end
  if d.s.selected and pos[agg.cols[d.x][d.s.selected]] then
    local xs = pos[agg.cols[d.x][d.s.selected]]
    sc:add("set arrow from %s, graph 0 to %s, graph 1 nohead dt 3 lc rgb '#555555'", cell(xs), cell(xs))
    -- the label goes beside the line, on the side with more room; when it would run past the
    -- frame on both sides it stands upright along the line
    local text = "selected: " .. short(group_label(d, agg.cols, d.s.selected), 40)
    -- characters across the frame: an 11-point character is about 7 pixels wide, and the y
    -- tics and label take about 110 pixels of the panel
    local across = math.max(width - 110, 100) / 7
    local left = (xs - xlo) / (xhi - xlo) * across
    local right = (xhi - xs) / (xhi - xlo) * across
    local need = (utf8.len(text) or #text) + 2
    local place
    if math.max(left, right) >= need then
      place = right >= left and "left offset 0.5, 0" or "right offset -0.5, 0"
    else
      place = right >= 3 and "left rotate by 90 offset 1.5, 0" or "left rotate by 90 offset -0.5, 0"
    end
    sc:add("set label %s at %s, graph 0.04 %s textcolor rgb '#555555'", q(text), cell(xs), place)
  end
  -- lines join numeric settings only; between named ones they would mean nothing
  local style = d.numeric_x and "yerrorlines" or "yerrorbars"
  local plots, titles = {}, {}
  for gi, g in ipairs(order) do
    table.sort(groups[g], function(a, b) return a[1] < b[1] end)
    if d.numeric_x then
      -- the lines between settings: a few points along each segment
      local rows = groups[g]
      for i = 2, #rows do
        for c = 2, #rows[i], 2 do
          local y0, y1 = rows[i - 1][c], rows[i][c]
          for _, f in ipairs({ 0.25, 0.5, 0.75 }) do
            points[#points + 1] = { rows[i - 1][1] + f * (rows[i][1] - rows[i - 1][1]), y0 + f * (y1 - y0) }
          end
        end
      end
    end
    local file = sc:data(groups[g])
    local suffix = g ~= "" and " (" .. short(g, 30) .. ")" or ""
    -- one colour per metric; with several groups one colour per group, the metric by the dashes
    local c = 2
    local all = { { d.train, 7, TRAIN_COLOR, " dt 2" }, { d.val, 5, VAL_COLOR, "" },
      { d.test, 9, TEST_COLOR, " dt 4" } }
    if d.list then
      all = {}
      for i, name in ipairs(d.list) do all[i] = { name, 5 + 2 * ((i - 1) % 4), color(i), "" } end
    end
    local nseries = 0
    for _, series in ipairs(all) do
      if series[1] then nseries = nseries + 1 end
    end
    for _, series in ipairs(all) do
      local name, pt, rgb, dash = table.unpack(series)
      if name then
        titles[#titles + 1] = name .. suffix
        local lc = #order > 1 and string.format("lc rgb '%s'%s", color(gi), dash)
          or string.format("lc rgb '%s'", rgb)
        -- beside named settings the series stand apart, so that equal values stay visible
        local k, n, xcol = #titles, #order * nseries, "1"
        if not d.numeric_x and n > 1 then
          xcol = string.format("($1%+.4f)", (k - (n + 1) / 2) * math.min(0.5 / n, 0.12))
        end
        plots[#plots + 1] = string.format("%s using %s:%d:%d with %s lw 2 pt %d ps 0.8 %s title %s",
          file, xcol, c, c + 1, style, pt, lc, q(titles[#titles]))
        c = c + 2
      end
    end
  end
  place_key(sc, titles, width, free_corner(points, titles, width, xlo, xhi, log))
  sc:add("plot " .. table.concat(plots, ", \\\n     "))
end


-- The rows of the summary (and aggregates) in the selected setting's group: when other
-- parameters vary besides x, the folds and curves panels show the selected group only.
local function selected_group(d)
  if not d.s.selected then return nil end
  local g = group_of(d, d.agg.cols, d.s.selected)
  return g ~= "" and g or nil
end

-- K-fold spread: the validation metric of every finished trial, one colour per fold, at its
-- setting's x (spread a little so that folds do not hide each other), and the mean per setting.
local function folds_panel(sc, d)
  local sm = d.s.summary
  local metric = d.val or d.train
  local col = sm.cols[metric] or sm.cols["metric." .. metric]
  local pos, labels = x_positions(d)
  local group = selected_group(d)
  reset_panel(sc)
  set_x_axis(sc, d, labels)
  -- distinct x positions, for the spread between folds
  local xs = {}
  for _, v in pairs(pos) do xs[#xs + 1] = v end
  table.sort(xs)
  local gap = 1
  for i = 2, #xs do
    if xs[i] - xs[i - 1] > 0 then gap = math.min(i == 2 and math.huge or gap, xs[i] - xs[i - 1]) end
  end
  if gap == math.huge then gap = 1 end
  local by_fold, folds, values = {}, {}, {}
  local nfolds = 0
  for i = 1, sm.n do
    local fold = sm.cols.fold and sm.cols.fold[i] or 0
    nfolds = math.max(nfolds, fold)
  end
  for i = 1, sm.n do
    local ok = (not sm.cols.status or sm.cols.status[i] == "done")
      and (not group or group_of(d, sm.cols, i) == group)
    local v = col[i]
    local x = 1
    if d.x then x = pos[sm.cols[d.x][i]] end
    if ok and finite(v) and x then
      local fold = sm.cols.fold and sm.cols.fold[i] or 0
      local shift = nfolds > 1 and (fold - (nfolds + 1) / 2) / (nfolds - 1) * 0.3 * gap or 0
      if not by_fold[fold] then by_fold[fold] = {} folds[#folds + 1] = fold end
      by_fold[fold][#by_fold[fold] + 1] = { x + shift, v }
      values[#values + 1] = v
    end
  end
  table.sort(folds)
  log_y(sc, values)
  local what = nfolds > 0 and "each fold" or "each trial"
  sc:add("set title %s", q(string.format("%s of %s%s", metric, what, group and " (" .. group .. ")" or "")))
  sc:add("set xlabel %s", q(d.x or "setting"))
  sc:add("set ylabel %s", q(metric))
  sc:add("set key outside right top")
  local plots = {}
  -- the mean over folds, from the aggregates
  local mean_rows = {}
  for row = 1, d.agg.n do
    local x = 1
    if d.x then x = pos[d.agg.cols[d.x][row]] end
    if x and (not group or group_of(d, d.agg.cols, row) == group) then
      mean_rows[#mean_rows + 1] = { x, d.agg.cols[metric .. "_mean"][row] }
    end
  end
  table.sort(mean_rows, function(a, b) return a[1] < b[1] end)
  plots[#plots + 1] = string.format("%s using 1:2 with %s lc rgb '#444444' title 'mean'",
    sc:data(mean_rows), d.numeric_x and "lines lw 2" or "points pt 2 ps 2.5 lw 2")
  for k, fold in ipairs(folds) do
    plots[#plots + 1] = string.format("%s using 1:2 with points pt 7 ps 0.9 lc rgb '%s' title %s",
      sc:data(by_fold[fold]), color(k), q(fold > 0 and "fold " .. fold or "trials"))
  end
  sc:add("plot " .. table.concat(plots, ", \\\n     "))
  return #values
end

-- The column a history is plotted against: the epoch, else another counter the script logged
-- (a per-layer or per-step history), else nil (the row number).
local INDEX_COLUMNS = { "epoch", "step", "iteration", "layer", "distance", "t", "entry" }
local function index_column(h)
  if h.index then return h.index end
  for _, name in ipairs(INDEX_COLUMNS) do
    if h.cols[name] and h.types[name] ~= "string" then return name end
  end
  return nil
end

-- The learning curves of a study: one entry per setting with its (x, training, validation)
-- rows, or nil when no finished trial's history has the metric (or its training twin). When
-- other parameters vary besides x and there are more settings than colours, the selected
-- setting's group only.
local function curves_data(d)
  local all, order = {}, {}
  local ntrain, nval, xcol
  for _, t in ipairs(d.trials) do
    local h = t.history
    local tr, va
    if d.vector then
      -- a recorded vector: entry i against i, the axis named by its index attribute
      local v, index
      if t.attrs.status == "done" then v, index = d.f:trial_vector(t.id, d.vector) end
      if v then
        local ix = index ~= d.vector and index or "entry"
        h = { n = #v, index = ix, cols = { [ix] = {}, [d.vector] = v },
          types = { [ix] = "int", [d.vector] = "float" } }
        for i = 1, #v do h.cols[ix][i] = i end
        tr = d.vector
      end
    elseif h then
      tr, va = pair(d.m, h.types)
    end
    if t.attrs.status == "done" and h and h.n > 0 and t.params and (tr or va) then
      local label_parts, gparts = {}, {}
      for _, p in ipairs(d.s.params) do
        if d.distinct[p] > 1 then
          local v = rfile.value_text(t.params[p])
          label_parts[#label_parts + 1] = p .. "=" .. v
          if p ~= d.x then gparts[#gparts + 1] = p .. "=" .. v end
        end
      end
      local label = table.concat(label_parts, ", ")
      local st = all[label]
      if not st then
        st = { label = label, group = table.concat(gparts, ", "), rows = {}, x = d.x and t.params[d.x] }
        all[label] = st
        order[#order + 1] = st
      end
      ntrain, nval = ntrain or tr, nval or va
      local ix = index_column(h)
      xcol = xcol or ix
      local xs = ix and h.cols[ix]
      for i = 1, h.n do
        st.rows[#st.rows + 1] = { xs and xs[i] or i, tr and h.cols[tr][i] or 0 / 0, va and h.cols[va][i] or 0 / 0 }
      end
    end
  end
  if #order == 0 then return nil end
  local group = selected_group(d)
  if group and #order > #COLORS then
    local kept = {}
    for _, st in ipairs(order) do
      if st.group == group then kept[#kept + 1] = st end
    end
    order = kept
  else
    group = nil
  end
  table.sort(order, function(a, b)
    if type(a.x) == "number" and type(b.x) == "number" and a.x ~= b.x then return a.x < b.x end
    return a.label < b.label
  end)
  return { order = order, group = group, ntrain = ntrain, nval = nval, xcol = xcol }
end

-- What the curves panel shows: "learning curves" (training and validation per epoch), else
-- the one series (a validation metric alone names itself) against the history's counter.
local function curves_what(d, cv)
  local both = cv.ntrain and cv.nval
  if cv.xcol == "epoch" and both then return "learning curves" end
  return string.format("%s against %s", both and d.m or cv.ntrain or cv.nval, cv.xcol or "row")
end

-- Learning curves: per setting, the training (dashed) and validation (solid) metric per
-- epoch, averaged over folds and seeds by gnuplot (smooth unique: the mean of the points that
-- share an epoch). A history with one of the two draws it solid.
local function curves_panel(sc, d, cv, width)
  local order, group, ntrain, nval = cv.order, cv.group, cv.ntrain, cv.nval
  local values, max_x = {}, 0
  for _, st in ipairs(order) do
    for _, r in ipairs(st.rows) do
      if r[1] > max_x then max_x = r[1] end
      values[#values + 1] = r[2]
      values[#values + 1] = r[3]
    end
  end
  reset_panel(sc)
  sc:add("set autoscale yfix")
  log_y(sc, values)
  sc:add("set offsets 0, 0, graph 0.04, graph 0.04")
  local what = curves_what(d, cv)
  local over = spread_of(d)
  sc:add("set title %s", q(string.format("%s%s%s", what, over and ", mean over " .. over or "",
    group and " (" .. group .. ")" or "")))
  sc:add("set xlabel %s", q(cv.xcol or "row"))
  if max_x < 10 then sc:add("set xtics 1") end
  sc:add("set ylabel %s", q(d.m))
  -- a numeric swept parameter alone gets a colour scale; anything else one colour per setting
  local palette = d.numeric_x and not selected_group(d) and #order > 1
  for _, st in ipairs(order) do
    if palette and type(st.x) ~= "number" then palette = false end
  end
  -- fit's own running metric (no prefix) is measured during the epoch, as the run panels say
  local both = ntrain and nval
  local train_title = ntrain and (ntrain == d.m and ntrain .. " (during training)" or ntrain)
  local titles = both and { nval, train_title } or {}
  for _, st in ipairs(palette and {} or order) do titles[#titles + 1] = short(st.label, 40) end
  place_key(sc, titles, width, nil)
  local plots = {}
  local cb = {} -- a setting's place on the colour scale
  if palette then
    -- a few values go by rank, evenly spread on the scale (0, 1, 3, 10 would otherwise leave
    -- three of four in the same blue); many go by value
    local vals, seen = {}, {}
    for _, st in ipairs(order) do
      if not seen[st.x] then seen[st.x] = true vals[#vals + 1] = st.x end
    end
    sc:add("set palette defined (0 '#2c3e91', 0.35 '#1f8fb3', 0.65 '#3aa35b', 1 '#e08214')")
    sc:add("set cblabel %s", q(d.x))
    if #vals <= 12 then
      local tics = {}
      for i, v in ipairs(vals) do
        seen[v] = i
        tics[i] = q(rfile.value_text(v)) .. " " .. i
      end
      for _, st in ipairs(order) do cb[st] = seen[st.x] end
      sc:add("set cbrange [1:%d]", math.max(#vals, 2))
      sc:add("set cbtics (%s)", table.concat(tics, ", "))
    else
      for _, st in ipairs(order) do cb[st] = st.x end
      sc:add("set cbrange [%s:%s]", cell(vals[1]), cell(vals[#vals]))
    end
    sc:add("set colorbox vertical user origin graph 1.04, graph 0 size character 1.5, graph 0.55")
  end
  for i, st in ipairs(order) do
    local file = sc:data(st.rows)
    local lc = palette and string.format("lc palette cb %s", cell(cb[st]))
      or string.format("lc rgb '%s'", color(i))
    local title = palette and "notitle"
      or "title " .. q(st.label ~= "" and short(st.label, 40) or "all trials")
    if ntrain then
      plots[#plots + 1] = string.format("%s using 1:2 smooth unique with lines %s %s %s", file,
        both and "lw 1.5 dt 2" or "lw 2", lc, both and "notitle" or title)
    end
    if nval then
      plots[#plots + 1] = string.format("%s using 1:3 smooth unique with lines lw 2 %s %s", file, lc, title)
    end
  end
  if both then
    plots[#plots + 1] = "NaN with lines lw 2 lc rgb 'black' title " .. q(nval)
    plots[#plots + 1] = "NaN with lines lw 1.5 dt 2 lc rgb 'black' title " .. q(train_title)
  end
  sc:add("plot " .. table.concat(plots, ", \\\n     "))
  return #order
end

local function study_panels(f, o, sc)
  local d = study_data(f, o)
  local want = o.kind or "all"
  local panels = {}
  local function any_finite(values)
    for _, v in ipairs(values or {}) do
      if finite(v) then return true end
    end
    return false
  end
  if d.list and (want == "folds" or want == "curves") then
    fail("%s: --kind %s: a list of metrics is drawn against the swept parameter only (--kind capacity)",
      f.path, want)
  end
  if d.history_only and (want == "capacity" or want == "folds") then
    fail("%s: --kind %s: %s is %s, not a metric of the study; only the curves panel draws it",
      f.path, want, o.metric, d.vector and "a vector each trial recorded" or "a column of the trials' histories")
  end
  local metric = d.val or d.train
  local function can_capacity()
    for _, name in ipairs(d.list or { metric }) do
      if d.x and d.agg.n > 1 and any_finite(d.agg.cols[name .. "_mean"]) then return true end
    end
    return false
  end
  -- the fold panel shows a spread: by default only when some setting has two values or more
  local function can_folds(at_least)
    local sm = d.s.summary
    if not metric or not sm then return false end
    local col = sm.cols[metric] or sm.cols["metric." .. metric]
    local count = {}
    for i = 1, sm.n do
      if col and finite(col[i]) then
        local key = group_label(d, sm.cols, i)
        count[key] = (count[key] or 0) + 1
        if count[key] >= at_least then return true end
      end
    end
    return false
  end
  if (want == "all" or want == "capacity") and can_capacity() then
    panels[#panels + 1] = { draw = function(width) capacity_panel(sc, d, width) end,
      what = string.format("%s against %s", d.m, d.x) }
  elseif want == "capacity" then
    fail("%s: no swept parameter to plot against (parameters: %s)", f.path,
      #d.s.params > 0 and table.concat(d.s.params, ", ") or "none")
  end
  if not d.list and ((want == "all" and can_folds(2)) or (want == "folds" and can_folds(1))) then
    panels[#panels + 1] = { draw = function() folds_panel(sc, d) end,
      what = string.format("%s per fold", d.val or d.train) }
  elseif want == "folds" then
    fail("%s: the study summary has no value of %s", f.path, metric)
  end
  if not d.list and (want == "all" or want == "curves") then
    local cv = curves_data(d)
    if cv then
      panels[#panels + 1] = { draw = function(width) return curves_panel(sc, d, cv, width) end,
        what = curves_what(d, cv) }
    elseif want == "curves" then
      local any = false
      for _, t in ipairs(d.trials) do
        if t.history and t.history.n > 0 then any = true break end
      end
      fail("%s: %s", f.path, any and string.format("no trial history has a column %s, train_%s or val_%s",
        d.m, d.m, d.m) or "no trial histories under /study/trials")
    end
  end
  if #panels == 0 then fail("%s: nothing to plot in the study", f.path) end
  return panels, string.format("study %s", tostring(d.s.name or "?"))
end

-- A run file: one panel per run with the history columns of the metric.
local function run_panels(f, o, sc)
  local m = o.metric and base_of(o.metric) or "loss"
  local panels, seen_cols = {}, {}
  for _, r in ipairs(f:runs()) do
    local h = r.history
    if h and h.n > 0 then
      local series = {}
      for _, name in ipairs(h.names) do
        seen_cols[name] = true
        if (name == m or name:sub(-#m - 1) == "_" .. m) and h.types[name] ~= "string" then
          series[#series + 1] = name
        end
      end
      if #series > 0 then
        panels[#panels + 1] = { what = r.name, draw = function(width)
          reset_panel(sc)
          local rows, values, points = {}, {}, {}
          local ix = index_column(h)
          local ep = ix and h.cols[ix]
          for i = 1, h.n do
            local row = { ep and ep[i] or i }
            for k, name in ipairs(series) do
              row[k + 1] = h.cols[name][i]
              values[#values + 1] = row[k + 1]
              points[#points + 1] = { row[1], row[k + 1] }
            end
            rows[i] = row
          end
          local log = log_y(sc, values)
          sc:add("set title %s", q("run " .. r.name))
          sc:add("set xlabel %s", q(ix or "row"))
          sc:add("set ylabel %s", q(m))
          local titles = {}
          for k, name in ipairs(series) do
            titles[k] = name == m and name .. " (training, during the epoch)" or name
          end
          local xlo, xhi = rows[1][1], rows[#rows][1]
          if not (xhi > xlo) then xlo, xhi = xlo - 1, xlo + 1 end
          place_key(sc, titles, width, free_corner(points, titles, width, xlo, xhi, log))
          local file = sc:data(rows)
          local plots = {}
          for k in ipairs(series) do
            plots[k] = string.format("%s using 1:%d with lines lw 2 lc rgb '%s' title %s", file, k + 1,
              color(k), q(titles[k]))
          end
          sc:add("plot " .. table.concat(plots, ", \\\n     "))
        end }
      end
    end
  end
  if #panels == 0 then
    local cols = {}
    for c in pairs(seen_cols) do cols[#cols + 1] = c end
    table.sort(cols)
    fail("%s: no run has a history column '%s' or '*_%s'%s", f.path, m, m,
      #cols > 0 and " (columns: " .. table.concat(cols, ", ") .. ")" or "")
  end
  return panels, "runs"
end

-- ---- the picture ----

local TERMINALS = {
  png = function(w, h) return string.format("set terminal pngcairo size %d,%d noenhanced font ',11'", w, h) end,
  svg = function(w, h) return string.format("set terminal svg size %d,%d noenhanced dynamic font 'Sans,11'", w, h) end,
  pdf = function(w, h)
    return string.format("set terminal pdfcairo size %.2fin,%.2fin noenhanced font 'Sans,8'", w / 120, h / 120)
  end,
}

-- Panel places in the unit square: {x, y, w, h} per panel.
local function layout(n, study)
  if n == 1 then return { { 0, 0, 1, 0.95 } }, 900, 620 end
  if study then
    if n == 2 then return { { 0, 0, 0.5, 0.94 }, { 0.5, 0, 0.5, 0.94 } }, 1500, 580 end
    return { { 0, 0.5, 0.5, 0.47 }, { 0.5, 0.5, 0.5, 0.47 }, { 0, 0, 1, 0.5 } }, 1400, 1000
  end
  local cols = math.min(n, 3)
  local rows = math.ceil(n / cols)
  local out = {}
  local top = 0.94
  for i = 1, n do
    local c, r = (i - 1) % cols, (i - 1) // cols
    out[i] = { c / cols, top - (r + 1) * top / rows, 1 / cols, top / rows }
  end
  return out, 480 * cols, 380 * rows + 40
end

local function parse(args)
  local o = {}
  local i = 1
  local function value(flag)
    i = i + 1
    if args[i] == nil then error({ usage = flag .. " needs a value" }) end
    return args[i]
  end
  local ok, err = pcall(function()
    while i <= #args do
      local a = args[i]
      if a == "-o" or a == "--out" then o.out = value(a)
      elseif a == "--x" then o.x = value(a)
      elseif a == "--metric" then o.metric = value(a)
      elseif a == "--kind" then
        o.kind = value(a)
        if not ({ all = true, capacity = true, folds = true, curves = true })[o.kind] then
          error({ usage = "--kind " .. o.kind .. ": expected all, capacity, folds or curves" })
        end
      elseif a == "--help" or a == "-h" then o.help = true
      elseif a:sub(1, 1) == "-" and a ~= "-" then error({ usage = "unknown option " .. a })
      elseif o.file then error({ usage = "more than one file given: " .. o.file .. " and " .. a })
      else o.file = a end
      i = i + 1
    end
  end)
  if not ok then
    if type(err) == "table" then return nil, err.usage end
    error(err, 0)
  end
  if o.help then return o end
  if not o.file then return nil, "no result file given" end
  if not o.out then return nil, "no output given (-o OUT.png, OUT.svg or OUT.pdf)" end
  o.format = o.out:match("%.(%w+)$")
  o.format = o.format and o.format:lower()
  if not TERMINALS[o.format] then
    return nil, string.format("-o %s: the name must end in .png, .svg or .pdf", o.out)
  end
  return o
end

local function tmpdir()
  local p = io.popen('mktemp -d "${TMPDIR:-/tmp}/moonlab-plot.XXXXXX" 2>/dev/null')
  local d = p and p:read("l")
  if p then p:close() end
  if not d or d == "" then fail("cannot make a temporary directory") end
  return d
end

local function slurp(path)
  local f = io.open(path, "r")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Draws the picture; returns the panel descriptions.
local function draw(o, gnuplot)
  local f = rfile.open(o.file)
  local dir = tmpdir()
  local sc = new_script(dir)
  local tmp_out = (o.out:match("^(.*/)") or "") .. "." .. o.out:match("([^/]*)$") .. ".tmp-" .. core.pid()
  local ok, e = pcall(function()
    if not f.is_study and o.kind and o.kind ~= "all" then
      fail("%s: --kind %s is for study files; this is a run file", f.path, o.kind)
    end
    if not f.is_study and o.x then
      fail("%s: --x is for study files; this is a run file", f.path)
    end
    local probe, perr = io.open(tmp_out, "w")
    if not probe then fail("cannot write %s: %s", o.out, (tostring(perr):gsub("^.*: ", ""))) end
    probe:close()
    local panels, title
    if f.is_study then
      panels, title = study_panels(f, o, sc)
    else
      panels, title = run_panels(f, o, sc)
    end
    local places, w, h = layout(#panels, f.is_study)
    sc:add(TERMINALS[o.format](w, h))
    sc:add("set output %s", q(tmp_out))
    sc:add("set datafile missing '?'")
    sc:add("set datafile separator '\\t'")
    sc:add("set border lw 1")
    sc:add("set bars small")
    sc:add("set multiplot title %s", q(title .. ": " .. f.path))
    for i, p in ipairs(panels) do
      local pl = places[i]
      sc:add("set origin %.4f,%.4f", pl[1], pl[2])
      sc:add("set size %.4f,%.4f", pl[3], pl[4])
      p.draw(pl[3] * w)
    end
    sc:add("unset multiplot")
    sc:add("unset output")
    if o.script_only then return { script = table.concat(sc.lines, "\n") } end
    local script = dir .. "/plot.gp"
    local sf = assert(io.open(script, "w"))
    sf:write(table.concat(sc.lines, "\n"), "\n")
    sf:close()
    sc.files[#sc.files + 1] = script
    local errfile = dir .. "/gnuplot.err"
    sc.files[#sc.files + 1] = errfile
    local cmd = string.format("%s %s </dev/null >/dev/null 2>%s", shq(gnuplot), shq(script), shq(errfile))
    local okrun, how, code = os.execute(cmd)
    local msg = slurp(errfile)
    if not okrun then
      fail("gnuplot failed (%s %s)%s", tostring(how), tostring(code),
        msg ~= "" and ":\n" .. msg:gsub("%s+$", "") or "")
    end
    if msg:find("%S") then io.stderr:write("moonlab plot: gnuplot says:\n", msg) end
    local size = io.open(tmp_out, "rb")
    local n = size and size:seek("end") or 0
    if size then size:close() end
    if n == 0 then fail("gnuplot wrote nothing to %s", o.out) end
    local rok, rerr = os.rename(tmp_out, o.out)
    if not rok then fail("cannot write %s: %s", o.out, rerr) end
    local what = {}
    for i, p in ipairs(panels) do what[i] = p.what end
    return what
  end)
  os.remove(tmp_out)
  for _, file in ipairs(sc.files) do os.remove(file) end
  os.remove(dir)
  f:close()
  if not ok then error(e, 0) end
  return e
end

--- plot.script(args) -> the gnuplot script that `moonlab plot ARGS` runs, without running it
--- (its data files are removed): what the specs read. Raises {message =} for what main
--- reports as an error.
function plot.script(args)
  local o, err = parse(args)
  if not o then error({ message = err }, 0) end
  o.script_only = true
  return draw(o).script
end

--- plot.main(args) -> exit status (0; 1 for a file that cannot be plotted or no gnuplot; 2
--- for usage).
function plot.main(args)
  local o, err = parse(args)
  if not o then
    io.stderr:write("moonlab plot: ", err, "\n", plot.USAGE, "\n")
    return 2
  end
  if o.help then print(plot.USAGE) return 0 end
  local gnuplot = plot.find_gnuplot()
  if not gnuplot then
    io.stderr:write("moonlab plot: gnuplot not found: apt-get install gnuplot-nox\n")
    return 1
  end
  local ok, e = xpcall(draw, function(x)
    if rfile.is_error(x) then return x end
    return { bug = tostring(x) .. "\n" .. debug.traceback("", 2) }
  end, o, gnuplot)
  if not ok then
    if e.bug then
      io.stderr:write("moonlab plot: ", o.file, ": internal error: ", e.bug, "\n")
    else
      io.stderr:write("moonlab plot: ", e.message, "\n")
    end
    return 1
  end
  print(string.format("plot: %s (%s)", o.out, table.concat(e, "; ")))
  return 0
end

return plot
