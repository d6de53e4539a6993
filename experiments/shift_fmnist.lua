-- Distribution shift on Fashion-MNIST (d2l, "Environment and Distribution Shift"; Rabanser et
-- al. 2019, "Failing Loudly"; Lipton et al. 2018, BBSE). A softmax regression is trained on
-- 50000 training images; the other 10000 are a held-out clean source sample. Each setting of
-- the study evaluates the model on one test set:
--   same       no shift at all, the control: `detect_rows` other held-out training images
--              (disjoint from the detection's source sample)
--   clean      the Fashion-MNIST test set as it is (drawn apart from the training images; it
--              may differ from them a little)
--   noise      covariate shift: every image + N(0, (100/255)^2) per pixel (clipped to [0, 1])
--   invert     covariate shift: every image inverted (1 - x)
--   selection  covariate shift by selection bias: image i kept with probability
--              sigmoid(-30 (mean pixel of i - 0.15)): mostly dark images (sandals, sneakers,
--              trousers), p(y|x) unchanged
--   tweak_one  label shift: class 6 (Shirt) has prior 0.5, the others 1/18 each
--   dirichlet  label shift: priors drawn from Dirichlet(0.5, ..., 0.5)
--   swap       concept shift: labels 0 (T-shirt/top) and 6 (Shirt) exchanged, images unchanged
-- Detection: `detect_rows` random held-out source images against as many of the test set
-- (each p-value recorded):
--   ks          Kolmogorov-Smirnov per softmax output (black-box shift detection), Bonferroni
--   chi2        chi-squared on the predicted labels
--   mmd         kernel two-sample test on the raw pixels
--   classifier  a logistic-regression domain classifier on the raw pixels
--   errors      chi-squared on the model's right/wrong counts: needs the test set's labels,
--               and is the only one of the five that can see concept shift (p(y|x) changes,
--               p(x) and p(y) do not)
-- A set is flagged when the smallest of the five p-values times 5 (Bonferroni) is below 0.05;
-- the control must not be flagged, nor should the clean test set, and every shifted one must.
-- Correction, before and after:
--   label shift (tweak_one, dirichlet): BBSE estimates w = p_test(y)/p_train(y) from the
--     confusion matrix on the held-out source sample and the predicted labels on the test set;
--     the model's posteriors are re-weighted by w (accuracy_bbse); accuracy_oracle re-weights
--     by the true w. The model never sees a test label.
--   selection: importance weights from a domain classifier (`domain_rows` source training
--     images against the unlabeled test images), the model retrained with them (loss_iw,
--     accuracy_iw); loss_oracle retrains with the true weights, P(kept | x).
--   `recovered` is the share of the oracle's gain the estimate gets: (accuracy_bbse -
--   accuracy) / (accuracy_oracle - accuracy), or (loss - loss_iw) / (loss - loss_oracle).
-- Every replicate seed trains one model, the same for all the settings (the model's seed
-- comes from the replicate, not from the trial).
--
--   moonlab run experiments/shift_fmnist.lua -j 2
--   moonlab show results/shift_fmnist.h5
--   moonlab plot results/shift_fmnist.h5 -o shift.png   (the combined p-value of each set)
--   moonlab plot results/shift_fmnist.h5 --metric accuracy -o accuracy.png   (or loss)
--   moonlab plot results/shift_fmnist.h5 --metric accuracy,accuracy_bbse,accuracy_oracle -o bbse.png
local ml = require "moonlab"
local nn, optim, data, shift, T = ml.nn, ml.optim, ml.data, ml.shift, ml.tensor

local cfg = ml.config {
  seeds = 3, epochs = 3, lr = 1e-3, batch = 100, val_rows = 10000, detect_rows = 1000,
  domain_rows = 10000, noise = 100, rho = 0.5, alpha = 0.5, smoke = false,
}
if cfg.smoke then
  cfg.seeds, cfg.domain_rows = 1, 2000
end

-- The data and split, from the root seed: the same in the runner and in every worker.
local all = data.fashion_mnist { split = "train" }
local test = data.fashion_mnist { split = "test" }
local classes = #all.classes
local hold = ml.split.holdout(all, { test = cfg.val_rows, seed = ml.seed("split") })
local train, val = data.subset(all, hold.train), data.subset(all, hold.test)
if cfg.smoke then
  -- a few seconds: 10000 training images
  local idx = {}
  for i = 1, 10000 do idx[i] = hold.train[i] end
  train = data.subset(all, data.index(idx))
