--- `moonlab show FILE.h5 [--csv | --json]`: what a result file holds, in the terminal.
--- A study file: the aggregate table (parameters, n, each metric as mean ± std over folds and
--- seeds, the selected setting marked), failed trials, and the final test evaluation. A run
--- file: each run's final metrics and the facts of the run. --csv and --json print the
--- aggregates (or the runs' metrics) for other programs.
local rfile = require "moonlab.rfile"

local show = {}

show.USAGE = [[
usage: moonlab show FILE.h5 [--csv | --json]

  FILE.h5   a result file of moonlab run: a study file (aggregate table, selected setting,
            final test evaluation) or a run file (each run's final metrics)
  --csv     the aggregates (a study) or the runs' metrics (a run file) as CSV
  --json    the same as JSON, with the study's selection and final evaluation]]

local value_text = rfile.value_text

-- ---- text ----

-- Display width of a UTF-8 string ("±" is one column).
local function width(s) return utf8.len(s) or #s end

local function pad(s, w, right)
  local fill = string.rep(" ", w - width(s))
  return right and fill .. s or s .. fill
end

--- A number for people: integers as they are, others with 4 significant digits.
local function num(v)
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) ~= "number" then return value_text(v) end
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  return string.format("%.4g", v)
end
show.num = num

--- A standard deviation with 2 significant digits, trailing zeros kept ("0.030").
local function std_text(s)
  if s ~= s or s == math.huge then return num(s) end
  local a = math.abs(s)
  if a == 0 then return "0" end
  if a < 1e-4 or a >= 1e6 then return string.format("%.1e", s) end
  local decimals = math.max(0, 1 - math.floor(math.log(a, 10)))
  return string.format("%." .. decimals .. "f", s)
end
show.std_text = std_text

--- "mean ± std"; the mean alone when std is NaN (n < 2), "–" when there is no mean. The
--- mean is padded on the left to `w` columns so that the ± signs of a column line up.
local function mean_std(m, s, w)
  if m ~= m then return pad("–", w or 1, true) end
  local t = pad(num(m), w or 0, true)
  if s ~= s then return t end
  return t .. " ± " .. std_text(s)
end
show.mean_std = mean_std

-- Control characters from the file shown as escapes ("\n"), never sent to the terminal.
local function printable(s)
  return (s:gsub("%c", function(c)
    return ({ ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" })[c] or string.format("\\x%02x", c:byte())
  end))
end

-- Lines of an aligned table: header, then rows; right[i] right-aligns column i.
local function render(header, rows, right, gap)
  gap = gap or "  "
  local function clean(r)
    local c = {}
    for i = 1, #header do c[i] = printable(r[i] or "") end
    return c
  end
  header = clean(header)
  local cleaned = {}
  for i, r in ipairs(rows) do cleaned[i] = clean(r) end
  rows = cleaned
  local w = {}
  for i, h in ipairs(header) do w[i] = width(h) end
  for _, r in ipairs(rows) do
    for i, c in ipairs(r) do w[i] = math.max(w[i] or 0, width(c)) end
  end
  local lines = {}
  local function line(r)
    local cells = {}
    for i = 1, #header do cells[i] = pad(r[i] or "", w[i], right[i]) end
    lines[#lines + 1] = (table.concat(cells, gap):gsub("%s+$", ""))
  end
  line(header)
  for _, r in ipairs(rows) do line(r) end
  return lines
end
show.render = render

-- ---- CSV and JSON ----

--- The shortest of %.15g, %.16g, %.17g that reads back as exactly v.
function show.shortest(v)
  local s
  for digits = 15, 17 do
    s = string.format("%." .. digits .. "g", v)
    if tonumber(s) == v then break end
  end
  return s
end

local function csv_cell(v)
  if type(v) == "number" then
    if v ~= v then return "" end
    if math.type(v) == "integer" then return tostring(v) end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    return show.shortest(v)
  end
  local s = tostring(v)
  if s:find('[,"\r\n]') or s:match("^%s") or s:match("%s$") then
    s = '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end
show.csv_cell = csv_cell

local function csv(names, rows)
  local out = {}
  local head = {}
  for i, n in ipairs(names) do head[i] = csv_cell(n) end
  out[1] = table.concat(head, ",")
  for _, r in ipairs(rows) do
    local cells = {}
    for i = 1, #names do cells[i] = r[i] == nil and "" or csv_cell(r[i]) end
    out[#out + 1] = table.concat(cells, ",")
  end
  return table.concat(out, "\n")
end

local function jstr(s)
  return '"' .. tostring(s):gsub('[%c"\\]', function(c)
    return ({ ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r' })[c]
      or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function jval(v)
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    local s = show.shortest(v)
    if not s:find("[.eE]") then s = s .. ".0" end
    return s
  end
  if v == nil then return "null" end
  if type(v) == "boolean" then return tostring(v) end
  return jstr(v)
end

-- An object with keys in the given order; values already JSON text.
local function jobj(keys, values)
  local parts = {}
  for _, k in ipairs(keys) do
    if values[k] ~= nil then parts[#parts + 1] = jstr(k) .. ": " .. values[k] end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function jrow(names, get)
  local vals = {}
  for _, n in ipairs(names) do vals[n] = jval(get(n)) end
  return jobj(names, vals)
end

-- ---- studies ----

local function setting_text(params, order)
  local parts = {}
  for _, k in ipairs(order) do parts[#parts + 1] = k .. "=" .. value_text(params[k]) end
  return table.concat(parts, ", ")
end

local function goal_word(goal)
  return goal == "max" and "highest" or goal == "min" and "lowest" or tostring(goal)
end

local function show_study(f, out)
  local a, s = f.attrs, f:study()
  local agg = s.agg
  out(string.format("study %s: %s", tostring(s.name or "?"), f.path))
  local facts = {}
  if a.script then facts[#facts + 1] = "script " .. tostring(a.script) end
  if a.seed then facts[#facts + 1] = "seed " .. tostring(a.seed) end
  if a.finished then facts[#facts + 1] = "finished " .. tostring(a.finished) end
  if #facts > 0 then out(table.concat(facts, ", ")) end
  local counts = {}
  if a.trials then
    counts[#counts + 1] = string.format("%s trials: %s done, %s failed", tostring(a.trials),
      tostring(a.done or "?"), tostring(a.failed or "?"))
    local pending = tonumber(a.trials) and tonumber(a.done) and tonumber(a.failed)
      and a.trials - a.done - a.failed
    if pending and pending > 0 then counts[#counts] = counts[#counts] .. ", " .. pending .. " not run" end
  end
  local folds = 0
  if s.summary and s.summary.cols.fold then
    for _, v in ipairs(s.summary.cols.fold) do folds = math.max(folds, tonumber(v) or 0) end
  end
  if folds > 0 then counts[#counts + 1] = folds .. " folds" end
  if a.select_metric then
    counts[#counts + 1] = string.format("settings chosen on mean %s (%s)", a.select_metric,
      goal_word(a.select_goal))
  end
  if #counts > 0 then out(table.concat(counts, "; ")) end
  out("")

  local header, right = { "" }, { false }
  for _, p in ipairs(s.params) do
    header[#header + 1] = p
    right[#right + 1] = agg.types[p] ~= "string"
  end
  header[#header + 1] = "n"
  right[#right + 1] = true
  for _, m in ipairs(s.metrics) do
    header[#header + 1] = m
    right[#right + 1] = false
  end
  local rows = {}
  local mean_w = {}
  for _, m in ipairs(s.metrics) do
    mean_w[m] = 1
    for row = 1, agg.n do mean_w[m] = math.max(mean_w[m], width(num(agg.cols[m .. "_mean"][row]))) end
  end
  for row = 1, agg.n do
    local r = { row == s.selected and "*" or "" }
    for _, p in ipairs(s.params) do r[#r + 1] = value_text(agg.cols[p][row]) end
    r[#r + 1] = tostring(agg.cols.n[row])
    for _, m in ipairs(s.metrics) do
      r[#r + 1] = mean_std(agg.cols[m .. "_mean"][row], agg.cols[m .. "_std"][row], mean_w[m])
    end
    rows[#rows + 1] = r
  end
  for _, l in ipairs(render(header, rows, right)) do out(l) end
  if s.selected then
    out(string.format("* selected: %s mean %s", goal_word(a.select_goal), tostring(a.select_metric)))
  elseif agg.n > 0 then
    out("no setting selected")
  end

  -- failed trials, each with its reason
  local sm = s.summary
  if sm and sm.cols.status then
    local failed = {}
    for i = 1, sm.n do
      if sm.cols.status[i] == "failed" then failed[#failed + 1] = i end
    end
    if #failed > 0 then
      out("")
      out(string.format("failed trials (%d):", #failed))
      for k, i in ipairs(failed) do
        if k > 10 then
          out(string.format("  ... and %d more (all in /study/summary)", #failed - 10))
          break
        end
        local where = {}
        for _, p in ipairs(s.params) do
          if sm.cols[p] then where[#where + 1] = p .. "=" .. value_text(sm.cols[p][i]) end
        end
        if sm.cols.fold and sm.cols.fold[i] ~= 0 then where[#where + 1] = "fold " .. sm.cols.fold[i] end
        if sm.cols.seed then where[#where + 1] = "seed " .. sm.cols.seed[i] end
        local err = sm.cols.error and sm.cols.error[i] or ""
        out(string.format("  %s (%s): %s", tostring(sm.cols.trial and sm.cols.trial[i] or i),
          table.concat(where, ", "), (err:gsub("\n.*", ""))))
      end
    end
  end

  out("")
  local fin = s.final
  if not fin then
    out("final: none (no final evaluation in the file)")
    return
  end
  local what = fin.params and setting_text(fin.params, fin.param_order) or tostring(fin.params_json)
  out(string.format("final: %s trained on all training data, evaluated once on the test set", what))
  local cells = {}
  for _, m in ipairs(fin.metric_names) do cells[#cells + 1] = m .. " " .. num(fin.metrics[m]) end
  out("  " .. (#cells > 0 and table.concat(cells, "   ") or "(no metrics)"))
end

local function study_csv(f, out)
  local agg = f:study().agg
  local rows = {}
  for row = 1, agg.n do
    local r = {}
    for i, n in ipairs(agg.names) do r[i] = agg.cols[n][row] end
    rows[row] = r
  end
  out(csv(agg.names, rows))
end

local function study_json(f, out)
  local a, s = f.attrs, f:study()
  local agg = s.agg
  local rows = {}
  for row = 1, agg.n do
    rows[row] = "    " .. jrow(agg.names, function(n) return agg.cols[n][row] end)
  end
  local keys = { "file", "study", "trials", "done", "failed", "select_metric", "select_goal",
    "params", "metrics", "selected", "aggregates", "final" }
  local v = {
    file = jstr(f.path), study = jval(s.name), trials = jval(a.trials), done = jval(a.done),
    failed = jval(a.failed), select_metric = jval(a.select_metric), select_goal = jval(a.select_goal),
    selected = s.selected and jrow(s.params, function(n) return agg.cols[n][s.selected] end)
      or "null",
    aggregates = "[\n" .. table.concat(rows, ",\n") .. "\n  ]",
  }
  local ps, ms = {}, {}
  for i, p in ipairs(s.params) do ps[i] = jstr(p) end
  for i, m in ipairs(s.metrics) do ms[i] = jstr(m) end
  v.params = "[" .. table.concat(ps, ", ") .. "]"
  v.metrics = "[" .. table.concat(ms, ", ") .. "]"
  if s.final then
    local fin = s.final
    local metrics = jrow(fin.metric_names, function(n) return fin.metrics[n] end)
    local params = "null"
    if fin.params then
      params = jrow(fin.param_order, function(n) return fin.params[n] end)
    end
    v.final = jobj({ "params", "metrics" }, { params = params, metrics = metrics })
  else
    v.final = "null"
  end
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = "  " .. jstr(k) .. ": " .. v[k] end
  out("{\n" .. table.concat(parts, ",\n") .. "\n}")
end

-- ---- run files ----

-- Metric names over runs, in order of first appearance.
local function run_metric_names(runs)
  local seen, names = {}, {}
  for _, r in ipairs(runs) do
    for _, m in ipairs(r.metric_names) do
      if not seen[m] then seen[m] = true names[#names + 1] = m end
    end
  end
  return names
end

local function show_runs(f, out)
  local a = f.attrs
  local runs = f:runs()
  out(string.format("%s: %s", f.path, a.script and ("script " .. tostring(a.script)) or "moonlab result file"))
  local facts = {}
  if a.seed then facts[#facts + 1] = "seed " .. tostring(a.seed) end
  if a.config and a.config ~= "{}" then facts[#facts + 1] = "config " .. tostring(a.config) end
  if a.finished then facts[#facts + 1] = "finished " .. tostring(a.finished) end
  if a.moonlab_version then facts[#facts + 1] = "moonlab " .. tostring(a.moonlab_version) end
  if #facts > 0 then out(table.concat(facts, ", ")) end
  if a.status == "failed" then out("the script failed: " .. tostring(a.error) .. " (what it logged before is below)") end
  out("")
  if #runs == 0 then
    out("no runs recorded")
    return
  end
  local names = run_metric_names(runs)
  local header, right = { "run", "epochs" }, { false, true }
  for _, m in ipairs(names) do
    header[#header + 1] = m
    right[#right + 1] = true
  end
  local rows = {}
  for _, r in ipairs(runs) do
    local row = { r.name, r.history and tostring(r.history.n) or "" }
    for _, m in ipairs(names) do
      local v = r.metrics[m]
      row[#row + 1] = v == nil and "" or num(v)
    end
    rows[#rows + 1] = row
  end
  for _, l in ipairs(render(header, rows, right)) do out(l) end
end

local function runs_csv(f, out)
  local runs = f:runs()
  local names = run_metric_names(runs)
  local header = { "run" }
  for _, m in ipairs(names) do header[#header + 1] = m end
  local rows = {}
  for _, r in ipairs(runs) do
    local row = { r.name }
    for i, m in ipairs(names) do
      local v = r.metrics[m]
      row[i + 1] = v == nil and 0 / 0 or v
    end
    rows[#rows + 1] = row
  end
  out(csv(header, rows))
end

local function runs_json(f, out)
  local a = f.attrs
  local runs = f:runs()
  local items = {}
  for _, r in ipairs(runs) do
    items[#items + 1] = "    " .. jobj({ "name", "epochs", "metrics" }, {
      name = jstr(r.name), epochs = r.history and tostring(r.history.n) or "null",
      metrics = jrow(r.metric_names, function(n) return r.metrics[n] end) })
  end
  local v = {
    file = jstr(f.path), script = jval(a.script), seed = jval(a.seed), config = jval(a.config),
    finished = jval(a.finished), status = jval(a.status), error = jval(a.error),
    runs = "[\n" .. table.concat(items, ",\n") .. "\n  ]",
  }
  local parts = {}
  for _, k in ipairs({ "file", "script", "seed", "config", "finished", "status", "error", "runs" }) do
    parts[#parts + 1] = "  " .. jstr(k) .. ": " .. v[k]
  end
  out("{\n" .. table.concat(parts, ",\n") .. "\n}")
end

-- ---- command ----

local function parse(args)
  local o = {}
  for _, a in ipairs(args) do
    if a == "--csv" or a == "--json" then
      if o.format and o.format ~= a:sub(3) then return nil, "--csv and --json exclude each other" end
      o.format = a:sub(3)
    elseif a == "--help" or a == "-h" then
      o.help = true
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option " .. a
    elseif o.file then
      return nil, "more than one file given: " .. o.file .. " and " .. a
    else
      o.file = a
    end
  end
  if not o.help and not o.file then return nil, "no result file given" end
  return o
end

--- show.main(args, out) -> exit status (0, 1 for a file that cannot be shown, 2 for usage).
--- out(line) prints a line (default: io.write to stdout).
function show.main(args, out)
  out = out or function(s) io.stdout:write(s, "\n") end
  local o, err = parse(args)
  if not o then
    io.stderr:write("moonlab show: ", err, "\n", show.USAGE, "\n")
    return 2
  end
  if o.help then out(show.USAGE) return 0 end
  -- Everything is produced before anything is printed: a file that fails half way prints
  -- its one error line, not half a table.
  local lines = {}
  local function keep(s) lines[#lines + 1] = s end
  local ok, e = xpcall(function()
    local f = rfile.open(o.file)
    local which = f.is_study and "study" or "runs"
    local fn = ({
      study = { text = show_study, csv = study_csv, json = study_json },
      runs = { text = show_runs, csv = runs_csv, json = runs_json },
    })[which][o.format or "text"]
    fn(f, keep)
    f:close()
  end, function(x)
    if rfile.is_error(x) then return x end
    return { bug = tostring(x) .. "\n" .. debug.traceback("", 2) }
  end)
  if not ok then
    if e.bug then
      io.stderr:write("moonlab show: ", o.file, ": internal error: ", e.bug, "\n")
    else
      io.stderr:write("moonlab show: ", e.message, "\n")
    end
    return 1
  end
  for _, l in ipairs(lines) do
    -- names and values come from the file: a control character (a newline, a terminal
    -- escape) is shown, not obeyed
    if not o.format then l = printable(l) end
    out(l)
  end
  return 0
end

return show
