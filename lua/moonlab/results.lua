--- What a run records: per run, a per-epoch history (rows), final metrics, learned parameters
--- and attributes. Kept in memory while the script runs and written by the CLI at the end into
--- one HDF5 file (schema: docs/results.md), so a failed script leaves no partial result.
local core = require "moonlab.core"

local results = { runs = {}, order = {} }

local Run = {}
Run.__index = Run

local function check_name(name, what, level)
  if type(name) ~= "string" or name == "" or name:find("/", 1, true) or name == "." or name == ".." then
    error(string.format("%s: name must be a non-empty string without '/', got %s", what,
      tostring(name)), level + 1)
  end
end

--- results.run(name) -> the run of that name (created on first use).
function results.run(name)
  check_name(name, "results.run", 2)
  local r = results.runs[name]
  if not r then
    r = setmetatable({ name = name, rows = {}, metric_values = {}, metric_order = {},
      params = {}, param_order = {}, param_index = {}, attrs = {}, splits = {}, split_order = {} }, Run)
    results.runs[name] = r
    results.order[#results.order + 1] = name
  end
  return r
end

function results.reset()
  results.runs, results.order = {}, {}
end

--- run:log(row): one row of the history table (numbers, strings or booleans).
function Run:log(row)
  if type(row) ~= "table" then error("run:log: expected a table row", 2) end
  local copy = {}
  for k, v in pairs(row) do
    local t = type(v)
    if type(k) ~= "string" then error("run:log: column names must be strings", 2) end
    if t ~= "number" and t ~= "string" and t ~= "boolean" then
      error(string.format("run:log: column '%s' is a %s; expected a number, string or boolean", k, t), 2)
    end
    copy[k] = v
  end
  self.rows[#self.rows + 1] = copy
  if self.on_log then self.on_log(copy) end
  return self
end

--- run:metric(name, value) / run:metrics{name = value, ...}: final numbers of the run.
function Run:metric(name, value)
  check_name(name, "run:metric", 2)
  local t = type(value)
  if t ~= "number" and t ~= "string" and t ~= "boolean" then
    error(string.format("run:metric: '%s' is a %s; expected a number, string or boolean", name, t), 2)
  end
  if self.metric_values[name] == nil then self.metric_order[#self.metric_order + 1] = name end
  self.metric_values[name] = value
  return self
end

function Run:metrics(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do self:metric(k, t[k]) end
  return self
end

--- run:param(name, tensor [, {index = "distance"}]): a copy of the tensor, saved as a float32
--- dataset; `index` names what a vector's entries count (its attribute "index", which moonlab
--- plot uses for the x axis).
function Run:param(name, t, opts)
  check_name(name, "run:param", 2)
  if not core.tensor.is_tensor(t) then error("run:param: '" .. name .. "' is not a tensor", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("run:param: options are {index = name}", 2) end
  for k in pairs(opts or {}) do
    if k ~= "index" then error("run:param: unknown option '" .. tostring(k) .. "'", 2) end
  end
  local index = opts and opts.index
  if index ~= nil then check_name(index, "run:param: index", 2) end
  if self.params[name] == nil then self.param_order[#self.param_order + 1] = name end
  self.params[name] = t:clone()
  self.param_index[name] = index
  return self
end

--- run:params_of(model): every named parameter of a model ("1.weight", "1.bias", ...).
function Run:params_of(model)
  local named, names = model:named_parameters()
  for _, n in ipairs(names) do self:param(n, named[n]) end
  return self
end

local function is_index(v) return core.index.is_index(v) end

-- One fold as it will be written: {train =, val = (maybe), test =} index sets.
local function check_fold(f, where)
  if type(f) ~= "table" or not is_index(f.train) or not is_index(f.test)
      or (f.val ~= nil and not is_index(f.val)) then
    error(where .. ": a fold must be {train = index set, test = index set [, val = index set]}", 3)
  end
  return { train = f.train, val = f.val, test = f.test }
end

--- run:split(name, folds): the folds of a split (a list from ml.split, a list of {train =,
--- test =}, or one holdout {train =, val =, test =}), written as 1-based row numbers under
--- /runs/<run>/splits/<name>/<fold>/{train,val,test}. Index sets never change, so nothing is
--- copied; a list from ml.split computes its folds again when the file is written.
function Run:split(name, folds)
  check_name(name, "run:split", 2)
  local split = require "moonlab.split"
  local rec
  if split.is_folds(folds) then
    rec = { list = folds, kind = folds.kind, samples = folds.samples, seed = folds.seed,
      params = folds.params }
  elseif type(folds) == "table" and folds.train ~= nil then
    rec = { list = { check_fold(folds, "run:split") }, kind = "holdout", samples = folds.samples,
      seed = folds.seed, params = folds.params }
  elseif type(folds) == "table" then
    local list = {}
    for i, f in ipairs(folds) do list[i] = check_fold(f, "run:split: fold " .. i) end
    if #list == 0 then error("run:split: '" .. name .. "' has no folds", 2) end
    rec = { list = list }
  else
    error("run:split: '" .. name .. "' must be a list of folds, got " .. type(folds), 2)
  end
  if self.splits[name] == nil then self.split_order[#self.split_order + 1] = name end
  self.splits[name] = rec
  return self
end

--- run:attr(name, value): an attribute of the run's group.
function Run:attr(name, value)
  self.attrs[name] = value
  return self
end

-- Columns of a list of rows: the union of their keys, "epoch" first, then by name; a column is
-- "int" if every value is an integer, "string" if any value is a string, else "float".
local function epoch_first(a, b)
  if a == "epoch" then return b ~= "epoch" end
  if b == "epoch" then return false end
  return a < b
end

local function columns_of(rows)
  local names, seen = {}, {}
  for _, row in ipairs(rows) do
    for k in pairs(row) do
      if not seen[k] then seen[k] = true; names[#names + 1] = k end
    end
  end
  table.sort(names, epoch_first)
  local cols = {}
  for _, name in ipairs(names) do
    local ty = "int"
    for _, row in ipairs(rows) do
      local v = row[name]
      if type(v) == "string" then ty = "string" break end
      if type(v) == "boolean" then v = v and 1 or 0 end
      if v == nil or math.type(v) ~= "integer" then ty = (ty == "int") and "float" or ty end
    end
    local values = {}
    for i, row in ipairs(rows) do
      local v = row[name]
      if type(v) == "boolean" then v = v and 1 or 0 end
      if ty == "string" then v = v == nil and "" or tostring(v) end
      if ty == "float" and v == nil then v = 0 / 0 end
      values[i] = v
    end
    cols[#cols + 1] = { name = name, type = ty, values = values }
  end
  return cols
end
results.columns_of = columns_of

--- Write every run into an open writer (core.results.create). Raises on failure.
function results.write_runs(w)
  w:group("/runs")
  for _, name in ipairs(results.order) do
    local r = results.runs[name]
    local g = "/runs/" .. name
    w:group(g)
    for k, v in pairs(r.attrs) do w:attr(g, k, v) end
    w:table(g .. "/history", #r.rows, #r.rows > 0 and columns_of(r.rows)
      or { { name = "epoch", type = "int", values = {} } })
    if #r.metric_order > 0 then
      local row = {}
      for _, k in ipairs(r.metric_order) do row[k] = r.metric_values[k] end
      local cols = columns_of({ row })
      w:table(g .. "/metrics", 1, cols)
    end
    if #r.param_order > 0 then
      w:group(g .. "/params")
      for _, p in ipairs(r.param_order) do
        w:tensor(g .. "/params/" .. p, r.params[p])
        if r.param_index[p] then w:attr(g .. "/params/" .. p, "index", r.param_index[p]) end
      end
    end
    if #r.split_order > 0 then
      w:group(g .. "/splits")
      for _, name in ipairs(r.split_order) do
        local rec, sg = r.splits[name], g .. "/splits/" .. name
        w:group(sg)
        w:attr(sg, "folds", #rec.list)
        if rec.kind then w:attr(sg, "kind", rec.kind) end
        if rec.samples then w:attr(sg, "samples", rec.samples) end
        results.split_attrs(w, sg, rec)
        for i, f in ipairs(rec.list) do
          local fg = sg .. "/" .. i
          w:group(fg)
          w:int64(fg .. "/train", f.train)
          if f.val then w:int64(fg .. "/val", f.val) end
          w:int64(fg .. "/test", f.test)
        end
      end
    end
  end
end

--- The seed and the splitter's parameters of a split (from ml.split) as attributes of the
--- group at path: seed (when the folds were drawn with one), then each parameter by name
--- (booleans as 0/1). Used for run:split and a study's split.
function results.split_attrs(w, path, rec)
  if rec.seed ~= nil then w:attr(path, "seed", rec.seed) end
  local names = {}
  for k in pairs(rec.params or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do w:attr(path, k, rec.params[k]) end
end

return results