end
-- one model per replicate, whatever the setting: its seeds come from the root seed
local model_seeds = {}
for r = 1, cfg.seeds do model_seeds[r] = { init = ml.seed("model", r), order = ml.seed("order", r) } end

-- Selection on the mean pixel m: kept with probability sigmoid(-30 (m - 0.15)), dark images.
local SELECT_A, SELECT_AT = -30, 0.15
local select_features, select_coef = {}, {}
for j = 1, 784 do
  select_features[j], select_coef[j] = j, SELECT_A / 784
end
local SELECTION = { features = select_features, coef = select_coef, bias = -SELECT_A * SELECT_AT }

local SHIFTS = { "same", "clean", "noise", "invert", "selection", "tweak_one", "dirichlet", "swap" }

-- The test set of a setting, its report and the kind of shift.
local function shifted(name)
  if name == "clean" then return test, nil, "no" end
  if name == "noise" then return shift.corrupt(test, { kind = "noise", level = cfg.noise }) end
  if name == "invert" then return shift.corrupt(test, { kind = "invert" }) end
  if name == "selection" then return shift.selection(test, SELECTION) end
  if name == "tweak_one" then return shift.tweak_one(test, { class = 6, rho = cfg.rho }) end
  if name == "dirichlet" then return shift.dirichlet(test, { alpha = cfg.alpha }) end
  if name == "swap" then return shift.relabel(test, { swap = { 0, 6 } }) end
  error("unknown shift " .. name)
end

local function train_model(seeds, ds, reduce)
  local model = nn.sequential({ nn.linear(784, classes) }, { seed = seeds.init })
  model:fit { data = ds, loss = "cross_entropy", optim = optim.adam { lr = cfg.lr },
    batch = cfg.batch, epochs = cfg.epochs, reduce = reduce, seed = seeds.order }
  return model
end

