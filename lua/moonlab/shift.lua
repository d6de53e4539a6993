--- Distribution shift: test sets that differ from the training data in a known way, tests
--- that tell whether two samples differ, and corrections of a model trained on one sample for
--- use on the other. Everything numeric runs in C (core.shift); docs/api.md states the formulas.
---
---   local test2, report = shift.tweak_one(test, { class = 3, rho = 0.6 })   -- label shift
---   local r = shift.chi2_test(model:predict(src_x), model:predict(tgt_x))   -- r.shifted
---   local est = shift.bbse(model:predict(val_x), val.y, model:predict(tgt_x))
---
--- Generators take a dataset {x =, y = [, rows =, weights =]} and return the shifted dataset
--- and a report. Where only rows are chosen (selection, label shift) the result is a subset
--- (data.subset: an index view, the features are not copied); corruptions make a new x and
--- relabelling a new y, and keep the rest.
local core = require "moonlab.core"
local run = require "moonlab.run"
local data = require "moonlab.data"

local C = core.shift
local shift = {}

-- Raise at the first caller outside this file (the script's line).
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

-- Calls a core function, raising its message at the script's line.
local function call(fn, ...)
  local res = table.pack(pcall(fn, ...))
  if not res[1] then
    local msg = tostring(res[2]):gsub("^[^:]*:%d+: ", "")
    raise("%s", msg)
  end
  return table.unpack(res, 2, res.n)
end

local function check_options(o, allowed, fname)
  if o == nil then return {} end
  if type(o) ~= "table" then raise("%s: options must be a table, got %s", fname, type(o)) end
  for k in pairs(o) do
    if not allowed[k] then
      local names = {}
      for a in pairs(allowed) do names[#names + 1] = a end
      table.sort(names)
      raise("%s: unknown option '%s'; options are %s", fname, tostring(k),
        table.concat(names, ", "))
    end
  end
  return o
end

local is_tensor = core.tensor.is_tensor

local function check_dataset(ds, fname, need_y)
  if type(ds) ~= "table" or not is_tensor(ds.x) then
    raise("%s: expected a dataset {x =, y =} (data.dataset), got %s", fname, type(ds))
  end
  if need_y and not is_tensor(ds.y) then raise("%s: the dataset has no y tensor", fname) end
  return ds
end

-- A sample as (tensor, rows): a tensor, or a dataset's x (or its `field`) and rows.
local function sample(v, fname, what, field)
  if is_tensor(v) then return v, nil end
  if type(v) == "table" and is_tensor(v[field or "x"]) then return v[field or "x"], v.rows end
  raise("%s: %s must be a tensor or a dataset, got %s", fname, what, type(v))
end

local function seed_of(o, fname)
  if o.seed ~= nil then
    if math.type(o.seed) ~= "integer" then
      raise("%s: seed must be an integer, got %s", fname, tostring(o.seed))
    end
    return o.seed
  end
  return run.seed("shift/" .. fname)
end

local function check_number(v, what, fname, default)
  if v == nil then
    if default == nil then raise("%s: %s is required", fname, what) end
    return default
  end
  if type(v) ~= "number" then raise("%s: %s must be a number, got %s", fname, what, tostring(v)) end
  return v
end

local function check_int(v, what, fname, default)
  if v == nil and default ~= nil then return default end
  if math.type(v) ~= "integer" then
    raise("%s: %s must be an integer, got %s", fname, what, tostring(v))
  end
  return v
end

local function check_alpha(o, fname)
  local a = check_number(o.alpha, "alpha", fname, 0.05)
  if not (a > 0 and a < 1) then raise("%s: alpha = %s is outside (0, 1)", fname, tostring(a)) end
  return a
end

-- ---- reports ----

-- The realised shift between ds and out (both datasets over their rows).
local function report(kind, method, ds, out, classes, extra)
  local r = call(C.describe, ds.x, ds.rows, ds.y, out.x, out.rows, out.y, classes)
  r.kind, r.method = kind, method
  for k, v in pairs(extra or {}) do r[k] = v end
  r.changed = r.changed or 0
  return r
end

local function subset_of(ds, idx)
  return data.subset(ds, idx)
end

-- Classes of a dataset's labels: the option, else max label + 1 (raises for non-labels).
local function classes_of(ds, o, fname)
  if o.classes ~= nil then
    local c = check_int(o.classes, "classes", fname)
    if c < 1 then raise("%s: classes = %d must be >= 1", fname, c) end
    return c
  end
  return #call(C.priors, ds.y, ds.rows, nil)
end

-- ---- covariate shift ----

--- shift.selection(ds, {features = {j, ...}, coef = {w, ...}, bias = 0, size =, seed =})
--- Keeps row i with probability sigmoid(bias + sum_k coef[k] x_i[features[k]]) (features are
--- 1-based positions in a flattened row); with size, draws size rows with replacement with
--- probabilities in proportion. Returns a subset (index view) and the report.
function shift.selection(ds, o)
  local fname = "selection"
  check_dataset(ds, fname)
  o = check_options(o, { features = true, coef = true, bias = true, size = true, seed = true }, fname)
  if type(o.features) ~= "table" then raise("%s: features = {j, ...} is required", fname) end
  if type(o.coef) ~= "table" then raise("%s: coef = {w, ...} is required (one per feature)", fname) end
  local size = o.size and check_int(o.size, "size", fname) or 0
  local seed = seed_of(o, fname)
  local idx = call(C.select, ds.x, ds.rows, o.features, o.coef,
    check_number(o.bias, "bias", fname, 0), size, seed)
  local out = subset_of(ds, idx)
  return out, report("covariate", fname, ds, out, nil, { seed = seed })
end

--- shift.corrupt(ds, {kind = "noise" | "brightness" | "contrast" | "invert" | "blur",
---   level =, fraction = 1, height =, width =, seed =})
--- Corrupts round(fraction n) random rows of images with values in [0, 1] (results clipped to
--- [0, 1]): noise adds N(0, (level/255)^2) (levels 1, 10, 100 are the usual severities);
--- brightness adds level (in [-1, 1]); contrast scales each pixel's distance from the image's
--- mean by level; invert takes 1 - x; blur convolves with a Gaussian of standard deviation
--- level pixels. Returns a dataset with a new x (the rows copied, in order), and the report
--- (report.corrupted: the index of the corrupted rows).
function shift.corrupt(ds, o)
  local fname = "corrupt"
  check_dataset(ds, fname)
  o = check_options(o, { kind = true, level = true, fraction = true, height = true,
    width = true, seed = true }, fname)
  if type(o.kind) ~= "string" then
    raise("%s: kind = \"noise\", \"brightness\", \"contrast\", \"invert\" or \"blur\" is required", fname)
  end
  local level = o.kind == "invert" and 0 or check_number(o.level, "level", fname)
  local fraction = check_number(o.fraction, "fraction", fname, 1)
  local seed = seed_of(o, fname)
  local x, changed, corrupted = call(C.corrupt, ds.x, ds.rows, o.kind, level, fraction,
    o.height and check_int(o.height, "height", fname), o.width and check_int(o.width, "width", fname), seed)
  local g = core.index.gather
  local out = { x = x, n = x:size(1),
    y = ds.y and (ds.rows and g(ds.y, ds.rows) or ds.y),
    weights = ds.weights and (ds.rows and g(ds.weights, ds.rows) or ds.weights) }
  local r = report("covariate", fname, ds, out, nil,
    { corruption = o.kind, level = level, fraction = fraction, corrupted = corrupted, seed = seed })
  r.changed = out.n > 0 and changed / out.n or 0
  return out, r
end

-- ---- label shift ----

local function resample_to(ds, priors, o, fname, method, extra)
  local replace = o.replace == true
  if o.replace ~= nil and type(o.replace) ~= "boolean" then
    raise("%s: replace must be true or false, got %s", fname, tostring(o.replace))
  end
  local size = o.size and check_int(o.size, "size", fname) or 0
  local seed = extra.seed
  local idx = call(C.resample, ds.y, ds.rows, priors, size, replace, seed, fname)
  local out = subset_of(ds, idx)
  extra.target_priors = priors
  return out, report("label", method, ds, out, #priors, extra)
end

local resample_options = { size = true, replace = true, seed = true }
local function with(base, more)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(more) do t[k] = v end
  return t
end

--- shift.resample(ds, {priors = {p_0, ..., p_{C-1}}, size =, replace = false, seed =})
--- Resamples the rows to class priors (which must sum to 1): round(size p_c) rows of class c
--- (largest remainders, so the counts sum to size). Without replacement each class gives a
--- random subset of its rows and size defaults to the largest size every class can fill; with
--- replacement rows are drawn uniformly within each class and size defaults to n.
function shift.resample(ds, o)
  local fname = "resample"
  check_dataset(ds, fname, true)
  o = check_options(o, with(resample_options, { priors = true }), fname)
  if type(o.priors) ~= "table" then raise("%s: priors = {p_0, p_1, ...} is required", fname) end
  return resample_to(ds, o.priors, o, fname, fname, { seed = seed_of(o, fname) })
end

--- shift.dirichlet(ds, {alpha =, classes =, size =, replace =, seed =}): priors drawn from
--- Dirichlet(alpha, ..., alpha) (small alpha: far from uniform), then resample.
function shift.dirichlet(ds, o)
  local fname = "dirichlet"
  check_dataset(ds, fname, true)
  o = check_options(o, with(resample_options, { alpha = true, classes = true }), fname)
  local seed = seed_of(o, fname)
  local priors = call(C.dirichlet, classes_of(ds, o, fname),
    check_number(o.alpha, "alpha", fname), seed)
  return resample_to(ds, priors, o, fname, fname, { seed = seed, alpha = o.alpha })
end

--- shift.tweak_one(ds, {class =, rho =, classes =, size =, replace =, seed =}): class `class`
--- gets prior rho, the others share 1 - rho equally, then resample.
function shift.tweak_one(ds, o)
  local fname = "tweak_one"
  check_dataset(ds, fname, true)
  o = check_options(o, with(resample_options, { class = true, rho = true, classes = true }), fname)
  local priors = call(C.tweak_one, classes_of(ds, o, fname), check_int(o.class, "class", fname),
    check_number(o.rho, "rho", fname))
  return resample_to(ds, priors, o, fname, fname,
    { seed = seed_of(o, fname), class = o.class, rho = o.rho })
end

--- shift.knock_out(ds, {class =, fraction =, seed =}): removes round(fraction n_k) random rows
--- of class k, keeps every other row.
function shift.knock_out(ds, o)
  local fname = "knock_out"
  check_dataset(ds, fname, true)
  o = check_options(o, { class = true, fraction = true, classes = true, seed = true }, fname)
  local seed = seed_of(o, fname)
  local k = check_int(o.class, "class", fname)
  local idx = call(C.knock_out, ds.y, ds.rows, k, check_number(o.fraction, "fraction", fname),
    seed, o.classes and check_int(o.classes, "classes", fname))
  local out = subset_of(ds, idx)
  return out, report("label", fname, ds, out, o.classes,
    { seed = seed, class = k, fraction = o.fraction })
end

--- shift.only_class(ds, {class =}): the rows of one class.
function shift.only_class(ds, o)
  local fname = "only_class"
  check_dataset(ds, fname, true)
  if math.type(o) == "integer" then o = { class = o } end
  o = check_options(o, { class = true, classes = true }, fname)
  local k = check_int(o.class, "class", fname)
  local idx = call(C.keep_class, ds.y, ds.rows, k, o.classes and check_int(o.classes, "classes", fname))
  local out = subset_of(ds, idx)
  return out, report("label", fname, ds, out, o.classes, { class = k })
end

-- ---- concept shift ----

--- shift.relabel(ds, {map = {[from] = to, ...} | swap = {a, b}, where = {feature = j,
---   above = t | below = t}, fraction = 1, classes =, seed =})
--- New labels: class `from` becomes `to` (classes not in the map keep theirs; swap = {a, b}
--- exchanges two classes), only in the rows where the rule holds (feature j of the flattened
--- row > t for above, <= t for below; every row without where), and there in a random
--- fraction of the rows (decided per row of the data, so a row listed twice gets one label).
--- Returns the dataset with a new y (same x, rows and weights) and the report.
function shift.relabel(ds, o)
  local fname = "relabel"
  check_dataset(ds, fname, true)
  o = check_options(o, { map = true, swap = true, where = true, fraction = true, classes = true,
    seed = true }, fname)
  if (o.map == nil) == (o.swap == nil) then raise("%s: give map = {[from] = to} or swap = {a, b}", fname) end
  local pairs_ = {}
  if o.swap ~= nil then
    if type(o.swap) ~= "table" or #o.swap ~= 2 then raise("%s: swap must be {a, b}", fname) end
    local a, b = check_int(o.swap[1], "swap[1]", fname), check_int(o.swap[2], "swap[2]", fname)
    pairs_ = { { a, b }, { b, a } }
  else
    if type(o.map) ~= "table" then raise("%s: map must be a table {[from] = to}", fname) end
    for from, to in pairs(o.map) do
      pairs_[#pairs_ + 1] = { check_int(from, "a map key", fname), check_int(to, "map[" .. tostring(from) .. "]", fname) }
    end
  end
  local nc = o.classes and check_int(o.classes, "classes", fname) or #call(C.priors, ds.y, ds.rows, nil)
  for _, p in ipairs(pairs_) do
    for _, c in ipairs(p) do
      if c < 0 then raise("%s: class %d in the mapping is negative", fname, c) end
      if not o.classes and c + 1 > nc then nc = c + 1 end
    end
  end
  local map = {}
  for c = 1, nc do map[c] = c - 1 end
  for _, p in ipairs(pairs_) do
    if p[1] >= nc or p[2] >= nc then
      raise("%s: the mapping %d -> %d leaves the %d classes 0..%d", fname, p[1], p[2], nc, nc - 1)
    end
    map[p[1] + 1] = p[2]
  end
  local feature, threshold, above
  if o.where ~= nil then
    local w = o.where
    if type(w) ~= "table" then raise("%s: where must be {feature = j, above = t} or {feature = j, below = t}", fname) end
    check_options(w, { feature = true, above = true, below = true }, fname .. " (where)")
    feature = check_int(w.feature, "where.feature", fname)
    if (w.above == nil) == (w.below == nil) then
      raise("%s: where needs one of above = t or below = t", fname)
    end
    above = w.above ~= nil
    threshold = check_number(above and w.above or w.below, above and "where.above" or "where.below", fname)
  end
  local seed = seed_of(o, fname)
  local fraction = check_number(o.fraction, "fraction", fname, 1)
  local y, changed = call(C.relabel, ds.y, ds.rows, map, ds.x, feature, threshold, above,
    fraction, seed)
  local out = { x = ds.x, y = y, weights = ds.weights, rows = ds.rows, n = ds.n or ds.x:size(1) }
  local r = report("concept", fname, ds, out, nc, { seed = seed, map = map, fraction = fraction })
  r.changed = out.n > 0 and changed / out.n or 0
  return out, r
end

-- ---- detection ----

local function verdict(test, statistic, p, alpha, extra)
  local r = { test = test, statistic = statistic, p_value = p, alpha = alpha, shifted = p < alpha }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

--- shift.ks_test(source, target, {alpha = 0.05}): a two-sample Kolmogorov-Smirnov test per
--- column of the rows (model outputs (n, K)), Bonferroni-corrected: p = min(1, K min_j p_j).
--- statistic: the largest KS distance; statistics, p_values: per column.
function shift.ks_test(source, target, o)
  local fname = "ks_test"
  o = check_options(o, { alpha = true }, fname)
  local alpha = check_alpha(o, fname)
  local a, ra = sample(source, fname, "source")
  local b, rb = sample(target, fname, "target")
  local st, ps, p = call(C.ks, a, ra, b, rb)
  local dmax = 0
  for _, d in ipairs(st) do dmax = math.max(dmax, d) end
  return verdict("ks", dmax, p, alpha, { statistics = st, p_values = ps })
end

--- shift.chi2_test(source, target, {alpha = 0.05, classes =}): chi-squared test of
--- homogeneity of the predicted labels (argmax of scores (n, C), or labels (n)).
function shift.chi2_test(source, target, o)
  local fname = "chi2_test"
  o = check_options(o, { alpha = true, classes = true }, fname)
  local alpha = check_alpha(o, fname)
  local a, ra = sample(source, fname, "source", "y")
  local b, rb = sample(target, fname, "target", "y")
  local stat, df, p, ca, cb = call(C.chi2, a, ra, b, rb,
    o.classes and check_int(o.classes, "classes", fname))
  return verdict("chi2", stat, p, alpha, { df = df, counts = { source = ca, target = cb } })
end

--- shift.mmd_test(source, target, {alpha = 0.05, permutations = 200, bandwidth =, seed =}):
--- unbiased MMD^2 with a Gaussian kernel (bandwidth: the median distance between pooled rows
--- unless given) and a permutation p-value.
function shift.mmd_test(source, target, o)
  local fname = "mmd_test"
  o = check_options(o, { alpha = true, permutations = true, bandwidth = true, seed = true }, fname)
  local alpha = check_alpha(o, fname)
  local a, ra = sample(source, fname, "source")
  local b, rb = sample(target, fname, "target")
  local perms = check_int(o.permutations, "permutations", fname, 200)
  local seed = seed_of(o, fname)
  local mmd2, p, sigma = call(C.mmd, a, ra, b, rb, perms, o.bandwidth and
    check_number(o.bandwidth, "bandwidth", fname), seed)
  return verdict("mmd", mmd2, p, alpha, { bandwidth = sigma, permutations = perms })
end

--- shift.classifier_test(source, target, {alpha = 0.05, holdout = 0.5, l2 = 1, seed =}): a
--- logistic-regression domain classifier trained on part of each sample; its accuracy on a
--- balanced held-out set against 1/2 (one-sided binomial test). statistic: the accuracy.
function shift.classifier_test(source, target, o)
  local fname = "classifier_test"
  o = check_options(o, { alpha = true, holdout = true, l2 = true, seed = true }, fname)
  local alpha = check_alpha(o, fname)
  local a, ra = sample(source, fname, "source")
  local b, rb = sample(target, fname, "target")
  local acc, correct, total, p = call(C.domain, a, ra, b, rb,
    check_number(o.holdout, "holdout", fname, 0.5), check_number(o.l2, "l2", fname, 1),
    seed_of(o, fname))
  return verdict("classifier", acc, p, alpha, { correct = correct, total = total })
end

-- ---- covariate-shift correction ----

--- shift.domain_classifier(source, target, {l2 = 1, max_iter = 100, tol = 1e-8}) ->
--- {weights = (D) tensor, bias =, iterations =, n_source =, n_target =}: logistic regression
--- of target (1) against source (0) rows; its logit h(x) = x . weights + bias.
function shift.domain_classifier(source, target, o)
  local fname = "domain_classifier"
  o = check_options(o, { l2 = true, max_iter = true, tol = true }, fname)
  local a, ra = sample(source, fname, "source")
  local b, rb = sample(target, fname, "target")
  local w, bias, iters = call(C.logreg, a, ra, b, rb, check_number(o.l2, "l2", fname, 1),
    o.max_iter and check_int(o.max_iter, "max_iter", fname), o.tol and check_number(o.tol, "tol", fname))
  return { weights = w, bias = bias, iterations = iters,
    n_source = ra and #ra or a:size(1), n_target = rb and #rb or b:size(1) }
end

--- shift.importance_weights(source, target, {clip = 10, l2 = 1, normalize = false,
---   classifier =}) -> weights (n_source tensor), classifier
--- beta(x) = min(clip, (n_source / n_target) exp(h(x))) for each source row, h the domain
--- classifier's logit (trained here unless given): an estimate of p_target(x) / p_source(x).
--- normalize = true rescales the weights to mean 1. Pass them to training with
--- shift.weighted(ds, weights).
function shift.importance_weights(source, target, o)
  local fname = "importance_weights"
  o = check_options(o, { clip = true, l2 = true, normalize = true, classifier = true }, fname)
  local clip = check_number(o.clip, "clip", fname, 10)
  if clip ~= 0 and not (clip > 0) then raise("%s: clip = %s must be > 0 (or 0: no clipping)", fname, tostring(clip)) end
  local h = o.classifier or shift.domain_classifier(source, target, { l2 = o.l2 })
  local a, ra = sample(source, fname, "source")
  local ratio = h.n_source / h.n_target
  local w = call(C.importance, a, ra, h.weights, h.bias, ratio, clip)
  if o.normalize then
    local mean = w:mean()
    if mean > 0 then w = w / mean end
  end
  return w, h
end

--- shift.weighted(ds, weights) -> the dataset with per-sample weights (n) in its row order
--- (for a subset, placed at its rows of the underlying tensors), for model:fit and evaluate.
function shift.weighted(ds, weights)
  local fname = "weighted"
  check_dataset(ds, fname)
  if not is_tensor(weights) then raise("%s: weights must be a tensor, got %s", fname, type(weights)) end
  local n = ds.n or ds.x:size(1)
  if weights:dim() ~= 1 or weights:size(1) ~= n then
    raise("%s: weights are (%s) for a dataset of %d rows", fname, table.concat(weights:shape(), ","), n)
  end
  local out = {}
  for k, v in pairs(ds) do out[k] = v end
  out.weights = ds.rows and call(C.scatter, weights, ds.rows, ds.x:size(1)) or weights
  return out
end

-- ---- label-shift correction ----

--- shift.priors(ds | labels, {classes =}) -> class frequencies {p_0, ..., p_{C-1}}.
function shift.priors(v, o)
  local fname = "priors"
  o = check_options(o, { classes = true }, fname)
  local y, rows = sample(v, fname, "labels", "y")
  return call(C.priors, y, rows, o.classes and check_int(o.classes, "classes", fname))
end

--- shift.bbse(source_predictions, source_labels, target_predictions, {classes =, ridge =})
--- Black-box shift estimation from held-out source data. Returns {weights = w (p_t(y)/p_s(y),
--- clipped at 0), priors = estimated p_t(y), source_priors = p_s(y), mu = predicted-label
--- distribution on the target, confusion = (C, C) joint confusion matrix (rows predicted,
--- columns true), ridge =}.
function shift.bbse(source_pred, source_labels, target_pred, o)
  local fname = "bbse"
  o = check_options(o, { classes = true, ridge = true }, fname)
  local ps, rps = sample(source_pred, fname, "source predictions", "y")
  local ys, rys = sample(source_labels, fname, "source labels", "y")
  local pt, rpt = sample(target_pred, fname, "target predictions", "y")
  local ridge = o.ridge and check_number(o.ridge, "ridge", fname)
  if ridge and ridge < 0 then raise("%s: ridge = %s must be >= 0", fname, tostring(ridge)) end
  local w, priors, mu, conf, sp = call(C.bbse, ps, rps, ys, rys, pt, rpt,
    o.classes and check_int(o.classes, "classes", fname), ridge)
  local n, m = rps and #rps or ps:size(1), rpt and #rpt or pt:size(1)
  return { weights = w, priors = priors, source_priors = sp, mu = mu, confusion = conf,
    ridge = ridge or 1 / math.min(n, m) }
end

--- shift.class_weights(ds, w) -> (n) tensor: w[y_i + 1] for each row (re-weighting the loss
--- by estimated p_t(y)/p_s(y)); shift.weighted(ds, that) attaches them.
function shift.class_weights(ds, w)
  local fname = "class_weights"
  check_dataset(ds, fname, true)
  if type(w) ~= "table" then raise("%s: w must be a list of class weights", fname) end
  return call(C.class_weights, ds.y, ds.rows, w)
end

--- shift.recalibrate(probs, w, {logits = false}) -> (m, C) probabilities proportional to
--- w_y p(y|x) (the source model's outputs re-calibrated to the target priors).
function shift.recalibrate(probs, w, o)
  local fname = "recalibrate"
  o = check_options(o, { logits = true }, fname)
  local p, rp = sample(probs, fname, "probs")
  if type(w) ~= "table" then raise("%s: w must be a list of class weights", fname) end
  return call(C.recalibrate, p, rp, w, o.logits == true)
end

--- shift.em(probs, source_priors, {tol = 1e-6, max_iter = 100, logits = false}) -> {priors =,
--- weights = priors / source_priors, posteriors = (m, C), iterations =, converged =}: the EM
--- re-estimation of the target priors from a source model's posteriors (Saerens et al. 2002).
function shift.em(probs, source_priors, o)
  local fname = "em"
  o = check_options(o, { tol = true, max_iter = true, logits = true }, fname)
  local p, rp = sample(probs, fname, "probs")
  if type(source_priors) ~= "table" then raise("%s: source_priors must be a list", fname) end
  local priors, post, iters, conv = call(C.em, p, rp, source_priors,
    check_number(o.tol, "tol", fname, 1e-6), check_int(o.max_iter, "max_iter", fname, 100),
    o.logits == true)
  local w = {}
  for k, v in ipairs(priors) do w[k] = v / source_priors[k] end
  return { priors = priors, weights = w, posteriors = post, iterations = iters, converged = conv }
end

--- Distributions behind the p-values: kolmogorov_sf(x) = P(K > x); ks2_sf(n, m, d) the exact
--- two-sample P(D >= d); chi2_sf(x, df); gamma_q(a, x) (regularized upper incomplete gamma);
--- binom_sf(k, n, p) = P(X >= k).
shift.stats = {
  kolmogorov_sf = C.kolmogorov_sf, ks2_sf = C.ks2_sf, chi2_sf = C.chi2_sf, gamma_q = C.gamma_q,
  binom_sf = C.binom_sf,
}

return shift
