--- Cross-validation splits: which rows of a dataset train and which test, fold by fold, as
--- index sets (1-based row numbers; data.subset(ds, fold.train) is the training view).
---
---   local folds = split.kfold(ds, 5, { shuffle = true })
---   for i, fold in ipairs(folds) do model:fit { data = data.subset(ds, fold.train), ... } end
---
--- Every splitter takes a dataset (its n rows; for stratified splitters its y as class
--- labels) or a number of samples, and returns a list of folds {train =, test =} (holdout:
--- one {train =, val =, test =}). The semantics are scikit-learn's; docs/api.md says where
--- the indices are exactly its own. The folds are computed in C; the list computes fold i
--- when it is first used (O(N)) and keeps it while it is referenced, so even leave_one_out
--- over many rows never holds every train set at once.
local core = require "moonlab.core"
local run = require "moonlab.run"

local split = {}

-- Raise at the first caller outside this file (the script's line), however deep the helper.
local this_file = debug.getinfo(1, "S").source
local function raise(fmt, ...)
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info or info.source ~= this_file then break end
    level = level + 1
  end
  error(msg, level)
end

-- scikit-learn's parameter names, for a hint when a script uses them.
local sklearn_names = {
  n_repeats = "repeats", random_state = "seed", test_size = "test", train_size = "train",
  max_train_size = "max_train", y = "labels",
}

local function check_options(o, allowed, fname)
  if o == nil then return {} end
  if type(o) ~= "table" then
    raise("%s: options must be a table, got %s", fname, type(o))
  end
  for k in pairs(o) do
    if not allowed[k] then
      local names = {}
      for a in pairs(allowed) do names[#names + 1] = a end
      table.sort(names)
      local hint = ""
      if k == "n_splits" or k == "k" or k == "splits" then
        hint = " (the number of folds or splits is the second argument)"
      elseif sklearn_names[k] then
        hint = string.format(" (scikit-learn's %s is '%s' here)", k, sklearn_names[k])
      end
      raise("%s: unknown option '%s'%s; options are %s", fname, tostring(k), hint,
        #names > 0 and table.concat(names, ", ") or "none")
    end
  end
  return o
end

local function is_dataset(v)
  return type(v) == "table" and (v.x ~= nil or v.n ~= nil) and v.train == nil
end

-- n and the dataset (nil for a number of samples).
local function samples_of(ds, fname)
  if math.type(ds) == "integer" then
    if ds < 0 then raise("%s: %d samples", fname, ds) end
    return ds, nil
  end
  if is_dataset(ds) then
    local n = ds.n or ds.x:size(1)
    return n, ds
  end
  raise("%s: expected a dataset or a number of samples, got %s", fname,
    math.type(ds) == "float" and tostring(ds) or type(ds))
end

local function check_integer(v, what, fname)
  if math.type(v) ~= "integer" then
    raise("%s: %s must be an integer, got %s", fname, what, tostring(v))
  end
  return v
end

local function check_bool(v, what, fname)
  if v ~= nil and type(v) ~= "boolean" then
    raise("%s: %s must be true or false, got %s", fname, what, tostring(v))
  end
  return v == true
end

-- The seed: the option, or one derived from the run's root seed by the splitter's name.
local function seed_of(o, fname, shuffled)
  if o.seed ~= nil then
    if not shuffled then
      raise("%s: seed has no effect without shuffle = true", fname)
    end
    return check_integer(o.seed, "seed", fname)
  end
  return run.seed("split/" .. fname)
end

-- Class labels: the labels option, else the dataset's y (one value per row).
local function labels_of(ds, o, fname)
  if o.labels ~= nil then return o.labels end
  if not ds then
    raise("%s: with a number of samples, pass labels = a list or a tensor", fname)
  end
  local y = ds.y
  if not core.tensor.is_tensor(y) then
    raise("%s: the dataset has no y tensor; pass labels = ...", fname)
  end
  local shape = y:shape()
  if not (#shape == 1 or (#shape == 2 and shape[2] == 1)) then
    raise("%s: the dataset's y is (%s); stratifying needs one label per row: pass labels = ...",
      fname, table.concat(shape, ","))
  end
  if ds.rows then y = core.index.gather(y, ds.rows) end
  return y
end

local function groups_of(o, fname)
  if o.groups == nil then
    raise("%s: groups = a list or a tensor (one group per row) is required", fname)
  end
  return o.groups
end

-- Calls a core splitter, raising its message at the script's line.
local function build(fn, ...)
  local res = table.pack(pcall(fn, ...))
  if not res[1] then raise(res[2]) end
  return table.unpack(res, 2, res.n)
end

--- A lazy list of folds over a plan: #folds, folds[i] = {train =, test =}, ipairs(folds).
local Folds = {}
split.Folds = Folds

local function fold_at(self, i)
  local cache = rawget(self, "_cache")
  local f = cache[i]
  if f == nil then
    local train, test = rawget(self, "_plan"):fold(i)
    f = { train = train, test = test }
    cache[i] = f
  end
  return f
end

Folds.__index = function(self, key)
  local i = math.tointeger(key)
  if i and i >= 1 and i <= rawget(self, "count") then return fold_at(self, i) end
  return nil
end
Folds.__len = function(self) return rawget(self, "count") end
Folds.__pairs = function(self)
  local i = 0
  return function()
    i = i + 1
    if i <= rawget(self, "count") then return i, fold_at(self, i) end
  end, self, nil
end
Folds.__tostring = function(self)
  return string.format("folds(%s: %d folds of %d samples)", self.kind, self.count, self.samples)
end

-- seed: the seed the folds were drawn with (nil for a deterministic split); params: the
-- splitter's scalar parameters as used (sizes only when given), recorded with the folds.
local function folds_of(plan, seed, params)
  return setmetatable({ kind = plan:name(), count = plan:count(), samples = plan:samples(),
    seed = seed, params = params or {}, _plan = plan, _cache = setmetatable({}, { __mode = "v" }) },
    Folds)
end

--- split.is_folds(v): true for a list made by a splitter.
function split.is_folds(v) return getmetatable(v) == Folds end

-- (ds_or_n, count, opts) with the count optional: (ds, opts) takes the default count.
local function count_and_options(count, o, default)
  if type(count) == "table" and o == nil then return default, count end
  if count == nil then return default, o end
  return count, o
end

--- split.kfold(ds | n, k = 5, {shuffle = false, seed =}): KFold. Unshuffled, fold i tests
--- consecutive rows, the first n % k folds one row larger.
function split.kfold(ds, k, o)
  local fname = "kfold"
  k, o = count_and_options(k, o, 5)
  local n = samples_of(ds, fname)
  o = check_options(o, { shuffle = true, seed = true }, fname)
  local shuffle = check_bool(o.shuffle, "shuffle", fname)
  local seed = seed_of(o, fname, shuffle)
  return folds_of(build(core.split.kfold, n, check_integer(k, "k", fname), shuffle, seed),
    shuffle and seed or nil, { k = k, shuffle = shuffle })
end

--- split.stratified_kfold(ds | n, k = 5, {labels =, shuffle = false, seed =}): each fold
--- keeps every class's share of the rows (within one row).
function split.stratified_kfold(ds, k, o)
  local fname = "stratified_kfold"
  k, o = count_and_options(k, o, 5)
  local n, d = samples_of(ds, fname)
  o = check_options(o, { labels = true, shuffle = true, seed = true }, fname)
  local shuffle = check_bool(o.shuffle, "shuffle", fname)
  local seed = seed_of(o, fname, shuffle)
  return folds_of(build(core.split.stratified_kfold, n, labels_of(d, o, fname),
    check_integer(k, "k", fname), shuffle, seed), shuffle and seed or nil, { k = k, shuffle = shuffle })
end

--- split.group_kfold(ds | n, k = 5, {groups =}): no group is in two folds; the folds get
--- about the same number of rows.
function split.group_kfold(ds, k, o)
  local fname = "group_kfold"
  k, o = count_and_options(k, o, 5)
  local n = samples_of(ds, fname)
  o = check_options(o, { groups = true }, fname)
  return folds_of(build(core.split.group_kfold, n, groups_of(o, fname), check_integer(k, "k", fname)),
    nil, { k = k })
end

--- split.stratified_group_kfold(ds | n, k = 5, {groups =, labels =, shuffle = false, seed =}):
--- whole groups per fold, with the class shares as even across folds as the groups allow.
function split.stratified_group_kfold(ds, k, o)
  local fname = "stratified_group_kfold"
  k, o = count_and_options(k, o, 5)
  local n, d = samples_of(ds, fname)
  o = check_options(o, { groups = true, labels = true, shuffle = true, seed = true }, fname)
  local shuffle = check_bool(o.shuffle, "shuffle", fname)
  local seed = seed_of(o, fname, shuffle)
  return folds_of(build(core.split.stratified_group_kfold, n, labels_of(d, o, fname),
    groups_of(o, fname), check_integer(k, "k", fname), shuffle, seed), shuffle and seed or nil,
    { k = k, shuffle = shuffle })
end

--- split.repeated_kfold(ds | n, k = 5, {repeats = 10, seed =}): shuffled k-fold, repeated;
--- folds 1..k are the first repeat.
function split.repeated_kfold(ds, k, o)
  local fname = "repeated_kfold"
  k, o = count_and_options(k, o, 5)
  local n = samples_of(ds, fname)
  o = check_options(o, { repeats = true, seed = true }, fname)
  local repeats = check_integer(o.repeats or 10, "repeats", fname)
  local seed = seed_of(o, fname, true)
  return folds_of(build(core.split.repeated_kfold, n, check_integer(k, "k", fname), repeats, seed),
    seed, { k = k, repeats = repeats })
end

--- split.repeated_stratified_kfold(ds | n, k = 5, {repeats = 10, labels =, seed =})
function split.repeated_stratified_kfold(ds, k, o)
  local fname = "repeated_stratified_kfold"
  k, o = count_and_options(k, o, 5)
  local n, d = samples_of(ds, fname)
  o = check_options(o, { repeats = true, labels = true, seed = true }, fname)
  local repeats = check_integer(o.repeats or 10, "repeats", fname)
  local seed = seed_of(o, fname, true)
  return folds_of(build(core.split.repeated_stratified_kfold, n, labels_of(d, o, fname),
    check_integer(k, "k", fname), repeats, seed), seed, { k = k, repeats = repeats })
end

--- split.shuffle_split(ds | n, splits = 10, {test =, train =, seed =}): independent random
--- train/test draws. Sizes are fractions (0.2) or counts (20); default test = 0.1, train =
--- the rest.
function split.shuffle_split(ds, splits, o)
  local fname = "shuffle_split"
  splits, o = count_and_options(splits, o, 10)
  local n = samples_of(ds, fname)
  o = check_options(o, { test = true, train = true, seed = true }, fname)
  local seed = seed_of(o, fname, true)
  return folds_of(build(core.split.shuffle_split, n, check_integer(splits, "splits", fname),
    o.train, o.test, seed), seed, { splits = splits, train = o.train, test = o.test })
end

--- split.stratified_shuffle_split(ds | n, splits = 10, {test =, train =, labels =, seed =})
function split.stratified_shuffle_split(ds, splits, o)
  local fname = "stratified_shuffle_split"
  splits, o = count_and_options(splits, o, 10)
  local n, d = samples_of(ds, fname)
  o = check_options(o, { test = true, train = true, labels = true, seed = true }, fname)
  local seed = seed_of(o, fname, true)
  return folds_of(build(core.split.stratified_shuffle_split, n, labels_of(d, o, fname),
    check_integer(splits, "splits", fname), o.train, o.test, seed), seed,
    { splits = splits, train = o.train, test = o.test })
end

--- split.group_shuffle_split(ds | n, splits = 5, {groups =, test =, train =, seed =}): sizes
--- count groups (default test = 0.2 of the groups).
function split.group_shuffle_split(ds, splits, o)
  local fname = "group_shuffle_split"
  splits, o = count_and_options(splits, o, 5)
  local n = samples_of(ds, fname)
  o = check_options(o, { groups = true, test = true, train = true, seed = true }, fname)
  local seed = seed_of(o, fname, true)
  return folds_of(build(core.split.group_shuffle_split, n, groups_of(o, fname),
    check_integer(splits, "splits", fname), o.train, o.test, seed), seed,
    { splits = splits, train = o.train, test = o.test })
end

--- split.leave_one_out(ds | n): fold i tests row i.
function split.leave_one_out(ds)
  local n = samples_of(ds, "leave_one_out")
  return folds_of(build(core.split.leave_one_out, n))
end

--- split.leave_p_out(ds | n, p): every set of p rows, in lexicographic order (at most 1e6).
function split.leave_p_out(ds, p)
  local fname = "leave_p_out"
  local n = samples_of(ds, fname)
  return folds_of(build(core.split.leave_p_out, n, check_integer(p, "p", fname)), nil, { p = p })
end

--- split.leave_one_group_out(ds | n, {groups =}): one fold per group, in ascending order of
--- the group values.
function split.leave_one_group_out(ds, o)
  local fname = "leave_one_group_out"
  local n = samples_of(ds, fname)
  o = check_options(o, { groups = true }, fname)
  return folds_of(build(core.split.leave_one_group_out, n, groups_of(o, fname)))
end

--- split.time_series_split(ds | n, splits = 5, {test =, gap = 0, max_train =}): growing
--- (or, with max_train, sliding) windows of past rows, each tested on the next test rows.
function split.time_series_split(ds, splits, o)
  local fname = "time_series_split"
  splits, o = count_and_options(splits, o, 5)
  local n = samples_of(ds, fname)
  o = check_options(o, { test = true, gap = true, max_train = true }, fname)
  if o.test ~= nil then check_integer(o.test, "test", fname) end
  if o.max_train ~= nil then check_integer(o.max_train, "max_train", fname) end
  return folds_of(build(core.split.time_series_split, n, check_integer(splits, "splits", fname),
    o.test, check_integer(o.gap or 0, "gap", fname), o.max_train), nil,
    { splits = splits, test = o.test, gap = o.gap or 0, max_train = o.max_train })
end

--- split.predefined_split([ds | n,] test_fold): fold per distinct test_fold value other than
--- -1 (ascending); rows marked -1 always train.
function split.predefined_split(ds, test_fold)
  local fname = "predefined_split"
  if test_fold == nil then
    test_fold = ds
    if type(test_fold) ~= "table" then
      raise("%s: test_fold must be a tensor or a list, got %s", fname, type(test_fold))
    end
    ds = core.tensor.is_tensor(test_fold) and test_fold:size(1) or #test_fold
  end
  local n = samples_of(ds, fname)
  return folds_of(build(core.split.predefined_split, n, test_fold))
end

--- split.holdout(ds | n, {train =, val =, test =, shuffle = true, stratify = false, labels =,
--- seed =}) -> {train =, val =, test =, kind = "holdout", samples =, seed =, params =}. Sizes
--- are fractions or counts; default test = 0.25, train = the rest, no val (an empty index
--- set). Shuffled, the sets are random rows in random order; unshuffled, train is the first
--- rows, then val, then test. seed (shuffled only) and params are what run:split and a
--- study's split record with the rows.
function split.holdout(ds, o)
  local fname = "holdout"
  local n, d = samples_of(ds, fname)
  o = check_options(o, { train = true, val = true, test = true, shuffle = true, stratify = true,
    labels = true, seed = true }, fname)
  local shuffle = true
  if o.shuffle ~= nil then shuffle = check_bool(o.shuffle, "shuffle", fname) end
  local stratify = check_bool(o.stratify, "stratify", fname)
  if o.labels ~= nil and not stratify then
    raise("%s: labels are only used with stratify = true", fname)
  end
  local seed = seed_of(o, fname, shuffle)
  local labels = stratify and labels_of(d, o, fname) or nil
  local train, test, val = build(core.split.holdout, n, labels, o.train, o.val, o.test, shuffle, seed)
  return { train = train, val = val, test = test, kind = fname, samples = n,
    seed = shuffle and seed or nil,
    params = { train = o.train, val = o.val, test = o.test, shuffle = shuffle, stratify = stratify } }
end

return split