-- A random subset of k rows of ds (from the trial's stream), or with skip, the k rows after the
-- first `skip` of the same draw (disjoint from the subset drawn without it).
local function sample_rows(ds, k, name, skip)
  skip = skip or 0
  if ds.n <= k and skip == 0 then return ds end
  local perm = ml.rng(name):permutation(ds.n)
  local idx = {}
  for i = 1, k do idx[i] = perm[skip + i] end
  return data.subset(ds, data.index(idx))
end

-- Softmax probabilities of a model on a dataset's rows.
local function probs_of(model, ds)
  local ones = {}
  for c = 1, classes do ones[c] = 1 end
  return shift.recalibrate(model:predict(data.materialize(ds).x), ones, { logits = true })
end

-- Accuracy of scores (argmax) against a dataset's labels.
local function accuracy(scores, ds)
  local _, _, correct = ml.loss.value("cross_entropy", scores, data.materialize(ds).y)
  return correct / ds.n
end

-- Labels 1 for the right predictions, 0 for the wrong ones (only the counts matter).
local function right_wrong(n, right)
  local t = T.zeros(n)
  if right > 0 then t:slice(1, 1, right):fill(1) end
  return t
end

ml.study {
  name = "shift_fmnist",
  params = { shift = SHIFTS },
  seeds = cfg.seeds,
  -- the holdout, recorded in the study file (/study/splits: train and val rows, seed): the
  -- model trains on `train` (in smoke runs its first 10000 rows) and `val` is the held-out
  -- source sample
  data = all,
  split = hold,
  -- nothing is chosen here: the "selected" mark goes to the set that looks most like the
  -- source (the highest combined p-value), which should be the control or the clean one
  select = { metric = "p_value", goal = "max" },
  trial = function(t)
    local name = t.params.shift
    local seed = model_seeds[t.replicate]
    local model = train_model(seed, train)
    local clean = model:evaluate(test, "cross_entropy")
    local target, report, kind
    if name == "same" then
      target, kind = sample_rows(val, cfg.detect_rows, "detect/source", cfg.detect_rows), "no"
    else
      target, report, kind = shifted(name)
    end
    kind = report and report.kind or kind
    local eval = model:evaluate(target, "cross_entropy")
    local m = { clean_accuracy = clean.accuracy, clean_loss = clean.loss, accuracy = eval.accuracy,
      loss = eval.loss, rows = target.n,
      heldout_accuracy = model:evaluate(val, "cross_entropy").accuracy }

    -- detection: a random sample of the held-out source images against one of the test set
    local vs = sample_rows(val, cfg.detect_rows, "detect/source")
    local ts = sample_rows(target, cfg.detect_rows, "detect/target")
    local pvs, pts = probs_of(model, vs), probs_of(model, ts)
    local tests = {
      ks = shift.ks_test(pvs, pts),
      chi2 = shift.chi2_test(pvs, pts, { classes = classes }),
      mmd = shift.mmd_test(vs, ts),
      classifier = shift.classifier_test(vs, ts),
    }
    local function right(ds) return math.floor(model:evaluate(ds, "cross_entropy").accuracy * ds.n + 0.5) end
    tests.errors = shift.chi2_test(right_wrong(vs.n, right(vs)), right_wrong(ts.n, right(ts)), { classes = 2 })
    local pmin, ntests = 1, 0
    for k, r in pairs(tests) do
      m["p_" .. k] = r.p_value
      pmin = math.min(pmin, r.p_value)
      ntests = ntests + 1
    end
    m.p_value = math.min(1, ntests * pmin)
    m.flagged = m.p_value < 0.05 and 1 or 0

    -- correction
    if kind == "label" then
      local pt = probs_of(model, target)
      local est = shift.bbse(probs_of(model, val), val, pt, { classes = classes })
      local src = shift.priors(train, { classes = classes })
      local truth = {}
      for c = 1, classes do truth[c] = report.priors_after[c] / src[c] end
      m.accuracy_bbse = accuracy(shift.recalibrate(pt, est.weights), target)
      m.accuracy_oracle = accuracy(shift.recalibrate(pt, truth), target)
      local err = 0
      for c = 1, classes do err = err + math.abs(est.priors[c] - report.priors_after[c]) end
      m.prior_error_bbse = err / 2 -- total variation between estimated and true test priors
    elseif name == "selection" then
      local source = sample_rows(train, cfg.domain_rows, "domain")
      local h = shift.domain_classifier(source, target)
      local w = shift.importance_weights(train, target, { classifier = h, normalize = true })
      local iw = train_model(seed, shift.weighted(train, w), "weighted_mean")
      local after = iw:evaluate(target, "cross_entropy")
      m.loss_iw, m.accuracy_iw = after.loss, after.accuracy
      -- the true density ratio p_test(x)/p_train(x), up to a constant: P(kept | x)
      local c = T.full({ 784, 1 }, SELECT_A / 784)
      local kept = (all.x:matmul(c) + SELECTION.bias):apply("sigmoid"):reshape(-1)
      local oracle = train_model(seed, data.subset(data.dataset(all.x, all.y, kept), train.rows),
        "weighted_mean")
      local best = oracle:evaluate(target, "cross_entropy")
      m.loss_oracle, m.accuracy_oracle = best.loss, best.accuracy
    end
    -- the share of the oracle's gain the estimated weights get (when there is a gain)
    if m.accuracy_bbse and m.accuracy_oracle > m.accuracy then
      m.recovered = (m.accuracy_bbse - m.accuracy) / (m.accuracy_oracle - m.accuracy)
    elseif m.loss_iw and m.loss_oracle < m.loss then
      m.recovered = (m.loss - m.loss_iw) / (m.loss - m.loss_oracle)
    end

    local flags = {}
    for _, k in ipairs({ "ks", "chi2", "mmd", "classifier", "errors" }) do
      flags[#flags + 1] = string.format("%s %.3g", k, tests[k].p_value)
    end
    print(string.format("%s (%s shift, %d rows): accuracy %.4f (clean %.4f), loss %.4f; p-values %s -> %s",
      name, kind, target.n, m.accuracy, m.clean_accuracy, m.loss, table.concat(flags, ", "),
      m.flagged == 1 and "flagged" or "not flagged"))
    if m.accuracy_bbse then
      print(string.format("  BBSE: accuracy %.4f -> %.4f (true weights %.4f)", m.accuracy,
        m.accuracy_bbse, m.accuracy_oracle))
    elseif m.loss_iw then
      print(string.format("  importance weighting: loss %.4f -> %.4f (true weights %.4f)", m.loss,
        m.loss_iw, m.loss_oracle))
    end
    return m
  end,
}
