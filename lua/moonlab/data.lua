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
    encode = function(s) return datasets.encode(vocab, s) end,
    decode = function(t) return datasets.decode(vocab, t) end,
  }
end

-- ---- HDF5: any file's numeric datasets, and saving a dataset for fast reloading ----

-- Attribute names data.save writes from the dataset's own fields.
local SAVED_FIELDS = { classes = true, name = true, layout = true }

--- data.hdf5(path [, {x = "x", y = "y", weights = "weights"}]) -> dataset {x =, y =, weights =,
--- n =, attrs = {root attributes}, classes =, name =, layout = (when the file has them)}, or
--- nil, message. Names are dataset paths in the file ("group/x"); y and weights are read when
--- present unless named explicitly (then they must exist; false = do not read). Every numeric
--- type is converted to float32; the reader checks ranks, row counts and finiteness.
function data.hdf5(path, opts)
  if type(path) ~= "string" then error("data.hdf5: path must be a string", 2) end
  opts = check_options(opts, "data.hdf5", { x = true, y = true, weights = true })
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
--- "int32" (whole numbers in range only). The dataset's classes (joined by newlines), name and
--- layout are kept as attributes of /, with attrs' strings and numbers. Raises on failure.
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

--- data.fashion_mnist{split = "train" | "test", layout = "flat" | "image" | "rows", scale = true,
--- dir = "/usr/share/datasets/fashion-mnist"} -> dataset {x =, y = (N) labels 0..9, n =,
--- classes = {10 names}, layout =}. x is (N, 784) for "flat", (N, 28, 28) for "image" and
--- "rows" ("rows" reads it as a sequence of T = 28 steps, image row t being step t's 28
--- features). scale = true divides the pixels (0..255) by 255, giving 0..1.
function data.fashion_mnist(o)
  o = check_options(o, "fashion_mnist", { split = true, layout = true, scale = true, dir = true })
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
  local x, err = datasets.idx(ipath, o.scale ~= false and 255 or nil)
  if not x then error("fashion_mnist: " .. err, 2) end
  local y, lerr = datasets.idx(lpath)
  if not y then error("fashion_mnist: " .. lerr, 2) end
  local n = x:size(1)
  if x:dim() ~= 3 or x:size(2) ~= 28 or x:size(3) ~= 28 or y:dim() ~= 1 or y:size(1) ~= n then
    error(string.format("fashion_mnist: %s is %s and %s is %s, expected (N,28,28) and (N)", ipath,
      table.concat(x:shape(), "x"), lpath, table.concat(y:shape(), "x")), 2)
  end
  if layout == "flat" then x = x:reshape(n, 784) end
  -- the fields of data.dataset, without its finiteness pass: bytes are finite
  local ds = { x = x, y = y, n = n }
  ds.classes = table.move(FASHION_CLASSES, 1, #FASHION_CLASSES, 1, {})
  ds.layout = layout
  return ds
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

return data
