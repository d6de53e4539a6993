-- Study-shaped result files for the show/plot specs, written with core.results' writer
-- exactly as docs/results.md ("Study files") lays them out: root attributes, /study/summary,
-- /study/aggregates (mean and sample std per setting, computed here), /study/trials/<id>/,
-- /study/splits/<fold>/ and /study/final/. Independent of the study runner on purpose: these
-- files say what show and plot must read, whatever writes them.
--
--   fixture.write(path, spec)       spec = {study =, params = {names}, trials = {...},
--                                   select_metric =, select_goal =, final = {...}, folds =};
--                                   a trial's `vectors = {name = {numbers}}` go to its params,
--                                   `vector_index = {name = "distance"}` their index attribute
--   fixture.capacity(opts)          a real K-fold capacity study (polynomial degree), trained
--                                   with moonlab: returns a spec for write
local core = require "moonlab.core"
local results = require "moonlab.results"

local M = {}

local function json_value(v)
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then return string.format("%.17g", v) end
  if type(v) == "boolean" then return tostring(v) end
  return '"' .. tostring(v):gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

-- Parameters as JSON with sorted keys (as the study's trial ids use them).
function M.params_json(p)
  local keys = {}
  for k in pairs(p) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = json_value(k) .. ":" .. json_value(p[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function M.trial_id(study, params, seed, fold)
  return core.results.sha256(study .. "\0" .. M.params_json(params) .. "\0" .. seed .. "\0" .. fold):sub(1, 16)
end

local function column(name, values)
  local ty = "int"
  for _, v in ipairs(values) do
    if type(v) == "string" then ty = "string" break end
    if math.type(v) ~= "integer" then ty = "float" end
  end
  return { name = name, type = ty, values = values }
end

local function mean_std(xs)
  local n, s = #xs, 0
  for _, x in ipairs(xs) do s = s + x end
  local mean = n > 0 and s / n or 0 / 0
  if n < 2 then return mean, 0 / 0 end
  local ss = 0
  for _, x in ipairs(xs) do ss = ss + (x - mean) ^ 2 end
  return mean, math.sqrt(ss / (n - 1))
end
M.mean_std = mean_std

-- The settings of a spec in order of their parameter values, each with its done trials.
function M.settings(spec)
  local by_key, list = {}, {}
  for _, t in ipairs(spec.trials) do
    local key = M.params_json(t.params)
    local s = by_key[key]
    if not s then
      s = { params = t.params, key = key, trials = {} }
      by_key[key] = s
      list[#list + 1] = s
    end
    if t.status == "done" then s.trials[#s.trials + 1] = t end
  end
  table.sort(list, function(a, b)
    for _, p in ipairs(spec.params) do
      local x, y = a.params[p], b.params[p]
      if x ~= y then
        if type(x) == type(y) then return x < y end
        return tostring(x) < tostring(y)
      end
    end
    return false
  end)
  return list
end

-- Metric names over all trials, sorted.
local function metric_names(spec)
  local seen, names = {}, {}
  for _, t in ipairs(spec.trials) do
    for k in pairs(t.metrics or {}) do
      if not seen[k] then seen[k] = true names[#names + 1] = k end
    end
  end
  table.sort(names)
  return names
end

function M.write(path, spec)
  local w = assert(core.results.create(path))
  local root = {
    moonlab_version = core.version, script = spec.script or "experiments/" .. spec.study .. ".lua",
    script_sha256 = string.rep("0", 64), config = "{}", seed = spec.seed or 0, threads = 1,
    started = "2026-11-23T10:00:00Z", finished = "2026-11-23T10:05:00Z", host = "testhost",
    lua_version = "5.4.4", blis_version = "0.9.0", hdf5_version = "1.10.8", git_commit = "",
    study = spec.study, select_metric = spec.select_metric, select_goal = spec.select_goal,
  }
  local done, failed = 0, 0
  for _, t in ipairs(spec.trials) do
    if t.status == "done" then done = done + 1 elseif t.status == "failed" then failed = failed + 1 end
  end
  root.trials, root.done, root.failed = #spec.trials, done, failed

  local metrics = metric_names(spec)
  local settings = M.settings(spec)
  -- selection: best mean of select_metric over settings with finished trials
  local best, best_v
  for i, s in ipairs(settings) do
    local xs = {}
    for _, t in ipairs(s.trials) do xs[#xs + 1] = t.metrics[spec.select_metric] end
    local m = mean_std(xs)
    if #xs > 0 and (best_v == nil or (spec.select_goal == "min" and m < best_v)
        or (spec.select_goal == "max" and m > best_v)) then
      best, best_v = i, m
    end
  end
  root.selected = best and settings[best].key or ""
  for k, v in pairs(root) do w:attr("/", k, v) end
  for k, v in pairs(spec.extra_root or {}) do w:attr("/", k, v) end

  -- summary
  local cols = { trial = {}, status = {}, fold = {}, seed = {}, seconds = {}, error = {} }
  local pcols, mcols = {}, {}
  for _, p in ipairs(spec.params) do pcols[p] = {} end
  for _, m in ipairs(metrics) do mcols[m] = {} end
  for i, t in ipairs(spec.trials) do
    t.id = t.id or M.trial_id(spec.study, t.params, t.seed or 0, t.fold or 0)
    cols.trial[i], cols.status[i] = t.id, t.status
    cols.fold[i], cols.seed[i] = t.fold or 0, t.seed or 0
    cols.seconds[i], cols.error[i] = t.seconds or 0.5, t.error or ""
    for _, p in ipairs(spec.params) do pcols[p][i] = t.params[p] end
    for _, m in ipairs(metrics) do
      local v = (t.metrics or {})[m]
      mcols[m][i] = v == nil and 0 / 0 or v + 0.0
    end
  end
  local summary = { column("trial", cols.trial), column("status", cols.status),
    column("fold", cols.fold), column("seed", cols.seed) }
  for _, p in ipairs(spec.params) do summary[#summary + 1] = column(p, pcols[p]) end
  for _, m in ipairs(metrics) do summary[#summary + 1] = { name = m, type = "float", values = mcols[m] } end
  summary[#summary + 1] = { name = "seconds", type = "float", values = cols.seconds }
  summary[#summary + 1] = column("error", cols.error)
  if #spec.trials > 0 then w:table("/study/summary", #spec.trials, summary) end

  -- aggregates
  local agg = {}
  for _, p in ipairs(spec.params) do
    local vs = {}
    for i, s in ipairs(settings) do vs[i] = s.params[p] end
    agg[#agg + 1] = column(p, vs)
  end
  local ns = {}
  for i, s in ipairs(settings) do ns[i] = #s.trials end
  agg[#agg + 1] = { name = "n", type = "int", values = ns }
  for _, m in ipairs(metrics) do
    local means, stds = {}, {}
    for i, s in ipairs(settings) do
      local xs = {}
      for _, t in ipairs(s.trials) do xs[#xs + 1] = t.metrics[m] end
      means[i], stds[i] = mean_std(xs)
    end
    agg[#agg + 1] = { name = m .. "_mean", type = "float", values = means }
    agg[#agg + 1] = { name = m .. "_std", type = "float", values = stds }
  end
  local sel = {}
  for i = 1, #settings do sel[i] = i == best and 1 or 0 end
  agg[#agg + 1] = { name = "selected", type = "int", values = sel }
  w:table("/study/aggregates", #settings, agg)

  -- trials
  w:group("/study/trials")
  for _, t in ipairs(spec.trials) do
    if t.status ~= "pending" then
      local g = "/study/trials/" .. t.id
      w:group(g)
      local a = { study = spec.study, trial = t.id, status = t.status, params = M.params_json(t.params),
        seed = t.seed or 0, fold = t.fold or 0, started = root.started, finished = root.finished,
        seconds = t.seconds or 0.5, host = "testhost", error = t.error or "",
        traceback = t.traceback or "" }
      for k, v in pairs(a) do w:attr(g, k, v) end
      local h = t.history or {}
      w:table(g .. "/history", #h, #h > 0 and results.columns_of(h)
        or { { name = "epoch", type = "int", values = {} } })
      if t.metrics and next(t.metrics) then
        w:table(g .. "/metrics", 1, results.columns_of({ t.metrics }))
      end
      for name, v in pairs(t.vectors or {}) do -- what run:param(name, tensor [, {index =}]) records
        w:tensor(g .. "/params/" .. name, core.tensor.from(v))
        local index = (t.vector_index or {})[name]
        if index then w:attr(g .. "/params/" .. name, "index", index) end
      end
    end
  end

  -- splits
  for k, f in ipairs(spec.splits or {}) do
    w:int64("/study/splits/" .. k .. "/train", f.train)
    w:int64("/study/splits/" .. k .. "/val", f.val)
  end

  -- final
  if spec.final then
    w:group("/study/final")
    w:attr("/study/final", "params", M.params_json(spec.final.params))
    local h = spec.final.history or {}
    w:table("/study/final/history", #h, #h > 0 and results.columns_of(h)
      or { { name = "epoch", type = "int", values = {} } })
    w:table("/study/final/metrics", 1, results.columns_of({ spec.final.metrics }))
  end
  assert(w:commit())
  return spec
end

-- A K-fold capacity study trained with moonlab: a linear model on the features x, x^2, ...,
-- x^degree of a noisy cubic (y = 1.2x - 3.4x^2 + 5.6x^3 + 5 + noise), selected on val_loss.
-- opts: degrees (list), folds, epochs, n (training samples), seed.
function M.capacity(opts)
  local ml = require "moonlab"
  local degrees = opts.degrees or { 1, 2, 3, 4, 6, 8 }
  local k, epochs, n = opts.folds or 5, opts.epochs or 60, opts.n or 40
  local rng = core.rng.new(opts.seed or 1)
  local function make(count)
    local x = rng:uniform({ count, 1 }, -1, 1)
    local y = x * 1.2 - (x ^ 2) * 3.4 + (x ^ 3) * 5.6 + 5 + rng:normal({ count, 1 }, 0, opts.noise or 0.5)
    return x, y
  end
  local xtr, ytr = make(n)
  local xte, yte = make(200)
  local folds = ml.split.kfold(n, k, { shuffle = true, seed = 7 })
  local spec = { study = opts.study or "capacity", params = { "degree" }, trials = {},
    select_metric = "val_loss", select_goal = "min", splits = {} }
  for i, f in ipairs(folds) do spec.splits[i] = { train = f.train, val = f.test } end
  local function fit(deg, train, evals, seed)
    local model = ml.nn.sequential({ ml.nn.linear(deg, 1) }, { seed = seed })
    local hist = model:fit { data = train, loss = "mse", optim = ml.optim.sgd { lr = opts.lr or 0.05 },
      epochs = epochs, batch = 4, seed = seed + 1, eval = evals }
    local rows = {}
    for e, r in ipairs(hist) do
      local row = {}
      for key, v in pairs(r) do if type(v) == "number" then row[key] = v end end
      row.epoch = e
      rows[e] = row
    end
    return model, rows
  end
  for _, deg in ipairs(degrees) do
    local full = ml.data.dataset(xtr:powers(deg), ytr)
    for fi, f in ipairs(folds) do
      local tr, va = ml.data.subset(full, f.train), ml.data.subset(full, f.test)
      local model, rows = fit(deg, tr, { train = tr, val = va }, 100 * deg + fi)
      spec.trials[#spec.trials + 1] = { params = { degree = deg }, fold = fi, seed = 0, status = "done",
        history = rows, seconds = 0.01 * deg,
        metrics = { train_loss = model:evaluate(tr, "mse").loss, val_loss = model:evaluate(va, "mse").loss } }
    end
  end
  -- final: the degree with the lowest mean val_loss, trained on all training data
  local best, best_v
  for _, s in ipairs(M.settings(spec)) do
    local xs = {}
    for _, t in ipairs(s.trials) do xs[#xs + 1] = t.metrics.val_loss end
    local m = mean_std(xs)
    if not best_v or m < best_v then best, best_v = s.params.degree, m end
  end
  local full = ml.data.dataset(xtr:powers(best), ytr)
  local test = ml.data.dataset(xte:powers(best), yte)
  local model, rows = fit(best, full, { train = full, test = test }, 999)
  spec.final = { params = { degree = best }, history = rows,
    metrics = { train_loss = model:evaluate(full, "mse").loss, test_loss = model:evaluate(test, "mse").loss } }
  return spec
end

return M
