--- Datasets in memory and synthetic data. A dataset is {x = (N, D), y = (N, C) or (N,),
--- weights = (N,) or nil, n = N}; model:fit and model:evaluate take it as it is.
local core = require "moonlab.core"
local run = require "moonlab.run"

local data = { synthetic = {} }

--- data.dataset(x, y [, weights])
function data.dataset(x, y, weights)
  if not core.tensor.is_tensor(x) or not core.tensor.is_tensor(y) then
    error("dataset: x and y must be tensors", 2)
  end
  local n = x:size(1)
  if y:size(1) ~= n or (weights and weights:size(1) ~= n) then
    error(string.format("dataset: x has %d rows but y has %d%s", n, y:size(1),
      weights and (" and weights " .. weights:size(1)) or ""), 2)
  end
  if not x:all_finite() then error("dataset: x has NaN or Inf values", 2) end
  if not y:all_finite() then error("dataset: y has NaN or Inf values", 2) end
  return { x = x, y = y, weights = weights, n = n }
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
  return { x = ds.x, y = ds.y, weights = ds.weights, rows = rows, n = #rows }
end

--- A dataset with its own contiguous copies of the rows (a subset made concrete).
function data.materialize(ds)
  if not ds.rows then return ds end
  local g = core.index.gather
  return data.dataset(g(ds.x, ds.rows), g(ds.y, ds.rows), ds.weights and g(ds.weights, ds.rows))
end

--- Rows first..last (1-based, inclusive) of a dataset, as views.
function data.rows(ds, first, last)
  return data.dataset(ds.x:slice(1, first, last), ds.y:slice(1, first, last),
    ds.weights and ds.weights:slice(1, first, last))
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

return data
