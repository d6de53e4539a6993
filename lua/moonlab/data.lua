--- Datasets in memory and synthetic data. A dataset is {x = (N, D), y = (N, C) or (N,),
--- weights = (N,) or nil, n = N}; model:fit and model:evaluate take it as it is.
local core = require "moonlab.core"
local run = require "moonlab.run"

local data = { synthetic = {} }

-- ---- errors at the script's line ----
-- Every public function runs under pcall. An error it raises (its own checks, which name no
-- position or this file's line; or a core function's, which luaL_where marks with a line of
-- this file) is raised again at the line that called it, without the inner position. Calls
-- from one public function to another only pass errors on: the outermost call places them.
local here = debug.getinfo(1, "S").short_src
local depth = 0
local function at_caller(f)
  return function(...)
    depth = depth + 1
    local r = table.pack(pcall(f, ...))
    depth = depth - 1
    if r[1] then return table.unpack(r, 2, r.n) end
    local msg = r[2]
    if depth > 0 or type(msg) ~= "string" then error(msg, 0) end
    if msg:sub(1, #here + 1) == here .. ":" then
      msg = msg:match("^%d+: (.*)$", #here + 2) or msg
    end
    error(msg, 2)
  end
end

--- data.dataset(x, y [, weights]) or data.dataset(x, y, {weights =, lengths =})
--- lengths (N): for sequences x (N, T, ...) padded to T steps, each one's real steps (1..T).
function data.dataset(x, y, extra)
  if not core.tensor.is_tensor(x) or not core.tensor.is_tensor(y) then
    error("dataset: x and y must be tensors", 2)
  end
  local weights, lengths = extra, nil
  if type(extra) == "table" then weights, lengths = extra.weights, extra.lengths end
  local n = x:size(1)
  if y:size(1) ~= n or (weights and weights:size(1) ~= n) then
    error(string.format("dataset: x has %d rows but y has %d%s", n, y:size(1),
      weights and (" and weights " .. weights:size(1)) or ""), 2)
  end
  if not x:all_finite() then error("dataset: x has NaN or Inf values", 2) end
  if not y:all_finite() then error("dataset: y has NaN or Inf values", 2) end
  if lengths ~= nil then
    if not core.tensor.is_tensor(lengths) or lengths:dim() ~= 1 or lengths:size(1) ~= n then
      error(string.format("dataset: lengths must be a tensor (%d) of sequence lengths", n), 2)
    end
    if x:dim() < 2 then error("dataset: lengths given, but x is not a batch of sequences", 2) end
    local T = x:size(2)
    if n > 0 and (lengths:min() < 1 or lengths:max() > T) then
      error(string.format("dataset: lengths must be in 1..%d (T of x), got %g..%g", T,
        lengths:min(), lengths:max()), 2)
    end
  end
  return { x = x, y = y, weights = weights, lengths = lengths, n = n }
end

--- Index sets: row numbers (1-based) of a dataset, as splits return them.
--- data.index{3, 1, 2}, data.index(n) = 1..n; #idx, idx[i], idx:totable(), a:take(b) = a[b].
data.index = core.index.new

--- The rows of ds named by an index set, as a view: no feature is copied; batches gather the
--- rows when training or evaluating. Subsets of subsets compose.
function data.subset(ds, idx)
  if type(idx) == "table" then idx = core.index.new(idx) end
  if not core.index.is_index(idx) then
    error("subset: expected an index set or a list of row numbers, got " .. type(idx), 2)
  end
  local limit = ds.rows and #ds.rows or ds.x:size(1)
  if #idx > 0 and idx:max() > limit then
    error(string.format("subset: row %d is outside the dataset's 1..%d", idx:max(), limit), 2)
  end
  local rows = ds.rows and ds.rows:take(idx) or idx
  return { x = ds.x, y = ds.y, weights = ds.weights, lengths = ds.lengths, rows = rows, n = #rows,
    classes = ds.classes, name = ds.name, layout = ds.layout }
end

--- A dataset with its own contiguous copies of the rows (a subset made concrete).
function data.materialize(ds)
  if not ds.rows then return ds end
  local g = core.index.gather
  return data.dataset(g(ds.x, ds.rows), g(ds.y, ds.rows), {
    weights = ds.weights and g(ds.weights, ds.rows), lengths = ds.lengths and g(ds.lengths, ds.rows) })
end

--- Rows first..last (1-based, inclusive) of a dataset, as views.
function data.rows(ds, first, last)
  return data.dataset(ds.x:slice(1, first, last), ds.y:slice(1, first, last), {
    weights = ds.weights and ds.weights:slice(1, first, last),
    lengths = ds.lengths and ds.lengths:slice(1, first, last) })
end

--- data.stream(ids, {batch = B, steps = k}) -> a dataset for truncated BPTT over one long id
--- sequence (a character language model's text): the ids are cut into B parallel streams,
--- each read in windows of k steps; x (W·B, k) holds the windows, y the ids one step later.
--- Its batches of B rows, in order, are window w of every stream, w = 1..W, so model:fit
--- carries the recurrent states from one batch to the next (ds.stream = {batch, steps,
--- windows} tells it to). The last ids (fewer than B·(k+1)) are left out.
function data.stream(ids, o)
  if not core.tensor.is_tensor(ids) then error("stream: ids must be a tensor (N)", 2) end
  if type(o) ~= "table" or math.type(o.batch) ~= "integer" or math.type(o.steps) ~= "integer" then
    error("stream: expected {batch = streams, steps = window length} (integers)", 2)
  end
  local ok, x, y = pcall(core.datasets.windows, ids, o.batch, o.steps)
  if not ok then error(x, 2) end
  local ds = data.dataset(x, y)
  ds.stream = { batch = o.batch, steps = o.steps, windows = x:size(1) // o.batch }
  return ds
end

--- data.synthetic.polynomial{n =, weights = {w1, w2, ...}, bias =, noise =, seed =}
--- x ~ N(0, 1); features x, x^2, ..., x^k with k = #weights; y = features w + bias + N(0, noise^2).
--- Returns dataset {x = (n, k) features, y = (n, 1), raw = (n, 1) x}.
function data.synthetic.polynomial(o)
  local w = o.weights
  if type(w) ~= "table" or #w < 1 then error("polynomial: 'weights' must be a list of numbers", 2) end
  if type(o.n) ~= "number" or o.n < 1 then error("polynomial: 'n' must be a positive integer", 2) end
  local rng = core.rng.new(o.seed or run.seed("polynomial"))
  local raw = rng:normal({ o.n, 1 }, 0, 1)
  local feats = raw:powers(#w)
  local wt = core.tensor.from(w):reshape(#w, 1)
  local y = feats:matmul(wt) + (o.bias or 0)
  if (o.noise or 0) > 0 then y = y + rng:normal({ o.n, 1 }, 0, o.noise) end
  local ds = data.dataset(feats, y)
  ds.raw = raw
  return ds
end

-- ---- synthetic sequence and regression data (drawn in C: core.synth) ----

local function positive_integer(v, name, fname, default)
  if v == nil then v = default end
  if math.type(v) ~= "integer" or v < 1 then
    error(string.format("%s: '%s' must be a positive integer, got %s", fname, name, tostring(v)), 3)
  end
  return v
end

local function number_option(v, name, fname, default)
  if v == nil then v = default end
  if type(v) ~= "number" or v ~= v then
    error(string.format("%s: '%s' must be a number, got %s", fname, name, tostring(v)), 3)
  end
  return v
end

local function synthetic_options(o, fname, allowed)
  if o ~= nil and type(o) ~= "table" then error(fname .. ": options must be a table", 3) end
  o = o or {}
  for k in pairs(o) do
    if not allowed[k] then
      local names = {}
      for name in pairs(allowed) do names[#names + 1] = name end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (options: %s)", fname, tostring(k),
        table.concat(names, ", ")), 3)
    end
  end
  if o.seed ~= nil and math.type(o.seed) ~= "integer" then
    error(fname .. ": 'seed' must be an integer", 3)
  end
  return o
end

--- data.synthetic.high_dim_linear{n_train = 20, n_test = 100, features = 200, w = 0.01,
--- b = 0.05, noise = 0.01, seed =} -> train, test. d2l's weight-decay data: x ~ N(0, 1)
--- (n, features), y = x w + b + N(0, noise^2) with every weight w. train.w_true (features, 1)
--- and train.b_true keep the truth.
function data.synthetic.high_dim_linear(o)
  local fname = "high_dim_linear"
  o = synthetic_options(o, fname, { n_train = true, n_test = true, features = true, w = true,
    b = true, noise = true, seed = true })
  local ntr = positive_integer(o.n_train, "n_train", fname, 20)
  local nte = positive_integer(o.n_test, "n_test", fname, 100)
  local d = positive_integer(o.features, "features", fname, 200)
  local w = number_option(o.w, "w", fname, 0.01)
  local b = number_option(o.b, "b", fname, 0.05)
  local noise = number_option(o.noise, "noise", fname, 0.01)
  if noise < 0 then error(fname .. ": 'noise' must be >= 0, got " .. noise, 2) end
  local rng = core.rng.new(o.seed or run.seed("high_dim_linear"))
  local wt = core.tensor.new({ d, 1 }):fill(w)
  local function draw(n)
    local x = rng:normal({ n, d }, 0, 1)
    local y = x:matmul(wt) + b
    if noise > 0 then y = y + rng:normal({ n, 1 }, 0, noise) end
    return data.dataset(x, y)
  end
  local train = draw(ntr)
  local test = draw(nte)
  train.w_true, train.b_true = wt, b
  return train, test
end

--- data.synthetic.sine{n = 1000, freq = 0.01, phase = 0, amplitude = 1, noise = 0.2, seed =}
--- -> {x = (n, 1) time t = 1..n, y = (n, 1) values, series = y, n =}: x_t = amplitude
--- sin(freq t + phase) + N(0, noise^2), d2l's sequence-model data with the defaults.
function data.synthetic.sine(o)
  local fname = "sine"
  o = synthetic_options(o, fname, { n = true, freq = true, phase = true, amplitude = true,
    noise = true, seed = true })
  local n = positive_integer(o.n, "n", fname, 1000)
  local y = core.synth.sine(o.seed or run.seed("sine"), n, number_option(o.freq, "freq", fname, 0.01),
    number_option(o.phase, "phase", fname, 0), number_option(o.amplitude, "amplitude", fname, 1),
    number_option(o.noise, "noise", fname, 0.2))
  local ds = data.dataset(data.synthetic.steps(n), y)
  ds.series = y
  return ds
end

--- data.synthetic.steps(n) -> (n, 1) tensor of the time steps 1..n.
function data.synthetic.steps(n)
  return core.synth.steps(positive_integer(n, "n", "steps"))
end

--- data.synthetic.ar{n = 1000, phi = {0.5, -0.3}, c = 0, noise = 1, burn = 100, seed =}
--- -> {x = (n, 1) time, y = (n, 1) values, series = y, n =}: x_t = c + sum_i phi_i x_{t-i} +
--- N(0, noise^2), started from zeros and run `burn` steps before the first kept value. A
--- non-stationary phi whose series exceeds 1e30 is an error.
function data.synthetic.ar(o)
  local fname = "ar"
  o = synthetic_options(o, fname, { n = true, phi = true, c = true, noise = true, burn = true,
    seed = true })
  local n = positive_integer(o.n, "n", fname, 1000)
  local phi = o.phi or { 0.5, -0.3 }
  if type(phi) ~= "table" or #phi < 1 then error(fname .. ": 'phi' must be a list of numbers", 2) end
  local burn = o.burn == nil and 100 or o.burn
  if math.type(burn) ~= "integer" or burn < 0 then
    error(fname .. ": 'burn' must be an integer >= 0, got " .. tostring(burn), 2)
  end
  local y = core.synth.ar(o.seed or run.seed("ar"), n, phi, number_option(o.c, "c", fname, 0),
    number_option(o.noise, "noise", fname, 1), burn)
  local ds = data.dataset(data.synthetic.steps(n), y)
  ds.series = y
  ds.phi = phi
  return ds
end

--- data.synthetic.adding{n =, t =, seed =} -> dataset x (n, t, 2), y (n, 1): the adding
--- problem. Channel 1 holds U(0, 1) values, channel 2 marks exactly two steps (one in the first
--- ceil(t/2) steps, one in the rest); y is the sum of the two marked values.
function data.synthetic.adding(o)
  local fname = "adding"
  o = synthetic_options(o, fname, { n = true, t = true, seed = true })
  local x, y = core.synth.adding(o.seed or run.seed("adding"), positive_integer(o.n, "n", fname),
    positive_integer(o.t, "t", fname))
  return { x = x, y = y, n = x:size(1) }
end

--- data.synthetic.copy{n =, t =, length = 10, symbols = 8, seed =} -> dataset x, y (n, t + 2
--- length) of ids: `length` random symbols 1..symbols, t - 1 blanks (0), the delimiter
--- (symbols + 1), length blanks; y is blank until the last `length` steps, which repeat the
--- symbols. vocab = symbols + 2. For nn.embedding and per-step cross_entropy.
function data.synthetic.copy(o)
  local fname = "copy"
  o = synthetic_options(o, fname, { n = true, t = true, length = true, symbols = true, seed = true })
  local symbols = positive_integer(o.symbols, "symbols", fname, 8)
  local x, y = core.synth.copy(o.seed or run.seed("copy"), positive_integer(o.n, "n", fname),
    positive_integer(o.t, "t", fname), positive_integer(o.length, "length", fname, 10), symbols)
  return { x = x, y = y, n = x:size(1), vocab = symbols + 2, blank = 0, delimiter = symbols + 1 }
end

--- data.synthetic.tagging{n =, t = 8, vocab = 10, ambiguous = 2, names = 4, p_ambiguous = 0.3,
--- seed =} -> dataset x (n, t) word ids, y (n, t) tags (1 = part of a name), with
--- best_unidirectional (the exact expected accuracy of the best left-to-right tagger) and
--- best_unidirectional_sample (its accuracy on this sample). An ambiguous word ("Teddy") is a
--- name only when the next word is a name word ("Roosevelt", not "bears"). See docs/api.md.
function data.synthetic.tagging(o)
  local fname = "tagging"
  o = synthetic_options(o, fname, { n = true, t = true, vocab = true, ambiguous = true,
    names = true, p_ambiguous = true, seed = true })
  local vocab = positive_integer(o.vocab, "vocab", fname, 10)
  local x, y, best, sample = core.synth.tagging(o.seed or run.seed("tagging"),
    positive_integer(o.n, "n", fname), positive_integer(o.t, "t", fname, 8), vocab,
    positive_integer(o.ambiguous, "ambiguous", fname, 2), positive_integer(o.names, "names", fname, 4),
    number_option(o.p_ambiguous, "p_ambiguous", fname, 0.3))
  return { x = x, y = y, n = x:size(1), vocab = vocab, classes = { "other", "name" },
    best_unidirectional = best, best_unidirectional_sample = sample }
end

--- data.synthetic.next_char(text = "hello" [, {window =, step = 1}]) -> {x =, y =, n =,
--- vocab = string, size =, encode =, decode =}: next-character prediction on a short text
--- (d2l's "hello" and "abcde" toys). Without window: x (1, L-1) the ids of text[1..L-1], y (1,
--- L-1) those of text[2..L]. With window w: every w-step slice (every `step` steps) and the
--- same slice one character on, x and y (N', w).
function data.synthetic.next_char(text, o)
  local fname = "next_char"
  text = text or "hello"
  if type(text) ~= "string" or #text < 2 then
    error(fname .. ": text must be a string of at least 2 characters", 2)
  end
  o = synthetic_options(o, fname, { window = true, step = true })
  local vocab = core.datasets.vocab(text)
  local ids = core.datasets.encode(vocab, text)
  local L = #text
  local x, y
  if o.window == nil then
    x = ids:slice(1, 1, L - 1):reshape(1, L - 1)
    y = ids:slice(1, 2, L):clone():reshape(1, L - 1)
  else
    local w = positive_integer(o.window, "window", fname)
    if w >= L then
      error(string.format("%s: window %d needs a text of more than %d characters, got %d", fname,
        w, w, L), 2)
    end
    local win = core.pre.windows(ids, w + 1, 0, positive_integer(o.step, "step", fname, 1))
    x = win:slice(2, 1, w):clone()
    y = win:slice(2, 2, w + 1):clone()
  end
  return { x = x, y = y, n = x:size(1), vocab = vocab, size = #vocab,
    encode = at_caller(function(s) return core.datasets.encode(vocab, s) end),
    decode = at_caller(function(t) return core.datasets.decode(vocab, t) end) }
end

-- ---- preprocessing fitted on the training rows, applied to any data (core.pre) ----

local Transform = {}
Transform.__index = Transform

local function field_tensor(ds, field, fname)
  if core.tensor.is_tensor(ds) then return ds, nil end
  if type(ds) ~= "table" then error(fname .. ": expected a dataset or a tensor, got " .. type(ds), 3) end
  local t = ds[field]
  if not core.tensor.is_tensor(t) then
    error(string.format("%s: the dataset has no tensor '%s'", fname, field), 3)
  end
  return t, ds.rows
end

-- A new dataset: `field` replaced by `value` (already gathered to the rows), the other
-- tensors gathered when ds is a subset; names and classes kept.
local function with_field(ds, field, value)
  local out = { n = value:size(1) }
  for _, k in ipairs { "x", "y", "weights" } do
    local t = ds[k]
    if k == field then
      out[k] = value
    elseif t then
      out[k] = ds.rows and core.index.gather(t, ds.rows) or t
    end
  end
  for _, k in ipairs { "classes", "name", "layout" } do out[k] = ds[k] end
  return out
end

--- t:apply(ds) -> a new dataset with the field transformed (a subset's rows only, gathered);
--- t:apply(tensor) -> the transformed tensor.
function Transform:apply(ds)
  local fname = self.kind .. ":apply"
  local t, rows = field_tensor(ds, self.field, fname)
  local out
  if self.kind == "one_hot" then
    out = core.pre.one_hot(t, rows, self.classes)
  else
    out = core.pre.affine(t, rows, self.shift, self.scale, self.span, self.offset, false)
  end
  if core.tensor.is_tensor(ds) then return out end
  return with_field(ds, self.field, out)
end

--- t:inverse(tensor) -> values mapped back (predictions in the original units).
function Transform:inverse(t)
  if self.kind == "one_hot" then error("one_hot:inverse: not defined", 2) end
  if not core.tensor.is_tensor(t) then error(self.kind .. ":inverse: expected a tensor", 2) end
  return core.pre.affine(t, nil, self.shift, self.scale, self.span, self.offset, true)
end

function Transform:__tostring()
  return string.format("%s transform of '%s'", self.kind, self.field)
end

local function fit_options(o, fname, extra)
  local allowed = { field = true, global = true }
  for k in pairs(extra or {}) do allowed[k] = true end
  o = synthetic_options(o, fname, allowed)
  local field = o.field or "x"
  if field ~= "x" and field ~= "y" then
    error(string.format("%s: 'field' must be \"x\" or \"y\", got %s", fname, tostring(field)), 3)
  end
  return o, field
end

--- data.standardize(train [, {field = "x", global = false}]) -> transform with mean and std
--- (population std; 1 for a constant feature), fitted on train's rows only (a subset's rows).
--- s:apply(ds) gives (v - mean) / std; s:inverse(t) maps back. global = true: one mean and
--- std over every value (a series).
function data.standardize(ds, o)
  local field
  o, field = fit_options(o, "standardize")
  local t, rows = field_tensor(ds, field, "standardize")
  local mean, std = core.pre.moments(t, rows, o.global)
  return setmetatable({ kind = "standardize", field = field, mean = mean, std = std,
    shift = mean, scale = std, span = 1, offset = 0 }, Transform)
end

--- data.minmax(train [, {range = {0, 1}, field = "x", global = false}]) -> transform with min
--- and max fitted on train's rows: apply gives a + (v - min) / (max - min) (b - a) (a constant
--- feature maps to a); values outside the training range map outside [a, b].
function data.minmax(ds, o)
  local field
  o, field = fit_options(o, "minmax", { range = true })
  local range = o.range or { 0, 1 }
  if type(range) ~= "table" or type(range[1]) ~= "number" or type(range[2]) ~= "number" or
      not (range[1] < range[2]) then
    error("minmax: 'range' must be {a, b} with a < b", 2)
  end
  local t, rows = field_tensor(ds, field, "minmax")
  local lo, hi, width = core.pre.range(t, rows, o.global)
  return setmetatable({ kind = "minmax", field = field, min = lo, max = hi, range = range,
    shift = lo, scale = width, span = range[2] - range[1], offset = range[1] }, Transform)
end

--- data.one_hot(train [, {classes =}]) -> transform: labels (N) or (N, 1) class indices to
--- (N, classes) rows of 0 and 1. classes defaults to 1 + the largest label in train's rows; a
--- label outside 0..classes-1 in data it is applied to is an error naming its row.
function data.one_hot(ds, o)
  o = synthetic_options(o, "one_hot", { classes = true })
  local t, rows = field_tensor(ds, "y", "one_hot")
  local classes = o.classes
  if classes == nil then
    classes = core.pre.label_count(t, rows)
  elseif math.type(classes) ~= "integer" or classes < 1 then
    error("one_hot: 'classes' must be a positive integer, got " .. tostring(classes), 2)
  end
  return setmetatable({ kind = "one_hot", field = "y", classes = classes }, Transform)
end

--- data.windows(series [, {window =, horizon = 1, step = 1}]) -> dataset {x =, y =, n =}:
--- sliding windows over a series tensor (T) or (T, D) (or a table whose y is one, as
--- data.statsmodels and data.synthetic.sine give): x (N', window) or (N', window, D), the
--- input of a recurrent model as (B, T, D); y (N', horizon) or (N', horizon * D), the next
--- horizon steps (each D values, in time order). N' = (T - window - horizon) / step + 1.
function data.windows(series, o)
  o = synthetic_options(o, "windows", { window = true, horizon = true, step = true })
  if type(series) == "table" and not core.tensor.is_tensor(series) then series = series.y end
  if not core.tensor.is_tensor(series) then
    error("windows: expected a series tensor (T) or (T, D), or a table with one as y", 2)
  end
  local w = positive_integer(o.window, "window", "windows")
  local k = o.horizon == nil and 1 or o.horizon
  if math.type(k) ~= "integer" or k < 1 then
    error("windows: 'horizon' must be a positive integer, got " .. tostring(k), 2)
  end
  local x, y = core.pre.windows(series, w, k, positive_integer(o.step, "step", "windows", 1))
  if y:dim() == 3 then y = y:reshape(y:size(1), -1) end
  return { x = x, y = y, n = x:size(1), window = w, horizon = k }
end

-- ---- real data sets: files read in C (core.datasets), arranged here ----

local datasets = core.datasets

local function check_options(o, fname, allowed)
  if o == nil then return {} end
  if type(o) ~= "table" then error(fname .. ": options must be a table", 3) end
  for k in pairs(o) do
    if not allowed[k] then
      local names = {}
      for name in pairs(allowed) do names[#names + 1] = name end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (options: %s)", fname, tostring(k),
        table.concat(names, ", ")), 3)
    end
  end
  return o
end

local function readable(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- The first line of a plain text file, or nil.
local function first_line(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local line = f:read("l")
  f:close()
  return line and line:gsub("\r$", "")
end

-- Comma-separated names of a header line, without quotes.
local function split_names(line)
  local out = {}
  for field in (line .. ","):gmatch("([^,]*),") do
    out[#out + 1] = field:gsub("^%s*\"?", ""):gsub("\"?%s*$", "")
  end
  return out
end

--- data.csv(path [, opts]) -> dataset {x = (N, D), y = (N) or nil, n = N}, or nil, message.
--- opts: delimiter = "," (" " = any run of spaces/tabs), header = 0 (lines to skip, true = 1),
--- label = nil (column from 1, negative from the end, or a header name; nil = no label),
--- missing = "error" | "nan" | "drop". With missing = "nan" the result is a plain table (x and y
--- may hold NaN, which data.dataset refuses); otherwise it is a checked dataset.
function data.csv(path, opts)
  if type(path) ~= "string" then error("data.csv: path must be a string", 2) end
  opts = check_options(opts, "data.csv", { delimiter = true, header = true, label = true, missing = true })
  local x, y = datasets.csv(path, opts)
  if not x then return nil, y end
  if y and opts.missing ~= "nan" then return data.dataset(x, y) end
  return { x = x, y = y, n = x:size(1) }
end

--- data.text(path) -> {ids = (N) character ids 0..size-1, vocab = string (the characters in id
--- order, sorted by byte), size = #vocab, n = N, encode = fn(string) -> ids,
--- decode = fn(ids) -> string}, or nil, message. A gzip'd file is read decompressed.
function data.text(path)
  if type(path) ~= "string" then error("data.text: path must be a string", 2) end
  local ids, vocab = datasets.text(path)
  if not ids then return nil, vocab end
  return {
    ids = ids, vocab = vocab, size = #vocab, n = ids:size(1),
    encode = at_caller(function(s) return datasets.encode(vocab, s) end),
    decode = at_caller(function(t) return datasets.decode(vocab, t) end),
  }
end

--- data.idx(path [, {scale = false, layout =, classes =}]) -> tensor, or nil, message: an IDX
--- file (unsigned bytes, 1 to 4 dimensions; gzip'd or plain) as stored, values 0..255.
--- scale = true divides by 255 (0..1). layout = "flat" gives (N, D), the sizes after the first
--- multiplied; "image" and "rows" keep (N, H, W) and need a 3-dimensional file. classes = K
--- checks a labels file (N): every label must be 0..K-1 (the message names the first item
--- outside, counted from 1).
function data.idx(path, opts)
  if type(path) ~= "string" then error("data.idx: path must be a string", 2) end
  opts = check_options(opts, "data.idx", { scale = true, layout = true, classes = true })
  if opts.scale ~= nil and type(opts.scale) ~= "boolean" then
    error("data.idx: 'scale' must be true or false, got " .. tostring(opts.scale), 2)
  end
  local layout = opts.layout
  if layout ~= nil and layout ~= "flat" and layout ~= "image" and layout ~= "rows" then
    error("data.idx: layout must be \"flat\", \"image\" or \"rows\", got " .. tostring(layout), 2)
  end
  if opts.classes ~= nil and (math.type(opts.classes) ~= "integer" or opts.classes < 1) then
    error("data.idx: 'classes' must be a positive integer, got " .. tostring(opts.classes), 2)
  end
  local t, err = datasets.idx(path, opts.scale and 255 or nil)
  if not t then return nil, err end
  if opts.classes then
    if t:dim() ~= 1 then
      return nil, string.format("%s: holds %s values; classes = %d needs a labels file (N)",
        path, table.concat(t:shape(), "x"), opts.classes)
    end
    local ok, lerr = datasets.check_labels(t, opts.classes, path)
    if not ok then return nil, lerr end
  end
  if layout == "flat" and t:dim() > 1 then
    t = t:reshape(t:size(1), -1)
  elseif (layout == "image" or layout == "rows") and t:dim() ~= 3 then
    return nil, string.format("%s: holds %s values; layout \"%s\" needs (N, H, W)", path,
      table.concat(t:shape(), "x"), layout)
  end
  return t
end

local JARGON_DIR = "/usr/share/doc/jargon-text"

--- data.jargon([{dir = "/usr/share/doc/jargon-text"}]) -> the Jargon File 4.4.7 as character
--- ids, as data.text gives it (ids, vocab, size, n, encode, decode), with name = "jargon" and
--- source = the file read, dir/jargon.txt.gz (Debian's jargon-text). A missing file is an
--- error naming the package.
function data.jargon(o)
  o = check_options(o, "jargon", { dir = true })
  if o.dir ~= nil and type(o.dir) ~= "string" then
    error("jargon: 'dir' must be a string, got " .. type(o.dir), 2)
  end
  local path = (o.dir or JARGON_DIR) .. "/jargon.txt.gz"
  if not readable(path) then
    error("jargon: " .. path .. " not found; it is installed by the Debian package " ..
      "jargon-text (apt-get install jargon-text)", 2)
  end
  local text, err = data.text(path)
  if not text then error("jargon: " .. err, 2) end
  text.name, text.source = "jargon", path
  return text
end

-- ---- HDF5: any file's numeric datasets, and saving a dataset for fast reloading ----

-- Attribute names data.save writes from the dataset's own fields.
local SAVED_FIELDS = { classes = true, name = true, layout = true }

--- data.hdf5(path [, {x = "x", y = "y", weights = "weights", missing =}]) -> dataset {x =, y =,
--- weights =, n =, attrs = {root attributes}, classes =, name =, layout = (when the file has
--- them)}, or nil, message. Names are dataset paths in the file ("group/x"); y and weights are
--- read when present unless named explicitly (then they must exist; false = do not read).
--- Every numeric type is converted to float32; the reader checks ranks, row counts and
--- finiteness. NaN in x and y (missing values) is kept when the file declares missing values
--- (attrs.missing, as data.save writes it) or missing = "nan"; missing = "error" refuses it.
function data.hdf5(path, opts)
  if type(path) ~= "string" then error("data.hdf5: path must be a string", 2) end
  opts = check_options(opts, "data.hdf5", { x = true, y = true, weights = true, missing = true })
  local r, err = core.h5data.read(path, opts)
  if not r then return nil, err end
  local ds = { x = r.x, y = r.y, weights = r.weights, n = r.x:size(1), attrs = r.attrs }
  if type(r.attrs.classes) == "string" then
    local classes = {}
    for c in (r.attrs.classes .. "\n"):gmatch("(.-)\n") do classes[#classes + 1] = c end
    ds.classes = classes
  end
  if type(r.attrs.name) == "string" then ds.name = r.attrs.name end
  if type(r.attrs.layout) == "string" then ds.layout = r.attrs.layout end
  return ds
end

--- data.save(ds, path [, {x_type = "float32", y_type = "float32", attrs = {}}]) writes the
--- dataset (x, y, weights; a subset's rows only, in its order) to an HDF5 file, atomically
--- (a temporary file renamed into place). Storage types: "float32", "float64", "uint8",
--- "int32" (whole numbers in range only). NaN in x and y (missing values, as in
--- data.statsmodels("co2")) is kept in float storage and counted in the attribute `missing`;
--- data.hdf5 reads such a file back with the NaN where they were. The dataset's classes
--- (joined by newlines), name and layout are kept as attributes of /, with attrs' strings and
--- numbers. Raises on failure.
function data.save(ds, path, opts)
  if type(ds) ~= "table" or not core.tensor.is_tensor(ds.x) then
    error("data.save: expected a dataset {x =, y =, ...}", 2)
  end
  if type(path) ~= "string" then error("data.save: path must be a string", 2) end
  opts = check_options(opts, "data.save", { x_type = true, y_type = true, attrs = true })
  if opts.attrs ~= nil and type(opts.attrs) ~= "table" then
    error("data.save: option 'attrs' must be a table", 2)
  end
  local attrs = {}
  for k, v in pairs(opts.attrs or {}) do attrs[k] = v end
  for k in pairs(SAVED_FIELDS) do
    local v = ds[k]
    if k == "classes" and type(v) == "table" then v = table.concat(v, "\n") end
    if type(v) == "string" and attrs[k] == nil then attrs[k] = v end
  end
  local ok, err = core.h5data.write(path, ds.x, ds.y, ds.weights,
    { rows = ds.rows, x_type = opts.x_type, y_type = opts.y_type, attrs = attrs })
  if not ok then error("data.save: " .. err, 2) end
  return true
end

local FASHION_DIR = "/usr/share/datasets/fashion-mnist"
local FASHION_CLASSES = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
  "Shirt", "Sneaker", "Bag", "Ankle boot" }

--- data.cache_dir() -> where prepared HDF5 copies live: $MOONLAB_CACHE, else
--- $XDG_CACHE_HOME/moonlab, else $HOME/.cache/moonlab.
function data.cache_dir()
  local env = os.getenv("MOONLAB_CACHE")
  if env and env ~= "" then return env end
  local xdg = os.getenv("XDG_CACHE_HOME")
  if xdg and xdg ~= "" then return xdg .. "/moonlab" end
  return (os.getenv("HOME") or ".") .. "/.cache/moonlab"
end

local function fashion_cache_path(cache, split)
  return cache .. "/fashion-mnist-" .. split .. ".h5"
end

-- What identifies the IDX files a cached copy was made from: their paths, sizes and times.
local function source_stamp(ipath, lpath)
  local stamp = { source_images = ipath, source_labels = lpath }
  for key, p in pairs { images = ipath, labels = lpath } do
    local size, mtime = core.h5data.stat(p)
    if not size then return nil end
    stamp["source_" .. key .. "_size"] = size
    stamp["source_" .. key .. "_mtime"] = mtime
  end
  return stamp
end

-- The cached copy of a Fashion-MNIST split when it is there and was made from these very IDX
-- files (same paths, sizes and modification times); nil otherwise.
local function cached_fashion(cache, split, ipath, lpath, divisor)
  local path = fashion_cache_path(cache, split)
  if not readable(path) then return nil end
  local stamp = source_stamp(ipath, lpath)
  local r = stamp and core.h5data.read(path, { divisor = divisor })
  if not r or r.attrs.moonlab_dataset ~= 1 or not r.y then return nil end
  for k, v in pairs(stamp) do
    if r.attrs[k] ~= v then return nil end
  end
  local n = r.x:size(1)
  if r.x:dim() ~= 3 or r.x:size(2) ~= 28 or r.x:size(3) ~= 28 or r.y:dim() ~= 1 then return nil end
  return r.x, r.y, n, path
end

--- data.fashion_mnist{split = "train" | "test", layout = "flat" | "image" | "rows", scale = true,
--- dir = "/usr/share/datasets/fashion-mnist"} -> dataset {x =, y = (N) labels 0..9, n =,
--- classes = {10 names}, layout =}. x is (N, 784) for "flat", (N, 28, 28) for "image" and
--- "rows" ("rows" reads it as a sequence of T = 28 steps, image row t being step t's 28
--- features). scale = true divides the pixels (0..255) by 255, giving 0..1. A label outside
--- 0..9 is an error naming the file and the item.
function data.fashion_mnist(o)
  o = check_options(o, "fashion_mnist", { split = true, layout = true, scale = true, dir = true,
    cache = true })
  local prefix = ({ train = "train", test = "t10k" })[o.split or "train"]
  if not prefix then
    error("fashion_mnist: split must be \"train\" or \"test\", got " .. tostring(o.split), 2)
  end
  local layout = o.layout or "flat"
  if layout ~= "flat" and layout ~= "image" and layout ~= "rows" then
    error("fashion_mnist: layout must be \"flat\", \"image\" or \"rows\", got " .. tostring(layout), 2)
  end
  local dir = o.dir or FASHION_DIR
  local ipath = dir .. "/" .. prefix .. "-images-idx3-ubyte.gz"
  local lpath = dir .. "/" .. prefix .. "-labels-idx1-ubyte.gz"
  for _, p in ipairs { ipath, lpath } do
    if not readable(p) then
      error("fashion_mnist: " .. p .. " not found; it is installed by the Debian package " ..
        "dataset-fashion-mnist (apt-get install dataset-fashion-mnist)", 2)
    end
  end
  local cache = o.cache
  if cache == nil or cache == true then cache = data.cache_dir() end
  if cache ~= false and type(cache) ~= "string" then
    error("fashion_mnist: 'cache' must be a directory, true or false, got " .. type(cache), 2)
  end
  local x, y, n, from
  if cache then
    x, y, n, from = cached_fashion(cache, o.split or "train", ipath, lpath,
      o.scale ~= false and 255 or nil)
  end
  if not x then
    local err, lerr
    x, err = datasets.idx(ipath, o.scale ~= false and 255 or nil)
    if not x then error("fashion_mnist: " .. err, 2) end
    y, lerr = datasets.idx(lpath)
    if not y then error("fashion_mnist: " .. lerr, 2) end
    n = x:size(1)
  end
  if x:dim() ~= 3 or x:size(2) ~= 28 or x:size(3) ~= 28 or y:dim() ~= 1 or y:size(1) ~= n then
    error(string.format("fashion_mnist: %s is %s and %s is %s, expected (N,28,28) and (N)", ipath,
      table.concat(x:shape(), "x"), lpath, table.concat(y:shape(), "x")), 2)
  end
  local ok, lerr = datasets.check_labels(y, #FASHION_CLASSES, from and (from .. " (y)") or lpath)
  if not ok then error("fashion_mnist: " .. lerr, 2) end
  if layout == "flat" then x = x:reshape(n, 784) end
  -- the fields of data.dataset, without its finiteness pass: bytes are finite
  local ds = { x = x, y = y, n = n }
  ds.classes = table.move(FASHION_CLASSES, 1, #FASHION_CLASSES, 1, {})
  ds.layout = layout
  ds.source = from or ipath
  return ds
end

--- data.prepare(name [, {cache =, dir =}]) -> list of the files written: converts a real data
--- set to HDF5 once, under the cache directory (data.cache_dir()), for the loaders to reload
--- fast. Only "fashion_mnist" benefits (datasets/README.md has the measurements): its two
--- splits become fashion-mnist-{train,test}.h5, pixels and labels stored as uint8, with the
--- IDX files' paths, sizes and times, which the loader checks before using a copy.
function data.prepare(name, o)
  o = check_options(o, "prepare", { cache = true, dir = true })
  if name ~= "fashion_mnist" then
    error("prepare: unknown or not worth converting: " .. tostring(name) .. " (fashion_mnist)", 2)
  end
  local cache = o.cache or data.cache_dir()
  local ok, err = core.mkdir(cache)
  if not ok then error("prepare: " .. err, 2) end
  local written = {}
  for _, split in ipairs { "train", "test" } do
    local ds = data.fashion_mnist { split = split, layout = "image", scale = false, dir = o.dir,
      cache = false }
    local prefix = split == "train" and "train" or "t10k"
    local dir = o.dir or FASHION_DIR
    local stamp = source_stamp(dir .. "/" .. prefix .. "-images-idx3-ubyte.gz",
      dir .. "/" .. prefix .. "-labels-idx1-ubyte.gz")
    stamp.split = split
    local path = fashion_cache_path(cache, split)
    data.save(ds, path, { x_type = "uint8", y_type = "uint8", attrs = stamp })
    written[#written + 1] = path
  end
  return written
end

local SKLEARN_DIR = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
local SKLEARN = {
  iris = "iris.csv", wine = "wine_data.csv", breast_cancer = "breast_cancer.csv",
  digits = "digits.csv.gz", diabetes = "diabetes_data_raw.csv.gz",
}

--- data.sklearn(name [, {dir =}]) -> dataset, from the CSV files Debian's python3-sklearn ships.
--- iris (150, 4), wine (178, 13), breast_cancer (569, 30): y (N) class indices, classes = names
--- from the file's header; digits (1797, 64) 8x8 images with pixels 0..16, y (N) digits 0..9;
--- diabetes (442, 10) unscaled features (age, sex, bmi, bp, s1..s6), y (442, 1) the target.
function data.sklearn(name, o)
  o = check_options(o, "sklearn", { dir = true })
  local file = SKLEARN[name]
  if not file then
    error("sklearn: unknown data set " .. tostring(name) ..
      " (iris, wine, breast_cancer, digits, diabetes)", 2)
  end
  local dir = o.dir or SKLEARN_DIR
  local path = dir .. "/" .. file
  if not readable(path) then
    error("sklearn: " .. path .. " not found; it is installed by the Debian package " ..
      "python3-sklearn (apt-get install python3-sklearn)", 2)
  end
  local function read(p, opts)
    local x, y = datasets.csv(p, opts)
    if not x then error("sklearn: " .. y, 3) end
    return x, y
  end
  local ds
  if name == "diabetes" then
    local x = read(path, { delimiter = " " })
    local t = read(dir .. "/diabetes_target.csv.gz", { delimiter = " " })
    ds = data.dataset(x, t)
  elseif name == "digits" then
    ds = data.dataset(read(path, { label = -1 }))
    ds.classes = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" }
  else
    -- header: n_samples,n_features,class names...
    local head = split_names(first_line(path) or "")
    local n, d = tonumber(head[1]), tonumber(head[2])
    ds = data.dataset(read(path, { header = 1, label = -1 }))
    if ds.n ~= n or ds.x:size(2) ~= d then
      error(string.format("sklearn: %s: the header says %s samples of %s features, the file " ..
        "holds %d of %d", path, head[1], head[2], ds.n, ds.x:size(2)), 2)
    end
    ds.classes = table.move(head, 3, #head, 1, {})
  end
  ds.name = name
  return ds
end

local STATSMODELS_DIR = "/usr/lib/python3/dist-packages/statsmodels/datasets"
-- time: the column that becomes x; the others become y.
local STATSMODELS = {
  sunspots = { time = "YEAR" },
  nile = { time = "year" },
  elnino = { time = "YEAR" },
  co2 = { time = "date", weekly = true },
}

--- data.statsmodels(name [, {dir =}]) -> time series {x = (N, 1) time, y = (N, K) values,
--- n = N, series = (N*K) the values in time order, columns = {names of y's columns}, time =}.
--- sunspots: yearly sunspot activity 1700..2008 (N 309, K 1); nile: yearly Nile volume
--- 1871..1970 (100, 1); elnino: monthly sea surface temperature 1950..2010 (61 years, K 12,
--- Jan..Dec; series 732 months); co2: weekly Mauna Loa CO2 (ppmv) 1958-03-29..2001-12-29
--- (2284, 1) with NaN for 59 missing weeks, x = the week number 0..2283 (dates do not fit a
--- float exactly) and start = "1958-03-29". All but co2 are checked datasets (data.dataset).
function data.statsmodels(name, o)
  o = check_options(o, "statsmodels", { dir = true })
  local spec = STATSMODELS[name]
  if not spec then
    error("statsmodels: unknown data set " .. tostring(name) .. " (sunspots, nile, elnino, co2)", 2)
  end
  local path = (o.dir or STATSMODELS_DIR) .. "/" .. name .. "/" .. name .. ".csv"
  if not readable(path) then
    error("statsmodels: " .. path .. " not found; it is installed by the Debian package " ..
      "python3-statsmodels (apt-get install python3-statsmodels)", 2)
  end
  local values, time = datasets.csv(path, { header = 1, label = spec.time,
    missing = spec.weekly and "nan" or "error" })
  if not values then error("statsmodels: " .. time, 2) end
  local n = values:size(1)
  local columns = {}
  for _, c in ipairs(split_names(first_line(path) or "")) do
    if c ~= spec.time then columns[#columns + 1] = c end
  end
  local ts = { y = values, n = n, columns = columns, time = spec.time, name = name,
    series = values:reshape(values:size()) }
  if spec.weekly then
    -- dates (YYYYMMDD) exceed float32's exact integers: number the weeks instead
    local weeks = {}
    for i = 1, n do weeks[i] = { i - 1 } end
    ts.x = core.tensor.from(weeks)
    local f = io.open(path)
    f:read("l")
    local y4, m2, d2 = f:read("l"):match("^(%d%d%d%d)(%d%d)(%d%d)")
    f:close()
    ts.start = y4 and (y4 .. "-" .. m2 .. "-" .. d2)
    ts.time = "week"
    return ts
  end
  ts.x = time:reshape(n, 1)
  local ds = data.dataset(ts.x, ts.y)
  for k, v in pairs(ts) do ds[k] = v end
  return ds
end

local function wrap_all(t)
  for k, v in pairs(t) do
    if type(v) == "function" then t[k] = at_caller(v) end
  end
end
wrap_all(data)
wrap_all(data.synthetic)
Transform.apply = at_caller(Transform.apply)
Transform.inverse = at_caller(Transform.inverse)

return data
